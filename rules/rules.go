// Package rules is the rules stage of the pipeline: it turns events into
// firings.
//
// Rules are read from YAML files (SPEC §4) by Load or LoadFiles, which
// compile every expression once and report every problem in every file as
// a *yamlconf.PosError (FILE:LINE:COL: message), pointing into the
// expression itself when an expression is wrong. A Set is returned only
// when all the files are valid, so a bad file on reload leaves the running
// Set untouched.
//
// Expressions are expr-lang/expr over event.Event (its expr tags are the
// names: msg, level, fields, ...), compiled once; `when`, `resolve`, a
// sequence's `then` and the verify conditions must be boolean, a `by` (of
// a threshold, an absence or a sequence) may give any value (rendered as
// the group key). The builtins now() and repeat() are not
// available: rules run on the event's time, and repeat can build huge
// strings.
//
// The contract of the stage:
//
//   - Eval is pure: it reads time only from ev.Time, never from the wall
//     clock, so `test` replays logs exactly as `run` sees them. Windows,
//     cooldowns and verification deadlines are all in event time.
//   - Tick(now) lets deadlines pass when no event comes (verifications,
//     absences, sequences waiting for their `then`).
//   - A runtime error in an expression is no match; it is counted in Stats
//     and never panics.
//   - State (threshold windows, cooldowns, suppressed counts, open
//     incidents, pending verifications, the last match of an absence,
//     pending sequences, remediation budgets) is kept per rule and per
//     group and
//     survives a reload (Adopt) and a restart (Snapshot, Restore), keyed by
//     rule name and group. Memory is bounded: a window holds at most the
//     threshold count of times, and a rule keeps at most 10000 groups,
//     dropping those seen longest ago.
//
// A Set is not safe for concurrent use: one goroutine owns it and calls
// Eval, Tick, Adopt, Snapshot and Restore. Rules, Files, ActionNames and
// Stats may be called from any goroutine.
package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// Options are the context a rule set is loaded in.
type Options struct {
	// ActionExists reports whether an action is configured. When nil,
	// action names are not checked (`check` of rule files alone);
	// otherwise a rule naming an unknown action is an error.
	ActionExists func(name string) bool
	// Host is copied into events whose host is empty, before the rules
	// see them, so expressions, summaries and firings can use it.
	Host string
}

// Info describes one rule, for `rules`, `check` and the control API.
type Info struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	File        string `json:"file"`
	Line        int    `json:"line"`
	// Sources are the source names as written; empty means every source.
	Sources  []string      `json:"sources,omitempty"`
	When     string        `json:"when"`
	Severity string        `json:"severity"`
	Actions  []string      `json:"actions"`
	Cooldown time.Duration `json:"cooldown,omitempty"`
	// OnFailure are the actions run when a verification fails.
	OnFailure []string `json:"on_failure,omitempty"`
	// OnSuccess are the actions told when a verification holds.
	OnSuccess []string `json:"on_success,omitempty"`
	// By is the group expression (of the threshold, absent or sequence).
	By string `json:"by,omitempty"`
	// Absent is the silence after which an `absent` rule fires.
	Absent time.Duration `json:"absent,omitempty"`
	// Sequence describes a `sequence` rule.
	Sequence *SequenceInfo `json:"sequence,omitempty"`
	// Budget is the remediation budget, and Escalate the actions run
	// instead of Actions once it is used up.
	Budget   *BudgetInfo `json:"budget,omitempty"`
	Escalate []string    `json:"escalate,omitempty"`
}

// SequenceInfo describes a `sequence` rule: an event matching `when` must
// be followed by one matching Then within Within.
type SequenceInfo struct {
	Then   string        `json:"then"`
	Within time.Duration `json:"within"`
}

// BudgetInfo describes a remediation budget: at most Count firings run the
// rule's actions per group within Within.
type BudgetInfo struct {
	Count  int           `json:"count"`
	Within time.Duration `json:"within"`
}

// Stats counts what a rule did. Counters carry over a reload (Adopt), so
// they only grow while the daemon runs.
type Stats struct {
	// Evaluations counts the events the rule looked at (of its sources).
	Evaluations uint64 `json:"evaluations"`
	// Matches counts events its `when` matched.
	Matches uint64 `json:"matches"`
	// Firings counts firings (not counting resolutions and verification failures).
	Firings uint64 `json:"firings"`
	// Suppressed counts matches held back by the cooldown.
	Suppressed uint64 `json:"suppressed"`
	// Errors counts expression runtime errors and summary render errors.
	Errors uint64 `json:"errors"`
	// Resolved counts incidents closed by `resolve`.
	Resolved uint64 `json:"resolved"`
	// Verified and VerifyFailed count the outcomes of verifications.
	Verified     uint64 `json:"verified"`
	VerifyFailed uint64 `json:"verify_failed"`
	// Escalated counts firings beyond the remediation budget (run with
	// the escalate actions instead of the rule's).
	Escalated uint64 `json:"escalated"`
}

// Severities a rule may have.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Marks of the firings that are not a rule's plain firing: VerifySuffix
// ends the ID of a firing that reports a failed verification (the ID of
// the firing it verified, plus the suffix) and VerifyPrefix starts its
// summary; ResolveSuffix ends the ID of a firing that closes an incident
// (the ID of the firing that opened it, plus the suffix).
const (
	VerifySuffix = "/verify"
	VerifyPrefix = "verification failed: "
	// VerifiedSuffix and VerifiedPrefix mark the firing sent to a
	// verification's on_success actions when the fix took.
	VerifiedSuffix = "/verified"
	VerifiedPrefix = "remediated: "
	ResolveSuffix  = "/resolve"
)

// BudgetPrefix starts the summary of a firing beyond its rule's
// remediation budget, whose actions are the rule's escalate list.
const BudgetPrefix = "remediation budget used up: "

// maxGroups caps the number of groups a rule keeps state for; beyond it
// the stalest groups (by last event time) are dropped.
var maxGroups = 10000

// memoryBudget bounds what one expression evaluation may allocate (elements
// of ranges, arrays, maps), see expr's vm.VM.MemoryBudget.
const memoryBudget = 100_000

// Set is a loaded, compiled set of rules with their state. See the package
// comment for which methods may be called concurrently.
type Set struct {
	opt   Options
	rules []*rule
	files []string

	// bySource maps a canonical source name to the rules naming it; every
	// holds the rules without a source. Both are in file order.
	bySource map[string]*bucket
	every    *bucket
	// verifying lists the rules with a verify block, timed those with
	// absent or sequence (deadlines of their own).
	verifying []*rule
	timed     []*rule

	vm vm.VM

	// pending counts open verifications over all rules, and nextDeadline
	// is the earliest of their deadlines (meaningful when pending > 0).
	pending      int
	nextDeadline time.Time
}

// bucket is the list of rules an event of one source is shown to. evals
// counts the events shown, which gives every rule's Evaluations without a
// counter update per rule and event.
type bucket struct {
	rules []*rule
	evals atomic.Uint64
}

// Load reads rule files and directories: a directory stands for the
// *.yaml and *.yml files directly inside it (not recursively, names
// starting with "." skipped), in name order. Files writable by anyone but
// their owner and root are refused, since rules make the daemon run
// commands. It returns every problem in every file, joined, each a
// *yamlconf.PosError, and no Set if there is any.
func Load(paths []string, opt Options) (*Set, error) {
	var (
		names []string
		data  = map[string][]byte{}
		errs  []error
	)
	seen := map[string]bool{}
	add := func(p string) {
		c := filepath.Clean(p)
		if seen[c] {
			return
		}
		seen[c] = true
		if err := yamlconf.CheckPerm(p, "rule file"); err != nil {
			errs = append(errs, &yamlconf.PosError{File: p, Line: 1, Col: 1, Msg: err.Error()})
			return
		}
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, &yamlconf.PosError{File: p, Line: 1, Col: 1, Msg: "cannot read rule file: " + pathErr(err)})
			return
		}
		names = append(names, p)
		data[p] = b
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &yamlconf.PosError{File: p, Line: 1, Col: 1, Msg: "cannot read rules: " + pathErr(err)})
			continue
		}
		if !st.IsDir() {
			add(p)
			continue
		}
		if err := yamlconf.CheckPerm(p, "rules directory"); err != nil {
			errs = append(errs, &yamlconf.PosError{File: p, Line: 1, Col: 1, Msg: err.Error()})
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, &yamlconf.PosError{File: p, Line: 1, Col: 1, Msg: "cannot read rules: " + pathErr(err)})
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") || e.IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				continue
			}
			add(filepath.Join(p, n))
		}
	}
	s, err := build(names, data, opt)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(yamlconf.Sorted(errors.Join(errs...))...)
	}
	return s, nil
}

// LoadFiles is Load over files held in memory (the embedded rules.d); the
// map keys are the file names used in positions, and files are read in
// key order.
func LoadFiles(files map[string][]byte, opt Options) (*Set, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	s, err := build(names, files, opt)
	if err != nil {
		return nil, errors.Join(yamlconf.Sorted(err)...)
	}
	return s, nil
}

// pathErr is the message of a file system error without the path, which
// the position already names.
func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// build compiles the named files into a Set.
func build(names []string, data map[string][]byte, opt Options) (*Set, error) {
	c := &compiler{opt: opt, names: map[string]*rule{}}
	for _, n := range names {
		c.file(n, data[n])
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	s := &Set{opt: opt, rules: c.rules, files: names, bySource: map[string]*bucket{}, every: &bucket{}}
	s.vm.MemoryBudget = memoryBudget
	for i, r := range s.rules {
		r.idx = i
		if len(r.sources) == 0 {
			s.every.rules = append(s.every.rules, r)
			r.buckets = []*bucket{s.every}
		}
		for _, src := range r.sources {
			b := s.bySource[src]
			if b == nil {
				b = &bucket{}
				s.bySource[src] = b
			}
			b.rules = append(b.rules, r)
			r.buckets = append(r.buckets, b)
		}
		if r.verify != nil {
			s.verifying = append(s.verifying, r)
		}
		if r.absent != nil || r.seq != nil {
			s.timed = append(s.timed, r)
		}
	}
	return s, nil
}

// Rules describes the rules, in file order.
func (s *Set) Rules() []Info {
	out := make([]Info, 0, len(s.rules))
	for _, r := range s.rules {
		in := Info{
			Name: r.name, Description: r.desc, File: r.file, Line: r.line,
			Sources: slices.Clone(r.srcNames), When: r.whenSrc, Severity: r.severity,
			Actions: slices.Clone(r.actions), Cooldown: r.cooldown,
		}
		if in.Actions == nil {
			in.Actions = []string{}
		}
		if r.verify != nil {
			in.OnFailure = slices.Clone(r.verify.onFailure)
			in.OnSuccess = slices.Clone(r.verify.onSuccess)
		}
		if r.by != nil {
			in.By = r.bySrc
		}
		if r.absent != nil {
			in.Absent = r.absent.within
		}
		if r.seq != nil {
			in.Sequence = &SequenceInfo{Then: r.seq.thenSrc, Within: r.seq.within}
		}
		if r.budget != nil {
			in.Budget = &BudgetInfo{Count: r.budget.count, Within: r.budget.within}
			in.Escalate = orEmpty(r.escalate)
		}
		out = append(out, in)
	}
	return out
}

// Stats returns the counters of every rule by name.
func (s *Set) Stats() map[string]Stats {
	out := make(map[string]Stats, len(s.rules))
	for _, r := range s.rules {
		out[r.name] = r.stats()
	}
	return out
}

// Files lists the rule files the set was loaded from, in load order.
func (s *Set) Files() []string { return slices.Clone(s.files) }

// ActionNames lists, sorted and once each, every action any rule names,
// including those run when a verification fails or the remediation budget
// is used up.
func (s *Set) ActionNames() []string {
	var out []string
	for _, r := range s.rules {
		out = append(out, r.actions...)
		out = append(out, r.escalate...)
		if r.verify != nil {
			out = append(out, r.verify.onFailure...)
			out = append(out, r.verify.onSuccess...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// String names the set for logs.
func (s *Set) String() string {
	return fmt.Sprintf("%d rules from %d files", len(s.rules), len(s.files))
}
