package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/venus-medic/venus-medic/event"
)

// rule is one compiled rule and its state.
type rule struct {
	idx         int
	name, desc  string
	file        string
	line, col   int
	srcNames    []string // as written
	sources     []string // canonical, deduplicated; empty: every source
	buckets     []*bucket
	when        *vm.Program
	pre         []cond
	whenSrc     string
	severity    string
	summary     *event.Template // nil: the event's msg
	cooldown    time.Duration
	count       int           // threshold count; 0: no threshold
	within      time.Duration // threshold window
	by          *vm.Program   // group key; nil: one group
	bySrc       string
	absent      *absentSpec
	seq         *sequenceSpec
	budget      *budgetSpec
	escalate    []string // actions beyond the budget
	actions     []string
	resolve     *vm.Program
	resolvePre  []cond
	verify      *verifySpec
	evalBase    uint64 // Evaluations carried over from a previous set
	nMatches    atomic.Uint64
	nFirings    atomic.Uint64
	nSuppressed atomic.Uint64
	nErrors     atomic.Uint64
	nResolved   atomic.Uint64
	nVerified   atomic.Uint64
	nFailed     atomic.Uint64
	nEscalated  atomic.Uint64

	// State, by group key. open counts groups with an open incident,
	// pending those with a pending verification.
	groups  map[string]*group
	open    int
	pending int

	// Deadlines of an absent or sequence rule (see timed.go): when due,
	// no group's deadline is before nextDue (it may be stale, earlier
	// than the earliest). live is set by the first event of the rule's
	// sources; until then, after a Restore, Tick waits a whole window
	// from its first call (waitFrom) before it lets a deadline pass.
	due      bool
	nextDue  time.Time
	live     bool
	waitFrom time.Time
}

// absentSpec is an `absent` block: fire when nothing matched for within.
type absentSpec struct {
	within time.Duration
}

// sequenceSpec is a `sequence` block: fire when an event matching `when`
// is not followed by one matching then within.
type sequenceSpec struct {
	then    *vm.Program
	pre     []cond
	thenSrc string
	within  time.Duration
}

// budgetSpec is a remediation budget: at most count firings run the
// rule's actions per group within within.
type budgetSpec struct {
	count  int
	within time.Duration
}

type verifySpec struct {
	within    time.Duration
	absent    bool // absent: cond must not match before the deadline; else it must
	cond      *vm.Program
	pre       []cond
	onFailure []string
	// onSuccess are the actions told that the fix took ("remediated").
	onSuccess []string
}

// group is the state of one rule for one value of its `by` expression. It
// is what Snapshot saves, hence the JSON tags.
type group struct {
	// Times are the times of the matches in the threshold window (at most
	// the threshold count).
	Times []time.Time `json:"times,omitempty"`
	// Last is the time of the last firing (for the cooldown).
	Last time.Time `json:"last,omitzero"`
	// Suppressed counts matches held back by the cooldown since Last.
	Suppressed int `json:"suppressed,omitempty"`
	// Seen is the time of the latest event of this group; the groups seen
	// longest ago are dropped first when there are too many.
	Seen     time.Time `json:"seen"`
	Incident *incident `json:"incident,omitempty"`
	Verify   *pending  `json:"verify,omitempty"`
	// Absence is the state of an `absent` rule.
	Absence *absence `json:"absence,omitempty"`
	// Sequence is the event matching `when` that waits for its `then`.
	Sequence *event.Event `json:"sequence,omitempty"`
	// Budget are the times of the firings that ran the rule's actions
	// within the budget's window (at most the budget's count).
	Budget []time.Time `json:"budget,omitempty"`
}

// absence is what an `absent` rule knows of one group: the last matching
// event (or, for a rule without `by`, the first event of its sources when
// nothing matched yet), whose time starts the clock, and whether the
// silence after it has been reported.
type absence struct {
	Event event.Event `json:"event"`
	Fired bool        `json:"fired,omitempty"`
}

// incident is an open incident, closed by an event matching `resolve`.
type incident struct {
	ID      string    `json:"id"`
	Summary string    `json:"summary"`
	Since   time.Time `json:"since"`
}

// pending is a verification waiting for its deadline.
type pending struct {
	Deadline time.Time    `json:"deadline"`
	Firing   event.Firing `json:"firing"` // the firing being verified
}

// stateful reports whether the rule keeps per-group state at all.
func (r *rule) stateful() bool {
	return r.count > 0 || r.cooldown > 0 || r.resolve != nil || r.verify != nil ||
		r.absent != nil || r.seq != nil || r.budget != nil
}

// incidents reports whether the rule's firings open incidents: with a
// resolve, or for an absence (closed when a match is seen again).
func (r *rule) incidents() bool {
	return r.resolve != nil || r.absent != nil
}

func (r *rule) stats() Stats {
	st := Stats{
		Evaluations:  r.evalBase,
		Matches:      r.nMatches.Load(),
		Firings:      r.nFirings.Load(),
		Suppressed:   r.nSuppressed.Load(),
		Errors:       r.nErrors.Load(),
		Resolved:     r.nResolved.Load(),
		Verified:     r.nVerified.Load(),
		VerifyFailed: r.nFailed.Load(),
		Escalated:    r.nEscalated.Load(),
	}
	for _, b := range r.buckets {
		st.Evaluations += b.evals.Load()
	}
	return st
}

// evalCtx is what one Eval works on: the event (with the host filled in),
// boxed for the VM only once and only if some rule gets that far.
type evalCtx struct {
	e     event.Event
	env   any
	boxed bool
	// key caches the group key of the rule being evaluated.
	keyDone bool
	key     string
}

func (c *evalCtx) boxedEnv() any {
	if !c.boxed {
		c.env, c.boxed = c.e, true
	}
	return c.env
}

// Eval shows one event to the rules and returns what fires, in rule order
// (verification deadlines that the event's time has passed come first).
//
// For each rule of the event's source (compared through
// event.CanonicalSource): a pending verification and an open incident of
// the event's group look at the event first; then `when` decides whether
// it matches, and the threshold and cooldown whether it fires.
//
// Threshold: per group, the times of matching events are kept; on each
// match those more than `within` before the event's time are dropped (a
// match exactly `within` earlier still counts); when `count` remain the
// rule fires and the list is cleared.
//
// Cooldown: after a firing, matches of the same group less than `cooldown`
// later are suppressed: counted, and added to the next firing's Count.
// They do not enter the threshold window.
//
// Resolve: a firing opens an incident for its group; a later event of the
// rule's sources and of the same group that matches `resolve` closes it
// with one firing with Resolved set (the incident's summary, the rule's
// actions).
//
// Verify: a firing opens a verification of its group, due `within` after
// the event. Until then (strictly before the deadline), an event of the
// rule's sources and of the same group matching `absent` fails it at once
// (a critical firing of the same rule: ID suffix VerifySuffix, summary
// prefix VerifyPrefix, the on_failure actions, the offending event), and
// one matching `present` makes it succeed. When the deadline passes (an
// event or a Tick at or after it), an `absent` verification succeeds and
// a `present` one fails with the verified firing's event. A new firing of
// the group replaces its pending verification.
//
// Absent and sequence rules fire when a deadline passes, see timed.go; an
// event of such a rule's sources first lets the rule's deadlines it is
// past expire.
//
// Budget: per group, the times of the firings that ran the rule's actions
// are kept; those more than the budget's `within` before a firing are
// dropped (one exactly `within` earlier still counts). When `count`
// remain, the firing is still made (it counts for the cooldown and opens
// the incident) but its actions are the rule's `escalate` list, its
// summary starts with BudgetPrefix, and it opens no verification (no
// remediation ran); it does not use the budget. Firings held back by the
// cooldown use none either.
func (s *Set) Eval(ev *event.Event) []event.Firing {
	var out []event.Firing
	if s.pending > 0 && !ev.Time.Before(s.nextDeadline) {
		out = s.expire(ev.Time, out)
	}
	c := evalCtx{e: *ev}
	if c.e.Host == "" {
		c.e.Host = s.opt.Host
	}
	var own []*rule
	if b := s.bySource[event.CanonicalSource(ev.Source)]; b != nil {
		b.evals.Add(1)
		own = b.rules
	}
	all := s.every.rules
	if len(all) > 0 {
		s.every.evals.Add(1)
	}
	// Merge the two lists (both in file order) so firings come in rule order.
	for i, j := 0, 0; i < len(own) || j < len(all); {
		var r *rule
		if j >= len(all) || (i < len(own) && own[i].idx < all[j].idx) {
			r, i = own[i], i+1
		} else {
			r, j = all[j], j+1
		}
		out = s.evalRule(r, &c, out)
	}
	return out
}

// run evaluates a boolean program; an error is counted and is no match.
func (s *Set) run(r *rule, p *vm.Program, pre []cond, c *evalCtx) bool {
	if !pass(pre, &c.e) {
		return false
	}
	out, err := s.vm.Run(p, c.boxedEnv())
	if err != nil {
		r.nErrors.Add(1)
		return false
	}
	b, ok := out.(bool)
	if !ok {
		r.nErrors.Add(1)
	}
	return b
}

// groupKey evaluates the rule's `by` for the event, once per rule and event.
func (s *Set) groupKey(r *rule, c *evalCtx) string {
	if c.keyDone {
		return c.key
	}
	c.keyDone, c.key = true, ""
	if r.by == nil {
		return ""
	}
	v, err := s.vm.Run(r.by, c.boxedEnv())
	if err != nil {
		r.nErrors.Add(1)
		return ""
	}
	c.key = keyString(v)
	return c.key
}

// keyString renders a `by` value as a group key.
func keyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

func (s *Set) evalRule(r *rule, c *evalCtx, out []event.Firing) []event.Firing {
	c.keyDone = false
	if r.absent != nil || r.seq != nil {
		out = s.beforeWhen(r, c, out)
	}
	if r.pending > 0 || r.open > 0 {
		out = s.followUp(r, c, out)
	}
	if !s.run(r, r.when, r.pre, c) {
		return out
	}
	r.nMatches.Add(1)
	key := s.groupKey(r, c)
	if !r.stateful() {
		return append(out, s.fire(r, &c.e, key, 1, ""))
	}
	now := c.e.Time
	g := s.group(r, key, now)
	switch {
	case r.absent != nil:
		return s.heard(r, g, c, out)
	case r.seq != nil:
		s.await(r, g, c)
		return out
	}
	if s.cooling(r, g, now) {
		return out
	}
	n := 1
	if r.count > 0 {
		keep := g.Times[:0]
		for _, t := range g.Times {
			if now.Sub(t) <= r.within {
				keep = append(keep, t)
			}
		}
		g.Times = append(keep, now)
		if len(g.Times) < r.count {
			return out
		}
		n = len(g.Times)
		g.Times = g.Times[:0]
	}
	return append(out, s.commit(r, g, key, &c.e, n, now, now, ""))
}

// cooling reports whether a firing of group g at now is held back by the
// cooldown, and then counts it as suppressed.
func (s *Set) cooling(r *rule, g *group, now time.Time) bool {
	if r.cooldown > 0 && !g.Last.IsZero() && now.Sub(g.Last) < r.cooldown {
		g.Suppressed++
		r.nSuppressed.Add(1)
		return true
	}
	return false
}

// commit makes the firing of group g for event e, at now (the event's
// time, or the deadline that passed): n matches plus those the cooldown
// held back. It starts the cooldown, spends the remediation budget (or,
// when it is used up, turns the firing into an escalation), opens the
// incident, and opens the verification, due `within` after verifyFrom
// (the time the firing is made). def is the summary when the rule has
// none ("": the event's msg).
func (s *Set) commit(r *rule, g *group, key string, e *event.Event, n int, now, verifyFrom time.Time, def string) event.Firing {
	f := s.fire(r, e, key, n+g.Suppressed, def)
	g.Suppressed = 0
	g.Last = now
	escalated := false
	if b := r.budget; b != nil {
		keep := g.Budget[:0]
		for _, t := range g.Budget {
			if now.Sub(t) <= b.within {
				keep = append(keep, t)
			}
		}
		g.Budget = keep
		if len(g.Budget) >= b.count {
			escalated = true
			f.Actions = orEmpty(r.escalate)
			f.Summary = BudgetPrefix + f.Summary
			r.nEscalated.Add(1)
		} else {
			g.Budget = append(g.Budget, now)
		}
	}
	if r.incidents() {
		if g.Incident == nil {
			r.open++
		}
		g.Incident = &incident{ID: f.ID, Summary: f.Summary, Since: now}
	}
	if r.verify != nil && !escalated {
		s.setPending(r, g, &pending{Deadline: verifyFrom.Add(r.verify.within), Firing: f})
	}
	return f
}

// followUp shows an event of the rule's sources to the pending
// verification and the open incident of the event's group.
func (s *Set) followUp(r *rule, c *evalCtx, out []event.Firing) []event.Firing {
	key := s.groupKey(r, c)
	g := r.groups[key]
	if g == nil {
		return out
	}
	now := c.e.Time
	if p := g.Verify; p != nil && !now.Before(p.Firing.Event.Time) && now.Before(p.Deadline) &&
		s.run(r, r.verify.cond, r.verify.pre, c) {
		s.setPending(r, g, nil)
		if r.verify.absent {
			out = append(out, s.verifyFailed(r, p, &c.e))
		} else {
			out = s.verified(r, p, &c.e, out)
		}
	}
	if in := g.Incident; in != nil && r.resolve != nil && !now.Before(in.Since) &&
		s.run(r, r.resolve, r.resolvePre, c) {
		g.Incident = nil
		r.open--
		r.nResolved.Add(1)
		out = append(out, event.Firing{
			ID: in.ID + ResolveSuffix, Rule: r.name, Severity: r.severity, Summary: in.Summary,
			Actions: orEmpty(r.actions), Group: key, Count: 1, Resolved: true, Event: c.e,
		})
	}
	return out
}

// orEmpty returns a copy of names, never nil (firings list their actions as []).
func orEmpty(names []string) []string {
	if names == nil {
		return []string{}
	}
	return slices.Clone(names)
}

// group returns the rule's state for key, created if needed.
func (s *Set) group(r *rule, key string, now time.Time) *group {
	g := r.groups[key]
	if g == nil {
		if r.groups == nil {
			r.groups = map[string]*group{}
		}
		if len(r.groups) >= maxGroups {
			s.dropStale(r)
		}
		g = &group{}
		r.groups[key] = g
	}
	if now.After(g.Seen) {
		g.Seen = now
	}
	return g
}

// dropStale drops the tenth of the rule's groups seen longest ago (at
// least one), so that a `by` with unbounded values cannot grow memory
// without bound and the cost of dropping stays amortised.
func (s *Set) dropStale(r *rule) {
	type kv struct {
		k string
		t time.Time
	}
	all := make([]kv, 0, len(r.groups))
	for k, g := range r.groups {
		all = append(all, kv{k, g.Seen})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].t.Before(all[j].t) })
	n := max(1, len(all)/10)
	for _, x := range all[:n] {
		g := r.groups[x.k]
		if g.Incident != nil {
			r.open--
		}
		if g.Verify != nil {
			r.pending--
			s.pending--
		}
		delete(r.groups, x.k)
	}
}

// setPending sets (p != nil) or clears the group's pending verification,
// keeping the counts and the earliest deadline up to date.
func (s *Set) setPending(r *rule, g *group, p *pending) {
	switch {
	case g.Verify == nil && p != nil:
		r.pending++
		s.pending++
	case g.Verify != nil && p == nil:
		r.pending--
		s.pending--
	}
	g.Verify = p
	if p != nil && (s.pending == 1 || p.Deadline.Before(s.nextDeadline)) {
		s.nextDeadline = p.Deadline
	}
}

// fire builds a firing of rule r for event e; def is the summary when the
// rule has none ("": the event's msg).
func (s *Set) fire(r *rule, e *event.Event, key string, count int, def string) event.Firing {
	f := event.Firing{
		ID: firingID(r.name, key, e), Rule: r.name, Severity: r.severity,
		Actions: orEmpty(r.actions), Group: key, Count: count, Event: *e,
	}
	f.Summary = def
	if def == "" {
		f.Summary = e.Msg
	}
	if r.summary != nil {
		if sum, err := r.summary.Render(&f); err != nil {
			r.nErrors.Add(1)
		} else {
			f.Summary = sum
		}
	}
	r.nFirings.Add(1)
	return f
}

// verifyFailed builds the firing that reports a failed verification of
// p's firing; e is the event that shows it failed.
func (s *Set) verifyFailed(r *rule, p *pending, e *event.Event) event.Firing {
	r.nFailed.Add(1)
	return event.Firing{
		ID: p.Firing.ID + VerifySuffix, Rule: r.name, Severity: SeverityCritical,
		Summary: VerifyPrefix + p.Firing.Summary, Actions: orEmpty(r.verify.onFailure), Group: p.Firing.Group,
		Count: 1, Event: *e,
	}
}

// verified counts a verification that held and, when the rule names
// on_success actions, adds the firing that tells them ("remediated: …",
// severity info); e is the event that confirmed it (for present) or the
// verified firing's own event (for absent).
func (s *Set) verified(r *rule, p *pending, e *event.Event, out []event.Firing) []event.Firing {
	r.nVerified.Add(1)
	if len(r.verify.onSuccess) == 0 {
		return out
	}
	return append(out, event.Firing{
		ID: p.Firing.ID + VerifiedSuffix, Rule: r.name, Severity: SeverityInfo,
		Summary: VerifiedPrefix + p.Firing.Summary, Actions: slices.Clone(r.verify.onSuccess), Group: p.Firing.Group,
		Count: 1, Event: *e,
	})
}

// firingID is a stable hash of what identifies a firing: the rule, the
// group and the event (time, where it was read, its text).
func firingID(rule, key string, e *event.Event) string {
	h := sha256.New()
	var b [8]byte
	for _, s := range []string{rule, key, e.Source, e.File, e.Line} {
		binary.BigEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(b[:], uint64(e.Time.UnixNano()))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(e.Offset))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Tick lets time pass without an event: verifications whose deadline is
// at or before now end (an `absent` one succeeds, a `present` one fails
// and fires); then, rule by rule, absences and sequences whose deadline is
// before now fire (see timed.go). now is usually the wall clock in `run`
// and the last event's time at the end of `test`.
func (s *Set) Tick(now time.Time) []event.Firing {
	var out []event.Firing
	if s.pending > 0 && !now.Before(s.nextDeadline) {
		out = s.expire(now, out)
	}
	for _, r := range s.timed {
		out = s.tickTimed(r, now, out)
	}
	return out
}

// expire ends the verifications due at now, in deadline order.
func (s *Set) expire(now time.Time, out []event.Firing) []event.Firing {
	type due struct {
		r *rule
		k string
		g *group
	}
	var ds []due
	var next time.Time
	for _, r := range s.verifying {
		if r.pending == 0 {
			continue
		}
		for k, g := range r.groups {
			if g.Verify == nil {
				continue
			}
			if !now.Before(g.Verify.Deadline) {
				ds = append(ds, due{r, k, g})
			} else if next.IsZero() || g.Verify.Deadline.Before(next) {
				next = g.Verify.Deadline
			}
		}
	}
	sort.Slice(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if !a.g.Verify.Deadline.Equal(b.g.Verify.Deadline) {
			return a.g.Verify.Deadline.Before(b.g.Verify.Deadline)
		}
		if a.r.idx != b.r.idx {
			return a.r.idx < b.r.idx
		}
		return a.k < b.k
	})
	for _, d := range ds {
		p := d.g.Verify
		s.setPending(d.r, d.g, nil)
		if d.r.verify.absent {
			out = s.verified(d.r, p, &p.Firing.Event, out)
		} else {
			out = append(out, s.verifyFailed(d.r, p, &p.Firing.Event))
		}
	}
	s.nextDeadline = next
	return out
}
