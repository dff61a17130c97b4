package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/venus-medic/venus-medic/event"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// load compiles rules given as YAML text.
func load(t *testing.T, src string) *Set {
	t.Helper()
	set, err := LoadFiles(map[string][]byte{"test.yaml": []byte(src)}, Options{Host: "miner-1"})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return set
}

// ev is an event of source at time d after t0.
func ev(source string, d time.Duration, msg string, fields ...any) *event.Event {
	e := &event.Event{Source: source, Time: at(d), Level: "INFO", Msg: msg, Line: msg}
	if len(fields) > 0 {
		e.Fields = map[string]any{}
		for i := 0; i+1 < len(fields); i += 2 {
			e.Fields[fields[i].(string)] = fields[i+1]
		}
	}
	return e
}

// fired is the gist of a firing, for comparisons.
type fired struct {
	Rule, Summary, Group string
	Count                int
	At                   time.Duration
	Resolved             bool
	Actions              string
}

func gist(fs []event.Firing) []fired {
	var out []fired
	for _, f := range fs {
		out = append(out, fired{f.Rule, f.Summary, f.Group, f.Count, f.Event.Time.Sub(t0), f.Resolved, strings.Join(f.Actions, ",")})
	}
	return out
}

// feed evaluates events and collects what fires.
func feed(s *Set, evs ...*event.Event) []event.Firing {
	var out []event.Firing
	for _, e := range evs {
		out = append(out, s.Eval(e)...)
	}
	return out
}

const restartRule = `
rules:
  - name: restart-loop
    source: venus-wallet
    when: msg == "restarting listenWalletRequestOnce"
    threshold: {count: 5, within: 10m}
    actions: [ops]
`

// restarts returns n restart events, every step from start.
func restarts(n int, start, step time.Duration) []*event.Event {
	var out []*event.Event
	for i := 0; i < n; i++ {
		out = append(out, ev("venus-wallet", start+time.Duration(i)*step, "restarting listenWalletRequestOnce"))
	}
	return out
}

func TestThreshold(t *testing.T) {
	for _, tc := range []struct {
		name string
		evs  []*event.Event
		want []fired
	}{
		{"five in ten minutes fire once", restarts(5, 0, 2*time.Minute),
			[]fired{{"restart-loop", "restarting listenWalletRequestOnce", "", 5, 8 * time.Minute, false, "ops"}}},
		{"nine in a row still fire once", restarts(9, 0, time.Minute),
			[]fired{{"restart-loop", "restarting listenWalletRequestOnce", "", 5, 4 * time.Minute, false, "ops"}}},
		{"ten in a row fire twice", restarts(10, 0, time.Minute),
			[]fired{
				{"restart-loop", "restarting listenWalletRequestOnce", "", 5, 4 * time.Minute, false, "ops"},
				{"restart-loop", "restarting listenWalletRequestOnce", "", 5, 9 * time.Minute, false, "ops"},
			}},
		{"five spread over an hour never fire", restarts(5, 0, 15*time.Minute), nil},
		{"the window is inclusive: first and fifth exactly ten minutes apart", restarts(5, 0, 150*time.Second),
			[]fired{{"restart-loop", "restarting listenWalletRequestOnce", "", 5, 10 * time.Minute, false, "ops"}}},
		{"a match just over the window is dropped",
			append(restarts(1, 0, 0), restarts(4, 10*time.Minute+time.Second, time.Second)...), nil},
		{"other sources do not count", []*event.Event{
			ev("venus-wallet", 0, "restarting listenWalletRequestOnce"), ev("venus-wallet", 1, "restarting listenWalletRequestOnce"),
			ev("venus-sealer", 2, "restarting listenWalletRequestOnce"), ev("venus-wallet", 3, "restarting listenWalletRequestOnce"),
			ev("venus-wallet", 4, "restarting listenWalletRequestOnce"),
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := load(t, restartRule)
			got := gist(feed(s, tc.evs...))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestThresholdGroupsAreIndependent(t *testing.T) {
	s := load(t, `
rules:
  - name: restart-loop
    when: msg == "restarting"
    threshold: {count: 3, within: 10m, by: 'fields["api hub"]'}
`)
	var evs []*event.Event
	for i := 0; i < 2; i++ {
		evs = append(evs,
			ev("venus-wallet", time.Duration(2*i)*time.Minute, "restarting", "api hub", "ws://a"),
			ev("venus-wallet", time.Duration(2*i+1)*time.Minute, "restarting", "api hub", "ws://b"))
	}
	if got := feed(s, evs...); len(got) != 0 {
		t.Fatalf("two matches per group fired: %v", gist(got))
	}
	got := gist(feed(s, ev("venus-wallet", 5*time.Minute, "restarting", "api hub", "ws://b")))
	want := []fired{{"restart-loop", "restarting", "ws://b", 3, 5 * time.Minute, false, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// ws://a still has its two matches.
	got = gist(feed(s, ev("venus-wallet", 6*time.Minute, "restarting", "api hub", "ws://a")))
	want = []fired{{"restart-loop", "restarting", "ws://a", 3, 6 * time.Minute, false, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestGroupKeysOfOtherTypes(t *testing.T) {
	s := load(t, `
rules:
  - name: by-deadline
    when: msg == "x"
    threshold: {count: 1, within: 1m, by: 'fields["deadline"]'}
`)
	got := gist(feed(s, ev("venus-sealer", 0, "x", "deadline", float64(12)), ev("venus-sealer", 1, "x")))
	if got[0].Group != "12" || got[1].Group != "" {
		t.Errorf("groups %q and %q, want \"12\" and \"\"", got[0].Group, got[1].Group)
	}
}

func TestCooldownCountsSuppressed(t *testing.T) {
	s := load(t, `
rules:
  - name: wallet-locked
    when: msg contains "wallet is locked"
    cooldown: 15m
    summary: '{{ .count }} times: {{ .msg }}'
`)
	evs := []*event.Event{
		ev("venus-wallet", 0, "wallet is locked"),
		ev("venus-wallet", time.Minute, "wallet is locked"),
		ev("venus-wallet", 2*time.Minute, "wallet is locked"),
		ev("venus-wallet", 14*time.Minute, "wallet is locked"),
		ev("venus-wallet", 15*time.Minute, "wallet is locked"), // T has passed: fires
		ev("venus-wallet", 16*time.Minute, "wallet is locked"),
	}
	got := gist(feed(s, evs...))
	want := []fired{
		{"wallet-locked", "1 times: wallet is locked", "", 1, 0, false, ""},
		{"wallet-locked", "4 times: wallet is locked", "", 4, 15 * time.Minute, false, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	st := s.Stats()["wallet-locked"]
	if st.Suppressed != 4 || st.Firings != 2 || st.Matches != 6 || st.Evaluations != 6 {
		t.Errorf("stats %+v, want 4 suppressed, 2 firings, 6 matches, 6 evaluations", st)
	}
}

func TestCooldownWithThreshold(t *testing.T) {
	s := load(t, `
rules:
  - name: restart-loop
    when: msg == "restarting"
    threshold: {count: 2, within: 10m}
    cooldown: 1h
`)
	var got []fired
	for i := 0; i < 30; i++ { // one every 5 minutes for 2.5 hours
		got = append(got, gist(s.Eval(ev("venus-wallet", time.Duration(i)*5*time.Minute, "restarting")))...)
	}
	// Fires at 5m (2 matches); matches from 10m to 60m are suppressed (11);
	// from 65m the window fills again: fires at 70m with 2+11.
	want := []fired{
		{"restart-loop", "restarting", "", 2, 5 * time.Minute, false, ""},
		{"restart-loop", "restarting", "", 13, 70 * time.Minute, false, ""},
		{"restart-loop", "restarting", "", 13, 135 * time.Minute, false, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestResolve(t *testing.T) {
	s := load(t, `
rules:
  - name: gateway-disconnected
    source: sophon-gateway
    when: msg == "disconnected"
    threshold: {count: 1, within: 1m, by: 'fields["miner"]'}
    resolve: msg == "connected"
    summary: '{{ field "miner" }} lost its gateway'
    actions: [ops]
`)
	got := gist(feed(s,
		ev("venus-gateway", 0, "connected", "miner", "f01"), // nothing open yet
		ev("sophon-gateway", time.Minute, "disconnected", "miner", "f01"),
		ev("sophon-gateway", 2*time.Minute, "connected", "miner", "f02"), // other group
		ev("venus-sealer", 3*time.Minute, "connected", "miner", "f01"),   // other source
		ev("venus-gateway", 4*time.Minute, "connected", "miner", "f01"),  // alias of the rule's source
		ev("sophon-gateway", 5*time.Minute, "connected", "miner", "f01"), // already closed
	))
	want := []fired{
		{"gateway-disconnected", "f01 lost its gateway", "f01", 1, time.Minute, false, "ops"},
		{"gateway-disconnected", "f01 lost its gateway", "f01", 1, 4 * time.Minute, true, "ops"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if st := s.Stats()["gateway-disconnected"]; st.Resolved != 1 || st.Firings != 1 {
		t.Errorf("stats %+v", st)
	}
}

const walletRule = `
rules:
  - name: wallet-password-not-set
    source: venus-wallet
    when: level == "ERROR" && msg contains "password not set"
    severity: warning
    summary: 'venus-wallet on {{ .host }} cannot sign'
    cooldown: 15m
    actions: [ops, wallet-setpwd]
    verify:
      within: 2m
      absent: msg contains "password not set"
      on_failure: [page]
`

func errEv(source string, d time.Duration, msg string) *event.Event {
	e := ev(source, d, msg)
	e.Level = "ERROR"
	return e
}

func TestVerifyAbsentFailsOnEvent(t *testing.T) {
	s := load(t, walletRule)
	first := s.Eval(errEv("venus-wallet", 0, "WalletSign error password not set"))
	if len(first) != 1 {
		t.Fatalf("got %v", gist(first))
	}
	got := s.Eval(errEv("venus-wallet", time.Minute, "WalletSign error password not set again"))
	if len(got) != 1 {
		t.Fatalf("want one verification failure, got %v", gist(got))
	}
	f := got[0]
	if f.ID != first[0].ID+VerifySuffix || f.Rule != "wallet-password-not-set" || f.Severity != "critical" ||
		f.Summary != "verification failed: venus-wallet on miner-1 cannot sign" ||
		strings.Join(f.Actions, ",") != "page" || f.Event.Msg != "WalletSign error password not set again" ||
		f.Event.Host != "miner-1" || f.Resolved {
		t.Errorf("verification failure: %+v", f)
	}
	// Settled: the deadline passing later changes nothing.
	if got := s.Tick(at(time.Hour)); len(got) != 0 {
		t.Errorf("tick after failure: %v", gist(got))
	}
	if st := s.Stats()["wallet-password-not-set"]; st.VerifyFailed != 1 || st.Verified != 0 || st.Suppressed != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestVerifyAbsentSucceeds(t *testing.T) {
	t.Run("tick", func(t *testing.T) {
		s := load(t, walletRule)
		feed(s, errEv("venus-wallet", 0, "WalletSign error password not set"))
		if got := s.Tick(at(2*time.Minute - 1)); len(got) != 0 {
			t.Fatalf("before the deadline: %v", gist(got))
		}
		if got := s.Tick(at(2 * time.Minute)); len(got) != 0 {
			t.Fatalf("at the deadline: %v", gist(got))
		}
		if st := s.Stats()["wallet-password-not-set"]; st.Verified != 1 {
			t.Errorf("stats %+v, want 1 verified", st)
		}
	})
	t.Run("later event", func(t *testing.T) {
		s := load(t, walletRule)
		got := feed(s,
			errEv("venus-wallet", 0, "WalletSign error password not set"),
			ev("venus-wallet", 30*time.Second, "wallet unlocked"),
			ev("venus", 3*time.Minute, "new head"), // any event past the deadline settles it
			errEv("venus-wallet", 4*time.Minute, "WalletSign error password not set"),
		)
		if len(got) != 1 {
			t.Errorf("want only the first firing, got %v", gist(got))
		}
		if st := s.Stats()["wallet-password-not-set"]; st.Verified != 1 || st.VerifyFailed != 0 {
			t.Errorf("stats %+v, want 1 verified", st)
		}
	})
}

const pushRule = `
rules:
  - name: push-failed
    source: sophon-messager
    when: msg contains "push failed"
    actions: [restart-messager]
    verify:
      within: 5m
      present: msg == "message pushed"
      on_failure: [ops]
`

func TestVerifyPresent(t *testing.T) {
	t.Run("seen in time", func(t *testing.T) {
		s := load(t, pushRule)
		got := feed(s,
			ev("sophon-messager", 0, "push failed"),
			ev("sophon-messager", time.Minute, "message pushed"),
		)
		if got := s.Tick(at(time.Hour)); len(got) != 0 {
			t.Errorf("tick: %v", gist(got))
		}
		if len(got) != 1 || s.Stats()["push-failed"].Verified != 1 {
			t.Errorf("got %v, stats %+v", gist(got), s.Stats()["push-failed"])
		}
	})
	t.Run("not seen: tick fails it", func(t *testing.T) {
		s := load(t, pushRule)
		first := feed(s, ev("sophon-messager", 0, "push failed"), ev("sophon-messager", time.Minute, "still failing"))
		if got := s.Tick(at(5*time.Minute - time.Nanosecond)); len(got) != 0 {
			t.Fatalf("before the deadline: %v", gist(got))
		}
		got := s.Tick(at(5 * time.Minute))
		want := []fired{{"push-failed", "verification failed: push failed", "", 1, 0, false, "ops"}}
		if diff := cmp.Diff(want, gist(got)); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		if got[0].ID != first[0].ID+VerifySuffix || got[0].Severity != "critical" {
			t.Errorf("failure %+v", got[0])
		}
		// seen too late
		if got := feed(s, ev("sophon-messager", 6*time.Minute, "message pushed")); len(got) != 0 {
			t.Errorf("late success fired: %v", gist(got))
		}
		if st := s.Stats()["push-failed"]; st.VerifyFailed != 1 || st.Verified != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("not seen: a later event fails it", func(t *testing.T) {
		s := load(t, pushRule)
		got := gist(feed(s,
			ev("sophon-messager", 0, "push failed"),
			ev("sophon-messager", 5*time.Minute, "message pushed"), // at the deadline: too late
		))
		want := []fired{
			{"push-failed", "push failed", "", 1, 0, false, "restart-messager"},
			{"push-failed", "verification failed: push failed", "", 1, 0, false, "ops"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestRuntimeErrorIsCountedNoMatch(t *testing.T) {
	s := load(t, `
rules:
  - name: many-faults
    when: fields["faults"] > 3
`)
	got := feed(s,
		ev("venus-sealer", 0, "faults", "faults", "many"),
		ev("venus-sealer", 1, "faults"), // nil > 3
		ev("venus-sealer", 2, "faults", "faults", float64(5)),
	)
	if len(got) != 1 || got[0].Event.Time != at(2) {
		t.Errorf("got %v, want one firing for the third event", gist(got))
	}
	if st := s.Stats()["many-faults"]; st.Errors != 2 || st.Matches != 1 || st.Evaluations != 3 {
		t.Errorf("stats %+v, want 2 errors", st)
	}
}

func TestSummaryRenderErrorFallsBackToMsg(t *testing.T) {
	s := load(t, `
rules:
  - name: r
    when: msg == "boom"
    summary: '{{ template "missing" }}'
`)
	got := s.Eval(ev("venus", 0, "boom"))
	if len(got) != 1 || got[0].Summary != "boom" {
		t.Fatalf("got %v", gist(got))
	}
	if st := s.Stats()["r"]; st.Errors != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSourcesAndOrder(t *testing.T) {
	s := load(t, `
rules:
  - name: every-source
    when: msg == "x"
  - name: messager
    source: venus-messager
    when: msg == "x"
  - name: wallet
    source: [venus-wallet]
    when: msg == "x"
  - name: host
    when: msg == "x" && host == "miner-1"
`)
	names := func(fs []event.Firing) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Rule)
		}
		return strings.Join(out, ",")
	}
	in := ev("sophon-messager", 0, "x")
	if got := names(s.Eval(in)); got != "every-source,messager,host" {
		t.Errorf("sophon-messager event fired %q", got)
	}
	if in.Host != "" {
		t.Errorf("Eval changed its input: host %q", in.Host)
	}
	if got := names(s.Eval(ev("venus-wallet", 0, "x"))); got != "every-source,wallet,host" {
		t.Errorf("venus-wallet event fired %q", got)
	}
	e := ev("venus-wallet", 0, "x")
	e.Host = "other"
	if got := names(s.Eval(e)); got != "every-source,wallet" {
		t.Errorf("event with its own host fired %q", got)
	}
	st := s.Stats()
	if st["messager"].Evaluations != 1 || st["wallet"].Evaluations != 2 || st["every-source"].Evaluations != 3 {
		t.Errorf("evaluations %+v", st)
	}
}

func TestFiringIDs(t *testing.T) {
	run := func() []event.Firing {
		s := load(t, restartRule)
		return feed(s, restarts(10, 0, time.Minute)...)
	}
	a, b := run(), run()
	if len(a) != 2 || a[0].ID == "" || a[0].ID != b[0].ID || a[1].ID != b[1].ID {
		t.Fatalf("IDs not stable: %v / %v", a, b)
	}
	if a[0].ID == a[1].ID {
		t.Errorf("two firings share the ID %s", a[0].ID)
	}
}

func TestAdoptKeepsState(t *testing.T) {
	old := load(t, walletRule+`
  - name: restart-loop
    when: msg == "restarting"
    threshold: {count: 5, within: 10m}
`)
	feed(old, restarts2(3, 0)...)
	feed(old, errEv("venus-wallet", 0, "WalletSign error password not set"))

	// The reload changes a summary; state goes by name.
	next := load(t, strings.Replace(walletRule, "cannot sign", "still cannot sign", 1)+`
  - name: restart-loop
    when: msg == "restarting"
    threshold: {count: 5, within: 10m}
`)
	next.Adopt(old)
	// The cooldown and the pending verification carried over.
	got := gist(feed(next, errEv("venus-wallet", 90*time.Second, "WalletSign error password not set")))
	want := []fired{{"wallet-password-not-set", "verification failed: venus-wallet on miner-1 cannot sign", "", 1, 90 * time.Second, false, "page"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// So did the half-full window.
	got = gist(feed(next, restarts2(2, 3*time.Minute)...))
	want = []fired{{"restart-loop", "restarting", "", 5, 4 * time.Minute, false, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("half-full window lost (-want +got):\n%s", diff)
	}
	if st := next.Stats()["wallet-password-not-set"]; st.Firings != 1 || st.Suppressed != 1 {
		t.Errorf("counters not carried over: %+v", st)
	}

	// Without Adopt, the window starts empty.
	fresh := load(t, restartRule)
	if got := feed(fresh, restarts(2, 3*time.Minute, time.Minute)...); len(got) != 0 {
		t.Errorf("fresh set fired: %v", gist(got))
	}
}

func restarts2(n int, start time.Duration) []*event.Event {
	var out []*event.Event
	for i := 0; i < n; i++ {
		out = append(out, ev("venus-wallet", start+time.Duration(i)*time.Minute, "restarting"))
	}
	return out
}

func TestAdoptFitsStateToChangedRule(t *testing.T) {
	old := load(t, restartRule)
	feed(old, restarts(4, 0, time.Minute)...)
	// The count drops to 3: the window keeps the 2 newest, the next match fires.
	next := load(t, strings.Replace(restartRule, "count: 5", "count: 3", 1))
	next.Adopt(old)
	got := gist(feed(next, restarts(1, 4*time.Minute, 0)...))
	want := []fired{{"restart-loop", "restarting listenWalletRequestOnce", "", 3, 4 * time.Minute, false, "ops"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSnapshotRestore(t *testing.T) {
	src := pushRule + `
  - name: restart-loop
    when: msg == "restarting"
    threshold: {count: 5, within: 10m, by: 'fields["unit"]'}
    cooldown: 30m
  - name: gone
    when: msg == "x"
    cooldown: 1h
`
	s := load(t, src)
	var evs []*event.Event
	for i := 0; i < 3; i++ {
		evs = append(evs, ev("venus", time.Duration(i)*time.Minute, "restarting", "unit", "sealer"))
	}
	first := feed(s, append(evs, ev("sophon-messager", 0, "push failed"), ev("venus", 0, "x"))...)
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	// After a restart, with one rule gone from the files.
	r := load(t, strings.Replace(src, "name: gone", "name: renamed", 1))
	if err := r.Restore(b); err != nil {
		t.Fatal(err)
	}
	got := gist(feed(r,
		ev("venus", 3*time.Minute, "restarting", "unit", "sealer"),
		ev("venus", 4*time.Minute, "restarting", "unit", "sealer"),
		ev("venus", 270*time.Second, "restarting", "unit", "sealer"), // cooldown: suppressed
	))
	want := []fired{{"restart-loop", "restarting", "sealer", 5, 4 * time.Minute, false, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("window not continued (-want +got):\n%s", diff)
	}
	// The pending verification survived the restart with its firing.
	fails := r.Tick(at(5 * time.Minute))
	if len(fails) != 1 || fails[0].ID != first[0].ID+VerifySuffix || fails[0].Event.Msg != "push failed" {
		t.Errorf("verification after restore: %v", gist(fails))
	}
	// A second snapshot keeps the suppressed count for the next firing.
	b2, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r2 := load(t, src)
	if err := r2.Restore(b2); err != nil {
		t.Fatal(err)
	}
	got = gist(feed(r2, restartsOf("sealer", 5, 40*time.Minute)...))
	want = []fired{{"restart-loop", "restarting", "sealer", 6, 44 * time.Minute, false, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("suppressed count lost (-want +got):\n%s", diff)
	}
	if err := r.Restore([]byte("{not json")); err == nil {
		t.Errorf("bad snapshot accepted")
	}
	if err := r.Restore(nil); err != nil {
		t.Errorf("empty snapshot: %v", err)
	}
}

func restartsOf(unit string, n int, start time.Duration) []*event.Event {
	var out []*event.Event
	for i := 0; i < n; i++ {
		out = append(out, ev("venus", start+time.Duration(i)*time.Minute, "restarting", "unit", unit))
	}
	return out
}

func TestGroupsAreCapped(t *testing.T) {
	defer func(n int) { maxGroups = n }(maxGroups)
	maxGroups = 20
	s := load(t, `
rules:
  - name: per-peer
    when: msg == "dial failed"
    threshold: {count: 2, within: 1h, by: 'fields["peer"]'}
`)
	feed(s, ev("venus", 0, "dial failed", "peer", "p-old"))
	for i := 0; i < 100; i++ {
		feed(s, ev("venus", time.Duration(i+1)*time.Second, "dial failed", "peer", fmt.Sprint("p", i)))
	}
	if n := len(s.rules[0].groups); n > maxGroups {
		t.Errorf("%d groups kept, cap %d", n, maxGroups)
	}
	if got := feed(s, ev("venus", 200*time.Second, "dial failed", "peer", "p-old")); len(got) != 0 {
		t.Errorf("the stalest group was kept: %v", gist(got))
	}
	if got := feed(s, ev("venus", 201*time.Second, "dial failed", "peer", "p99")); len(got) != 1 {
		t.Errorf("the newest group was dropped")
	}
}

func TestPrefilterAgreesWithVM(t *testing.T) {
	exprs := []string{
		`level == "ERROR" && msg contains "locked"`,
		`"ERROR" == level and msg startsWith "wallet" and logger endsWith "api"`,
		`level in ["WARN", "ERROR"] && source != "venus" && (msg contains "a" || msg contains "b")`,
		`msg == "x" && fields["n"] > 1`,
		`caller contains "go:" && line contains "panic" && file == "/var/log/x" && host == "h"`,
	}
	events := []event.Event{
		{Level: "ERROR", Msg: "wallet is locked", Logger: "wallet_api"},
		{Level: "WARN", Msg: "a b", Source: "venus-wallet"},
		{Level: "ERROR", Msg: "x", Fields: map[string]any{"n": float64(2)}, Source: "venus"},
		{Msg: "x", Caller: "main.go:1", Line: "panic: x", File: "/var/log/x", Host: "h"},
		{},
	}
	for _, src := range exprs {
		p, err := compileExpr(src, true)
		if err != nil {
			t.Fatal(err)
		}
		pre := prefilter(src)
		if len(pre) == 0 {
			t.Errorf("%s: no prefilter", src)
		}
		for _, e := range events {
			var s Set
			r := &rule{}
			want := s.run(r, p, nil, &evalCtx{e: e})
			got := s.run(r, p, pre, &evalCtx{e: e})
			if got != want {
				t.Errorf("%s on %+v: prefiltered %v, VM %v", src, e, got, want)
			}
		}
	}
}

// TestVerifyOnSuccess: when the fix took, the on_success actions are told
// once ("remediated: …"), for present (on the confirming event) and for
// absent (when the window passed quietly).
func TestVerifyOnSuccess(t *testing.T) {
	t.Run("present", func(t *testing.T) {
		s := load(t, strings.Replace(pushRule, "on_failure: [ops]", "on_failure: [ops]\n      on_success: [ops]", 1))
		got := feed(s,
			ev("sophon-messager", 0, "push failed"),
			ev("sophon-messager", time.Minute, "message pushed"),
			ev("sophon-messager", 2*time.Minute, "message pushed"),
		)
		if len(got) != 2 {
			t.Fatalf("got %v", gist(got))
		}
		r := got[1]
		if r.Summary != "remediated: push failed" || r.Severity != "info" || r.ID != got[0].ID+VerifiedSuffix ||
			strings.Join(r.Actions, ",") != "ops" || r.Event.Msg != "message pushed" {
			t.Errorf("remediated firing %+v", r)
		}
		if got := s.Tick(at(time.Hour)); len(got) != 0 {
			t.Errorf("tick: %v", gist(got))
		}
	})
	t.Run("absent", func(t *testing.T) {
		s := load(t, strings.Replace(walletRule, "on_failure: [page]", "on_failure: [page]\n      on_success: [ops]", 1))
		first := feed(s, errEv("venus-wallet", 0, "WalletSign error password not set"))
		got := s.Tick(at(2 * time.Minute))
		if len(got) != 1 || got[0].Summary != "remediated: "+first[0].Summary || got[0].ID != first[0].ID+VerifiedSuffix {
			t.Fatalf("got %v", gist(got))
		}
		if names := s.ActionNames(); !slices.Contains(names, "ops") {
			t.Errorf("action names %v", names)
		}
	})
}
