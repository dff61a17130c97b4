package actions

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeSystemctl writes a systemctl that records each call's argv in a
// file and does what restart and isActive say (shell commands); it
// returns the program's path and a function reading the calls so far.
func fakeSystemctl(t *testing.T, restart, isActive string) (string, func() [][]string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake systemctl is a shell script")
	}
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	script := "#!/bin/sh\n" +
		"{ echo CALL; for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done; } >> '" + calls + "'\n" +
		"state='" + filepath.Join(dir, "state") + "'\n" +
		"case \"$1\" in\n" +
		"restart) " + restart + " ;;\n" +
		"is-active) " + isActive + " ;;\n" +
		"*) echo \"unknown command $1\" >&2; exit 2 ;;\n" +
		"esac\n"
	prog := filepath.Join(dir, "systemctl")
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	read := func() [][]string {
		b, err := os.ReadFile(calls)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var out [][]string
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if line == "CALL" {
				out = append(out, []string{})
				continue
			}
			out[len(out)-1] = append(out[len(out)-1], strings.TrimSuffix(strings.TrimPrefix(line, "["), "]"))
		}
		return out
	}
	return prog, read
}

const (
	restartOK  = "echo restarting"
	activeOK   = "echo active"
	restartBad = "echo 'Job for venus-wallet.service failed because the control process exited with error code.' >&2; exit 1"
	activeBad  = "echo failed; exit 3"
)

func systemdAction(t *testing.T, prog, extra string) (*Configured, *SystemdRestart) {
	t.Helper()
	c := buildYAML(t, "type: systemd-restart\nsystemctl: "+prog+"\n"+extra, nil)
	return c, c.Action.(*SystemdRestart)
}

func TestSystemdRestart(t *testing.T) {
	prog, calls := fakeSystemctl(t, restartOK, activeOK)
	c, _ := systemdAction(t, prog, "unit: '{{ capture \"unit\" }}'\n")
	d, audit := dispatcher(t, map[string]*Configured{"restart": c})
	f := fire("wallet-stuck", "restart")
	f.Event.Captures = map[string]string{"unit": "venus-wallet"}
	d.Dispatch(f)
	r := audit.next(t)
	if r.Outcome != OutcomeOK || r.Attempts != 1 {
		t.Fatalf("record %+v", r)
	}
	want := [][]string{{"restart", "venus-wallet"}, {"is-active", "venus-wallet"}}
	if diff := cmp.Diff(want, calls()); diff != "" {
		t.Errorf("systemctl calls (-want +got):\n%s", diff)
	}
	wantOut := "$ " + prog + " restart venus-wallet\nrestarting\n$ " + prog + " is-active venus-wallet\nactive (after 1 checks)\n"
	if r.Output != wantOut {
		t.Errorf("output %q, want %q", r.Output, wantOut)
	}
}

func TestSystemdRestartWithoutVerify(t *testing.T) {
	prog, calls := fakeSystemctl(t, restartOK, activeBad)
	_, x := systemdAction(t, prog, "unit: damocles-worker@3.service\nverify_active: false\n")
	if _, retry, err := x.DoOutput(context.Background(), firing()); err != nil || retry {
		t.Fatalf("retry %v err %v", retry, err)
	}
	if diff := cmp.Diff([][]string{{"restart", "damocles-worker@3.service"}}, calls()); diff != "" {
		t.Errorf("systemctl calls (-want +got):\n%s", diff)
	}
}

// TestSystemdRestartRefusesHostileUnits: a unit rendered from log text
// must be one service's name; anything else runs nothing.
func TestSystemdRestartRefusesHostileUnits(t *testing.T) {
	prog, calls := fakeSystemctl(t, restartOK, activeOK)
	_, x := systemdAction(t, prog, "unit: '{{ capture \"unit\" }}'\n")
	for _, unit := range []string{
		"--force", "-x", "a b", "x;reboot", "../x", "/etc/passwd", "venus-wallet\n--now",
		"reboot.target", "venus.socket", "$(reboot)", "`reboot`", "x*", "", ".hidden",
		"venus-wallet venus-sealer", strings.Repeat("a", 300),
	} {
		f := firing()
		f.Event.Captures = map[string]string{"unit": unit}
		out, retry, err := x.DoOutput(context.Background(), f)
		if err == nil || retry || out != "" {
			t.Errorf("unit %q: output %q retry %v err %v", unit, out, retry, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "not restarting: ") {
			t.Errorf("unit %q: error %v", unit, err)
		}
	}
	if c := calls(); len(c) != 0 {
		t.Errorf("systemctl ran: %q", c)
	}
	// A unit written in the configuration may be of any type.
	_, y := systemdAction(t, prog, "unit: venus-stack.target\nverify_active: false\n")
	if _, _, err := y.DoOutput(context.Background(), firing()); err != nil {
		t.Fatal(err)
	}
}

func TestSystemdFlapGuard(t *testing.T) {
	prog, calls := fakeSystemctl(t, restartOK, activeOK)
	c, x := systemdAction(t, prog, "unit: '{{ capture \"unit\" }}'\nmax: {count: 3, within: 1h}\n")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	x.now = func() time.Time { return now }
	f := fire("wallet-stuck", "restart")
	do := func(unit string) error {
		t.Helper()
		f.Event.Captures = map[string]string{"unit": unit}
		_, retry, err := x.DoOutput(context.Background(), f)
		if retry {
			t.Errorf("a %s restart's failure is worth a retry: %v", unit, err)
		}
		return err
	}
	// The same unit under its two names: one budget.
	for i, unit := range []string{"venus-wallet", "venus-wallet.service", "venus-wallet"} {
		if err := do(unit); err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
		now = now.Add(10 * time.Minute)
	}
	err := do("venus-wallet.service")
	if err == nil || err.Error() != "restart budget of 3 per 1h for venus-wallet.service used up; not restarting" {
		t.Fatalf("fourth restart in the hour: %v", err)
	}
	if n := len(calls()); n != 6 {
		t.Errorf("%d systemctl calls, want 3 restarts and 3 checks", n)
	}
	// Another unit has its own budget.
	if err := do("venus-sealer"); err != nil {
		t.Fatal(err)
	}

	// Through the Dispatcher, the refusal is one failed attempt.
	d, audit := dispatcher(t, map[string]*Configured{"restart": c})
	f.Event.Captures = map[string]string{"unit": "venus-wallet"}
	d.Dispatch(f)
	if r := audit.next(t); r.Outcome != OutcomeFailed || r.Attempts != 1 || !strings.Contains(r.Err, "used up") {
		t.Fatalf("record %+v", r)
	}

	// The first restart leaves the window an hour after it: one more.
	now = time.Date(2026, 11, 25, 11, 0, 0, 1, time.UTC)
	if err := do("venus-wallet"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if err := do("venus-wallet"); err == nil {
		t.Fatal("a second restart at 11:00 makes four within the hour")
	}
	if n := len(calls()); n != 10 {
		t.Errorf("%d systemctl calls, want 10", n)
	}
}

// TestSystemdFlapGuardSurvivesRestore: the history goes through
// Snapshot and Restore into a new action.
func TestSystemdFlapGuardSurvivesRestore(t *testing.T) {
	prog, _ := fakeSystemctl(t, restartOK, activeOK)
	_, x := systemdAction(t, prog, "unit: venus-wallet\nmax: {count: 2, within: 1h}\n")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	x.now = func() time.Time { return now }
	for i := 0; i < 2; i++ {
		if _, _, err := x.DoOutput(context.Background(), firing()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(20 * time.Minute)
	}
	snap, err := x.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	_, y := systemdAction(t, prog, "unit: venus-wallet\nmax: {count: 2, within: 1h}\n")
	y.now = func() time.Time { return now }
	if err := y.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if _, _, err := y.DoOutput(context.Background(), firing()); err == nil || !strings.Contains(err.Error(), "budget of 2 per 1h") {
		t.Fatalf("restored budget not applied: %v", err)
	}
	// Restarts outside the window are not restored.
	now = now.Add(25 * time.Minute) // 11:05: the first restart (10:00) is out
	_, z := systemdAction(t, prog, "unit: venus-wallet\nmax: {count: 2, within: 1h}\n")
	z.now = func() time.Time { return now }
	if err := z.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got := len(z.restarts["venus-wallet.service"]); got != 1 {
		t.Errorf("%d restarts restored, want 1", got)
	}
	for _, bad := range []string{"", "{", `{"version": 2}`} {
		if err := y.Restore([]byte(bad)); err == nil {
			t.Errorf("Restore(%q) succeeded", bad)
		}
	}
}

func TestSystemdRestartFails(t *testing.T) {
	prog, calls := fakeSystemctl(t, restartBad, activeOK)
	c, _ := systemdAction(t, prog, "unit: venus-wallet\n")
	d, audit := dispatcher(t, map[string]*Configured{"restart": c})
	d.Dispatch(fire("wallet-stuck", "restart"))
	r := audit.next(t)
	if r.Outcome != OutcomeFailed || r.Attempts != 1 {
		t.Fatalf("record %+v: a failed restart is escalated, not retried", r)
	}
	if !strings.Contains(r.Err, "restart venus-wallet: exit status 1: stderr: \"Job for venus-wallet.service failed") {
		t.Errorf("error %q", r.Err)
	}
	if !strings.Contains(r.Output, "Job for venus-wallet.service failed") {
		t.Errorf("output %q", r.Output)
	}
	if diff := cmp.Diff([][]string{{"restart", "venus-wallet"}}, calls()); diff != "" {
		t.Errorf("systemctl calls (-want +got):\n%s", diff)
	}
}

func TestSystemdNotActiveAfterRestart(t *testing.T) {
	prog, calls := fakeSystemctl(t, restartOK, activeBad)
	_, x := systemdAction(t, prog, "unit: venus-wallet\n")
	x.wait = 700 * time.Millisecond
	out, retry, err := x.DoOutput(context.Background(), firing())
	if err == nil || retry {
		t.Fatalf("retry %v err %v", retry, err)
	}
	if !strings.Contains(err.Error(), `restarted venus-wallet, but it is not active after 700ms: systemctl is-active says "failed"`) {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(out, `"failed" (after `) {
		t.Errorf("output %q", out)
	}
	c := calls()
	if len(c) < 3 || !cmp.Equal(c[1], []string{"is-active", "venus-wallet"}) {
		t.Errorf("calls %q: want a restart and several checks", c)
	}
}

// TestSystemdActiveAfterActivating: is-active is asked again until the
// unit is active.
func TestSystemdActiveAfterActivating(t *testing.T) {
	// activating twice, then active
	isActive := "n=$(cat \"$state\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$state\"; " +
		"if [ $n -ge 3 ]; then echo active; else echo activating; exit 3; fi"
	prog, calls := fakeSystemctl(t, restartOK, isActive)
	_, x := systemdAction(t, prog, "unit: venus-wallet\n")
	out, _, err := x.DoOutput(context.Background(), firing())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "active (after 3 checks)\n") || len(calls()) != 4 {
		t.Errorf("output %q after %d calls", out, len(calls()))
	}
}

func TestSystemdVerifyHonoursContext(t *testing.T) {
	prog, _ := fakeSystemctl(t, restartOK, activeBad)
	_, x := systemdAction(t, prog, "unit: venus-wallet\n")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := x.DoOutput(ctx, firing())
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}

func TestSystemctlMissing(t *testing.T) {
	_, x := systemdAction(t, filepath.Join(t.TempDir(), "no-systemctl"), "unit: venus-wallet\n")
	_, retry, err := x.DoOutput(context.Background(), firing())
	if err == nil || retry || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("retry %v err %v", retry, err)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 10 * time.Minute: "10m", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 45 * time.Second: "45s", 24 * time.Hour: "24h",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
