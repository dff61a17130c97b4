package wallet

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/filecoin-project/go-jsonrpc"
)

type client struct {
	LockState      func(ctx context.Context) (bool, error)
	Unlock         func(ctx context.Context, pw string) error
	SetPassword    func(ctx context.Context, pw string) error
	Lock           func(ctx context.Context, pw string) error
	VerifyPassword func(ctx context.Context, pw string) error
}

func dial(t *testing.T, s *Server, token string) *client {
	t.Helper()
	var c client
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	closer, err := jsonrpc.NewMergeClient(context.Background(), s.URL(), "Filecoin", []any{&c}, hdr,
		jsonrpc.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closer)
	return &c
}

func wantErr(t *testing.T, what string, err error, msg string) {
	t.Helper()
	if err == nil || err.Error() != msg {
		t.Errorf("%s: got %v, want %q", what, err, msg)
	}
	if je, ok := err.(*jsonrpc.JSONRPCError); ok && je.Code != 1 {
		t.Errorf("%s: code %d, want 1", what, je.Code)
	}
}

func TestSemantics(t *testing.T) {
	var log bytes.Buffer
	s, err := Start(Options{Password: "right", Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dial(t, s, s.Token())
	ctx := context.Background()
	if l, err := c.LockState(ctx); err != nil || !l {
		t.Fatalf("fresh LockState = %v, %v", l, err)
	}
	s.SignCycle()
	wantErr(t, "VerifyPassword with none set", c.VerifyPassword(ctx, "right"), ErrInvalidPassword)
	wantErr(t, "Unlock wrong, none set", c.Unlock(ctx, "wrong"), ErrDecrypt)
	if err := c.Unlock(ctx, "right"); err != nil {
		t.Fatalf("Unlock falls back to SetPassword: %v", err)
	}
	if l, _ := c.LockState(ctx); l {
		t.Fatal("still locked")
	}
	wantErr(t, "Unlock again", c.Unlock(ctx, "right"), ErrAlreadyUnlocked)
	wantErr(t, "SetPassword again", c.SetPassword(ctx, "right"), ErrPasswordExist)
	wantErr(t, "Lock wrong", c.Lock(ctx, "wrong"), ErrInvalidPassword)
	if err := c.Lock(ctx, "right"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Lock again", c.Lock(ctx, "right"), ErrAlreadyLocked)
	wantErr(t, "Unlock wrong", c.Unlock(ctx, "wrong"), ErrInvalidPassword)
	if err := c.VerifyPassword(ctx, "right"); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if s.HasPassword() || !s.Locked() {
		t.Fatal("restart keeps state")
	}
	if err := c.SetPassword(ctx, "right"); err != nil {
		t.Fatal(err)
	}
	out := log.String()
	for _, want := range []string{"\tINFO\tmain\tcmd/rpc.go:78\tstart rpc server at [" + s.Multiaddr() + "] ...\n",
		"\tERROR\twallet_event\twalletevent/wallet_client.go:160\tWalletSign error password not set\t{\"api hub\": \"/ip4/127.0.0.1/tcp/45132\"}\n",
		"\tINFO\twallet_event\twalletevent/wallet_client.go:123\tconnect to server success ",
		"\tWARN\trpc\tgo-jsonrpc@v0.1.9/handler.go:456\terror in RPC call to 'Filecoin.Unlock': password mismatch\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "right") {
		t.Errorf("log shows the password:\n%s", out)
	}
}

func TestAuth(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	_, err = dial(t, s, "").LockState(ctx)
	wantErr(t, "no token", err, "missing permission to invoke 'LockState' (need 'admin')")
	wantErr(t, "no token", dial(t, s, "").Unlock(ctx, "x"), "missing permission to invoke 'Unlock' (need 'admin')")
	_, err = dial(t, s, "bad").LockState(ctx)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("bad token: %v", err)
	}
	if len(s.Calls()) != 0 {
		t.Errorf("refused calls recorded: %v", s.Calls())
	}
}

func TestConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := WriteConfig(dir, "127.0.0.1:5678", "a.b.c", []byte("k")); err != nil {
		t.Fatal(err)
	}
	hp, tok, err := ReadConfig(dir)
	if err != nil || hp != "127.0.0.1:5678" || tok != "a.b.c" {
		t.Fatalf("got %q %q %v", hp, tok, err)
	}
}

func TestHang(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetHang(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := dial(t, s, s.Token()).LockState(ctx); err == nil {
		t.Fatal("no error")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("did not give up in time")
	}
}
