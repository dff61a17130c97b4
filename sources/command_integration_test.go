package sources

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

func newCommand(t *testing.T, cfg CommandConfig) (*Command, *logBuf) {
	t.Helper()
	log, lb := testLogger(t)
	if cfg.Name == "" {
		cfg.Name = "venus-sealer"
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 20 * time.Millisecond
	}
	c, err := NewCommand(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source log:\n%s", lb)
		}
	})
	return c, lb
}

func texts(lines []event.Line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, string(l.Text))
	}
	return out
}

func waitLog(t *testing.T, lb *logBuf, what string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(lb.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", what, lb)
		}
		time.Sleep(10 * time.Millisecond) // polling the log
	}
}

func TestCommandLines(t *testing.T) {
	skipShort(t)
	c, _ := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", `printf 'a\nb\r\n\377x\001\nlast'; sleep 1000`}})
	r := start(t, c)
	lines := r.waitN(3)
	want := []string{"a", "b", "\377x\001"}
	for i, w := range want {
		if string(lines[i].Text) != w {
			t.Fatalf("line %d = %q, want %q", i, lines[i].Text, w)
		}
		if l := lines[i]; l.Source != "venus-sealer" || l.File != "" || l.Offset != 0 || l.Read.IsZero() {
			t.Fatalf("line %d fields: %+v", i, l)
		}
	}
	// "last" has no newline and the command still runs: not delivered yet.
	r.stop()
	if n := len(r.got()); n != 3 {
		t.Fatalf("got %d lines, want 3 (the partial line must wait): %q", n, texts(r.got()))
	}
}

// The last line of a command that exits is delivered without its newline.
func TestCommandLastLineAtExit(t *testing.T) {
	skipShort(t)
	c, _ := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", `printf 'one\ntwo'`}, Backoff: time.Hour})
	r := start(t, c)
	if got := texts(r.waitN(2)); got[0] != "one" || got[1] != "two" {
		t.Fatalf("got %q", got)
	}
}

// Arguments are passed as they are: no shell ever sees them.
func TestCommandArgvIsNotAShell(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	hostile := "$(touch pwned) `touch pwned2`; touch pwned3 | cat && echo x"
	c, _ := newCommand(t, CommandConfig{Argv: []string{"printf", `%s\n`, hostile}, Dir: dir, Backoff: time.Hour})
	r := start(t, c)
	if got := string(r.waitN(1)[0].Text); got != hostile {
		t.Fatalf("got %q, want %q", got, hostile)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("the argument was run by a shell: %v", ents)
	}
}

func TestCommandEnvAndDir(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	c, _ := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", `echo "$VM_TEST"; pwd`}, Env: []string{"VM_TEST=hello world"}, Dir: dir, Backoff: time.Hour})
	r := start(t, c)
	got := texts(r.waitN(2))
	real, _ := filepath.EvalSymlinks(dir)
	if got[0] != "hello world" || (got[1] != dir && got[1] != real) {
		t.Fatalf("got %q, want [hello world %s]", got, dir)
	}
}

// A command that keeps exiting is restarted, each time later: 1, 2, 4, ...
// times the base delay, up to the maximum.
func TestCommandRestartBackoff(t *testing.T) {
	skipShort(t)
	base := 40 * time.Millisecond
	c, lb := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", "echo run; exit 3"}, Backoff: base, MaxBackoff: 4 * base})
	r := start(t, c)
	lines := r.waitN(6)
	want := []time.Duration{base, 2 * base, 4 * base, 4 * base, 4 * base}
	for i, w := range want {
		gap := lines[i+1].Read.Sub(lines[i].Read)
		if gap < w {
			t.Fatalf("restart %d came after %v, want at least %v", i+1, gap, w)
		}
	}
	if !strings.Contains(lb.String(), "command exited, restarting") || !strings.Contains(lb.String(), "exit status 3") {
		t.Fatalf("the exit was not logged:\n%s", lb)
	}
}

// A command that ran for ResetAfter restarts after the base delay again.
func TestCommandBackoffResets(t *testing.T) {
	skipShort(t)
	base := 300 * time.Millisecond
	c, _ := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", "echo run; sleep 0.3"}, Backoff: base, ResetAfter: 250 * time.Millisecond})
	r := start(t, c)
	lines := r.waitN(4)
	// Without the reset the third gap would be 0.3s + 4×base = 1.5s.
	if gap := lines[3].Read.Sub(lines[2].Read); gap > 1200*time.Millisecond {
		t.Fatalf("third restart came after %v: the backoff was not reset", gap)
	}
}

// On stop, the command's whole process group goes, children included.
func TestCommandStopKillsGroup(t *testing.T) {
	skipShort(t)
	c, _ := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", "sleep 1000 & echo $!; wait"}})
	r := start(t, c)
	pid, err := strconv.Atoi(string(r.waitN(1)[0].Text))
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	r.stop()
	if d := time.Since(began); d > 4*time.Second {
		t.Fatalf("stopping took %v", d)
	}
	waitGone(t, pid)
}

// A command that exits leaving a child behind in its group: the child is
// stopped (it would hold the pipe open), and the command restarted.
func TestCommandExitStopsLeftovers(t *testing.T) {
	skipShort(t)
	c, _ := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", "sleep 1000 & echo $!"}})
	r := start(t, c)
	lines := r.waitN(2)
	for _, l := range lines {
		pid, err := strconv.Atoi(string(l.Text))
		if err != nil {
			t.Fatal(err)
		}
		if l.Text == nil || pid == 0 {
			t.Fatal("no pid")
		}
		waitGone(t, pid)
	}
}

// waitGone waits until process pid has exited (a zombie counts as exited).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if f := bytes.Fields(b); len(f) > 2 && string(f[2]) == "Z" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d is still running", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling the process table
	}
}

func TestCommandStderrIsLogged(t *testing.T) {
	skipShort(t)
	c, lb := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", "echo oops >&2; echo out; sleep 1000"}})
	r := start(t, c)
	if got := texts(r.waitN(1)); got[0] != "out" {
		t.Fatalf("got %q", got)
	}
	waitLog(t, lb, "oops")
	if len(r.got()) != 1 {
		t.Fatalf("stderr was delivered as lines: %q", texts(r.got()))
	}
}

// A command spewing stderr does not flood the daemon's log.
func TestCommandStderrIsRateLimited(t *testing.T) {
	skipShort(t)
	c, lb := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", `i=0; while [ $i -lt 3000 ]; do echo "err $i" >&2; i=$((i+1)); done; echo done; sleep 1000`}})
	r := start(t, c)
	r.waitN(1)
	waitLog(t, lb, "command writes too much to stderr")
	if n := strings.Count(lb.String(), "command stderr:"); n > stderrBurst+20 {
		t.Fatalf("%d stderr lines logged", n)
	}
}

// MergeStderr delivers stderr as lines (docker logs writes the
// container's stderr to its own).
func TestCommandMergeStderr(t *testing.T) {
	skipShort(t)
	c, _ := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", "echo a; echo b >&2; sleep 1000"}, MergeStderr: true})
	r := start(t, c)
	got := texts(r.waitN(2))
	if got[0] != "a" || got[1] != "b" {
		t.Fatalf("got %q", got)
	}
}

func TestCommandLongLine(t *testing.T) {
	skipShort(t)
	c, _ := newCommand(t, CommandConfig{Argv: []string{"sh", "-c", `head -c 3000000 /dev/zero | tr '\0' a; echo; echo after; sleep 1000`}})
	r := start(t, c)
	lines := r.waitN(2)
	if len(lines[0].Text) != DefaultMaxLineBytes || string(lines[1].Text) != "after" {
		t.Fatalf("got %d bytes then %q", len(lines[0].Text), lines[1].Text)
	}
}

// A command that cannot start is retried, and stopping still works.
func TestCommandNotFound(t *testing.T) {
	skipShort(t)
	c, lb := newCommand(t, CommandConfig{Argv: []string{"/nonexistent/venus-sealer"}})
	r := start(t, c)
	waitLog(t, lb, "no such file or directory")
	r.stop()
}
