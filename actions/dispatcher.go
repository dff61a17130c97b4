package actions

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
)

// Outcomes of a Record.
const (
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"
	OutcomeDropped = "dropped"
)

// Record is the audit record of one firing's run of one action, written
// once with the final outcome.
type Record struct {
	// Time is when the outcome was known.
	Time     time.Time
	FiringID string
	Rule     string
	Action   string
	// Event is where the firing came from: the source and the log line
	// (capped at 4 KiB), so the audit shows what an action acted on.
	Source, Line string
	// Outcome is OutcomeOK, OutcomeFailed (the action refused, or every
	// attempt failed) or OutcomeDropped (never completed: the queue was
	// full, or venus-medic stopped first).
	Outcome  string
	Attempts int
	// Err says why it failed or was dropped; it never holds a secret.
	Err string
	// Output is the last attempt's output, for actions that have one (exec).
	Output string
	// Result is the data a successful run produced (proving-check: the bad
	// sectors), nil for actions that produce none.
	Result map[string]any
	// Duration runs from the firing's turn in its action's queue to the
	// outcome: rate-limit waits, attempts and backoff.
	Duration time.Duration
}

// Defaults of the Dispatcher.
const (
	DefaultQueueSize  = 1024
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
)

// Option changes a Dispatcher's defaults.
type Option func(*Dispatcher)

// WithBackoff sets the first delay before a retry (doubled at each
// further retry) and the longest delay.
func WithBackoff(base, max time.Duration) Option {
	return func(d *Dispatcher) { d.base, d.maxBackoff = base, max }
}

// WithQueueSize sets how many firings an action's queue holds before new
// ones are dropped.
func WithQueueSize(n int) Option {
	return func(d *Dispatcher) { d.queueSize = n }
}

// Dispatcher runs firings' actions: it owns, once for every type, the
// queues, rate limits, per-attempt timeouts, retries with backoff and the
// audit record.
//
// Each action has one worker and a bounded queue, so an action's firings
// run one at a time and in the order they were dispatched (across a
// reload too: a replaced action's worker finishes its queue before its
// successor starts), and a slow action never holds up the caller or the
// other actions.
type Dispatcher struct {
	log        hclog.Logger
	base       time.Duration
	maxBackoff time.Duration
	queueSize  int

	auditMu sync.Mutex // serialises calls to audit
	audit   func(Record)

	// ctx is the context of all running work: Close cancels it when its
	// deadline passes, which ends attempts, rate-limit waits and backoffs.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per worker goroutine
	// stopped counts the firings dropped because of Close's deadline.
	stopped atomic.Int64

	mu      sync.Mutex // protects workers and closed
	workers map[string]*worker
	closed  bool
}

// worker runs one configured action's firings, in order.
type worker struct {
	d     *Dispatcher
	name  string // the action's name in the set (the firing's name for it)
	a     *Configured
	log   hclog.Logger
	queue chan job
	limit *window // nil: no rate limit
	// prev is closed when the worker this one replaced on a reload has
	// finished; this one starts after it, keeping the action's order.
	prev <-chan struct{}
	done chan struct{}
}

type job struct {
	f event.Firing
}

// NewDispatcher starts a worker for each action. audit receives one
// Record per firing and action, from the Dispatcher's goroutines (one
// call at a time) and, for firings refused at once, from Dispatch's
// caller.
func NewDispatcher(actions map[string]*Configured, log hclog.Logger, audit func(Record), opts ...Option) *Dispatcher {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if audit == nil {
		audit = func(Record) {}
	}
	d := &Dispatcher{
		log: log, audit: audit,
		base: DefaultBackoff, maxBackoff: DefaultMaxBackoff, queueSize: DefaultQueueSize,
		workers: map[string]*worker{},
	}
	for _, o := range opts {
		o(d)
	}
	if d.queueSize < 1 {
		d.queueSize = 1
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.Update(actions)
	return d
}

// Dispatch queues firing f for each action it names and returns at once.
// An unknown action name is recorded as failed; a full queue, or a
// Dispatcher being closed, as dropped.
func (d *Dispatcher) Dispatch(f event.Firing) {
	var refused []Record
	d.mu.Lock()
	for _, name := range f.Actions {
		w, ok := d.workers[name]
		switch {
		case d.closed:
			refused = append(refused, d.refusal(f, name, OutcomeDropped, "venus-medic is stopping"))
		case !ok:
			refused = append(refused, d.refusal(f, name, OutcomeFailed, fmt.Sprintf("unknown action %q: no action of that name is configured", name)))
		default:
			select {
			case w.queue <- job{f: f}:
			default:
				refused = append(refused, d.refusal(f, name, OutcomeDropped, fmt.Sprintf("queue full (%d firings waiting)", cap(w.queue))))
			}
		}
	}
	d.mu.Unlock()
	for _, r := range refused {
		d.record(r)
	}
}

func (d *Dispatcher) refusal(f event.Firing, action, outcome, why string) Record {
	return Record{Time: time.Now(), FiringID: f.ID, Rule: f.Rule, Action: action, Source: f.Event.Source, Line: auditLine(f.Event.Line), Outcome: outcome, Err: why}
}

// auditLine caps a log line for the audit record.
func auditLine(s string) string {
	const max = 4 << 10
	if len(s) > max {
		return s[:max] + "…[cut]"
	}
	return s
}

// Update replaces the set of actions after a reload: new firings go to the
// new set. An action whose *Configured is unchanged keeps its worker and
// queue. A changed or removed one finishes the firings already queued for
// it with its old configuration; a changed one's successor starts after
// that and keeps its rate limiter when the rate is the same.
func (d *Dispatcher) Update(actions map[string]*Configured) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	old := d.workers
	next := make(map[string]*worker, len(actions))
	for name, c := range actions {
		if w, ok := old[name]; ok && w.a == c {
			next[name] = w
			continue
		}
		next[name] = d.start(name, c, old[name])
	}
	for name, w := range old {
		if next[name] != w {
			close(w.queue)
		}
	}
	d.workers = next
}

// start starts the worker of action c, after prev when it replaces one.
func (d *Dispatcher) start(name string, c *Configured, prev *worker) *worker {
	w := &worker{
		d: d, name: name, a: c, log: d.log.With("action", name),
		queue: make(chan job, d.queueSize),
		done:  make(chan struct{}),
	}
	if c.Rate != nil && c.Rate.Count > 0 && c.Rate.Per > 0 {
		if prev != nil && prev.limit != nil && prev.limit.n == c.Rate.Count && prev.limit.per == c.Rate.Per.D() {
			w.limit = prev.limit
		} else {
			w.limit = newWindow(c.Rate.Count, c.Rate.Per.D())
		}
	}
	if prev != nil {
		w.prev = prev.done
	}
	d.wg.Add(1)
	go w.run()
	return w
}

// Close stops accepting firings and lets the queued and running ones
// finish until ctx is done; then it cancels what is left, which is
// recorded as dropped, and returns an error saying how much was.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, w := range d.workers {
			close(w.queue)
		}
	}
	d.mu.Unlock()

	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
	}
	d.cancel()
	// Cancelled work ends promptly (attempts see the context, commands are
	// killed); do not hang on an action that ignores its context.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		d.log.Warn("actions still running after cancellation")
	}
	if n := d.stopped.Load(); n > 0 {
		return fmt.Errorf("%d action runs dropped at the drain deadline: %w", n, ctx.Err())
	}
	return nil
}

// record hands r to the audit function, one call at a time.
func (d *Dispatcher) record(r Record) {
	d.auditMu.Lock()
	defer d.auditMu.Unlock()
	d.audit(r)
}

func (w *worker) run() {
	defer w.d.wg.Done()
	defer close(w.done)
	if w.prev != nil {
		<-w.prev
	}
	for j := range w.queue {
		r, result := w.handle(j.f)
		r.Result = result
		w.d.record(r)
		w.chain(j.f, r, result)
	}
}

// maxChain bounds how many actions a `then` chain may pass through, so a
// configuration that loops (a then b, b then a) cannot run forever.
const maxChain = 4

// chain dispatches the actions named by this action's `then` for firing
// f, with the outcome of this run appended to the summary and its result
// data in Results. A resolution does not chain; neither does a loop.
func (w *worker) chain(f event.Firing, r Record, result map[string]any) {
	if len(w.a.Then) == 0 || f.Resolved || r.Outcome == OutcomeDropped {
		return
	}
	if len(f.Via) >= maxChain || slices.Contains(f.Via, w.name) {
		w.log.Warn("then chain stopped: too long or a loop", "rule", f.Rule, "via", strings.Join(append(f.Via, w.name), " > "))
		return
	}
	next := f
	next.ID = f.ID + "/" + w.name
	next.Actions = w.a.Then
	next.Via = append(append([]string(nil), f.Via...), w.name)
	next.Results = map[string]any{}
	for k, v := range f.Results {
		next.Results[k] = v
	}
	if result != nil {
		next.Results[w.name] = result
	}
	what := r.Output
	if r.Outcome != OutcomeOK {
		what = "failed: " + r.Err
	}
	if what != "" {
		next.Summary = f.Summary + "\n" + w.name + ": " + what
	}
	w.d.Dispatch(next)
}

// handle runs firing f to its final outcome: rate limit, attempts with a
// timeout each, retries with backoff.
func (w *worker) handle(f event.Firing) (Record, map[string]any) {
	d := w.d
	start := time.Now()
	r := Record{FiringID: f.ID, Rule: f.Rule, Action: w.name, Source: f.Event.Source, Line: auditLine(f.Event.Line)}
	var result map[string]any
	finish := func(outcome, why string) (Record, map[string]any) {
		r.Outcome, r.Err = outcome, why
		if outcome == OutcomeDropped {
			d.stopped.Add(1)
		}
		r.Time = time.Now()
		r.Duration = r.Time.Sub(start)
		return r, result
	}
	if d.ctx.Err() != nil {
		return finish(OutcomeDropped, "not run: venus-medic stopped before its turn")
	}
	retries := DefaultRetries
	if w.a.Retries != nil {
		retries = *w.a.Retries
	}
	for attempt := 1; ; attempt++ {
		if w.limit != nil {
			if err := w.limit.wait(d.ctx); err != nil {
				return finish(OutcomeDropped, lastErr("not run: venus-medic stopped while it waited for the rate limit", r.Err))
			}
		}
		r.Attempts = attempt
		res, out, retry, err := w.attempt(f)
		r.Output, result = out, res
		if err == nil {
			return finish(OutcomeOK, "")
		}
		r.Err = err.Error()
		if d.ctx.Err() != nil {
			return finish(OutcomeDropped, "cancelled: venus-medic stopped: "+r.Err)
		}
		if !retry || attempt > retries {
			return finish(OutcomeFailed, r.Err)
		}
		delay := d.backoff(attempt, err)
		w.log.Info("action attempt failed, retrying", "rule", f.Rule, "firing_id", f.ID, "attempt", attempt, "retry_in", delay, "error", r.Err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			return finish(OutcomeDropped, lastErr("not retried: venus-medic stopped", r.Err))
		}
	}
}

func lastErr(why, last string) string {
	if last == "" {
		return why
	}
	return why + "; last error: " + last
}

// attempt makes one attempt with the action's timeout. A panic in the
// action is a failure not worth retrying; a timeout is worth retrying.
func (w *worker) attempt(f event.Firing) (result map[string]any, output string, retry bool, err error) {
	timeout := w.a.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(w.d.ctx, timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("action panicked", "rule", f.Rule, "panic", p)
			result, output, retry, err = nil, "", false, fmt.Errorf("action panicked: %v", p)
		}
	}()
	if o, ok := w.a.Action.(Resulter); ok {
		result, output, retry, err = o.DoResult(ctx, f)
	} else if o, ok := w.a.Action.(Outputter); ok {
		output, retry, err = o.DoOutput(ctx, f)
	} else {
		retry, err = w.a.Action.Do(ctx, f)
	}
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, output, true, fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	return result, output, retry, err
}

// backoff is the delay before retry number attempt: the base doubled at
// each retry, capped, with jitter (a random half of it) so that actions
// failing together do not retry together; at least what the receiver
// asked for with Retry-After, within the cap.
func (d *Dispatcher) backoff(attempt int, err error) time.Duration {
	b := d.base
	for i := 1; i < attempt && b < d.maxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.maxBackoff)
	delay := b
	if b > 1 {
		delay = b/2 + rand.N(b/2+1)
	}
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) && ra.RetryAfter() > delay {
		delay = min(ra.RetryAfter(), d.maxBackoff)
	}
	return delay
}

// retryAfterError is a failure whose receiver said when to try again.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string             { return e.err.Error() }
func (e *retryAfterError) Unwrap() error             { return e.err }
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }

func withRetryAfter(err error, after time.Duration) error {
	if after <= 0 {
		return err
	}
	return &retryAfterError{err: err, after: after}
}

// window allows at most n starts in any period of length per. It keeps
// the times of the last n starts and waits until the oldest is per old.
//
// This is stricter than a token bucket (x/time/rate) with a burst of n,
// which lets 2n through in the first period: the chat platforms count
// messages per window, and DingTalk mutes a robot for ten minutes when it
// sends more than 20 in a minute.
type window struct {
	n   int
	per time.Duration

	mu    sync.Mutex  // protects times
	times []time.Time // the last starts, oldest first, at most n
}

func newWindow(n int, per time.Duration) *window {
	return &window{n: n, per: per, times: make([]time.Time, 0, n)}
}

// wait returns when a start is allowed (and counts it), or ctx's error.
func (w *window) wait(ctx context.Context) error {
	for {
		w.mu.Lock()
		now := time.Now()
		if len(w.times) < w.n {
			w.times = append(w.times, now)
			w.mu.Unlock()
			return nil
		}
		next := w.times[0].Add(w.per)
		if !now.Before(next) {
			copy(w.times, w.times[1:])
			w.times[w.n-1] = now
			w.mu.Unlock()
			return nil
		}
		w.mu.Unlock()
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
