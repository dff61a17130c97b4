package actions

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
	fakewallet "github.com/venus-medic/venus-medic/internal/fakevenus/wallet"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

const walletPW = "c0rrect-h0rse-battery"

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// walletEnv is a fake wallet and a folder for the configuration and its files.
type walletEnv struct {
	t   *testing.T
	dir string
	srv *fakewallet.Server
	log *syncBuffer // the wallet's log
}

func newWalletEnv(t *testing.T, opts fakewallet.Options) *walletEnv {
	t.Helper()
	e := &walletEnv{t: t, dir: t.TempDir(), log: &syncBuffer{}}
	opts.Log = e.log
	srv, err := fakewallet.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e.srv = srv
	return e
}

// file writes name in the folder with mode and returns its path.
func (e *walletEnv) file(name, content string, mode os.FileMode) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// build builds the action whose configuration is yml, as a file in the folder.
func (e *walletEnv) build(yml string) (*Configured, error) {
	e.t.Helper()
	path := filepath.Join(e.dir, "venus-medic.yaml")
	n, err := yamlconf.Parse(path, []byte(yml))
	if err != nil {
		e.t.Fatal(err)
	}
	return Build(path, "wallet", n, hclog.NewNullLogger())
}

func (e *walletEnv) mustBuild(yml string) *Wallet {
	e.t.Helper()
	c, err := e.build(yml)
	if err != nil {
		e.t.Fatalf("build: %v", err)
	}
	return c.Action.(*Wallet)
}

// apiConfig is a configuration over the API with a raw token file and
// the password in pw.pass.
func (e *walletEnv) apiConfig(typ, pw string) string {
	e.file("pw.pass", pw+"\n", 0o600)
	e.file("wallet.token", e.srv.Token()+"\n", 0o644)
	return "type: " + typ + "\npassword_file: pw.pass\napi: " + e.srv.Multiaddr() + "\ntoken_file: wallet.token\n"
}

func run(t *testing.T, w *Wallet, timeout time.Duration) (string, bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return w.DoOutput(ctx, event.Firing{Rule: "wallet.password-not-set"})
}

func noSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows a secret %q: %s", where, s, text)
		}
	}
}

func TestWalletSetpwdFreshWallet(t *testing.T) {
	e := newWalletEnv(t, fakewallet.Options{Password: walletPW})
	w := e.mustBuild(e.apiConfig("wallet-setpwd", walletPW))
	e.srv.SignCycle()
	out, retry, err := run(t, w, 5*time.Second)
	if err != nil || retry {
		t.Fatalf("got retry=%v err=%v", retry, err)
	}
	if want := "wallet was locked (LockState=true); Unlock: done; LockState=false"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	if e.srv.Locked() || !e.srv.HasPassword() {
		t.Error("the wallet is not unlocked with a password")
	}
	if got := strings.Join(e.srv.Calls(), ","); got != "LockState,Unlock,LockState" {
		t.Errorf("calls %s", got)
	}
	log := e.log.String()
	if !strings.Contains(log, "WalletSign error password not set") || !strings.Contains(log, "connect to server success ") {
		t.Errorf("wallet log:\n%s", log)
	}
	noSecret(t, "wallet log", log, walletPW)
}

func TestWalletUnlockLockedWallet(t *testing.T) {
	e := newWalletEnv(t, fakewallet.Options{})
	w := e.mustBuild(e.apiConfig("wallet-setpwd", walletPW))
	if _, _, err := run(t, w, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	e.srv.LockNow()
	u := e.mustBuild(e.apiConfig("wallet-unlock", walletPW))
	out, retry, err := run(t, u, 5*time.Second)
	if err != nil || retry || e.srv.Locked() {
		t.Fatalf("got retry=%v err=%v locked=%v", retry, err, e.srv.Locked())
	}
	if !strings.HasSuffix(out, "LockState=false") {
		t.Errorf("output %q", out)
	}
}

func TestWalletAlreadyUnlocked(t *testing.T) {
	e := newWalletEnv(t, fakewallet.Options{})
	w := e.mustBuild(e.apiConfig("wallet-unlock", walletPW))
	// The first run sets the password: Unlock falls back to SetPassword.
	if _, _, err := run(t, w, 5*time.Second); err != nil || e.srv.Locked() {
		t.Fatalf("err=%v locked=%v", err, e.srv.Locked())
	}
	before := len(e.srv.Calls())
	out, retry, err := run(t, w, 5*time.Second)
	if err != nil || retry {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	if calls := e.srv.Calls()[before:]; len(calls) != 1 || calls[0] != "LockState" {
		t.Errorf("calls beyond LockState: %v", calls)
	}
	if want := "wallet was already unlocked (LockState=false); nothing to do"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

// TestWalletWrongPassword runs through the Dispatcher, as the daemon
// does: one attempt, no retry, and the password in no error, output, log
// line or audit record, even though the wallet quotes it in its refusal.
func TestWalletWrongPassword(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		setFirst   bool
	}{
		{"no password set yet", "could not decrypt key with given password", false},
		{"password set", "password mismatch", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newWalletEnv(t, fakewallet.Options{Password: "the-right-one", EchoPassword: true})
			if tc.setFirst {
				w := e.mustBuild(e.apiConfig("wallet-setpwd", "the-right-one"))
				if _, _, err := run(t, w, 5*time.Second); err != nil {
					t.Fatal(err)
				}
				e.srv.LockNow()
			}
			c, err := e.build(e.apiConfig("wallet-unlock", walletPW) + "retries: 3\n")
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})
			var mu sync.Mutex
			var recs []Record
			d := NewDispatcher(map[string]*Configured{"wallet": c}, logger, func(r Record) {
				mu.Lock()
				recs = append(recs, r)
				mu.Unlock()
			}, WithBackoff(time.Millisecond, 10*time.Millisecond))
			d.Dispatch(event.Firing{ID: "f1", Rule: "wallet.password-not-set", Actions: []string{"wallet"}})
			if err := d.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(recs) != 1 {
				t.Fatalf("records: %+v", recs)
			}
			r := recs[0]
			if r.Outcome != OutcomeFailed || r.Attempts != 1 {
				t.Errorf("outcome %s after %d attempts, want failed after 1", r.Outcome, r.Attempts)
			}
			if !strings.Contains(r.Err, tc.want) || !strings.Contains(r.Err, "not the wallet's") {
				t.Errorf("error %q lacks %q", r.Err, tc.want)
			}
			noSecret(t, "error", r.Err, walletPW)
			noSecret(t, "output", r.Output, walletPW)
			noSecret(t, "daemon log", logs.String(), walletPW)
			if !e.srv.Locked() {
				t.Error("unlocked with a wrong password")
			}
		})
	}
}

func TestWalletBadToken(t *testing.T) {
	e := newWalletEnv(t, fakewallet.Options{})
	yml := e.apiConfig("wallet-unlock", walletPW)
	e.file("wallet.token", "eyJhbGciOiJIUzI1NiJ9.e30.bm90LXRoZS13YWxsZXRz\n", 0o600)
	w := e.mustBuild(yml)
	_, retry, err := run(t, w, 5*time.Second)
	if err == nil || retry {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "token") {
		t.Errorf("error %v", err)
	}
	noSecret(t, "error", err.Error(), "bm90LXRoZS13YWxsZXRz", walletPW)
}

func TestWalletHangs(t *testing.T) {
	e := newWalletEnv(t, fakewallet.Options{})
	e.srv.SetHang(true)
	w := e.mustBuild(e.apiConfig("wallet-setpwd", walletPW))
	start := time.Now()
	_, retry, err := run(t, w, 300*time.Millisecond)
	if err == nil || !retry {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if !strings.Contains(err.Error(), "no answer in time") {
		t.Errorf("error %v", err)
	}
}

func TestWalletUnreachable(t *testing.T) {
	e := newWalletEnv(t, fakewallet.Options{})
	yml := e.apiConfig("wallet-setpwd", walletPW)
	e.srv.Close()
	_, retry, err := run(t, e.mustBuild(yml), 5*time.Second)
	if err == nil || !retry || !strings.Contains(err.Error(), "cannot reach the wallet") {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
}

func TestWalletPasswordFileMode(t *testing.T) {
	e := newWalletEnv(t, fakewallet.Options{})
	yml := e.apiConfig("wallet-setpwd", walletPW)
	p := e.file("pw.pass", walletPW+"\n", 0o644)
	_, err := e.build(yml)
	want := filepath.Join(e.dir, "venus-medic.yaml") + `:2:1: password_file "pw.pass" has mode 0644: it must be readable by its owner only (0600 or 0400); run chmod 600 ` + p
	if got := errorLines(err); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	e.file("pw.pass", walletPW+"\n", 0o400)
	if _, err := e.build(yml); err != nil {
		t.Errorf("0400: %v", err)
	}
	// The mode is checked again at every run.
	w := e.mustBuild(yml)
	os.Chmod(p, 0o640)
	if _, retry, err := run(t, w, 5*time.Second); err == nil || retry || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("run with 0640: retry=%v err=%v", retry, err)
	}
}

func TestWalletCredential(t *testing.T) {
	e := newWalletEnv(t, fakewallet.Options{})
	e.file("wallet.token", e.srv.Token(), 0o600)
	yml := "type: wallet-setpwd\ncredential: wallet-pass\napi: " + e.srv.URL() + "\ntoken_file: wallet.token\n"

	t.Setenv("CREDENTIALS_DIRECTORY", "")
	os.Unsetenv("CREDENTIALS_DIRECTORY")
	w := e.mustBuild(yml) // outside systemd, check cannot know
	_, retry, err := run(t, w, 5*time.Second)
	if err == nil || retry || !strings.Contains(err.Error(), `credential "wallet-pass": $CREDENTIALS_DIRECTORY is not set`) {
		t.Fatalf("retry=%v err=%v", retry, err)
	}

	creds := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	_, err = e.build(yml)
	if got := errorLines(err); !strings.Contains(got, `:2:13: credential "wallet-pass": no such file in $CREDENTIALS_DIRECTORY`) || !strings.Contains(got, "LoadCredential=wallet-pass:") {
		t.Errorf("build: %s", got)
	}
	_, retry, err = run(t, w, 5*time.Second)
	if err == nil || retry || !strings.Contains(err.Error(), "LoadCredential=wallet-pass:") {
		t.Errorf("run: retry=%v err=%v", retry, err)
	}

	if err := os.WriteFile(filepath.Join(creds, "wallet-pass"), []byte(walletPW+"\r\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, e.mustBuild(yml), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The trailing CRLF was removed: the password set is the one unlocked with.
	e.srv.LockNow()
	e.file("pw.pass", walletPW, 0o600)
	if _, _, err := run(t, e.mustBuild(e.apiConfig("wallet-unlock", walletPW)), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestWalletTokenFileHexAndRaw(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"raw", "%s"}, {"raw with newline", "%s\n"}, {"hex", "hex"}, {"hex with newline", "hex\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newWalletEnv(t, fakewallet.Options{})
			yml := e.apiConfig("wallet-setpwd", walletPW)
			tok := e.srv.Token()
			content := strings.Replace(tc.content, "%s", tok, 1)
			if strings.HasPrefix(tc.content, "hex") {
				content = strings.Replace(tc.content, "hex", hex.EncodeToString([]byte(tok)), 1)
			}
			e.file("wallet.token", content, 0o600)
			if _, _, err := run(t, e.mustBuild(yml), 5*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWalletRepo(t *testing.T) {
	e := newWalletEnv(t, fakewallet.Options{})
	repo := filepath.Join(e.dir, "venus_wallet")
	if err := e.srv.WriteRepo(repo); err != nil {
		t.Fatal(err)
	}
	e.file("pw.pass", walletPW, 0o600)
	w := e.mustBuild("type: wallet-setpwd\npassword_file: pw.pass\nrepo: venus_wallet\n")
	if w.String() != "wallet-setpwd "+e.srv.URL() {
		t.Errorf("String() = %q", w.String())
	}
	out, _, err := run(t, w, 5*time.Second)
	if err != nil || e.srv.Locked() {
		t.Fatalf("err=%v locked=%v", err, e.srv.Locked())
	}
	noSecret(t, "output", out, walletPW, e.srv.Token())
}

func TestWalletURL(t *testing.T) {
	for in, want := range map[string]string{
		"/ip4/127.0.0.1/tcp/5678/http": "http://127.0.0.1:5678/rpc/v0",
		"/ip4/127.0.0.1/tcp/5678":      "http://127.0.0.1:5678/rpc/v0",
		"/ip6/::1/tcp/5678/http":       "http://[::1]:5678/rpc/v0",
		"/dns/wallet/tcp/5678/https":   "https://wallet:5678/rpc/v0",
		"http://127.0.0.1:5678/rpc/v0": "http://127.0.0.1:5678/rpc/v0",
		"http://127.0.0.1:5678":        "http://127.0.0.1:5678/rpc/v0",
		"ws://127.0.0.1:5678/rpc/v0":   "http://127.0.0.1:5678/rpc/v0",
		"/ip4/127.0.0.1/udp/5678/http": "",
		"/unix/tmp/sock":               "",
		"127.0.0.1:5678":               "",
		"http://u:p@127.0.0.1:5678":    "",
	} {
		got, err := walletURL(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("walletURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// buildFakeCLI builds the fake venus-wallet binary.
func buildFakeCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "venus-wallet")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/venus-medic/venus-medic/internal/fakevenus/wallet/cmd/venus-wallet")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestWalletCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the fake CLI")
	}
	bin := buildFakeCLI(t)
	e := newWalletEnv(t, fakewallet.Options{Password: walletPW, EchoPassword: true})
	repo := filepath.Join(e.dir, "venus_wallet")
	if err := e.srv.WriteRepo(repo); err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(e.dir, "dump")
	t.Setenv("FAKE_VENUS_WALLET_DUMP", dump)
	e.file("pw.pass", walletPW+"\n", 0o600)
	cfg := func(typ string) string {
		return "type: " + typ + "\npassword_file: pw.pass\ncli: " + bin + "\nrepo: venus_wallet\n"
	}

	out, retry, err := run(t, e.mustBuild(cfg("wallet-setpwd")), 10*time.Second)
	if err != nil || retry {
		t.Fatalf("setpwd: retry=%v err=%v", retry, err)
	}
	want := "wallet was locked (wallet state: locked); setpwd: Password set successfully; wallet state: unlocked"
	if out != want || e.srv.Locked() {
		t.Errorf("setpwd output %q, want %q (locked=%v)", out, want, e.srv.Locked())
	}
	if got := strings.Join(e.srv.Calls(), ","); got != "LockState,SetPassword,LockState" {
		t.Errorf("calls %s", got)
	}

	// Locked with a password: setpwd answers "the password already exists",
	// then unlock.
	e.srv.LockNow()
	out, _, err = run(t, e.mustBuild(cfg("wallet-setpwd")), 10*time.Second)
	if err != nil || e.srv.Locked() || !strings.Contains(out, "setpwd: the password already exists; unlock: wallet unlock successfully") {
		t.Errorf("setpwd on a locked wallet: %q, %v", out, err)
	}
	e.srv.LockNow()
	if out, _, err = run(t, e.mustBuild(cfg("wallet-unlock")), 10*time.Second); err != nil || e.srv.Locked() {
		t.Errorf("unlock: %q, %v", out, err)
	}

	// A wrong password: the CLI prints the wallet's refusal, which quotes
	// the password; the action's error does not.
	e.srv.LockNow()
	e.file("pw.pass", "wr0ng\"pässw0rd\tx\n", 0o600)
	out, retry, err = run(t, e.mustBuild(cfg("wallet-unlock")), 10*time.Second)
	if err == nil || retry || !strings.Contains(err.Error(), "password mismatch") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("wrong password: retry=%v err=%v", retry, err)
	}
	noSecret(t, "error", err.Error(), "wr0ng\"pässw0rd\tx", "pässw0rd")
	noSecret(t, "output", out, "wr0ng\"pässw0rd\tx")

	// The password never reached the CLI's arguments or environment.
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "argv\x00"); n < 8 {
		t.Errorf("%d CLI runs recorded, want at least 8", n)
	}
	if !strings.Contains(string(b), "\x00--repo\x00"+repo+"\x00setpwd\x00") {
		t.Errorf("argv lacks --repo: %q", b)
	}
	noSecret(t, "CLI argv/env", string(b), walletPW, "wr0ng\"pässw0rd\tx")
}

// TestWalletCLIWhileWaiting looks at the fake CLI's /proc entries while
// it waits for the wallet's answer to SetPassword, the password read:
// it is in neither argv nor the environment. The wallet never answers,
// so the attempt times out, worth a retry.
func TestWalletCLIWhileWaiting(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the fake CLI")
	}
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("no /proc")
	}
	bin := buildFakeCLI(t)
	e := newWalletEnv(t, fakewallet.Options{})
	if err := e.srv.WriteRepo(filepath.Join(e.dir, "venus_wallet")); err != nil {
		t.Fatal(err)
	}
	e.srv.SetHangOn("SetPassword")
	e.file("pw.pass", walletPW, 0o600)
	w := e.mustBuild("type: wallet-setpwd\npassword_file: pw.pass\ncli: " + bin + "\nrepo: venus_wallet\n")
	type result struct {
		retry bool
		err   error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		_, retry, err := run(t, w, 3*time.Second)
		done <- result{retry, err}
	}()
	seen := false
	for !seen && time.Since(start) < 2500*time.Millisecond {
		ents, _ := os.ReadDir("/proc")
		for _, ent := range ents {
			cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
			if err != nil || !bytes.HasPrefix(cmdline, []byte(bin+"\x00")) || !bytes.Contains(cmdline, []byte("\x00setpwd\x00")) {
				continue
			}
			environ, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "environ"))
			if err != nil {
				t.Fatal(err)
			}
			noSecret(t, "CLI argv", string(cmdline), walletPW)
			noSecret(t, "CLI environment", string(environ), walletPW)
			seen = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !seen {
		t.Error("never saw the CLI running setpwd")
	}
	r := <-done
	if r.err == nil || !r.retry || !strings.Contains(r.err.Error(), "no answer in time") {
		t.Fatalf("retry=%v err=%v", r.retry, r.err)
	}
	noSecret(t, "error", r.err.Error(), walletPW)
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("took %v", d)
	}
}
