package actions

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.errors")

// build builds the action in a testdata file, as the daemon builds an
// entry of `actions:`.
func build(t *testing.T, path string) (*Configured, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := yamlconf.Parse(path, b)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return Build(path, name, n, hclog.NewNullLogger())
}

func errorLines(err error) string {
	var lines []string
	for _, e := range yamlconf.Sorted(err) {
		var pe *yamlconf.PosError
		if !errors.As(e, &pe) {
			lines = append(lines, "NOT A PosError: "+e.Error())
			continue
		}
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

// TestConfigs builds every configuration in testdata: those with a
// .errors file must be refused with exactly those messages, the others
// must build.
func TestConfigs(t *testing.T) {
	t.Setenv("VENUS_MEDIC_TEST_FEISHU_URL", "https://open.feishu.cn/open-apis/bot/v2/hook/0b9b3b8e-6a55-4c3e-9f1e-3a9f2f7a1c11")
	files, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(f, "testdata/"), ".yaml"), func(t *testing.T) {
			golden := strings.TrimSuffix(f, ".yaml") + ".errors"
			_, err := build(t, f)
			got := errorLines(err)
			if *update {
				if got == "" {
					os.Remove(golden)
				} else if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil && !os.IsNotExist(rerr) {
				t.Fatal(rerr)
			}
			if d := cmp.Diff(strings.TrimSpace(string(want)), got); d != "" {
				t.Errorf("errors differ from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

// TestEveryTypeHasTestdata walks the registration table: each type needs
// a folder in testdata with a configuration that builds and one that is
// refused.
func TestEveryTypeHasTestdata(t *testing.T) {
	for _, typ := range Types() {
		files, _ := filepath.Glob(filepath.Join("testdata", typ, "*.yaml"))
		var valid, invalid int
		for _, f := range files {
			if _, err := os.Stat(strings.TrimSuffix(f, ".yaml") + ".errors"); err == nil {
				invalid++
			} else {
				valid++
			}
		}
		if valid == 0 || invalid == 0 {
			t.Errorf("action type %q needs testdata/%s/ with a valid and an invalid configuration (has %d valid, %d invalid)", typ, typ, valid, invalid)
		}
	}
}

func TestBuildFillsDefaults(t *testing.T) {
	t.Setenv("VENUS_MEDIC_TEST_FEISHU_URL", "https://open.feishu.cn/open-apis/bot/v2/hook/0b9b3b8e")
	for _, tc := range []struct {
		file    string
		format  string
		timeout time.Duration
		retries int
		rate    *Rate
	}{
		{"webhook/generic.yaml", "generic", 10 * time.Second, 0, nil},
		{"webhook/generic-template.yaml", "generic", DefaultTimeout, DefaultRetries, &Rate{5, yamlconf.Duration(time.Minute)}},
		{"webhook/dingtalk.yaml", "dingtalk", DefaultTimeout, DefaultRetries, &Rate{20, yamlconf.Duration(time.Minute)}},
		{"webhook/feishu-env.yaml", "feishu", DefaultTimeout, DefaultRetries, &Rate{100, yamlconf.Duration(time.Minute)}},
		{"webhook/telegram.yaml", "telegram", DefaultTimeout, DefaultRetries, &Rate{20, yamlconf.Duration(time.Minute)}},
		{"exec/record.yaml", "", 20 * time.Second, DefaultRetries, nil},
		{"log/journal.yaml", "", DefaultTimeout, DefaultRetries, nil},
	} {
		c, err := build(t, filepath.Join("testdata", tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if c.Format != tc.format || c.Timeout.D() != tc.timeout || *c.Retries != tc.retries || !cmp.Equal(c.Rate, tc.rate) {
			t.Errorf("%s: got format %q timeout %v retries %d rate %v", tc.file, c.Format, c.Timeout.D(), *c.Retries, c.Rate)
		}
		if c.Name != strings.TrimSuffix(filepath.Base(tc.file), ".yaml") || c.Type == "" {
			t.Errorf("%s: name %q type %q", tc.file, c.Name, c.Type)
		}
	}
}

// TestSecretsStayOutOfErrors: configuration problems never quote a
// URL's token or a secret file's content.
func TestSecretsStayOutOfErrors(t *testing.T) {
	for _, f := range []string{"testdata/webhook/bad-keys.yaml", "testdata/webhook/bad-values.yaml", "testdata/webhook/bad-url.yaml", "testdata/webhook/garbage-url-file.yaml", "testdata/webhook/wrong-keys-for-format.yaml", "testdata/webhook/telegram-bad.yaml"} {
		_, err := build(t, f)
		if err == nil {
			t.Fatalf("%s: built", f)
		}
		for _, secret := range []string{"abcdef0123456789", "s3cr3t-t0ken-value", "not a url", "XXXXXXXXXXXXXXXXXXXXXXXX", "SEC0123456789", "not-a-sendmessage-url"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error shows a secret: %v", f, err)
			}
		}
	}
}

func TestLogAction(t *testing.T) {
	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace, JSONFormat: true})
	n, _ := yamlconf.Parse("c.yaml", []byte("type: log\n"))
	c, err := Build("c.yaml", "journal", n, logger)
	if err != nil {
		t.Fatal(err)
	}
	tm := time.Date(2026, 11, 25, 10, 21, 34, 561e6, time.FixedZone("", 8*3600))
	for _, sev := range []string{"critical", "warning", "info"} {
		retry, err := c.Action.Do(context.Background(), event.Firing{
			Rule: "wallet-password-not-set", Severity: sev, Summary: "cannot sign",
			Event: event.Event{Source: "venus-wallet", Host: "miner-01", Time: tm, Line: "2026-11-25T10:21:34.561+0800\tERROR\twallet\tx.go:1\tWalletSign error password not set"},
		})
		if retry || err != nil {
			t.Fatalf("Do: %v %v", retry, err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 log lines, got %q", buf.String())
	}
	for i, want := range []string{`"@level":"error"`, `"@level":"warn"`, `"@level":"info"`} {
		l := lines[i]
		for _, s := range []string{want, `"@message":"rule fired"`, `"action":"journal"`, `"rule":"wallet-password-not-set"`, `"summary":"cannot sign"`, `"source":"venus-wallet"`, `"host":"miner-01"`, `"time":"2026-11-25T10:21:34.561+08:00"`, `WalletSign error password not set`} {
			if !strings.Contains(l, s) {
				t.Errorf("log line %d lacks %s: %s", i, s, l)
			}
		}
	}
}
