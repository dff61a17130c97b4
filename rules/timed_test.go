package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/venus-medic/venus-medic/event"
)

const chainRule = `
rules:
  - name: chain-stalled
    source: venus
    when: msg startsWith "SetHead "
    absent: {within: 3m}
    actions: [ops]
`

func TestAbsenceFiresOnceAfterSilence(t *testing.T) {
	s := load(t, chainRule)
	if got := s.Tick(at(time.Hour)); len(got) != 0 {
		t.Fatalf("fired before anything was seen: %v", gist(got))
	}
	got := feed(s,
		ev("venus", 0, "SetHead 100"),
		ev("venus", time.Minute, "SetHead 101"),
		ev("venus", 2*time.Minute, "new peer"), // not a heartbeat
	)
	if len(got) != 0 {
		t.Fatalf("fired while heartbeats came: %v", gist(got))
	}
	if got := s.Tick(at(4 * time.Minute)); len(got) != 0 {
		t.Fatalf("fired at the deadline (silence not longer than 3m): %v", gist(got))
	}
	got = s.Tick(at(4*time.Minute + time.Second))
	want := []fired{{"chain-stalled", "nothing matching for 3m", "", 1, 4 * time.Minute, false, "ops"}}
	if diff := cmp.Diff(want, gist(got)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if e := got[0].Event; e.Msg != "SetHead 101" || e.Host != "miner-1" || got[0].Severity != "warning" {
		t.Errorf("event of the firing: %+v", e)
	}
	// Once: neither later ticks nor later non-matching events fire again.
	if got := append(s.Tick(at(time.Hour)), feed(s, ev("venus", 2*time.Hour, "new peer"))...); len(got) != 0 {
		t.Errorf("fired again: %v", gist(got))
	}
	// The heartbeat returns: the incident closes, the clock restarts.
	got = feed(s, ev("venus", 3*time.Hour, "SetHead 102"))
	want = []fired{{"chain-stalled", "nothing matching for 3m", "", 1, 3 * time.Hour, true, "ops"}}
	if diff := cmp.Diff(want, gist(got)); diff != "" {
		t.Fatalf("resolution (-want +got):\n%s", diff)
	}
	got = feed(s, ev("venus", 3*time.Hour+5*time.Minute, "new peer"))
	want = []fired{{"chain-stalled", "nothing matching for 3m", "", 1, 3*time.Hour + 3*time.Minute, false, "ops"}}
	if diff := cmp.Diff(want, gist(got)); diff != "" {
		t.Fatalf("second silence, seen by a later event (-want +got):\n%s", diff)
	}
	st := s.Stats()["chain-stalled"]
	if st.Firings != 2 || st.Resolved != 1 || st.Matches != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestAbsenceClockStartsAtFirstEventOfItsSources(t *testing.T) {
	s := load(t, chainRule)
	got := feed(s,
		ev("venus-sealer", 0, "sealing"), // not its source
		ev("venus", time.Minute, "starting"),
		ev("venus-sealer", 10*time.Minute, "sealing"), // other sources do not move its clock
	)
	if len(got) != 0 {
		t.Fatalf("got %v", gist(got))
	}
	got = s.Tick(at(5 * time.Minute))
	want := []fired{{"chain-stalled", "nothing matching for 3m", "", 1, 4 * time.Minute, false, "ops"}}
	if diff := cmp.Diff(want, gist(got)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if got[0].Event.Msg != "starting" {
		t.Errorf("event %+v, want a copy of the event that started the clock", got[0].Event)
	}
}

func TestAbsencePerGroup(t *testing.T) {
	s := load(t, `
rules:
  - name: miner-quiet
    source: sophon-miner
    when: msg == "mined"
    absent: {within: 10m, by: 'fields["miner"]'}
    summary: '{{ field "miner" }} quiet'
`)
	var evs []*event.Event
	for i := 0; i <= 30; i++ {
		d := time.Duration(i) * time.Minute
		evs = append(evs, ev("sophon-miner", d, "mined", "miner", "f01"))
		if i < 5 {
			evs = append(evs, ev("sophon-miner", d, "mined", "miner", "f02"))
		}
		evs = append(evs, ev("sophon-miner", d, "other", "miner", "f03")) // never matched: no clock
	}
	got := gist(feed(s, evs...))
	want := []fired{{"miner-quiet", "f02 quiet", "f02", 1, 14 * time.Minute, false, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// f01 too, once its heartbeats stop.
	got = gist(s.Tick(at(41 * time.Minute)))
	want = []fired{{"miner-quiet", "f01 quiet", "f01", 1, 40 * time.Minute, false, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// f02 comes back: only its incident closes.
	got = gist(feed(s, ev("sophon-miner", 42*time.Minute, "mined", "miner", "f02")))
	want = []fired{{"miner-quiet", "f02 quiet", "f02", 1, 42 * time.Minute, true, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestAbsenceWithResolveAndCooldown(t *testing.T) {
	s := load(t, `
rules:
  - name: no-post
    when: msg == "SubmitWindowedPoSt"
    absent: {within: 30m}
    resolve: msg == "proving recovered"
    cooldown: 2h
`)
	feed(s, ev("venus-sealer", 0, "SubmitWindowedPoSt"))
	if got := s.Tick(at(31 * time.Minute)); len(got) != 1 {
		t.Fatalf("want one firing, got %v", gist(got))
	}
	// A match restarts the clock but, with a resolve, does not close the incident.
	if got := feed(s, ev("venus-sealer", 40*time.Minute, "SubmitWindowedPoSt")); len(got) != 0 {
		t.Fatalf("got %v", gist(got))
	}
	// The next silence falls into the cooldown: suppressed, counted.
	if got := s.Tick(at(71 * time.Minute)); len(got) != 0 {
		t.Fatalf("fired within the cooldown: %v", gist(got))
	}
	got := gist(feed(s, ev("venus-sealer", 80*time.Minute, "proving recovered")))
	want := []fired{{"no-post", "nothing matching for 30m", "", 1, 80 * time.Minute, true, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	feed(s, ev("venus-sealer", 3*time.Hour, "SubmitWindowedPoSt"))
	got = gist(s.Tick(at(4 * time.Hour)))
	want = []fired{{"no-post", "nothing matching for 30m", "", 2, 3*time.Hour + 30*time.Minute, false, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("after the cooldown (-want +got):\n%s", diff)
	}
	if st := s.Stats()["no-post"]; st.Suppressed != 1 || st.Firings != 2 || st.Resolved != 1 {
		t.Errorf("stats %+v", st)
	}
}

const pushSeqRule = `
rules:
  - name: push-not-confirmed
    source: sophon-messager
    when: msg == "push message"
    sequence: {then: msg == "message on chain", within: 5m, by: 'fields["id"]'}
    actions: [ops]
`

func TestSequence(t *testing.T) {
	t.Run("then missing: tick", func(t *testing.T) {
		s := load(t, pushSeqRule)
		feed(s, ev("sophon-messager", 0, "push message", "id", "m1"))
		if got := s.Tick(at(5 * time.Minute)); len(got) != 0 {
			t.Fatalf("fired at the deadline: %v", gist(got))
		}
		got := gist(s.Tick(at(5*time.Minute + 1)))
		want := []fired{{"push-not-confirmed", "not followed within 5m: push message", "m1", 1, 0, false, "ops"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		if got := s.Tick(at(time.Hour)); len(got) != 0 {
			t.Errorf("fired twice: %v", gist(got))
		}
	})
	t.Run("then missing: a later event of its sources", func(t *testing.T) {
		s := load(t, pushSeqRule)
		got := feed(s,
			ev("sophon-messager", 0, "push message", "id", "m1"),
			ev("venus", 6*time.Minute, "new head"),                               // another source: no
			ev("sophon-messager", 7*time.Minute, "message on chain", "id", "m1"), // too late, but shows the deadline passed
		)
		want := []fired{{"push-not-confirmed", "not followed within 5m: push message", "m1", 1, 0, false, "ops"}}
		if diff := cmp.Diff(want, gist(got)); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	})
	t.Run("then in time", func(t *testing.T) {
		s := load(t, pushSeqRule)
		got := feed(s,
			ev("sophon-messager", 0, "push message", "id", "m1"),
			ev("sophon-messager", time.Minute, "push message", "id", "m2"),
			ev("sophon-messager", 2*time.Minute, "message on chain", "id", "m1"),
			ev("sophon-messager", 6*time.Minute, "message on chain", "id", "m2"), // exactly within
		)
		got = append(got, s.Tick(at(time.Hour))...)
		if len(got) != 0 {
			t.Errorf("fired: %v", gist(got))
		}
	})
	t.Run("then of another group does not count", func(t *testing.T) {
		s := load(t, pushSeqRule)
		got := feed(s,
			ev("sophon-messager", 0, "push message", "id", "m1"),
			ev("sophon-messager", time.Minute, "message on chain", "id", "m2"),
			ev("sophon-gateway", time.Minute, "message on chain", "id", "m1"), // another source
		)
		got = append(got, s.Tick(at(10*time.Minute))...)
		want := []fired{{"push-not-confirmed", "not followed within 5m: push message", "m1", 1, 0, false, "ops"}}
		if diff := cmp.Diff(want, gist(got)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("several starts keep the first", func(t *testing.T) {
		s := load(t, pushSeqRule)
		feed(s,
			ev("sophon-messager", 0, "push message", "id", "m1"),
			ev("sophon-messager", 4*time.Minute, "push message", "id", "m1"),
		)
		got := gist(s.Tick(at(5*time.Minute + time.Second)))
		want := []fired{{"push-not-confirmed", "not followed within 5m: push message", "m1", 1, 0, false, "ops"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		// The second start was not kept either: nothing waits any more.
		if got := s.Tick(at(time.Hour)); len(got) != 0 {
			t.Errorf("fired again: %v", gist(got))
		}
	})
	t.Run("per group, in deadline order", func(t *testing.T) {
		s := load(t, pushSeqRule)
		feed(s,
			ev("sophon-messager", time.Minute, "push message", "id", "b"),
			ev("sophon-messager", 2*time.Minute, "push message", "id", "a"),
			ev("sophon-messager", 3*time.Minute, "push message", "id", "c"),
			ev("sophon-messager", 4*time.Minute, "message on chain", "id", "c"),
		)
		got := gist(s.Tick(at(time.Hour)))
		want := []fired{
			{"push-not-confirmed", "not followed within 5m: push message", "b", 1, time.Minute, false, "ops"},
			{"push-not-confirmed", "not followed within 5m: push message", "a", 1, 2 * time.Minute, false, "ops"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

const budgetRule = `
rules:
  - name: wallet-password-not-set
    source: venus-wallet
    when: msg contains "password not set"
    cooldown: 5m
    budget: {count: 2, within: 1h}
    actions: [wallet-setpwd, ops]
    escalate: [page]
    verify:
      within: 2m
      absent: msg contains "password not set"
      on_failure: [ops]
`

func TestBudget(t *testing.T) {
	s := load(t, budgetRule)
	pw := func(m time.Duration) []event.Firing {
		return s.Eval(ev("venus-wallet", m*time.Minute, "password not set"))
	}
	var got []event.Firing
	got = append(got, pw(0)...)
	got = append(got, s.Tick(at(2*time.Minute))...) // verified
	got = append(got, pw(10)...)
	got = append(got, pw(11)...) // verification fails; suppressed by the cooldown
	got = append(got, pw(20)...) // budget used up: escalation only, no verification
	got = append(got, pw(21)...) // suppressed, and no verification to fail
	got = append(got, pw(30)...)
	got = append(got, pw(61)...) // the use at 0 left the window
	got = append(got, s.Tick(at(63*time.Minute))...)
	got = append(got, pw(70)...) // the use at 10 is exactly 1h old: still counted
	got = append(got, pw(75)...) // now it is not
	want := []fired{
		{"wallet-password-not-set", "password not set", "", 1, 0, false, "wallet-setpwd,ops"},
		{"wallet-password-not-set", "password not set", "", 1, 10 * time.Minute, false, "wallet-setpwd,ops"},
		{"wallet-password-not-set", "verification failed: password not set", "", 1, 11 * time.Minute, false, "ops"},
		{"wallet-password-not-set", "remediation budget used up: password not set", "", 2, 20 * time.Minute, false, "page"},
		{"wallet-password-not-set", "remediation budget used up: password not set", "", 2, 30 * time.Minute, false, "page"},
		{"wallet-password-not-set", "password not set", "", 1, 61 * time.Minute, false, "wallet-setpwd,ops"},
		{"wallet-password-not-set", "remediation budget used up: password not set", "", 1, 70 * time.Minute, false, "page"},
		{"wallet-password-not-set", "password not set", "", 1, 75 * time.Minute, false, "wallet-setpwd,ops"},
	}
	if diff := cmp.Diff(want, gist(got)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if st := s.Stats()["wallet-password-not-set"]; st.Escalated != 3 || st.Firings != 7 || st.VerifyFailed != 1 || st.Verified != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestBudgetPerGroupAndOnAbsence(t *testing.T) {
	s := load(t, `
rules:
  - name: restart-sealer
    when: msg == "sealer down"
    threshold: {count: 1, within: 1m, by: 'fields["unit"]'}
    budget: {count: 1, within: 1h}
    actions: [restart]
  - name: chain-stalled
    source: venus
    when: msg startsWith "SetHead"
    absent: {within: 3m}
    budget: {count: 1, within: 1h}
    actions: [restart-venus]
    escalate: [ops]
`)
	got := gist(feed(s,
		ev("venus-sealer", 0, "sealer down", "unit", "a"),
		ev("venus-sealer", time.Minute, "sealer down", "unit", "b"),
		ev("venus-sealer", 2*time.Minute, "sealer down", "unit", "a"),
	))
	want := []fired{
		{"restart-sealer", "sealer down", "a", 1, 0, false, "restart"},
		{"restart-sealer", "sealer down", "b", 1, time.Minute, false, "restart"},
		{"restart-sealer", "remediation budget used up: sealer down", "a", 1, 2 * time.Minute, false, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	feed(s, ev("venus", 0, "SetHead 1"))
	got = gist(s.Tick(at(4 * time.Minute)))
	feed(s, ev("venus", 5*time.Minute, "SetHead 2"))
	got = append(got, gist(s.Tick(at(9*time.Minute)))...)
	want = []fired{
		{"chain-stalled", "nothing matching for 3m", "", 1, 3 * time.Minute, false, "restart-venus"},
		{"chain-stalled", "remediation budget used up: nothing matching for 3m", "", 1, 8 * time.Minute, false, "ops"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

const timedRules = chainRule + `
  - name: push-not-confirmed
    source: sophon-messager
    when: msg == "push message"
    sequence: {then: msg == "message on chain", within: 5m, by: 'fields["id"]'}
    budget: {count: 1, within: 1h}
    actions: [ops]
    escalate: [page]
`

// timedState feeds a set of timedRules: venus's last SetHead at 1m, a push
// of m1 at 2m that waits, one of m2 at 0 that fired at once after its
// deadline (budget used).
func timedState(t *testing.T, s *Set) {
	t.Helper()
	got := feed(s,
		ev("venus", time.Minute, "SetHead 1"),
		ev("sophon-messager", 0, "push message", "id", "m2"),
		ev("sophon-messager", 2*time.Minute, "push message", "id", "m1"),
		ev("sophon-messager", 5*time.Minute+time.Second, "x", "id", "m1"),
	)
	want := []fired{{"push-not-confirmed", "not followed within 5m: push message", "m2", 1, 0, false, "ops"}}
	if diff := cmp.Diff(want, gist(got)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// checkTimedState checks that a set holds the state timedState made.
func checkTimedState(t *testing.T, s *Set) {
	t.Helper()
	// m1 still waits; its deadline passes by the next messager event. A
	// second firing of m2 would be beyond the budget.
	got := feed(s,
		ev("sophon-messager", 7*time.Minute+time.Second, "x", "id", "m1"),
		ev("sophon-messager", 8*time.Minute, "push message", "id", "m2"),
		ev("sophon-messager", 14*time.Minute, "x", "id", "m1"),
		ev("venus", 14*time.Minute, "new peer"),
	)
	want := []fired{
		{"push-not-confirmed", "not followed within 5m: push message", "m1", 1, 2 * time.Minute, false, "ops"},
		{"push-not-confirmed", "remediation budget used up: not followed within 5m: push message", "m2", 1, 8 * time.Minute, false, "page"},
		// venus's clock continued from its SetHead at 1m.
		{"chain-stalled", "nothing matching for 3m", "", 1, 4 * time.Minute, false, "ops"},
	}
	if diff := cmp.Diff(want, gist(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSnapshotRestoreTimedState(t *testing.T) {
	s := load(t, timedRules)
	timedState(t, s)
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := load(t, timedRules)
	if err := r.Restore(b); err != nil {
		t.Fatal(err)
	}
	checkTimedState(t, r)
}

func TestTickWaitsAfterRestore(t *testing.T) {
	s := load(t, timedRules)
	timedState(t, s)
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := load(t, timedRules)
	if err := r.Restore(b); err != nil {
		t.Fatal(err)
	}
	// The daemon restarts hours later: its first ticks do not call
	// anything missing before the sources had a chance to catch up.
	start := 5 * time.Hour
	if got := r.Tick(at(start)); len(got) != 0 {
		t.Fatalf("first tick after restore: %v", gist(got))
	}
	if got := r.Tick(at(start + 3*time.Minute)); len(got) != 0 {
		t.Fatalf("tick within a window after restore: %v", gist(got))
	}
	// venus said nothing for longer than its window: the absence fires;
	// the messager's window (5m) is not over yet.
	got := gist(r.Tick(at(start + 4*time.Minute)))
	want := []fired{{"chain-stalled", "nothing matching for 3m", "", 1, 4 * time.Minute, false, "ops"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// An event of its sources makes a rule live at once.
	got = gist(feed(r, ev("sophon-messager", 10*time.Minute, "push message", "id", "m3")))
	want = []fired{{"push-not-confirmed", "not followed within 5m: push message", "m1", 1, 2 * time.Minute, false, "ops"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	got = gist(r.Tick(at(start + 5*time.Minute)))
	want = []fired{{"push-not-confirmed", "not followed within 5m: push message", "m3", 1, 10 * time.Minute, false, "ops"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestAdoptKeepsTimedState(t *testing.T) {
	old := load(t, timedRules)
	timedState(t, old)
	// A reload that changes summaries only.
	next := load(t, strings.ReplaceAll(timedRules, "actions: [ops]", "actions: [ops]\n    description: changed"))
	next.Adopt(old)
	checkTimedState(t, next)
	if st := next.Stats()["push-not-confirmed"]; st.Firings != 3 || st.Escalated != 1 {
		t.Errorf("counters: %+v", st)
	}
}

func TestAdoptFollowsNewWindows(t *testing.T) {
	old := load(t, timedRules)
	timedState(t, old)
	// The absence's window grows to 10m, the budget to 2 uses.
	src := strings.Replace(timedRules, "within: 3m", "within: 10m", 1)
	src = strings.Replace(src, "count: 1", "count: 2", 1)
	next := load(t, src)
	next.Adopt(old)
	got := gist(feed(next,
		ev("venus", 10*time.Minute, "new peer"),
		ev("sophon-messager", 8*time.Minute, "push message", "id", "m2"),
		ev("sophon-messager", 14*time.Minute, "x", "id", "m2"),
		ev("venus", 12*time.Minute, "new peer"),
	))
	want := []fired{
		{"push-not-confirmed", "not followed within 5m: push message", "m1", 1, 2 * time.Minute, false, "ops"},
		{"push-not-confirmed", "not followed within 5m: push message", "m2", 1, 8 * time.Minute, false, "ops"},
		{"chain-stalled", "nothing matching for 10m", "", 1, 11 * time.Minute, false, "ops"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestTimedInfo(t *testing.T) {
	s := load(t, timedRules+`
  - name: restarts
    when: msg == "restarting"
    threshold: {count: 3, within: 10m, by: 'fields["unit"]'}
`)
	got := s.Rules()
	if got[0].Absent != 3*time.Minute || got[0].Sequence != nil || got[0].Budget != nil || got[0].By != "" {
		t.Errorf("absence info %+v", got[0])
	}
	wantSeq := &SequenceInfo{Then: `msg == "message on chain"`, Within: 5 * time.Minute}
	if diff := cmp.Diff(wantSeq, got[1].Sequence); diff != "" {
		t.Errorf("sequence (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&BudgetInfo{Count: 1, Within: time.Hour}, got[1].Budget); diff != "" {
		t.Errorf("budget (-want +got):\n%s", diff)
	}
	if got[1].By != `fields["id"]` || strings.Join(got[1].Escalate, ",") != "page" || got[2].By != `fields["unit"]` {
		t.Errorf("info %+v / %+v", got[1], got[2])
	}
	if diff := cmp.Diff([]string{"ops", "page"}, s.ActionNames()); diff != "" {
		t.Errorf("action names (-want +got):\n%s", diff)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3 * time.Minute: "3m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s",
		24 * time.Hour: "24h", 1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

func TestAbsenceVerifiedFromDetection(t *testing.T) {
	src := `
rules:
  - name: chain-stalled
    source: venus
    when: msg startsWith "SetHead "
    absent: {within: 3m}
    actions: [restart-venus]
    verify:
      within: 5m
      present: msg startsWith "SetHead "
      on_failure: [ops]
`
	t.Run("the heartbeat returns", func(t *testing.T) {
		s := load(t, src)
		got := feed(s, ev("venus", 0, "SetHead 1"), ev("venus", 10*time.Minute, "new peer"))
		got = append(got, s.Tick(at(14*time.Minute))...)
		got = append(got, feed(s, ev("venus", 14*time.Minute, "SetHead 2"))...)
		want := []fired{
			{"chain-stalled", "nothing matching for 3m", "", 1, 3 * time.Minute, false, "restart-venus"},
			{"chain-stalled", "nothing matching for 3m", "", 1, 14 * time.Minute, true, "restart-venus"},
		}
		if diff := cmp.Diff(want, gist(got)); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		if st := s.Stats()["chain-stalled"]; st.Verified != 1 || st.VerifyFailed != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("it does not", func(t *testing.T) {
		s := load(t, src)
		feed(s, ev("venus", 0, "SetHead 1"))
		got := s.Tick(at(10 * time.Minute))
		if got := s.Tick(at(15*time.Minute - 1)); len(got) != 0 {
			t.Fatalf("verification ended before its deadline: %v", gist(got))
		}
		got = append(got, s.Tick(at(15*time.Minute))...)
		want := []fired{
			{"chain-stalled", "nothing matching for 3m", "", 1, 3 * time.Minute, false, "restart-venus"},
			{"chain-stalled", "verification failed: nothing matching for 3m", "", 1, 3 * time.Minute, false, "ops"},
		}
		if diff := cmp.Diff(want, gist(got)); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	})
}
