// Command venus-wallet is a fake venus-wallet CLI for tests. It talks to
// the fake wallet server of package wallet with the real CLI's prompts and
// messages:
//
//	venus-wallet [--repo DIR] setpwd      Password: / Enter Password again: → Password set successfully
//	venus-wallet [--repo DIR] unlock      Password: → wallet unlock successfully
//	venus-wallet [--repo DIR] lock-state  wallet state: locked|unlocked
//
// The repo (default $VENUS_WALLET_PATH, else ~/.venus_wallet) holds the
// config.toml with the API address and the hex-encoded token. Passwords
// are read from stdin, a line each, as the real CLI's prompts read a pipe.
// Errors are printed on stdout and exit with status 1, as the real
// cmd/wallet/main.go does.
//
// When FAKE_VENUS_WALLET_DUMP names a file, the command appends its argv
// and environment to it (one NUL-separated record each), so tests can
// check what the caller passed.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/filecoin-project/go-jsonrpc"

	"github.com/venus-medic/venus-medic/internal/fakevenus/wallet"
)

type walletAPI struct {
	LockState   func(ctx context.Context) (bool, error)
	SetPassword func(ctx context.Context, pw string) error
	Unlock      func(ctx context.Context, pw string) error
}

func main() {
	dump()
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		if strings.Contains(err.Error(), "connection refused") {
			fmt.Printf("%v. %s\n", err, "Is the venus-wallet running?")
		} else {
			fmt.Println(err)
		}
		os.Exit(1)
	}
}

func dump() {
	p := os.Getenv("FAKE_VENUS_WALLET_DUMP")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "argv\x00%s\x00env\x00%s\x00\n", strings.Join(os.Args, "\x00"), strings.Join(os.Environ(), "\x00"))
}

func run(args []string, stdin io.Reader, out io.Writer) error {
	repo := os.Getenv("VENUS_WALLET_PATH")
	if repo == "" {
		repo = "~/.venus_wallet"
	}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := strings.TrimLeft(args[0], "-")
		if v, ok := strings.CutPrefix(a, "repo="); ok {
			repo, args = v, args[1:]
			continue
		}
		if a == "repo" && len(args) > 1 {
			repo, args = args[1], args[2:]
			continue
		}
		return fmt.Errorf("flag provided but not defined: %s", args[0])
	}
	if len(args) == 0 {
		return errors.New("no command: setpwd, unlock or lock-state")
	}
	if rest, ok := strings.CutPrefix(repo, "~/"); ok {
		home, _ := os.UserHomeDir()
		repo = filepath.Join(home, rest)
	}
	hostport, token, err := wallet.ReadConfig(repo)
	if err != nil {
		return err
	}
	var api walletAPI
	closer, err := jsonrpc.NewMergeClient(context.Background(), "http://"+hostport+"/rpc/v0", "Filecoin",
		[]any{&api}, http.Header{"Authorization": {"Bearer " + token}},
		jsonrpc.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return err
	}
	defer closer()
	ctx := context.Background()
	in := bufio.NewReader(stdin)
	switch args[0] {
	case "setpwd":
		pw, err := prompt(in, out, "Password:")
		if err != nil {
			return err
		}
		again, err := prompt(in, out, "Enter Password again:")
		if err != nil {
			return err
		}
		if pw != again {
			return errors.New("the two passwords do not match")
		}
		if err := api.SetPassword(ctx, pw); err != nil {
			return err
		}
		fmt.Fprintln(out, "Password set successfully")
	case "unlock":
		pw, err := prompt(in, out, "Password:")
		if err != nil {
			return err
		}
		if err := api.Unlock(ctx, pw); err != nil {
			return err
		}
		fmt.Fprintln(out, "wallet unlock successfully")
	case "lock-state":
		locked, err := api.LockState(ctx)
		if err != nil {
			return err
		}
		state := "unlocked"
		if locked {
			state = "locked"
		}
		fmt.Fprintf(out, "wallet state: %s\n", state)
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}

// prompt prints p and reads one line, as gopass does from a pipe.
func prompt(in *bufio.Reader, out io.Writer, p string) (string, error) {
	fmt.Fprint(out, p)
	line, err := in.ReadString('\n')
	fmt.Fprintln(out)
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("interrupted")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
