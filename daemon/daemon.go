// Package daemon wires the stages together and owns the lifecycle and the
// state directory: sources → joiner and parser per source → rules (one
// goroutine) → actions dispatcher. It is the only package that knows all
// the stages (STYLE "Layout"), and the only one that writes to state_dir.
//
// Ordering: each source has one parse goroutine, so the events of a file
// reach the rules in file order; a line's position is committed to its
// source only after the rules have seen it, so a crash re-reads at most the
// lines the rules had not finished with (at-least-once, never a gap).
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/actions"
	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
	"github.com/venus-medic/venus-medic/parsers"
	"github.com/venus-medic/venus-medic/rules"
	"github.com/venus-medic/venus-medic/sources"
)

// Options are the parts of a daemon that do not come from the configuration file.
type Options struct {
	// Builtin holds the shipped rule files (name → content), used when the
	// configuration names `builtin` or no rules at all.
	Builtin map[string][]byte
	// Logger is the daemon's logger; nil means hclog's default.
	Logger hclog.Logger
	// FlushIdle is how long a pending multi-line record waits for more
	// lines before it is handed to the rules (default 300ms).
	FlushIdle time.Duration
	// SaveEvery is how often positions and rule state are saved (default 1s).
	SaveEvery time.Duration
}

// Daemon is a running venus-medic.
type Daemon struct {
	cfg   *Config
	opts  Options
	log   hclog.Logger
	state *State

	sources []*source
	disp    *actions.Dispatcher
	// acts are the actions in force (owned by the rules goroutine, like set).
	acts map[string]*actions.Configured

	// set is owned by the rules goroutine; reloads are handed to it.
	set      *rules.Set
	reloadCh chan reloadReq

	mu         sync.Mutex // guards cfg (swapped by reloads) and lastReload
	lastReload reloadResult
	// host is the configuration's host name (it does not change on reload).
	host string

	// ready is closed once the daemon runs (tests wait on it).
	ready chan struct{}
	// outcomes carries the results of actions back to the rules as events
	// of the source "venus-medic", so rules can act on them.
	outcomes chan event.Event
}

// OutcomeSource is the source of the events that report what an action
// did: logger "actions", msg "action NAME for rule RULE: OUTCOME", fields
// action, rule, outcome, attempts, firing_id, error, output and result
// (the action's data, e.g. a proving check's bad_count and bad_sectors).
const OutcomeSource = "venus-medic"

// source is one configured source and its parse stage.
type source struct {
	name   string
	src    sources.Source
	file   *sources.File // nil unless a file source
	parser parsers.Parser
	lines  chan event.Line
}

// item is an event on its way to the rules, with what is needed to commit
// its position afterwards.
type item struct {
	ev   event.Event
	line event.Line
	src  *source
}

type reloadReq struct {
	why  string
	done chan error
}

type reloadResult struct {
	Time time.Time `json:"time"`
	OK   bool      `json:"ok"`
	Err  string    `json:"error,omitempty"`
}

// positionsFile and rulesFile are the state files the daemon keeps.
const (
	positionsFile = "positions.json"
	rulesFile     = "rules-state.json"
	actionsFile   = "actions-state.json"
)

// stateful is implemented by actions that keep state worth saving (the
// restart history of systemd-restart's flap guard, for example).
type stateful interface {
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

// New builds a daemon from a configuration: actions, rules, state and
// sources. Nothing runs until Run. Configuration problems are returned
// joined, each with its position.
func New(cfg *Config, opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.Default()
	}
	if opts.FlushIdle <= 0 {
		opts.FlushIdle = 300 * time.Millisecond
	}
	if opts.SaveEvery <= 0 {
		opts.SaveEvery = time.Second
	}
	d := &Daemon{cfg: cfg, host: cfg.Host, opts: opts, log: opts.Logger, reloadCh: make(chan reloadReq), ready: make(chan struct{}),
		outcomes: make(chan event.Event, 256)}

	acts, set, err := d.load(cfg)
	if err != nil {
		return nil, err
	}
	d.set = set
	st, err := OpenState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	d.state = st

	var positions map[string]json.RawMessage
	if b, err := st.Read(positionsFile); err != nil {
		d.log.Warn("saved positions unreadable, starting from the configured places", "error", err)
	} else if b != nil {
		if err := json.Unmarshal(b, &positions); err != nil {
			d.log.Warn("saved positions unreadable, starting from the configured places", "error", err)
		}
	}
	if b, err := st.Read(rulesFile); err != nil {
		d.log.Warn("saved rule state unreadable, starting with empty windows", "error", err)
	} else if b != nil {
		if err := set.Restore(b); err != nil {
			d.log.Warn("saved rule state unreadable, starting with empty windows", "error", err)
		}
	}

	var actState map[string]json.RawMessage
	if b, err := st.Read(actionsFile); err != nil {
		d.log.Warn("saved action state unreadable, starting without it", "error", err)
	} else if b != nil {
		if err := json.Unmarshal(b, &actState); err != nil {
			d.log.Warn("saved action state unreadable, starting without it", "error", err)
		}
	}
	for name, a := range acts {
		if sa, ok := a.Action.(stateful); ok && len(actState[name]) > 0 {
			if err := sa.Restore(actState[name]); err != nil {
				d.log.Warn("saved action state unreadable, starting without it", "action", name, "error", err)
			}
		}
	}
	d.acts = acts

	for _, sc := range cfg.Sources {
		s, err := d.newSource(sc, positions[sc.Name])
		if err != nil {
			return nil, err
		}
		d.sources = append(d.sources, s)
	}
	d.disp = actions.NewDispatcher(acts, d.log.Named("actions"), func(r actions.Record) {
		if err := d.state.Audit(r); err != nil {
			d.log.Error("cannot write the audit log", "error", err)
		}
		if r.Outcome != "ok" {
			d.log.Warn("action did not complete", "action", r.Action, "rule", r.Rule, "outcome", r.Outcome, "attempts", r.Attempts, "error", r.Err)
		}
		d.reportOutcome(r)
	})
	return d, nil
}

func (d *Daemon) newSource(sc SourceConfig, pos json.RawMessage) (*source, error) {
	p, err := parsers.New(sc.Parser, parsers.Options{Pattern: sc.Pattern})
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", sc.Name, err)
	}
	s := &source{name: sc.Name, parser: p, lines: make(chan event.Line, 1024)}
	log := d.log.Named("sources").With("source", sc.Name)
	switch {
	case len(sc.File) > 0:
		f, err := sources.NewFile(sources.FileConfig{Name: sc.Name, Paths: sc.File, FromBeginning: sc.From == "beginning"}, log)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", sc.Name, err)
		}
		if len(pos) > 0 {
			if err := f.Restore(pos); err != nil {
				log.Warn("saved position unreadable, starting from the configured place", "error", err)
			}
		}
		s.src, s.file = f, f
	case len(sc.Command) > 0:
		c, err := sources.NewCommand(sources.CommandConfig{Name: sc.Name, Argv: sc.Command, Env: sc.Env, MergeStderr: sc.Stderr == "lines"}, log)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", sc.Name, err)
		}
		s.src = c
	case sc.Probe != nil:
		pc, err := sc.probeConfig()
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", sc.Name, err)
		}
		pr, err := sources.NewProbe(pc, log)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", sc.Name, err)
		}
		s.src = pr
	default:
		return nil, fmt.Errorf("source %q: nothing to follow", sc.Name)
	}
	return s, nil
}

// load builds the actions and the rules of a configuration, checking that
// every action a rule names exists.
func (d *Daemon) load(cfg *Config) (map[string]*actions.Configured, *rules.Set, error) {
	acts, aerr := cfg.BuildActions(d.log.Named("actions"))
	set, rerr := LoadRules(cfg, d.opts.Builtin, func(name string) bool { _, ok := cfg.ActionNodes[name]; return ok }, cfg.Host)
	if err := errors.Join(aerr, rerr); err != nil {
		return nil, nil, err
	}
	return acts, set, nil
}

// LoadRules loads the rules a configuration names: the builtin set and/or
// files and directories.
func LoadRules(cfg *Config, builtin map[string][]byte, actionExists func(string) bool, host string) (*rules.Set, error) {
	opt := rules.Options{ActionExists: actionExists, Host: host}
	if !cfg.UsesBuiltinRules() {
		return rules.Load(cfg.RulePaths(), opt)
	}
	files := map[string][]byte{}
	for n, b := range builtin {
		files[n] = b
	}
	for _, p := range cfg.RulePaths() {
		if err := readRuleFiles(p, files); err != nil {
			return nil, err
		}
	}
	return rules.LoadFiles(files, opt)
}

// Run runs the daemon until ctx is done: sources, parse stages, rules,
// actions, periodic saves, rule reloads (on hup, on a change in the rule
// directories) and the health endpoint. On cancellation it stops the
// sources, drains the pipeline and running actions, and saves state.
func (d *Daemon) Run(ctx context.Context, hup <-chan os.Signal) error {
	defer d.state.Close()
	srcCtx, stopSources := context.WithCancel(context.Background())
	defer stopSources()

	// The listener first: a busy port stops the start before anything runs.
	var srv *http.Server
	if d.cfg.Listen != "" {
		var err error
		if srv, err = d.serveHTTP(); err != nil {
			return err
		}
	}

	items := make(chan item, 1024)
	var producers sync.WaitGroup
	for _, s := range d.sources {
		producers.Add(2)
		go func() {
			defer producers.Done()
			defer close(s.lines)
			if err := s.src.Run(srcCtx, s.lines); err != nil {
				d.log.Error("source stopped", "source", s.name, "error", err)
			}
		}()
		go func() {
			defer producers.Done()
			d.parseStage(s, items)
		}()
	}
	go func() {
		producers.Wait()
		close(items)
	}()

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	setup := make(chan struct{})
	go d.watchRules(watchCtx, setup)
	<-setup
	go func() {
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-hup:
				d.Reload(watchCtx, "SIGHUP")
			}
		}
	}()

	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
	d.log.Info("venus-medic running", "config", d.cfg.describe(), "sources", len(d.sources), "rules", len(d.set.Rules()), "state_dir", d.cfg.StateDir)
	close(d.ready)

	// Stop the sources when asked; the rules loop then drains what they
	// had read and returns when every producer is done.
	go func() {
		<-ctx.Done()
		_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
		d.log.Info("stopping: sources")
		stopSources()
	}()
	d.rulesLoop(items)

	d.log.Info("stopping: draining actions")
	// systemd's TimeoutStopSec is 30s in the shipped unit: leave time to save.
	drainCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	if err := d.disp.Close(drainCtx); err != nil {
		d.log.Warn("actions still running at shutdown were cancelled", "error", err)
	}
	cancel()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	d.log.Info("stopping: saving state")
	d.save()
	return nil
}

// config returns the configuration in force.
func (d *Daemon) config() *Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Ready is closed once Run has started every stage.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// parseStage joins and parses one source's lines into events, in order.
// A record that may continue on the next line is held until that line
// arrives or the source has been idle for FlushIdle.
func (d *Daemon) parseStage(s *source, out chan<- item) {
	joiners := map[string]*parsers.Joiner{}
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	emit := func(recs []event.Line) {
		for _, rec := range recs {
			out <- item{ev: makeEvent(s.parser, rec, d.host), line: rec, src: s}
		}
	}
	// flush hands over every pending record and forgets the joiners, so
	// the files of past rotations do not accumulate.
	flush := func() {
		for k, j := range joiners {
			emit(j.Flush())
			delete(joiners, k)
		}
	}
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				flush()
				return
			}
			key := l.FileID + "\x00" + l.File
			j := joiners[key]
			if j == nil {
				j = parsers.NewJoiner(0, 0)
				joiners[key] = j
			}
			emit(j.Add(l))
			if j.Pending() {
				idle.Reset(d.opts.FlushIdle)
			}
		case <-idle.C:
			flush()
		}
	}
}

// makeEvent parses a record into an event; a record without its own time
// takes the time it was read.
func makeEvent(p parsers.Parser, rec event.Line, host string) event.Event {
	var ev event.Event
	p.Parse(rec.Text, &ev)
	ev.Source = rec.Source
	ev.Host = host
	ev.Line = string(rec.Text)
	ev.File = rec.File
	ev.Offset = rec.Offset
	ev.LineNo = rec.Num
	if ev.Time.IsZero() {
		ev.Time = rec.Read
	}
	return ev
}

// reportOutcome hands an action's outcome to the rules as an event. The
// outcomes of actions that an outcome event caused are not reported
// again, so rules on outcomes cannot feed themselves.
func (d *Daemon) reportOutcome(r actions.Record) {
	if r.Source == OutcomeSource {
		return
	}
	level := event.LevelInfo
	if r.Outcome != actions.OutcomeOK {
		level = event.LevelError
	}
	msg := fmt.Sprintf("action %s for rule %s: %s", r.Action, r.Rule, r.Outcome)
	if r.Err != "" {
		msg += ": " + r.Err
	}
	fields := map[string]any{"action": r.Action, "rule": r.Rule, "outcome": r.Outcome,
		"attempts": float64(r.Attempts), "firing_id": r.FiringID}
	if r.Err != "" {
		fields["error"] = r.Err
	}
	if r.Output != "" {
		fields["output"] = r.Output
	}
	if r.Result != nil {
		// Through JSON, so numbers are float64 as in every other event.
		if b, err := json.Marshal(r.Result); err == nil {
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				fields["result"] = m
			}
		}
	}
	ev := event.Event{Source: OutcomeSource, Host: d.host, Time: r.Time, Level: level, Logger: "actions",
		Msg: msg, Fields: fields, Line: msg}
	select {
	case d.outcomes <- ev:
	default:
		d.log.Warn("too many action outcomes waiting for the rules; this one is not shown to them", "action", r.Action, "rule", r.Rule)
	}
}

// rulesLoop is the one goroutine that owns the rule set: it evaluates
// events, commits positions, ticks verifications, saves state and swaps in
// reloaded rules.
func (d *Daemon) rulesLoop(items <-chan item) {
	tick := time.NewTicker(d.opts.SaveEvery)
	defer tick.Stop()
	interval, _ := daemon.SdWatchdogEnabled(false)
	var lastPing time.Time
	for {
		select {
		case it, ok := <-items:
			if !ok {
				return
			}
			firings := d.set.Eval(&it.ev)
			if it.src.file != nil {
				it.src.file.Commit(it.line)
			}
			if len(firings) > 0 {
				// Save the position of the line that fired together with
				// the rule state (cooldowns, windows) before acting, so a
				// crash cannot make the same line act twice or forget the
				// cooldown it started. Firings are rare: one fsync each.
				d.save()
				for _, f := range firings {
					d.fire(f)
				}
			}
		case ev := <-d.outcomes:
			if firings := d.set.Eval(&ev); len(firings) > 0 {
				d.save()
				for _, f := range firings {
					d.fire(f)
				}
			}
		case now := <-tick.C:
			// Deadlines (verifications, absences, sequences) are on event
			// time; the clock stands in for it only once the pipeline has
			// caught up, so a backlog read after downtime is judged by the
			// lines' own times, not by the time it is read.
			if len(items) == 0 {
				if firings := d.set.Tick(now); len(firings) > 0 {
					d.save()
					for _, f := range firings {
						d.fire(f)
					}
				}
			}
			d.save()
			// The watchdog is fed from this loop, so a stuck rules stage
			// stops feeding it and systemd restarts the daemon.
			if interval > 0 && now.Sub(lastPing) >= interval/2 {
				_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
				lastPing = now
			}
		case req := <-d.reloadCh:
			req.done <- d.swap(req.why)
		}
	}
}

func (d *Daemon) fire(f event.Firing) {
	d.log.Debug("rule fired", "rule", f.Rule, "severity", f.Severity, "summary", f.Summary, "actions", strings.Join(f.Actions, ","))
	d.disp.Dispatch(f)
}

// save writes action state, rule state and then positions, in that order:
// a crash between the writes leaves positions behind the rule state, so
// the lines after them are read again and meet the cooldowns they started
// (suppressed, not acted on twice). Each file is written only when it
// changed (State.Write skips identical bytes).
func (d *Daemon) save() {
	acts := map[string]json.RawMessage{}
	for name, a := range d.acts {
		if sa, ok := a.Action.(stateful); ok {
			if b, err := sa.Snapshot(); err == nil {
				acts[name] = b
			} else {
				d.log.Error("cannot snapshot action state", "action", name, "error", err)
			}
		}
	}
	if b, err := json.Marshal(acts); err == nil {
		if err := d.state.Write(actionsFile, b); err != nil {
			d.log.Error("cannot save action state", "error", err)
		}
	}
	b, err := d.set.Snapshot()
	if err == nil {
		err = d.state.Write(rulesFile, b)
	}
	if err != nil {
		d.log.Error("cannot save rule state", "error", err)
	}
	pos := map[string]json.RawMessage{}
	for _, s := range d.sources {
		if s.file == nil {
			continue
		}
		b, err := s.file.Snapshot()
		if err != nil {
			d.log.Error("cannot snapshot positions", "source", s.name, "error", err)
			continue
		}
		pos[s.name] = b
	}
	if b, err := json.Marshal(pos); err == nil {
		if err := d.state.Write(positionsFile, b); err != nil {
			d.log.Error("cannot save positions", "error", err)
		}
	}
}

// Reload asks the rules goroutine to reload the configuration's actions
// and rules; it returns the result. A failed reload keeps the old rules.
func (d *Daemon) Reload(ctx context.Context, why string) error {
	req := reloadReq{why: why, done: make(chan error, 1)}
	select {
	case d.reloadCh <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// swap runs in the rules goroutine: it loads the configuration again and,
// if everything is valid, carries the rule state over by rule name and
// swaps the new rules and actions in.
func (d *Daemon) swap(why string) error {
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec())
	defer daemon.SdNotify(false, daemon.SdNotifyReady)
	cfg := d.config()
	if cfg.File != "" && !strings.HasPrefix(cfg.File, "(embedded)") {
		c, err := LoadConfig(cfg.File)
		if err != nil {
			return d.reloadFailed(why, err)
		}
		if !sameSources(c, cfg) {
			d.log.Warn("sources changed in the configuration: restart venus-medic to apply them; rules and actions are reloaded now")
		}
		c.Sources = cfg.Sources
		cfg = c
	}
	acts, set, err := d.load(cfg)
	if err != nil {
		return d.reloadFailed(why, err)
	}
	set.Adopt(d.set)
	d.set = set
	// Carry action state (e.g. a flap guard's restart history) over by name.
	for name, a := range acts {
		old, ok := d.acts[name]
		if !ok {
			continue
		}
		na, nok := a.Action.(stateful)
		oa, ook := old.Action.(stateful)
		if nok && ook {
			if b, err := oa.Snapshot(); err == nil {
				_ = na.Restore(b)
			}
		}
	}
	d.acts = acts
	d.disp.Update(acts)
	d.mu.Lock()
	d.cfg = cfg
	d.lastReload = reloadResult{Time: time.Now(), OK: true}
	d.mu.Unlock()
	d.log.Info("rules reloaded", "why", why, "rules", len(set.Rules()), "actions", len(acts))
	return nil
}

func (d *Daemon) reloadFailed(why string, err error) error {
	lines := yamlconf.Sorted(err)
	for _, e := range lines {
		d.log.Error("reload failed, the previous rules keep running", "why", why, "problem", e.Error())
	}
	d.mu.Lock()
	d.lastReload = reloadResult{Time: time.Now(), OK: false, Err: err.Error()}
	d.mu.Unlock()
	return err
}

func sameSources(a, b *Config) bool {
	x, _ := json.Marshal(a.Sources)
	y, _ := json.Marshal(b.Sources)
	return string(x) == string(y)
}

// serveHTTP serves /healthz on the configured listen address.
func (d *Daemon) serveHTTP() (*http.Server, error) {
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		last := d.lastReload
		d.mu.Unlock()
		var files []sources.FileStatus
		for _, s := range d.sources {
			if s.file != nil {
				files = append(files, s.file.Status()...)
			}
		}
		sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "last_reload": last, "files": files})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "error", err)
		}
	}()
	return srv, nil
}
