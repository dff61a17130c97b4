package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var bin string

// TestMain builds the real binary once; the tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "venus-medic-cli")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "venus-medic")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runBin(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func write(t *testing.T, p, s string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func configWithOps(t *testing.T, dir string) string {
	return write(t, filepath.Join(dir, "venus-medic.yaml"), fmt.Sprintf("state_dir: %s/state\nrules: [%s/rules.d]\nactions:\n  ops:\n    type: log\n", dir, dir))
}

// TestCheckReportsEveryMistake: one line per mistake with its position, exit 1.
func TestCheckReportsEveryMistake(t *testing.T) {
	dir := t.TempDir()
	cfg := configWithOps(t, dir)
	bad := write(t, filepath.Join(dir, "rules.d", "bad.yaml"), `rules:
  - name: a
    when: msg contains "x"
    cooldwn: 5m
  - name: b
    when: msg contains "y"
    cooldown: 5 minutes
  - name: c
    when: mesage contains "z"
  - name: d
    when: msg contains "w"
    actions: [ops, pager]
`)
	out, _, code := runBin(t, "check", "--config", cfg, filepath.Join(dir, "rules.d"))
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	wantPrefix := []string{bad + ":4:5: ", bad + ":7:15: ", bad + ":9:11: ", bad + ":12:20: "}
	if len(lines) != len(wantPrefix) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(wantPrefix), out)
	}
	for i, p := range wantPrefix {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], p)
		}
	}
	for i, word := range []string{"cooldwn", "5 minutes", "mesage", "pager"} {
		if !strings.Contains(lines[i], word) {
			t.Errorf("line %d = %q does not name %q", i+1, lines[i], word)
		}
	}
}

func TestCheckClean(t *testing.T) {
	dir := t.TempDir()
	cfg := configWithOps(t, dir)
	write(t, filepath.Join(dir, "rules.d", "ok.yaml"), "rules:\n  - name: a\n    when: msg contains \"x\"\n    actions: [ops]\n")
	out, errOut, code := runBin(t, "check", "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "SUCCESS: 1 rules in 1 files") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// TestCheckShippedRules: the repository's rules.d passes check against the
// embedded default configuration, as the README says.
func TestCheckShippedRules(t *testing.T) {
	out, _, code := runBin(t, "check", "../../rules.d")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

const thresholdRule = `rules:
  - name: listener-loop
    source: venus-wallet
    when: msg startsWith "listenWalletRequestOnce quit"
    threshold: {count: 3, within: 10m, by: 'fields["api hub"]'}
    severity: warning
    summary: 'loop on {{ field "api hub" }}'
    actions: [ops]
`

func quitLine(ts string) string {
	return ts + "\tWARN\twallet_event\twalletevent/wallet_client.go:75\tlistenWalletRequestOnce quit, try again\t{\"api hub\": \"/dns/gw/tcp/83/wss\"}\n"
}

// TestTestJSON: --json prints one object per firing with exactly the
// contract's keys, nothing else on stdout; the threshold runs on the
// lines' time (a sparse sequence over hours does not fire).
func TestTestJSON(t *testing.T) {
	dir := t.TempDir()
	rules := write(t, filepath.Join(dir, "r.yaml"), thresholdRule)
	var log strings.Builder
	// sparse: one an hour, never three within ten minutes
	for h := 0; h < 5; h++ {
		log.WriteString(quitLine(fmt.Sprintf("2026-11-24T0%d:00:00.000+0800", h)))
	}
	log.WriteString("garbage line that no parser understands\n")
	// burst: five within a minute fire once (three), then two more do not reach three
	for s := 0; s < 5; s++ {
		log.WriteString(quitLine(fmt.Sprintf("2026-11-24T08:00:%02d.250+0800", s)))
	}
	logf := write(t, filepath.Join(dir, "wallet.log"), log.String())
	out, errOut, code := runBin(t, "test", "--rules", rules, "--json", logf)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want 1 firing, got:\n%s", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"actions", "file", "line", "rule", "severity", "source", "summary", "time"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if m["rule"] != "listener-loop" || m["source"] != "venus-wallet" || m["time"] != "2026-11-24T08:00:02.25+08:00" ||
		m["line"] != float64(9) || m["file"] != logf || m["summary"] != "loop on /dns/gw/tcp/83/wss" {
		t.Errorf("firing: %v", m)
	}
}

func TestTestText(t *testing.T) {
	dir := t.TempDir()
	rules := write(t, filepath.Join(dir, "r.yaml"), thresholdRule)
	logf := write(t, filepath.Join(dir, "capture.txt"), quitLine("2026-11-24T08:00:00.000+0800")+quitLine("2026-11-24T08:00:01.000+0800")+quitLine("2026-11-24T08:00:02.000+0800"))
	out, errOut, code := runBin(t, "test", "--rules", rules, "--source", "venus-wallet", logf)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{logf + ":3", "listener-loop", "would run: ops", "Lines: 3 in 1 file(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runBin(t, "version")
	if code != 0 || !strings.HasPrefix(out, "venus-medic ") {
		t.Fatalf("exit %d: %q", code, out)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := write(t, filepath.Join(dir, "c.yaml"), "state_dir: "+dir+"\nsources:\n  - name: w\n    file: /tmp/x.log\n    parsr: golog\n")
	_, errOut, code := runBin(t, "run", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, cfg+":5:5: unknown field \"parsr\"; did you mean \"parser\"?") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestRunSignals: SIGHUP reloads, SIGTERM stops gracefully with state saved.
func TestRunSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	dir := t.TempDir()
	configWithOps(t, dir)
	write(t, filepath.Join(dir, "rules.d", "ok.yaml"), "rules:\n  - name: a\n    when: msg contains \"x\"\n    actions: [ops]\n")
	cfg := write(t, filepath.Join(dir, "venus-medic.yaml"), fmt.Sprintf("state_dir: %s/state\nrules: [%s/rules.d]\nsources:\n  - name: venus-wallet\n    file: %s/wallet.log\nactions:\n  ops:\n    type: log\n", dir, dir, dir))
	cmd := exec.Command(bin, "run", "--config", cfg, "--log-format", "json")
	var errBuf syncBuffer
	cmd.Stderr = &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitLog(t, &errBuf, "venus-medic running")
	write(t, filepath.Join(dir, "wallet.log"), "2026-11-24T08:00:00.000+0800\tINFO\tmain\tcmd/rpc.go:78\tx marks the spot\n")
	waitLog(t, &errBuf, `"rule":"a"`)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, &errBuf, "rules reloaded")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, errBuf.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop on SIGTERM")
	}
	b, err := os.ReadFile(filepath.Join(dir, "state", "positions.json"))
	if err != nil || !strings.Contains(string(b), "wallet.log") {
		t.Fatalf("positions not saved: %v %s", err, b)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitLog(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKill9NoDuplicateNoForgottenCooldown: after a firing, kill -9 the
// daemon and start it again: the line that fired does not fire again, and
// the cooldown it started still holds for the next line.
func TestKill9NoDuplicateNoForgottenCooldown(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	dir := t.TempDir()
	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer srv.Close()
	write(t, filepath.Join(dir, "rules.d", "seq.yaml"), "rules:\n  - name: seq\n    when: msg startsWith \"SEQ\"\n    cooldown: 1h\n    summary: '{{ .msg }}'\n    actions: [hook]\n")
	logf := filepath.Join(dir, "app.log")
	cfg := write(t, filepath.Join(dir, "venus-medic.yaml"), fmt.Sprintf("state_dir: %s/state\nrules: [%s/rules.d]\nsources:\n  - name: app\n    file: %s\nactions:\n  hook:\n    type: webhook\n    url: %s\n    retries: 0\n", dir, dir, logf, srv.URL))
	start := func() (*exec.Cmd, *syncBuffer) {
		cmd := exec.Command(bin, "run", "--config", cfg)
		var errBuf syncBuffer
		cmd.Stderr = &errBuf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitLog(t, &errBuf, "venus-medic running")
		return cmd, &errBuf
	}
	cmd, _ := start()
	write(t, logf, "2026-11-24T08:00:00.000+0800\tINFO\tapp\tapp/main.go:1\tSEQ 1\n")
	select {
	case b := <-got:
		if !strings.Contains(b, "SEQ 1") {
			t.Fatalf("got %s", b)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no notification")
	}
	cmd.Process.Kill() // SIGKILL: no graceful save
	cmd.Wait()

	cmd, errBuf := start()
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	f, err := os.OpenFile(logf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("2026-11-24T08:00:00.001+0800\tINFO\tapp\tapp/main.go:1\tSEQ 2\n")
	f.Close()
	// The daemon read SEQ 2 (its position moves past it) without notifying.
	waitFor := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "state", "positions.json"))
		if strings.Contains(string(b), fmt.Sprintf(`"offset":%d`, 2*len("2026-11-24T08:00:00.000+0800\tINFO\tapp\tapp/main.go:1\tSEQ 1\n"))) {
			break
		}
		if time.Now().After(waitFor) {
			t.Fatalf("SEQ 2 never read; positions: %s\n%s", b, errBuf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case b := <-got:
		t.Fatalf("notified again after kill -9: %s", b)
	case <-time.After(300 * time.Millisecond):
	}
}
