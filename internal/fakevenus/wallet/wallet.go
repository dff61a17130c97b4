// Package wallet is a fake venus-wallet for tests: a go-jsonrpc server with
// the real wallet's password methods (Filecoin.LockState, Unlock,
// SetPassword, Lock, VerifyPassword), the real error texts and the real
// bearer-token checks, plus the wallet's log lines in go-log console
// format, and a writer for the wallet's config.toml.
//
// The semantics follow venus-wallet's storage/keymix.go and
// storage/wallet/wallet.go: the wallet starts locked with no password;
// Unlock with no password set falls back to SetPassword; SetPassword fails
// with "the password already exists" once one is set; a password other
// than the one the keys are encrypted with fails with "could not decrypt
// key with given password" (no password set yet) or "password mismatch"
// (one is set). Errors reach clients as go-jsonrpc plain errors (code 1).
//
// The fake CLI in cmd/venus-wallet talks to this server with the real
// prompts.
package wallet

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/filecoin-project/go-jsonrpc"
)

// The wallet's error texts (venus-wallet storage/keymix.go,
// crypto/aes/aes128.go).
const (
	ErrLocked          = "wallet locked"
	ErrPasswordEmpty   = "password not set"
	ErrInvalidPassword = "password mismatch"
	ErrPasswordExist   = "the password already exists"
	ErrAlreadyUnlocked = "wallet already unlocked"
	ErrAlreadyLocked   = "wallet already locked"
	ErrDecrypt         = "could not decrypt key with given password"
)

// Options configure a fake wallet.
type Options struct {
	// Token is the admin JWT the server accepts; one is made when empty.
	Token string
	// Password is the password the wallet's keys are encrypted with: any
	// other is refused. Empty means a wallet without keys, which accepts
	// whatever password is set first.
	Password string
	// Log receives the wallet's log lines; nil discards them.
	Log io.Writer
	// APIHub is the gateway address in the "api hub" field of the
	// gateway-client lines; a default when empty.
	APIHub string
	// EchoPassword makes refusals quote the password, as the real
	// wallet's `set password(%s) failed %v` does, so that callers can
	// test that they scrub it.
	EchoPassword bool
}

// Server is a running fake wallet on 127.0.0.1.
type Server struct {
	opts   Options
	secret []byte
	ln     net.Listener
	http   *http.Server
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	locked   bool
	password *string
	hang     bool
	hangOn   map[string]bool
	calls    []string
	logMu    sync.Mutex
}

// Start starts a fake wallet on 127.0.0.1 at a free port. It is locked
// with no password, as the real wallet is after a start.
func Start(opts Options) (*Server, error) {
	if opts.APIHub == "" {
		opts.APIHub = "/ip4/127.0.0.1/tcp/45132"
	}
	s := &Server{opts: opts, locked: true, closed: make(chan struct{})}
	s.secret = make([]byte, 32)
	if _, err := rand.Read(s.secret); err != nil {
		return nil, err
	}
	if s.opts.Token == "" {
		s.opts.Token = MakeToken(s.secret)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	rpc := jsonrpc.NewServer()
	rpc.Register("Filecoin", &handler{s: s})
	mux := http.NewServeMux()
	mux.Handle("/rpc/v0", s.auth(rpc))
	mux.HandleFunc("/healthcheck", func(w http.ResponseWriter, _ *http.Request) {})
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.http.Serve(ln)
	s.logf("INFO", "main", "cmd/rpc.go:78", "start rpc server at [%s] ...", s.Multiaddr())
	return s, nil
}

// Close stops the server; calls that hang return.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the wallet's API endpoint, http://127.0.0.1:PORT/rpc/v0.
func (s *Server) URL() string { return "http://" + s.Addr() + "/rpc/v0" }

// Multiaddr is the address as config.toml's [API] ListenAddress writes it.
func (s *Server) Multiaddr() string {
	host, port, _ := net.SplitHostPort(s.Addr())
	return "/ip4/" + host + "/tcp/" + port + "/http"
}

// Token is the admin JWT the server accepts.
func (s *Server) Token() string { return s.opts.Token }

// WriteRepo writes a wallet repo's config.toml for this server in dir.
func (s *Server) WriteRepo(dir string) error {
	return WriteConfig(dir, s.Addr(), s.opts.Token, s.secret)
}

// SetHang makes every API call hang (until the client gives up or the
// server closes) while on.
func (s *Server) SetHang(on bool) {
	s.mu.Lock()
	s.hang = on
	s.mu.Unlock()
}

// SetHangOn makes calls of the named methods hang (as SetHang does for
// all); no names clears it.
func (s *Server) SetHangOn(methods ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangOn = map[string]bool{}
	for _, m := range methods {
		s.hangOn[m] = true
	}
}

// Calls returns the methods called so far with a valid token, in order
// ("LockState", "Unlock", ...).
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Locked reports the lock state.
func (s *Server) Locked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locked
}

// HasPassword reports whether a password is set.
func (s *Server) HasPassword() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.password != nil
}

// Restart puts the wallet back in its state after a process start:
// locked, no password.
func (s *Server) Restart() {
	s.mu.Lock()
	s.locked, s.password = true, nil
	s.mu.Unlock()
	s.logf("INFO", "main", "cmd/rpc.go:78", "start rpc server at [%s] ...", s.Multiaddr())
}

// LockNow locks the wallet as `venus-wallet lock` does, keeping its password.
func (s *Server) LockNow() {
	s.mu.Lock()
	s.locked = true
	s.mu.Unlock()
}

// SignCycle writes the log lines of one round of the gateway verifying
// the wallet's addresses: while the wallet cannot sign, the four lines of
// the "password not set" (or "wallet locked") loop; once it can, nothing
// (the success line was written when it was unlocked).
func (s *Server) SignCycle() {
	s.mu.Lock()
	var why string
	switch {
	case s.password == nil:
		why = ErrPasswordEmpty
	case s.locked:
		why = ErrLocked
	}
	s.mu.Unlock()
	if why == "" {
		return
	}
	s.logf("ERROR", "wallet_event", "walletevent/wallet_client.go:160", "WalletSign error %s", why)
	s.logf("WARN", "wallet_event", "walletevent/wallet_client.go:75", "listenWalletRequestOnce quit, try again")
	s.logf("INFO", "wallet_event", "walletevent/wallet_client.go:83", "restarting listenWalletRequestOnce")
	s.logf("INFO", "wallet_event", "walletevent/wallet_client.go:107", "")
}

// logf writes one go-log console line with the "api hub" field where the
// real line has it.
func (s *Server) logf(level, logger, caller, format string, args ...any) {
	if s.opts.Log == nil {
		return
	}
	line := strings.Join([]string{
		time.Now().Format("2006-01-02T15:04:05.000Z0700"), level, logger, caller,
		fmt.Sprintf(format, args...),
	}, "\t")
	if logger == "wallet_event" {
		line += fmt.Sprintf("\t{\"api hub\": %q}", s.opts.APIHub)
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	io.WriteString(s.opts.Log, line+"\n")
}

type permKey struct{}

// auth is the wallet's JWT handler (cmd/rpc.go): a bad token is HTTP 401,
// no token runs the call without permissions.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("Authorization")
		if tok == "" {
			if q := r.FormValue("token"); q != "" {
				tok = "Bearer " + q
			}
		}
		admin := false
		if tok != "" {
			if !strings.HasPrefix(tok, "Bearer ") {
				s.logf("WARN", "main", "cmd/rpc.go:106", "missing Bearer prefix in auth header")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			got := strings.TrimPrefix(tok, "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) != 1 {
				s.logf("WARN", "main", "cmd/rpc.go:119", "JWT Verification failed: JWT Verification failed: signature is invalid")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			admin = true
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), permKey{}, admin)))
	})
}

// handler holds the API methods go-jsonrpc serves as Filecoin.<Method>.
type handler struct{ s *Server }

// enter checks the permission, records the call and hangs when asked.
func (h *handler) enter(ctx context.Context, method string) error {
	if admin, _ := ctx.Value(permKey{}).(bool); !admin {
		return h.s.rpcErr(method, fmt.Errorf("missing permission to invoke '%s' (need 'admin')", method))
	}
	h.s.mu.Lock()
	h.s.calls = append(h.s.calls, method)
	hang := h.s.hang || h.s.hangOn[method]
	h.s.mu.Unlock()
	if hang {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.s.closed:
			return errors.New("shutting down")
		}
	}
	return nil
}

// refuse is a refusal of password pw.
func (s *Server) refuse(method, pw, msg string) error {
	if s.opts.EchoPassword {
		return s.rpcErr(method, fmt.Errorf("set password(%s) failed %s", pw, msg))
	}
	return s.rpcErr(method, errors.New(msg))
}

// rpcErr logs a failed call as go-jsonrpc does (without its arguments).
func (s *Server) rpcErr(method string, err error) error {
	s.logf("WARN", "rpc", "go-jsonrpc@v0.1.9/handler.go:456", "error in RPC call to 'Filecoin.%s': %s", method, err)
	return err
}

func (s *Server) connected() {
	s.logf("INFO", "wallet_event", "walletevent/wallet_client.go:123", "connect to server success %s", uuid())
}

// LockState reports whether the wallet is locked. (The real method
// returns only a bool; the error carries a missing permission.)
func (h *handler) LockState(ctx context.Context) (bool, error) {
	if err := h.enter(ctx, "LockState"); err != nil {
		return false, err
	}
	return h.s.Locked(), nil
}

// SetPassword decrypts the keys with pw, then sets it if none is set.
func (h *handler) SetPassword(ctx context.Context, pw string) error {
	if err := h.enter(ctx, "SetPassword"); err != nil {
		return err
	}
	return h.s.setPassword("SetPassword", pw)
}

func (s *Server) setPassword(method, pw string) error {
	s.mu.Lock()
	if s.opts.Password != "" && pw != s.opts.Password {
		s.mu.Unlock()
		return s.refuse(method, pw, ErrDecrypt)
	}
	if s.password != nil {
		s.mu.Unlock()
		return s.rpcErr(method, errors.New(ErrPasswordExist))
	}
	s.password = &pw
	s.locked = false
	s.mu.Unlock()
	s.connected()
	return nil
}

// Unlock unlocks with pw; with no password set it sets pw.
func (h *handler) Unlock(ctx context.Context, pw string) error {
	if err := h.enter(ctx, "Unlock"); err != nil {
		return err
	}
	if !h.s.HasPassword() {
		return h.s.setPassword("Unlock", pw)
	}
	if err := h.s.changeLock("Unlock", pw, false); err != nil {
		return err
	}
	h.s.connected()
	return nil
}

// Lock locks with pw.
func (h *handler) Lock(ctx context.Context, pw string) error {
	if err := h.enter(ctx, "Lock"); err != nil {
		return err
	}
	return h.s.changeLock("Lock", pw, true)
}

func (s *Server) changeLock(method, pw string, lock bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.password == nil:
		return s.rpcErr(method, errors.New(ErrPasswordEmpty))
	case s.locked == lock && lock:
		return s.rpcErr(method, errors.New(ErrAlreadyLocked))
	case s.locked == lock:
		return s.rpcErr(method, errors.New(ErrAlreadyUnlocked))
	case *s.password != pw:
		return s.refuse(method, pw, ErrInvalidPassword)
	}
	s.locked = lock
	return nil
}

// VerifyPassword checks pw against the password set; with none set it
// fails with "password mismatch", as the real wallet does.
func (h *handler) VerifyPassword(ctx context.Context, pw string) error {
	if err := h.enter(ctx, "VerifyPassword"); err != nil {
		return err
	}
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.s.password == nil || *h.s.password != pw {
		return h.s.rpcErr("VerifyPassword", errors.New(ErrInvalidPassword))
	}
	return nil
}

// MakeToken makes an HS256 JWT with the admin permissions venus-wallet
// puts in its own token, signed with secret.
func MakeToken(secret []byte) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body := enc.EncodeToString([]byte(`{"Allow":["read","write","sign","admin"]}`))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(head + "." + body))
	return head + "." + body + "." + enc.EncodeToString(m.Sum(nil))
}

// WriteConfig writes dir/config.toml as venus-wallet does: [API]
// ListenAddress as a multiaddr for hostport (IPv4), [JWT] Token
// hex-encoded and Secret. dir is created when missing.
func WriteConfig(dir, hostport, token string, secret []byte) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	body := fmt.Sprintf(`[API]
  ListenAddress = "/ip4/%s/tcp/%s/http"

[DB]
  Conn = "%s"
  Type = "sqlite"
  DebugMode = true

[JWT]
  Token = "%s"
  Secret = "%s"

[Factor]
  ScryptN = 262144
  ScryptP = 1

[SignFilter]
  Expr = ""

[APIRegisterHub]
  RegisterAPI = []
  Token = ""
  SupportAccounts = []
`, host, port, filepath.Join(dir, "keystore.sqlit"), hex.EncodeToString([]byte(token)), hex.EncodeToString(secret))
	return os.WriteFile(filepath.Join(dir, "config.toml"), []byte(body), 0o600)
}

// ReadConfig reads [API] ListenAddress and the hex-decoded [JWT] Token
// from dir/config.toml, the way the real CLI's --repo does. It reads only
// what WriteConfig writes.
func ReadConfig(dir string) (hostport, token string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.toml"))
	if err != nil {
		return "", "", err
	}
	section := ""
	var addr string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		switch {
		case section == "API" && k == "ListenAddress":
			addr = v
		case section == "JWT" && k == "Token":
			t, err := hex.DecodeString(v)
			if err != nil {
				return "", "", fmt.Errorf("config.toml: [JWT] Token: %w", err)
			}
			token = string(t)
		}
	}
	parts := strings.Split(strings.Trim(addr, "/"), "/")
	if len(parts) < 4 || parts[2] != "tcp" {
		return "", "", fmt.Errorf("config.toml: [API] ListenAddress %q is not a /ip4/HOST/tcp/PORT address", addr)
	}
	return net.JoinHostPort(parts[1], parts[3]), token, nil
}

func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
