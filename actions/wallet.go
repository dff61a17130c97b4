package actions

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/filecoin-project/go-jsonrpc"
	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// walletConfig is the configuration of a wallet-setpwd or wallet-unlock
// action (SPEC §3).
type walletConfig struct {
	Common `yaml:",inline"`
	// The password: one of these.
	PasswordFile string `yaml:"password_file"`
	Credential   string `yaml:"credential"`
	// The wallet: api with token_file, or repo, or cli (with an optional
	// repo it passes on as --repo).
	API       string `yaml:"api"`
	TokenFile string `yaml:"token_file"`
	Repo      string `yaml:"repo"`
	CLI       string `yaml:"cli"`
}

// Wallet sets or unlocks venus-wallet's password (VENUS.md §4). Over the
// wallet's JSON-RPC API it calls LockState and, when the wallet is locked,
// Unlock with the password (which sets it when none is set: the state
// after a wallet restart); `wallet already unlocked` and `the password
// already exists` count as success, and LockState must then be false.
// wallet-setpwd also calls SetPassword when an older wallet answers
// Unlock with `password not set`. With cli it runs the venus-wallet
// binary instead and answers its prompts on stdin.
//
// The password is read at every run, from a file readable only by its
// owner (the daemon's user or root) or from a systemd credential. It is
// never in an argument, the environment, an error, the output or a log
// line: every text that leaves the action is scrubbed of it.
type Wallet struct {
	typ     string // wallet-setpwd or wallet-unlock
	pwFile  string // resolved password_file, or ""
	cred    string // credential name, or ""
	api     string // endpoint URL (from api), or ""
	token   string // resolved token_file, or ""
	repo    string // resolved repo directory, or ""
	cli     string // the venus-wallet binary, or ""
	shown   string // how messages name the wallet
	client  *http.Client
	log     hclog.Logger
	timeout time.Duration
}

func newWalletSetpwd(s *spec) (Action, error) { return newWallet(s, "wallet-setpwd") }
func newWalletUnlock(s *spec) (Action, error) { return newWallet(s, "wallet-unlock") }

func newWallet(s *spec, typ string) (Action, error) {
	var c walletConfig
	if err := s.decode(&c); err != nil {
		return nil, err
	}
	w, err := c.validate(s, typ)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// validate checks the configuration: one password source (a password
// file's permissions are checked here, so `check` reports them; a
// credential is checked when $CREDENTIALS_DIRECTORY is set), one way to
// reach the wallet, a readable token and config.toml.
func (c *walletConfig) validate(s *spec, typ string) (*Wallet, error) {
	var errs []error
	timeout := c.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	w := &Wallet{typ: typ, log: s.log.With("action", s.name), timeout: timeout,
		client: &http.Client{Timeout: timeout}}

	switch {
	case c.PasswordFile == "" && c.Credential == "":
		errs = append(errs, s.errAt(s.node, "%s %q needs password_file (a file readable only by its owner, mode 0600) or credential (a systemd LoadCredential= name)", typ, s.name))
	case c.PasswordFile != "" && c.Credential != "":
		errs = append(errs, s.errAt(s.keyNode("credential"), "use password_file or credential, not both"))
	case c.PasswordFile != "":
		w.pwFile = s.path(c.PasswordFile)
		if err := checkPasswordFile(c.PasswordFile, w.pwFile); err != nil {
			errs = append(errs, s.errAt(s.keyNode("password_file"), "password_file %v", err))
		}
	default:
		w.cred = c.Credential
		if err := checkCredentialName(c.Credential); err != nil {
			errs = append(errs, s.errAt(s.value("credential"), "credential %q: %v", c.Credential, err))
		} else if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
			if _, err := os.Stat(filepath.Join(dir, c.Credential)); err != nil {
				errs = append(errs, s.errAt(s.value("credential"), "credential %q: no such file in $CREDENTIALS_DIRECTORY (%s): add LoadCredential=%s:/etc/venus-medic/wallet.pass to the unit", c.Credential, dir, c.Credential))
			}
		}
	}

	switch {
	case c.API == "" && c.Repo == "" && c.CLI == "":
		errs = append(errs, s.errAt(s.node, "%s %q needs the wallet: api (e.g. /ip4/127.0.0.1/tcp/5678/http) with token_file, or repo (e.g. ~/.venus_wallet), or cli (the venus-wallet binary)", typ, s.name))
	case c.API != "" && c.Repo != "":
		errs = append(errs, s.errAt(s.keyNode("repo"), "use api with token_file, or repo, not both"))
	case c.API != "" && c.CLI != "":
		errs = append(errs, s.errAt(s.keyNode("cli"), "use api or cli, not both"))
	case c.API != "":
		u, err := walletURL(c.API)
		if err != nil {
			errs = append(errs, s.errAt(s.value("api"), "api %q: %v", c.API, err))
		}
		w.api, w.shown = u, u
		if c.TokenFile == "" {
			errs = append(errs, s.errAt(s.keyNode("api"), "api needs token_file: a file with the wallet's admin token (the JWT, or hex-encoded as in config.toml [JWT] Token)"))
		} else if _, err := s.readSecret("token_file", c.TokenFile); err != nil {
			errs = append(errs, err)
		} else {
			w.token = s.path(c.TokenFile)
		}
	case c.TokenFile != "":
		errs = append(errs, s.errAt(s.keyNode("token_file"), "token_file goes with api; repo reads the token from its config.toml"))
	}
	if c.Repo != "" && c.API == "" {
		w.repo = s.path(expandHome(c.Repo))
		if c.CLI == "" {
			u, _, err := readWalletRepo(w.repo)
			if err != nil {
				errs = append(errs, s.errAt(s.value("repo"), "repo %q: %v", c.Repo, err))
			}
			w.shown = u
		}
	}
	if c.CLI != "" && c.API == "" {
		w.cli = c.CLI
		w.shown = c.CLI
		if strings.TrimSpace(c.CLI) == "" || strings.Contains(c.CLI, "{{") {
			errs = append(errs, s.errAt(s.value("cli"), "cli must be the path of the venus-wallet binary"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return w, nil
}

// checkPasswordFile refuses a password file that others may read or that
// belongs to someone else than the daemon's user or root. The error
// starts with the file's name and says how to fix it.
func checkPasswordFile(shown, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%q: %v", shown, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%q is not a regular file", shown)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 && perm != 0o400 {
		return fmt.Errorf("%q has mode %04o: it must be readable by its owner only (0600 or 0400); run chmod 600 %s", shown, perm, path)
	}
	if uid, ok := fileOwner(fi); ok && uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("%q belongs to uid %d, not to venus-medic's user (uid %d) or root; run chown %d %s", shown, uid, os.Geteuid(), os.Geteuid(), path)
	}
	return nil
}

func checkCredentialName(name string) error {
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || strings.TrimSpace(name) == "" {
		return errors.New("a credential name is a plain file name, as in LoadCredential=NAME:PATH")
	}
	return nil
}

// expandHome expands a leading ~/ to the daemon's home directory.
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok || p == "~" {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// walletURL turns api into the endpoint URL: a URL (http or https; the
// path defaults to /rpc/v0) or a multiaddr as in config.toml
// (/ip4/127.0.0.1/tcp/5678/http).
func walletURL(api string) (string, error) {
	if strings.HasPrefix(api, "/") {
		return multiaddrURL(api)
	}
	u, err := url.Parse(api)
	if err != nil || u.Host == "" {
		return "", errors.New("not a URL (http://127.0.0.1:5678/rpc/v0) or a multiaddr (/ip4/127.0.0.1/tcp/5678/http)")
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("scheme %q: use http", u.Scheme)
	}
	if u.User != nil || u.RawQuery != "" {
		return "", errors.New("the token goes in token_file, not in the URL")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/rpc/v0"
	}
	return u.String(), nil
}

func multiaddrURL(ma string) (string, error) {
	p := strings.Split(strings.Trim(ma, "/"), "/")
	bad := errors.New("not a multiaddr like /ip4/127.0.0.1/tcp/5678/http")
	if len(p) < 4 || len(p) > 5 || p[2] != "tcp" || p[1] == "" {
		return "", bad
	}
	host := p[1]
	switch p[0] {
	case "ip4", "dns", "dns4", "dns6":
	case "ip6":
		host = "[" + host + "]"
	default:
		return "", bad
	}
	scheme := "http"
	if len(p) == 5 {
		switch p[4] {
		case "http", "ws":
		case "https", "wss":
			scheme = "https"
		default:
			return "", bad
		}
	}
	if !isDigits(p[3]) {
		return "", bad
	}
	return scheme + "://" + host + ":" + p[3] + "/rpc/v0", nil
}

// decodeToken returns the JWT in a token file: hex-encoded as in
// config.toml [JWT] Token, or as is (a JWT has dots, never all hex).
func decodeToken(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && len(s)%2 == 0 {
		if b, err := hex.DecodeString(s); err == nil {
			return string(b)
		}
	}
	return s
}

// readWalletRepo reads the endpoint and token from a venus-wallet repo's
// config.toml: [API] ListenAddress (a multiaddr) and [JWT] Token
// (hex-encoded). Only these two keys are read, with a reader of TOML's
// plain `key = "value"` lines.
func readWalletRepo(dir string) (endpoint, token string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.toml"))
	if err != nil {
		return "", "", err
	}
	section := ""
	var addr string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.TrimSpace(strings.Trim(line, "[]"))
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if i := strings.Index(v, "#"); i >= 0 && !strings.HasPrefix(v, `"`) {
			v = strings.TrimSpace(v[:i])
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
			if j := strings.IndexByte(v[1:], v[0]); j >= 0 {
				v = v[1 : 1+j]
			}
		}
		switch {
		case section == "API" && k == "ListenAddress":
			addr = v
		case section == "JWT" && k == "Token":
			token = decodeToken(v)
		}
	}
	if addr == "" {
		return "", "", errors.New("config.toml has no [API] ListenAddress")
	}
	if endpoint, err = walletURL(addr); err != nil {
		return "", "", fmt.Errorf("config.toml [API] ListenAddress %q: %v", addr, err)
	}
	if token == "" {
		return "", "", errors.New("config.toml has no [JWT] Token")
	}
	return endpoint, token, nil
}

// String describes the action.
func (w *Wallet) String() string { return w.typ + " " + w.shown }

// Do makes one attempt, discarding the account of it.
func (w *Wallet) Do(ctx context.Context, f event.Firing) (retry bool, err error) {
	_, retry, err = w.DoOutput(ctx, f)
	return retry, err
}

// password reads the password for this run.
func (w *Wallet) password() (string, error) {
	var path, what string
	if w.pwFile != "" {
		if err := checkPasswordFile(w.pwFile, w.pwFile); err != nil {
			return "", fmt.Errorf("password_file %v", err)
		}
		path, what = w.pwFile, fmt.Sprintf("password_file %q", w.pwFile)
	} else {
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return "", fmt.Errorf("credential %q: $CREDENTIALS_DIRECTORY is not set: run venus-medic under systemd with LoadCredential=%s:/etc/venus-medic/wallet.pass, or use password_file", w.cred, w.cred)
		}
		path, what = filepath.Join(dir, w.cred), fmt.Sprintf("credential %q", w.cred)
	}
	sec, err := yamlconf.ReadSecretFile(path)
	if err != nil {
		if os.IsNotExist(err) && w.cred != "" {
			return "", fmt.Errorf("%s: no such file in $CREDENTIALS_DIRECTORY: add LoadCredential=%s:/etc/venus-medic/wallet.pass to the unit", what, w.cred)
		}
		return "", fmt.Errorf("%s: %v", what, errors.Unwrap(err))
	}
	if sec.Reveal() == "" {
		return "", fmt.Errorf("%s is empty", what)
	}
	return sec.Reveal(), nil
}

// walletAPI is the part of venus-wallet's API the action uses. LockState
// returns only a bool on the server; the error here carries transport
// failures, which would otherwise read as false (unlocked).
type walletAPI struct {
	LockState   func(ctx context.Context) (bool, error)
	Unlock      func(ctx context.Context, password string) error
	SetPassword func(ctx context.Context, password string) error
}

// The wallet's answers that the action recognises.
const (
	wAlreadyUnlocked = "wallet already unlocked"
	wPasswordExists  = "the password already exists"
	wPasswordNotSet  = "password not set"
	wMismatch        = "password mismatch"
	wDecrypt         = "could not decrypt key"
)

// DoOutput makes one attempt and returns a short account of it, without
// the password. Refusals (a wrong password, a bad or weak token, a
// missing password) are not worth retrying; a wallet that cannot be
// reached or does not answer in time is.
func (w *Wallet) DoOutput(ctx context.Context, _ event.Firing) (output string, retry bool, err error) {
	pw, err := w.password()
	if err != nil {
		return "", false, err
	}
	if w.cli != "" {
		return w.viaCLI(ctx, pw)
	}
	endpoint, token := w.api, ""
	if w.api != "" {
		sec, err := yamlconf.ReadSecretFile(w.token)
		if err != nil {
			return "", false, fmt.Errorf("token_file %q: %v", w.token, errors.Unwrap(err))
		}
		token = decodeToken(sec.Reveal())
	} else {
		endpoint, token, err = readWalletRepo(w.repo)
		if err != nil {
			return "", false, fmt.Errorf("repo %q: %v", w.repo, err)
		}
	}
	sc := newScrubber("", pw, token, hex.EncodeToString([]byte(token)))
	sc = append(sc, shortSecret(pw)...)
	var steps []string
	account := func() string { return sc.text(strings.Join(steps, "; ")) }
	fail := func(retry bool, format string, args ...any) (string, bool, error) {
		return account(), retry, sc.err(fmt.Errorf("wallet at %s: "+format, append([]any{endpoint}, args...)...))
	}

	var api walletAPI
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	closer, err := jsonrpc.NewMergeClient(ctx, endpoint, "Filecoin", []any{&api}, hdr, jsonrpc.WithHTTPClient(w.client))
	if err != nil {
		return fail(false, "%v", err)
	}
	defer closer()

	locked, err := api.LockState(ctx)
	if err != nil {
		retry, why := classifyWalletErr(ctx, err)
		return fail(retry, "LockState: %s", why)
	}
	if !locked {
		steps = append(steps, "wallet was already unlocked (LockState=false); nothing to do")
		return account(), false, nil
	}
	steps = append(steps, "wallet was locked (LockState=true)")
	switch err := api.Unlock(ctx, pw); {
	case err == nil:
		steps = append(steps, "Unlock: done")
	case rpcMsgHas(err, wAlreadyUnlocked):
		steps = append(steps, "Unlock: "+wAlreadyUnlocked)
	case rpcMsgHas(err, wPasswordNotSet) && w.typ == "wallet-setpwd":
		steps = append(steps, "Unlock: "+wPasswordNotSet)
		switch err := api.SetPassword(ctx, pw); {
		case err == nil:
			steps = append(steps, "SetPassword: done")
		case rpcMsgHas(err, wPasswordExists):
			steps = append(steps, "SetPassword: "+wPasswordExists)
		default:
			retry, why := classifyWalletErr(ctx, err)
			return fail(retry, "SetPassword: %s", why)
		}
	case rpcMsgHas(err, wPasswordNotSet):
		return fail(false, "Unlock: %s: the wallet has no password yet; use a wallet-setpwd action", wPasswordNotSet)
	default:
		retry, why := classifyWalletErr(ctx, err)
		return fail(retry, "Unlock: %s", why)
	}
	locked, err = api.LockState(ctx)
	if err != nil {
		retry, why := classifyWalletErr(ctx, err)
		return fail(retry, "LockState after Unlock: %s", why)
	}
	if locked {
		return fail(true, "still locked after Unlock (LockState=true)")
	}
	steps = append(steps, "LockState=false")
	w.log.Debug("wallet unlocked", "wallet", endpoint)
	return account(), false, nil
}

// shortSecret returns the password's forms the scrubber would otherwise
// leave alone: it scrubs only texts of 4 bytes or more.
func shortSecret(pw string) []string {
	if len(pw) < 4 {
		return []string{pw}
	}
	return nil
}

// rpcMsgHas reports whether err is the wallet's answer (a JSON-RPC error)
// containing text.
func rpcMsgHas(err error, text string) bool {
	var je *jsonrpc.JSONRPCError
	return errors.As(err, &je) && strings.Contains(je.Message, text)
}

// classifyWalletErr says whether a failed call is worth retrying and
// describes it for an operator (the text still needs scrubbing).
func classifyWalletErr(ctx context.Context, err error) (retry bool, why string) {
	msg := err.Error()
	var je *jsonrpc.JSONRPCError
	switch {
	case errors.As(err, &je):
		m := je.Message
		switch {
		case strings.Contains(m, wMismatch) || strings.Contains(m, wDecrypt):
			return false, m + ": the configured password is not the wallet's"
		case strings.Contains(m, "missing permission"):
			return false, m + ": the token lacks the admin permission (use the wallet's own token, config.toml [JWT] Token)"
		}
		return false, m
	case strings.Contains(msg, "http status 401"), strings.Contains(msg, "http status 403"):
		return false, "the wallet refused the token (" + strings.TrimSpace(msg[strings.Index(msg, "http status"):]) + "): check token_file or the repo's [JWT] Token"
	case ctx.Err() != nil:
		return true, "no answer in time: " + ctx.Err().Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true, "no answer in time: " + msg
	}
	var ce *jsonrpc.RPCConnectionError
	if errors.As(err, &ce) {
		return true, "cannot reach the wallet: " + msg
	}
	return true, msg
}

// viaCLI runs the venus-wallet binary: lock-state, then setpwd (and
// unlock when a password already exists) or unlock, answering each
// password prompt on stdin, then lock-state again.
func (w *Wallet) viaCLI(ctx context.Context, pw string) (string, bool, error) {
	if strings.ContainsAny(pw, "\r\n\x00") {
		return "", false, errors.New("the password holds a line break or a NUL byte, which the venus-wallet CLI cannot read; use api or repo")
	}
	sc := newScrubber("", pw)
	sc = append(sc, shortSecret(pw)...)
	var steps []string
	account := func() string { return sc.text(strings.Join(steps, "; ")) }
	fail := func(retry bool, err error) (string, bool, error) {
		return account(), retry, sc.err(err)
	}

	state := func() (locked bool, retry bool, err error) {
		out, err := w.runCLI(ctx, "lock-state", "")
		switch {
		case err != nil:
			r, why := classifyCLI(ctx, sc.text(out), err)
			return false, r, fmt.Errorf("%s lock-state: %s", w.cli, why)
		case strings.Contains(out, "wallet state: unlocked"):
			return false, false, nil
		case strings.Contains(out, "wallet state: locked"):
			return true, false, nil
		}
		return false, false, fmt.Errorf("%s lock-state: unexpected output %q", w.cli, capText(sc.text(out), 200))
	}
	locked, retry, err := state()
	if err != nil {
		return fail(retry, err)
	}
	if !locked {
		steps = append(steps, "wallet was already unlocked (wallet state: unlocked); nothing to do")
		return account(), false, nil
	}
	steps = append(steps, "wallet was locked (wallet state: locked)")
	unlock := true
	if w.typ == "wallet-setpwd" {
		out, err := w.runCLI(ctx, "setpwd", pw)
		switch {
		case err == nil && strings.Contains(out, "Password set successfully"):
			steps = append(steps, "setpwd: Password set successfully")
			unlock = false
		case strings.Contains(out, wPasswordExists):
			steps = append(steps, "setpwd: "+wPasswordExists)
		default:
			r, why := classifyCLI(ctx, sc.text(out), err)
			return fail(r, fmt.Errorf("%s setpwd: %s", w.cli, why))
		}
	}
	if unlock {
		out, err := w.runCLI(ctx, "unlock", pw)
		switch {
		case err == nil && strings.Contains(out, "wallet unlock successfully"):
			steps = append(steps, "unlock: wallet unlock successfully")
		case strings.Contains(out, wAlreadyUnlocked):
			steps = append(steps, "unlock: "+wAlreadyUnlocked)
		default:
			r, why := classifyCLI(ctx, sc.text(out), err)
			return fail(r, fmt.Errorf("%s unlock: %s", w.cli, why))
		}
	}
	locked, retry, err = state()
	if err != nil {
		return fail(retry, err)
	}
	if locked {
		return fail(true, fmt.Errorf("%s: still locked afterwards (wallet state: locked)", w.cli))
	}
	steps = append(steps, "wallet state: unlocked")
	return account(), false, nil
}

// classifyCLI describes a failed CLI run from its output (already
// scrubbed: it is quoted and cut here, which would hide the password from
// a later scrub) and error.
func classifyCLI(ctx context.Context, out string, err error) (retry bool, why string) {
	text := strings.TrimSpace(out)
	for _, p := range []string{"Enter Password again:", "Password:"} {
		text = strings.TrimSpace(strings.ReplaceAll(text, p, ""))
	}
	text = capText(text, maxStderrInError)
	status := "failed"
	if err != nil {
		status = err.Error()
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return true, fmt.Sprintf("no answer in time (%v): %q", ctx.Err(), text)
	case err != nil && !errors.As(err, &ee):
		return false, status // did not start
	case strings.Contains(out, wMismatch), strings.Contains(out, wDecrypt):
		return false, fmt.Sprintf("%s: the configured password is not the wallet's: %q", status, text)
	case strings.Contains(out, "missing permission"), strings.Contains(out, "401"), strings.Contains(out, "403"):
		return false, fmt.Sprintf("%s: the wallet refused the CLI's token: %q", status, text)
	case strings.Contains(out, wPasswordNotSet):
		return false, fmt.Sprintf("%s: the wallet has no password yet; use a wallet-setpwd action: %q", status, text)
	}
	return true, fmt.Sprintf("%s: %q", status, text)
}

// runCLI runs `cli [--repo R] sub`, answering each password prompt with
// pw on stdin once it appears, and returns stdout and stderr together.
func (w *Wallet) runCLI(ctx context.Context, sub, pw string) (string, error) {
	args := []string{}
	if w.repo != "" {
		args = append(args, "--repo", w.repo)
	}
	args = append(args, sub)
	cmd := exec.CommandContext(ctx, w.cli, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	pr := &promptAnswerer{out: &cappedOutput{max: MaxOutput}, stdin: stdin, answer: pw}
	if sub == "setpwd" {
		pr.want = 2
	} else if sub == "unlock" {
		pr.want = 1
	}
	cmd.Stdout = pr
	cmd.Stderr = pr
	ownProcessGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	if pr.want == 0 {
		stdin.Close()
	}
	err = cmd.Wait()
	pr.close()
	return pr.out.String(), err
}

// promptAnswerer collects a command's output and writes the answer to
// its stdin each time a password prompt appears, want times, then closes
// stdin.
type promptAnswerer struct {
	mu     sync.Mutex
	out    *cappedOutput
	seen   bytes.Buffer // output so far, to find prompts split across writes
	stdin  io.WriteCloser
	answer string
	want   int
	done   int
	closed bool
}

func (p *promptAnswerer) Write(b []byte) (int, error) {
	p.out.Write(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.done >= p.want {
		return len(b), nil
	}
	if p.seen.Len() < 4096 {
		p.seen.Write(b)
	}
	s := p.seen.String()
	n := strings.Count(s, "Password:") + strings.Count(s, "Password again:")
	for p.done < n && p.done < p.want {
		if _, err := io.WriteString(p.stdin, p.answer+"\n"); err != nil {
			break
		}
		p.done++
	}
	if p.done >= p.want {
		p.stdin.Close()
		p.closed = true
	}
	return len(b), nil
}

func (p *promptAnswerer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.stdin.Close()
		p.closed = true
	}
}
