package rules

import (
	"sort"
	"strings"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

// Absences and sequences are rules that fire on what did not happen, so
// they fire when a deadline passes rather than on an event. Time is event
// time, as everywhere in this package: a deadline passes when an event of
// the rule's own sources comes strictly after it (Eval), or when Tick is
// called with a time strictly after it (the wall clock in `run`, the last
// event's time at the end of `test`). Events of other sources do not move
// a rule's clock: their timestamps may run ahead of or behind the
// component the rule watches.
//
// absent {within, by}: per group, the clock starts at the group's last
// event matching `when`. A rule without `by` has one group whose clock
// starts at the first event of its sources, matching or not, so a
// component that talks but never says the expected thing is noticed too;
// with `by` a group is known only from a matching event, so its clock
// starts at its first match. Nothing fires before an event of the rule's
// sources was seen. When more than `within` passes after the clock start
// without a match, the rule fires once: the event is a copy of the one
// that started the clock with its time set to the deadline, the default
// summary "nothing matching for T". The cooldown applies at the deadline.
// Then the group is quiet until a match is seen again, which restarts the
// clock and, when the rule has no `resolve`, closes the incident the
// firing opened (a Resolved firing); with a `resolve` that expression
// closes it as for other rules.
//
// sequence {then, within, by}: an event matching `when` (A) waits for a
// later (or equally timed) event of the rule's sources and of the same
// group matching `then` (B). B at most `within` after A settles it
// quietly; when more than `within` passes, the rule fires with A as the
// event (default summary "not followed within T: " and A's msg); the
// cooldown applies at the deadline. While A waits, further A's of the same
// group are ignored: the first one is kept, so a burst of starts without
// a finish fires once, at the first start's deadline. An event is checked
// as B before it is checked as A, so an event matching both settles the
// waiting A and then starts a new one.
//
// After a Restore the saved clocks and waiting A's continue, but Tick does
// not let them pass until an event of the rule's sources arrived or a
// whole window (within) passed since Tick's first call: the daemon has to
// catch up with the lines written while it was down before it can call
// anything missing.

// beforeWhen runs before `when` for an absent or sequence rule on an event
// of its sources: it lets the deadlines the event is past expire, starts
// the clock of an absence without `by`, and settles a waiting sequence of
// the event's group when the event matches `then`.
func (s *Set) beforeWhen(r *rule, c *evalCtx, out []event.Firing) []event.Firing {
	now := c.e.Time
	r.live = true
	if r.due && now.After(r.nextDue) {
		out = s.expireTimed(r, now, out)
	}
	switch {
	case r.absent != nil:
		if r.by == nil {
			if g := r.groups[""]; g == nil || g.Absence == nil {
				g = s.group(r, "", now)
				g.Absence = &absence{Event: c.e}
				s.setDue(r, now.Add(r.absent.within))
			}
		}
	case r.seq != nil && r.due:
		g := r.groups[s.groupKey(r, c)]
		if g != nil && g.Sequence != nil && !now.Before(g.Sequence.Time) && s.run(r, r.seq.then, r.seq.pre, c) {
			g.Sequence = nil
		}
	}
	return out
}

// heard records an event matching an absent rule's `when`: the group's
// clock restarts, and a reported silence ends (closing its incident when
// the rule has no `resolve`).
func (s *Set) heard(r *rule, g *group, c *evalCtx, out []event.Firing) []event.Firing {
	now := c.e.Time
	a := g.Absence
	if a == nil {
		a = &absence{Event: c.e}
		g.Absence = a
	} else if !now.Before(a.Event.Time) {
		a.Event = c.e
	}
	if a.Fired {
		a.Fired = false
		if in := g.Incident; in != nil && r.resolve == nil && !now.Before(in.Since) {
			g.Incident = nil
			r.open--
			r.nResolved.Add(1)
			out = append(out, event.Firing{
				ID: in.ID + ResolveSuffix, Rule: r.name, Severity: r.severity, Summary: in.Summary,
				Actions: orEmpty(r.actions), Group: s.groupKey(r, c), Count: 1, Resolved: true, Event: c.e,
			})
		}
	}
	s.setDue(r, a.Event.Time.Add(r.absent.within))
	return out
}

// await records an event matching a sequence rule's `when`: it waits for
// its `then` unless an earlier one of the group already waits.
func (s *Set) await(r *rule, g *group, c *evalCtx) {
	if g.Sequence != nil {
		return
	}
	e := c.e
	g.Sequence = &e
	s.setDue(r, e.Time.Add(r.seq.within))
}

// setDue notes a new deadline of rule r.
func (s *Set) setDue(r *rule, d time.Time) {
	if !r.due || d.Before(r.nextDue) {
		r.due, r.nextDue = true, d
	}
}

// deadline returns the group's deadline, if it has one.
func (r *rule) deadline(g *group) (time.Time, bool) {
	switch {
	case r.absent != nil && g.Absence != nil && !g.Absence.Fired:
		return g.Absence.Event.Time.Add(r.absent.within), true
	case r.seq != nil && g.Sequence != nil:
		return g.Sequence.Time.Add(r.seq.within), true
	}
	return time.Time{}, false
}

// window is the length of an absent or sequence rule's deadlines.
func (r *rule) window() time.Duration {
	if r.absent != nil {
		return r.absent.within
	}
	return r.seq.within
}

// tickTimed is Tick for one absent or sequence rule.
func (s *Set) tickTimed(r *rule, now time.Time, out []event.Firing) []event.Firing {
	if !r.live && r.waitFrom.IsZero() {
		r.waitFrom = now
	}
	if !r.due || !now.After(r.nextDue) {
		return out
	}
	if !r.live {
		if now.Sub(r.waitFrom) <= r.window() {
			return out
		}
		r.live = true
	}
	return s.expireTimed(r, now, out)
}

// expireTimed fires the groups of r whose deadline is before now, in
// deadline order (then by group key), and finds the next deadline. The
// firing's cooldown, budget and incident count from the deadline (event
// time); its verification from now, when the remediation actually starts.
func (s *Set) expireTimed(r *rule, now time.Time, out []event.Firing) []event.Firing {
	type due struct {
		k string
		g *group
		d time.Time
	}
	var ds []due
	var next time.Time
	has := false
	for k, g := range r.groups {
		d, ok := r.deadline(g)
		switch {
		case !ok:
		case now.After(d):
			ds = append(ds, due{k, g, d})
		case !has || d.Before(next):
			has, next = true, d
		}
	}
	r.due, r.nextDue = has, next
	sort.Slice(ds, func(i, j int) bool {
		if !ds[i].d.Equal(ds[j].d) {
			return ds[i].d.Before(ds[j].d)
		}
		return ds[i].k < ds[j].k
	})
	for _, x := range ds {
		if r.absent != nil {
			a := x.g.Absence
			a.Fired = true
			if s.cooling(r, x.g, x.d) {
				continue
			}
			e := a.Event
			e.Time = x.d
			out = append(out, s.commit(r, x.g, x.k, &e, 1, x.d, now, "nothing matching for "+shortDuration(r.absent.within)))
			continue
		}
		a := *x.g.Sequence
		x.g.Sequence = nil
		if s.cooling(r, x.g, x.d) {
			continue
		}
		out = append(out, s.commit(r, x.g, x.k, &a, 1, x.d, now, "not followed within "+shortDuration(r.seq.within)+": "+a.Msg))
	}
	return out
}

// recomputeDue finds r's next deadline from its groups (after a Restore or
// Adopt).
func (s *Set) recomputeDue(r *rule) {
	r.due, r.nextDue = false, time.Time{}
	for _, g := range r.groups {
		if d, ok := r.deadline(g); ok {
			s.setDue(r, d)
		}
	}
}

// shortDuration writes d as an operator would: 3m, 1h, 1h30m, 90s as 1m30s.
func shortDuration(d time.Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}
