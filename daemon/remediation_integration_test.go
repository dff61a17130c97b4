package daemon

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/venus-medic/venus-medic/internal/fakevenus/wallet"
)

// remediationEnv runs the daemon on the log of a fake venus-wallet that
// speaks the real API: a rule sets the password when the wallet logs
// `WalletSign error password not set`, verifies that the wallet connected,
// and escalates otherwise.
type remediationEnv struct {
	*env
	wallet *wallet.Server
	recv   *receiver
}

func newRemediationEnv(t *testing.T, walletPassword, filePassword string) *remediationEnv {
	t.Helper()
	r := newReceiver(t)
	e := newEnv(t, r.URL)
	logf, err := os.OpenFile(e.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	w, err := wallet.Start(wallet.Options{Password: walletPassword, Log: logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	writeFile(t, filepath.Join(e.dir, "token"), w.Token()+"\n")
	pw := filepath.Join(e.dir, "wallet.pass")
	writeFile(t, pw, filePassword+"\n")
	if err := os.Chmod(pw, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.rules, "wallet.yaml"), `rules:
  - name: wallet-password-not-set
    source: venus-wallet
    when: msg contains "WalletSign error" && msg contains "password not set"
    severity: critical
    cooldown: 15m
    actions: [setpwd]
    verify:
      within: 2s
      present: msg startsWith "connect to server"
      on_failure: [ops]
      on_success: [ops]
    budget: {count: 1, within: 1h}
    escalate: [ops]
`)
	writeFile(t, e.cfg, fmt.Sprintf(`state_dir: %s/state
rules: [%s]
host: miner-01
sources:
  - name: venus-wallet
    file: %s
    parser: golog
actions:
  setpwd:
    type: wallet-setpwd
    api: %s
    token_file: %s/token
    password_file: %s
    retries: 0
    timeout: 5s
  ops:
    type: webhook
    url: %s
    retries: 0
`, e.dir, e.rules, e.log, w.URL(), e.dir, pw, r.URL))
	return &remediationEnv{env: e, wallet: w, recv: r}
}

func count(calls []string, m string) int {
	n := 0
	for _, c := range calls {
		if strings.Contains(c, m) {
			n++
		}
	}
	return n
}

// TestRemediationSetsPassword: the wallet restarted without its password;
// venus-medic sets it once, the wallet connects, the verification holds and
// exactly one notification says "remediated", and a restart of venus-medic
// does not set the password again.
func TestRemediationSetsPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	e := newRemediationEnv(t, "correct horse", "correct horse")
	_, stop := e.start(t)
	e.wallet.SignCycle()
	got := e.recv.wait(t, 1)
	if s, _ := got[0]["summary"].(string); got[0]["rule"] != "wallet-password-not-set" || !strings.HasPrefix(s, "remediated: ") {
		t.Fatalf("got %v", got[0])
	}
	if e.wallet.Locked() {
		t.Error("the wallet is still locked")
	}
	// Exactly one notification: no escalation after the window.
	e.recv.quiet(t, 3*time.Second)
	stop()

	_, stop = e.start(t)
	e.wallet.SignCycle() // unlocked: the wallet logs nothing more
	e.recv.quiet(t, time.Second)
	stop()
	if n := count(e.wallet.Calls(), "Unlock"); n != 1 {
		t.Errorf("Unlock called %d times, want 1: %v", n, e.wallet.Calls())
	}
	audit, _ := os.ReadFile(filepath.Join(e.dir, "state", "audit.jsonl"))
	if !auditHas(string(audit), "setpwd", "ok", 1) {
		t.Errorf("audit:\n%s", audit)
	}
	if strings.Contains(string(audit), "correct horse") || strings.Contains(e.logText(), "correct horse") {
		t.Error("the password leaked into the audit or the log")
	}
}

// TestRemediationWrongPasswordEscalates: the password file holds a wrong
// password; the attempt fails, the verification fails and escalates with
// the evidence, and nothing is attempted again.
func TestRemediationWrongPasswordEscalates(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	e := newRemediationEnv(t, "correct horse", "wrong pony")
	_, stop := e.start(t)
	e.wallet.SignCycle()
	esc := e.recv.wait(t, 1)[0]
	if s, _ := esc["summary"].(string); !strings.HasPrefix(s, "verification failed: ") {
		t.Errorf("escalation summary %q", esc["summary"])
	}
	// The wallet keeps failing: suppressed by the cooldown, no new attempt.
	e.wallet.SignCycle()
	e.recv.quiet(t, time.Second)
	stop()
	if n := count(e.wallet.Calls(), "Unlock"); n != 1 {
		t.Errorf("Unlock called %d times, want 1: %v", n, e.wallet.Calls())
	}
	audit, _ := os.ReadFile(filepath.Join(e.dir, "state", "audit.jsonl"))
	if !auditHas(string(audit), "setpwd", "failed", 1) {
		t.Errorf("audit:\n%s", audit)
	}
	if strings.Contains(string(audit), "wrong pony") || strings.Contains(e.logText(), "wrong pony") {
		t.Error("the password leaked into the audit or the log")
	}
}

// buildFakeProving builds the fake venus-sealer/damocles-manager (it acts
// as the tool its file is named after) into dir.
func buildFakeProving(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, "../internal/fakevenus/sealer/cmd/fake-proving").CombinedOutput(); err != nil {
		t.Fatalf("build fake: %v\n%s", err, out)
	}
	return bin
}

// provingEnv runs the daemon on a damocles-manager log with a fake
// damocles-manager whose deadline 9 has sector 1001 bad, the given rules,
// and a proving-check action `check` (with then, when not empty) beside
// the webhook `ops`. It returns the log to append to.
func provingEnv(t *testing.T, r *receiver, rules, then string) string {
	t.Helper()
	e := newEnv(t, r.URL)
	bin := buildFakeProving(t, e.dir, "damocles-manager")
	scenario := filepath.Join(e.dir, "scenario.json")
	writeFile(t, scenario, `{"miner": "f01234", "deadlines": {"9": [{"sectors": [1000, 1001, 1002], "bad": {"1001": "stat object sealed/s-t01234-1001 for sealed file: no such file or directory"}}]}}`)
	t.Setenv("FAKE_PROVING_SCENARIO", scenario)
	writeFile(t, filepath.Join(e.rules, "wallet.yaml"), rules)
	if then != "" {
		then = "    then: " + then + "\n"
	}
	logf := filepath.Join(e.dir, "manager.log")
	writeFile(t, e.cfg, fmt.Sprintf(`state_dir: %s/state
rules: [%s]
sources:
  - name: damocles-manager
    file: %s
actions:
  check:
    type: proving-check
    tool: damocles-manager
    binary: %s
    miner: '{{ field "mid" }}'
    deadline: '{{ field "decl-index" }}'
    retries: 0
%s  ops:
    type: webhook
    url: %s
    retries: 0
`, e.dir, e.rules, logf, bin, then, r.URL))
	_, _ = e.start(t)
	return logf
}

const faultyRule = `rules:
  - name: damocles-wdpost-faulty-sectors
    source: damocles-manager
    when: msg contains "DETECTED FAULTY SECTORS"
    severity: critical
    summary: 'miner {{ .fields.mid }}: faulty sectors for deadline {{ field "decl-index" }}'
    actions: [check]
`

const faultyLine = "2024-03-05T10:41:05.123+0800\tERROR\tposter\tposter/runner.go:780\tDETECTED FAULTY SECTORS, declaring faults\t{\"mid\": \"1234\", \"ddl-idx\": 7, \"decl-index\": 9, \"stage\": \"check-faults\", \"count\": 1}\n"

// TestProvingCheckThenNotify: a damocles-manager WindowPoSt fault line
// names a deadline; venus-medic runs the proving check for that deadline
// (a fake damocles-manager with the real output format) and the
// notification that follows lists the bad sectors.
func TestProvingCheckThenNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	r := newReceiver(t)
	appendFile(t, provingEnv(t, r, faultyRule, "[ops]"), faultyLine)
	b := r.wait(t, 1)[0]
	s, _ := b["summary"].(string)
	if !strings.HasPrefix(s, "miner 1234: faulty sectors for deadline 9\ncheck: deadline 9: 1 bad sector") || !strings.Contains(s, "1001 (stat object") {
		t.Errorf("summary %q", s)
	}
	res, _ := b["results"].(map[string]any)
	check, _ := res["check"].(map[string]any)
	if check["bad_count"] != float64(1) || check["deadline"] != float64(9) {
		t.Errorf("results %v", b["results"])
	}
}

// TestActionOutcomeFeedsRules: what an action found is an event for later
// rules: a rule on the proving check's result (source venus-medic) fires
// when it found bad sectors.
func TestActionOutcomeFeedsRules(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	r := newReceiver(t)
	logf := provingEnv(t, r, faultyRule+`  - name: bad-sectors-found
    source: venus-medic
    when: fields.action == "check" && fields.result.bad_count > 0
    summary: '{{ .fields.result.bad_count }} bad sectors in deadline {{ .fields.result.deadline }}'
    actions: [ops]
`, "")
	appendFile(t, logf, faultyLine)
	b := r.wait(t, 1)[0]
	if b["rule"] != "bad-sectors-found" || b["summary"] != "1 bad sectors in deadline 9" || b["source"] != "venus-medic" {
		t.Errorf("got %v", b)
	}
	r.quiet(t, 500*time.Millisecond)
}

// TestProbeFaults: a probe runs `proving faults` every interval; a rule
// alerts when the count is above zero.
func TestProbeFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	r := newReceiver(t)
	e := newEnv(t, r.URL)
	bin := buildFakeProving(t, e.dir, "venus-sealer")
	scenario := filepath.Join(e.dir, "scenario.json")
	writeFile(t, scenario, `{"miner": "f01234", "deadlines": {"7": [{"sectors": [1000, 1001], "bad": {"1001": "gone"}}]}}`)
	t.Setenv("FAKE_PROVING_SCENARIO", scenario)
	writeFile(t, filepath.Join(e.rules, "wallet.yaml"), `rules:
  - name: proving-faults
    source: proving-faults
    when: fields.faults > 0
    severity: warning
    summary: '{{ field "faults" }} faulty sectors on {{ field "miner" }}: {{ field "sectors" }}'
    cooldown: 1h
    actions: [ops]
`)
	writeFile(t, e.cfg, fmt.Sprintf(`state_dir: %s/state
rules: [%s]
sources:
  - name: proving-faults
    probe: {every: 30m, command: [%s, proving, faults], parse: proving-faults}
actions:
  ops:
    type: webhook
    url: %s
    retries: 0
`, e.dir, e.rules, bin, r.URL))
	_, _ = e.start(t)
	b := r.wait(t, 1)[0]
	if b["summary"] != "1 faulty sectors on f01234: [1001]" {
		t.Errorf("summary %q", b["summary"])
	}
}

// TestListenerLoopThresholdAndCooldown (seed case 3): five `restarting
// listenWalletRequestOnce` within ten minutes for one api hub give one
// alert; a sixth inside the cooldown gives none; another hub is counted
// apart.
func TestListenerLoopThresholdAndCooldown(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	r := newReceiver(t)
	e := newEnv(t, r.URL)
	writeFile(t, filepath.Join(e.rules, "wallet.yaml"), `rules:
  - name: wallet-listener-restart-loop
    source: venus-wallet
    when: msg == "restarting listenWalletRequestOnce"
    threshold: {count: 5, within: 10m, by: 'fields["api hub"]'}
    cooldown: 30m
    summary: 'wallet keeps reconnecting to {{ field "api hub" }}'
    actions: [ops]
`)
	_, _ = e.start(t)
	line := func(ts, hub string) string {
		return ts + "\tINFO\twallet_event\twalletevent/wallet_client.go:83\trestarting listenWalletRequestOnce\t{\"api hub\": \"" + hub + "\"}\n"
	}
	var b strings.Builder
	for i := 0; i < 5; i++ {
		b.WriteString(line(fmt.Sprintf("2026-11-25T10:0%d:00.000+0800", 2*i), "/dns/gw1/tcp/83/wss"))
	}
	b.WriteString(line("2026-11-25T10:09:30.000+0800", "/dns/gw1/tcp/83/wss")) // inside the cooldown
	for i := 0; i < 4; i++ {
		b.WriteString(line(fmt.Sprintf("2026-11-25T10:0%d:10.000+0800", i), "/dns/gw2/tcp/83/wss")) // four only
	}
	appendFile(t, e.log, b.String())
	got := r.wait(t, 1)
	if got[0]["summary"] != "wallet keeps reconnecting to /dns/gw1/tcp/83/wss" || got[0]["time"] != "2026-11-25T10:08:00+08:00" {
		t.Errorf("got %v", got[0])
	}
	r.quiet(t, time.Second)
}

// auditHas reports whether audit.jsonl has a record of action with that
// outcome and number of attempts.
func auditHas(audit, action, outcome string, attempts int) bool {
	for _, l := range strings.Split(audit, "\n") {
		var r struct {
			Action, Outcome string
			Attempts        int
		}
		if json.Unmarshal([]byte(l), &r) == nil && r.Action == action && r.Outcome == outcome && r.Attempts == attempts {
			return true
		}
	}
	return false
}

// TestProbeWalletLockState: an rpc probe asks the (fake) wallet for
// Filecoin.LockState with the hex-encoded admin token of its config.toml;
// a rule alerts while it is locked.
func TestProbeWalletLockState(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	r := newReceiver(t)
	e := newEnv(t, r.URL)
	w, err := wallet.Start(wallet.Options{Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeFile(t, filepath.Join(e.dir, "token.hex"), hex.EncodeToString([]byte(w.Token()))+"\n")
	writeFile(t, filepath.Join(e.rules, "wallet.yaml"), `rules:
  - name: wallet-locked
    source: wallet-api
    when: fields.result == true
    summary: 'venus-wallet is locked'
    cooldown: 1h
    actions: [ops]
`)
	writeFile(t, e.cfg, fmt.Sprintf(`state_dir: %s/state
rules: [%s]
sources:
  - name: wallet-api
    probe: {every: 1h, rpc: {url: %s, method: Filecoin.LockState, token_file: token.hex}}
actions:
  ops:
    type: webhook
    url: %s
    retries: 0
`, e.dir, e.rules, w.URL(), r.URL))
	_, _ = e.start(t)
	if b := r.wait(t, 1)[0]; b["summary"] != "venus-wallet is locked" {
		t.Errorf("got %v", b)
	}
	if strings.Contains(e.logText(), w.Token()) {
		t.Error("the token leaked into the log")
	}
}
