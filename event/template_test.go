package event

import (
	"strings"
	"testing"
	"time"
)

func firing() *Firing {
	return &Firing{
		Rule: "wallet-password-not-set", Severity: "critical", Count: 2,
		Event: Event{
			Source: "venus-wallet", Host: "miner-01", Level: "ERROR",
			Time:   time.Date(2026, 11, 25, 10, 21, 34, 561e6, time.FixedZone("", 8*3600)),
			Msg:    "WalletSign error password not set",
			Fields: map[string]any{"api hub": "/dns/gw/tcp/83/wss", "ddl-idx": float64(7), "mid": float64(1234567)},
		},
	}
}

func render(t *testing.T, src string, f *Firing) string {
	t.Helper()
	tp, err := ParseTemplate("t", src)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tp.Render(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTemplateNames(t *testing.T) {
	got := render(t, `{{ .rule }} {{ .severity }} on {{ .host }}/{{ .source }} at {{ .time.Format "15:04:05.000" }}: {{ .msg }} via {{ field "api hub" }} ddl {{ field "ddl-idx" }} miner {{ field "mid" }} x{{ .count }}`, firing())
	want := "wallet-password-not-set critical on miner-01/venus-wallet at 10:21:34.561: WalletSign error password not set via /dns/gw/tcp/83/wss ddl 7 miner 1234567 x2"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestTemplateMissingValuesAreEmpty(t *testing.T) {
	got := render(t, `[{{ field "nope" }}][{{ capture "nope" }}][{{ .fields.nope }}][{{ default "n/a" (field "nope") }}]`, firing())
	if got != "[][][][n/a]" {
		t.Errorf("got %q", got)
	}
}

// Log text is data: template syntax inside it is not executed.
func TestTemplateLogTextIsNotTemplate(t *testing.T) {
	f := firing()
	f.Event.Msg = `{{ .host }} $(rm -rf /) ` + "`id`"
	if got := render(t, `{{ .msg }}`, f); got != f.Event.Msg {
		t.Errorf("got %q", got)
	}
}

func TestTemplateOutputIsCapped(t *testing.T) {
	f := firing()
	f.Event.Msg = strings.Repeat("x", 2*MaxRendered)
	got := render(t, `{{ .msg }}`, f)
	if len(got) > MaxRendered+len("…[cut]") || !strings.HasSuffix(got, "…[cut]") {
		t.Errorf("len %d, suffix %q", len(got), got[len(got)-10:])
	}
}

func TestTemplateParseError(t *testing.T) {
	if _, err := ParseTemplate("summary", "{{ .msg "); err == nil {
		t.Fatal("no error")
	}
}

func TestCanonicalSource(t *testing.T) {
	for in, want := range map[string]string{"venus-messager": "sophon-messager", "venus-cluster": "damocles-manager", "venus-wallet": "venus-wallet", "x": "x"} {
		if got := CanonicalSource(in); got != want {
			t.Errorf("%s: got %s want %s", in, got, want)
		}
	}
}
