package rules

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// snapshotVersion is the version of the Snapshot format.
const snapshotVersion = 1

// snapshot is the saved state of a set: per rule name, per group key.
type snapshot struct {
	Version int                          `json:"version"`
	Rules   map[string]map[string]*group `json:"rules"`
}

// Adopt carries the state of old over to s by rule name, for a reload:
// threshold windows, cooldowns (the last firing and the suppressed count),
// open incidents, pending verifications, the clocks of absences, waiting
// sequences and remediation budgets, and the Stats counters. What the new
// rule no longer uses is dropped (a window when it has no threshold, an
// incident when it neither has resolve nor is an absence, a verification
// when it has no verify, and so on), a window is cut to one less than the
// new count so the next match decides, and a budget to the newest uses
// that fit the new count. Deadlines follow the new rule's within. Rules only in old are forgotten. old itself is
// not changed. Call Adopt before s is shared with other goroutines.
func (s *Set) Adopt(old *Set) {
	if old == nil {
		return
	}
	byName := make(map[string]*rule, len(old.rules))
	for _, r := range old.rules {
		byName[r.name] = r
	}
	for _, r := range s.rules {
		o := byName[r.name]
		if o == nil {
			continue
		}
		st := o.stats()
		r.evalBase = st.Evaluations
		r.nMatches.Store(st.Matches)
		r.nFirings.Store(st.Firings)
		r.nSuppressed.Store(st.Suppressed)
		r.nErrors.Store(st.Errors)
		r.nResolved.Store(st.Resolved)
		r.nVerified.Store(st.Verified)
		r.nFailed.Store(st.VerifyFailed)
		r.nEscalated.Store(st.Escalated)
		s.take(r, o.groups)
		r.live, r.waitFrom = o.live, o.waitFrom
	}
}

// Snapshot returns the state of every rule as JSON, for Restore after a
// restart.
func (s *Set) Snapshot() ([]byte, error) {
	snap := snapshot{Version: snapshotVersion, Rules: map[string]map[string]*group{}}
	for _, r := range s.rules {
		if len(r.groups) == 0 {
			continue
		}
		gs := make(map[string]*group, len(r.groups))
		for k, g := range r.groups {
			if !g.empty() {
				gs[k] = g
			}
		}
		if len(gs) > 0 {
			snap.Rules[r.name] = gs
		}
	}
	b, err := json.Marshal(&snap)
	if err != nil {
		return nil, fmt.Errorf("snapshot rule state: %w", err)
	}
	return b, nil
}

// Restore replaces the state of the rules named in a Snapshot; rules the
// snapshot does not know keep theirs, and rules the set does not have are
// ignored. It adapts the state to the rules as Adopt does. An empty b is
// no state. The deadlines of restored absences and sequences pass by an
// event of the rule's sources, but by Tick only once a whole window went
// by since Tick's first call (see timed.go).
func (s *Set) Restore(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("restore rule state: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("restore rule state: unknown version %d", snap.Version)
	}
	for _, r := range s.rules {
		if gs, ok := snap.Rules[r.name]; ok {
			s.take(r, gs)
			r.live, r.waitFrom = false, time.Time{}
		}
	}
	return nil
}

// empty reports whether the group holds nothing worth keeping.
func (g *group) empty() bool {
	return len(g.Times) == 0 && g.Last.IsZero() && g.Suppressed == 0 && g.Incident == nil && g.Verify == nil &&
		g.Absence == nil && g.Sequence == nil && len(g.Budget) == 0
}

// take replaces r's state with a copy of groups, fitted to r.
func (s *Set) take(r *rule, groups map[string]*group) {
	for _, g := range r.groups {
		s.setPending(r, g, nil)
	}
	r.groups, r.open = nil, 0
	defer s.recomputeDue(r)
	if !r.stateful() {
		return
	}
	for k, og := range groups {
		if og == nil {
			continue
		}
		g := &group{Last: og.Last, Suppressed: og.Suppressed, Seen: og.Seen}
		if r.count > 0 && len(og.Times) > 0 {
			g.Times = slices.Clone(og.Times)
			slices.SortFunc(g.Times, time.Time.Compare)
			if n := len(g.Times) - (r.count - 1); n > 0 {
				g.Times = g.Times[n:]
			}
		}
		if r.incidents() && og.Incident != nil {
			in := *og.Incident
			g.Incident = &in
			r.open++
		}
		if r.absent != nil && og.Absence != nil {
			a := *og.Absence
			g.Absence = &a
		}
		if r.seq != nil && og.Sequence != nil {
			e := *og.Sequence
			g.Sequence = &e
		}
		if r.budget != nil && len(og.Budget) > 0 {
			g.Budget = slices.Clone(og.Budget)
			slices.SortFunc(g.Budget, time.Time.Compare)
			if n := len(g.Budget) - r.budget.count; n > 0 {
				g.Budget = g.Budget[n:]
			}
		}
		if g.empty() && (r.verify == nil || og.Verify == nil) {
			continue
		}
		if r.groups == nil {
			r.groups = map[string]*group{}
		}
		r.groups[k] = g
		if r.verify != nil && og.Verify != nil {
			p := *og.Verify
			s.setPending(r, g, &p)
		}
	}
}
