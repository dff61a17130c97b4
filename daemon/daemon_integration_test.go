package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/actions"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// receiver is a real HTTP webhook receiver that keeps what it got.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	got    chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body is not JSON: %v: %s", err, b)
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, m)
		r.mu.Unlock()
		r.got <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

// wait returns the next n bodies, failing the test after a deadline.
func (r *receiver) wait(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("only %d of %d notifications arrived", i, n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.bodies
	r.bodies = nil
	return out
}

// quiet asserts that nothing more arrives within d.
func (r *receiver) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-r.got:
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("unexpected notification: %v", r.bodies)
	case <-time.After(d):
	}
}

const walletRules = `rules:
  - name: wallet-password-not-set
    source: venus-wallet
    when: level == "ERROR" && msg contains "WalletSign error password not set"
    severity: critical
    summary: 'venus-wallet on {{ .host }} cannot sign: password not set ({{ field "api hub" }})'
    cooldown: 15m
    actions: [ops]
`

func walletLine(ts string) string {
	return ts + "\tERROR\twallet_event\twalletevent/wallet_client.go:160\tWalletSign error password not set\t{\"api hub\": \"/dns/gw/tcp/83/wss\"}\n"
}

type env struct {
	dir, log, rules, cfg string
	url                  string
	logs                 *bytes.Buffer
	mu                   *sync.Mutex
}

func newEnv(t *testing.T, url string) *env {
	dir := t.TempDir()
	e := &env{dir: dir, log: filepath.Join(dir, "wallet.log"), rules: filepath.Join(dir, "rules.d"), cfg: filepath.Join(dir, "venus-medic.yaml"), url: url, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	if err := os.Mkdir(e.rules, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.rules, "wallet.yaml"), walletRules)
	writeFile(t, e.cfg, fmt.Sprintf(`state_dir: %s/state
rules: [%s]
host: miner-01
sources:
  - name: venus-wallet
    file: %s
    parser: golog
actions:
  ops:
    type: webhook
    url: %s
    retries: 0
`, dir, e.rules, e.log, url))
	return e
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (e *env) logText() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.String()
}

// start runs a daemon on the env's configuration until the returned stop is called.
func (e *env) start(t *testing.T) (*Daemon, func()) {
	t.Helper()
	cfg, err := LoadConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := hclog.New(&hclog.LoggerOptions{Output: syncWriter{e.mu, e.logs}, Level: hclog.Debug})
	d, err := New(cfg, Options{Logger: log, SaveEvery: 50 * time.Millisecond, FlushIdle: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped: %v", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("daemon did not stop")
		}
	}
	t.Cleanup(stop)
	return d, stop
}

// TestEndToEnd follows a wallet log that appears after the start, detects
// the password line, delivers the notification with the event's fields, and
// resumes after a restart without notifying twice.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	r := newReceiver(t)
	e := newEnv(t, r.URL)
	_, stop := e.start(t)

	appendFile(t, e.log, "2026-11-25T10:21:33.123+0800\tINFO\tmain\tcmd/rpc.go:78\tstart rpc server at [/ip4/0.0.0.0/tcp/5678/http] ...\n")
	appendFile(t, e.log, walletLine("2026-11-25T10:21:34.561+0800"))
	got := r.wait(t, 1)
	b := got[0]
	if b["rule"] != "wallet-password-not-set" || b["severity"] != "critical" || b["source"] != "venus-wallet" || b["host"] != "miner-01" {
		t.Errorf("body: %v", b)
	}
	if b["summary"] != "venus-wallet on miner-01 cannot sign: password not set (/dns/gw/tcp/83/wss)" {
		t.Errorf("summary: %q", b["summary"])
	}
	if b["time"] != "2026-11-25T10:21:34.561+08:00" {
		t.Errorf("time: %v", b["time"])
	}
	ev, _ := b["event"].(map[string]any)
	if fields, _ := ev["fields"].(map[string]any); fields["api hub"] != "/dns/gw/tcp/83/wss" {
		t.Errorf("event: %v", ev)
	}
	// The same line again within the cooldown (event time) stays quiet.
	appendFile(t, e.log, walletLine("2026-11-25T10:22:34.561+0800"))
	r.quiet(t, 500*time.Millisecond)
	stop()

	// Written while the daemon is down: read after the restart, once.
	appendFile(t, e.log, walletLine("2026-11-25T11:00:00.000+0800"))
	_, stop2 := e.start(t)
	got = r.wait(t, 1)
	if got[0]["time"] != "2026-11-25T11:00:00+08:00" {
		t.Errorf("after restart: %v", got[0])
	}
	r.quiet(t, 500*time.Millisecond)
	stop2()
	audit, err := os.ReadFile(filepath.Join(e.dir, "state", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(audit), `"outcome":"ok"`); n != 2 {
		t.Errorf("audit has %d ok records, want 2:\n%s", n, audit)
	}
}

// TestReload changes the rules while the daemon runs: a valid change takes
// effect and keeps state; a broken file is reported with its position and
// the previous rules keep running.
func TestReload(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	r := newReceiver(t)
	e := newEnv(t, r.URL)
	_, _ = e.start(t)

	// A broken edit: reported, old rules still fire.
	writeFile(t, filepath.Join(e.rules, "wallet.yaml"), walletRules+"    cooldwn: 1m\n")
	waitFor(t, func() bool { return strings.Contains(e.logText(), "reload failed") })
	if !strings.Contains(e.logText(), "wallet.yaml:9:5: unknown field") {
		t.Errorf("reload error lacks the position:\n%s", e.logText())
	}
	appendFile(t, e.log, walletLine("2026-11-25T10:21:34.561+0800"))
	r.wait(t, 1)

	// A valid edit saved the way editors do (write a temp file, rename it over).
	tmp := filepath.Join(e.rules, ".wallet.yaml.swp")
	writeFile(t, tmp, walletRules+`  - name: wallet-listener-quit
    source: venus-wallet
    when: msg startsWith "listenWalletRequestOnce quit"
    actions: [ops]
`)
	if err := os.Rename(tmp, filepath.Join(e.rules, "wallet.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(e.logText(), "rules reloaded") })
	appendFile(t, e.log, "2026-11-25T10:21:35.562+0800\tWARN\twallet_event\twalletevent/wallet_client.go:75\tlistenWalletRequestOnce quit, try again\t{\"api hub\": \"/dns/gw/tcp/83/wss\"}\n")
	// The cooldown of the first rule survived the reload.
	appendFile(t, e.log, walletLine("2026-11-25T10:21:36.561+0800"))
	got := r.wait(t, 1)
	if got[0]["rule"] != "wallet-listener-quit" {
		t.Errorf("got %v", got[0])
	}
	r.quiet(t, 500*time.Millisecond)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConfigErrors: every problem of a bad configuration is reported with
// its position, and the configuration is refused.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	writeFile(t, p, `state_dir: /tmp/x
sources:
  - name: a
    file: /tmp/a.log
    parser: nope
  - name: a
    command: [journalctl, -f]
    form: beginning
actions:
  ops:
    type: webhook
    url_file: /nonexistent/url
  bad:
    type: nope
  x:
    type: exec
    command: [echo]
    timeout: 5 minutes
`)
	cfg, err := LoadConfig(p)
	if cfg != nil {
		t.Fatal("a bad configuration was accepted")
	}
	got := strings.Join(sortedErrs(err), "\n")
	want := strings.Join([]string{
		p + `:3:5: source "a": unknown parser "nope" (known: golog, golog-json, tracing, logrus, logfmt, json, regex, auto)`,
		p + `:6:5: duplicate source name "a"`,
		p + `:8:5: unknown field "form"; did you mean "from"?`,
		p + `:12:5: url_file "/nonexistent/url": open /nonexistent/url: no such file or directory`,
		p + `:14:11: unknown action type "nope"; known types: ` + strings.Join(actions.Types(), ", "),
		p + `:18:14: bad duration "5 minutes": write a number and a unit, e.g. 30s, 10m, 2h, 1d`,
	}, "\n")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func sortedErrs(err error) []string {
	var out []string
	for _, e := range yamlconf.Sorted(err) {
		out = append(out, e.Error())
	}
	return out
}

// TestReloadSymlinkSwap: the rules directory is a symlink swapped to a new
// directory (the way configuration managers and Kubernetes deploy): the
// new rules take effect.
func TestReloadSymlinkSwap(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	r := newReceiver(t)
	e := newEnv(t, r.URL)
	v1 := filepath.Join(e.dir, "rules.v1")
	if err := os.Rename(e.rules, v1); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(v1, e.rules); err != nil {
		t.Fatal(err)
	}
	_, _ = e.start(t)

	v2 := filepath.Join(e.dir, "rules.v2")
	if err := os.Mkdir(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(v2, "wallet.yaml"), `rules:
  - name: wallet-listener-quit
    source: venus-wallet
    when: msg startsWith "listenWalletRequestOnce quit"
    actions: [ops]
`)
	tmp := filepath.Join(e.dir, "rules.d.new")
	if err := os.Symlink(v2, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.rules); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(e.logText(), "rules reloaded") })
	appendFile(t, e.log, walletLine("2026-11-25T10:21:34.561+0800"))
	appendFile(t, e.log, "2026-11-25T10:21:35.562+0800\tWARN\twallet_event\twalletevent/wallet_client.go:75\tlistenWalletRequestOnce quit\t{\"api hub\": \"/dns/gw/tcp/83/wss\"}\n")
	got := r.wait(t, 1)
	if got[0]["rule"] != "wallet-listener-quit" {
		t.Errorf("got %v: the old rules still run", got[0])
	}
	r.quiet(t, 300*time.Millisecond)
}

// TestBadInputKeepsGoing: invalid UTF-8, NUL bytes and a 5 MB line neither
// stop the daemon nor hide the lines after them; an unparsable line is
// still an event (level "", msg = the raw text).
func TestBadInputKeepsGoing(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	r := newReceiver(t)
	e := newEnv(t, r.URL)
	writeFile(t, filepath.Join(e.rules, "raw.yaml"), `rules:
  - name: raw-line
    source: venus-wallet
    when: level == "" && msg contains "garbage"
    summary: '{{ .msg }}'
    actions: [ops]
`)
	_, _ = e.start(t)
	appendFile(t, e.log, "\xff\xfe garbage \x00 here\n"+strings.Repeat("A", 5<<20)+"\n"+walletLine("2026-11-25T10:21:34.561+0800"))
	got := r.wait(t, 2)
	rules := map[string]map[string]any{}
	for _, b := range got {
		rules[b["rule"].(string)] = b
	}
	if rules["raw-line"] == nil || rules["wallet-password-not-set"] == nil {
		t.Fatalf("got %v", got)
	}
	if s := rules["raw-line"]["summary"].(string); !strings.Contains(s, "garbage") {
		t.Errorf("raw summary %q", s)
	}
}

// TestActionStateSurvivesRestart: systemd-restart's flap guard remembers
// a restart across a daemon restart, so a restart storm cannot come from
// restarting venus-medic.
func TestActionStateSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	systemctl := filepath.Join(dir, "systemctl")
	writeFile(t, systemctl, "#!/bin/sh\necho \"$@\" >> "+calls+"\n[ \"$1\" = is-active ] && echo active\nexit 0\n")
	if err := os.Chmod(systemctl, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "http://127.0.0.1:1/unused")
	writeFile(t, filepath.Join(e.rules, "wallet.yaml"), `rules:
  - name: wallet-crashed
    source: venus-wallet
    when: msg startsWith "panic:"
    actions: [restart]
`)
	writeFile(t, e.cfg, fmt.Sprintf(`state_dir: %s/state
rules: [%s]
sources:
  - name: venus-wallet
    file: %s
actions:
  restart:
    type: systemd-restart
    unit: venus-wallet
    systemctl: %s
    max: {count: 1, within: 1h}
    retries: 0
`, e.dir, e.rules, e.log, systemctl))
	_, stop := e.start(t)
	appendFile(t, e.log, "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n")
	audit := filepath.Join(e.dir, "state", "audit.jsonl")
	waitFor(t, func() bool { b, _ := os.ReadFile(audit); return strings.Contains(string(b), `"outcome":"ok"`) })
	stop()

	_, stop = e.start(t)
	appendFile(t, e.log, "2026-11-25T10:00:00.000+0800\tINFO\tmain\tcmd/rpc.go:78\tstart rpc server at [/ip4/0.0.0.0/tcp/5678/http] ...\npanic: boom again\n")
	waitFor(t, func() bool { b, _ := os.ReadFile(audit); return strings.Contains(string(b), "used up") })
	stop()
	b, _ := os.ReadFile(calls)
	if n := strings.Count(string(b), "restart venus-wallet"); n != 1 {
		t.Errorf("systemctl restart ran %d times, want 1:\n%s", n, b)
	}
}
