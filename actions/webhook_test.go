package actions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// The token and secret of the test receivers: they must never show in an
// error or a record.
const (
	token  = "TOKEN0123456789abcdefSECRET"
	secret = "SECabcdef0123456789signing"
)

// gotRequest is what a receiver got.
type gotRequest struct {
	Path, RawQuery, ContentType string
	Body                        []byte
	At                          time.Time
}

// receiver is a real HTTP receiver; reply answers request number n (from 1).
type receiver struct {
	*httptest.Server
	got   chan gotRequest
	mu    sync.Mutex
	n     int
	reply func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan gotRequest, 100), reply: reply}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.n++
		n := rc.n
		rc.mu.Unlock()
		rc.got <- gotRequest{Path: r.URL.Path, RawQuery: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type"), Body: b, At: time.Now()}
		if rc.reply != nil {
			rc.reply(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// next returns the next request, failing the test after a deadline.
func (rc *receiver) next(t *testing.T) gotRequest {
	t.Helper()
	select {
	case g := <-rc.got:
		return g
	case <-time.After(10 * time.Second):
		t.Fatal("no request arrived")
	}
	return gotRequest{}
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n
}

// replyWith answers every request with status and body.
func replyWith(status int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// buildYAML builds an action from YAML text; files maps names to the
// content of files it refers to, written to a temporary folder next to
// the configuration.
func buildYAML(t *testing.T, src string, files map[string]string) *Configured {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "venus-medic.yaml")
	n, err := yamlconf.Parse(cfg, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Build(cfg, "ops", n, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return c
}

var fixedNow = time.Date(2026, 11, 25, 2, 21, 40, 123e6, time.UTC)

func webhook(t *testing.T, src string, files map[string]string) *Webhook {
	t.Helper()
	w := buildYAML(t, src, files).Action.(*Webhook)
	w.now = func() time.Time { return fixedNow }
	return w
}

func firing() event.Firing {
	return event.Firing{
		ID: "f1", Rule: "wallet-password-not-set", Severity: "critical",
		Summary: "venus-wallet on miner-01 cannot sign: password not set",
		Actions: []string{"ops", "journal"}, Count: 1,
		Event: event.Event{
			Source: "venus-wallet", Host: "miner-01",
			Time:  time.Date(2026, 11, 25, 10, 21, 34, 561e6, time.FixedZone("", 8*3600)),
			Level: "ERROR", Logger: "wallet_event", Caller: "walletevent/wallet_client.go:160",
			Msg:    "WalletSign error password not set",
			Fields: map[string]any{"api hub": "/dns/gw/tcp/83/wss"},
			Line:   "2026-11-25T10:21:34.561+0800\tERROR\twallet_event\twalletevent/wallet_client.go:160\tWalletSign error password not set\t{\"api hub\": \"/dns/gw/tcp/83/wss\"}",
			File:   "/var/log/venus/wallet.log", Offset: 4096,
		},
	}
}

// hostile is a firing whose log-derived text tries to fake and hide
// content in a chat message.
func hostile() event.Firing {
	f := firing()
	f.Summary = "fake **bold** _it_ [link](http://evil.example) <!channel> <@all> <b>x</b> `code`\n**Severity:** info"
	f.Event.Line = "ERROR boom\n```\n**Severity:** RESOLVED\n<b>fake</b> [click](http://evil.example) <!here>\x1b[31mred\x1b[0m \u202Eevil\u202C\x00\x07 end"
	return f
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, b)
	}
	return m
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestGenericDefaultBody(t *testing.T) {
	rc := newReceiver(t, replyWith(204, ""))
	w := webhook(t, "type: webhook\nurl: "+rc.URL+"/hook\n", nil)
	f := firing()
	if retry, err := w.Do(context.Background(), f); err != nil {
		t.Fatalf("Do: %v (retry %v)", err, retry)
	}
	g := rc.next(t)
	if g.Path != "/hook" || g.ContentType != "application/json" {
		t.Errorf("path %q content type %q", g.Path, g.ContentType)
	}
	b := decode(t, g.Body)
	if d := cmp.Diff([]string{"actions", "event", "host", "rule", "severity", "source", "summary", "time"}, keys(b)); d != "" {
		t.Errorf("body keys (-want +got):\n%s", d)
	}
	want := map[string]any{
		"rule": "wallet-password-not-set", "severity": "critical",
		"summary": "venus-wallet on miner-01 cannot sign: password not set",
		"source":  "venus-wallet", "host": "miner-01", "time": "2026-11-25T10:21:34.561+08:00",
		"actions": []any{"ops", "journal"},
		"event": map[string]any{
			"source": "venus-wallet", "host": "miner-01", "time": "2026-11-25T10:21:34.561+08:00",
			"level": "ERROR", "logger": "wallet_event", "caller": "walletevent/wallet_client.go:160",
			"msg": "WalletSign error password not set", "fields": map[string]any{"api hub": "/dns/gw/tcp/83/wss"},
			"captures": map[string]any{}, "line": f.Event.Line, "file": "/var/log/venus/wallet.log", "offset": float64(4096),
		},
	}
	if d := cmp.Diff(want, b); d != "" {
		t.Errorf("body (-want +got):\n%s", d)
	}

	f.Resolved = true
	if _, err := w.Do(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if b := decode(t, rc.next(t).Body); b["resolved"] != true {
		t.Errorf("resolved firing: body %v", b)
	}
}

func TestGenericTemplate(t *testing.T) {
	rc := newReceiver(t, replyWith(200, "ok"))
	w := webhook(t, "type: webhook\nurl: "+rc.URL+"\ntemplate: '{\"text\": {{ printf \"%s: %s\" .rule .msg | json }}, \"hub\": {{ field \"api hub\" | json }}}'\n", nil)
	f := firing()
	f.Event.Msg = `quote " backslash \ newline` + "\n" + `{{ .rule }}`
	if _, err := w.Do(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	g := rc.next(t)
	b := decode(t, g.Body)
	if b["text"] != "wallet-password-not-set: "+f.Event.Msg || b["hub"] != "/dns/gw/tcp/83/wss" {
		t.Errorf("body %v", b)
	}
	if g.ContentType != "application/json" {
		t.Errorf("content type %q", g.ContentType)
	}
}

func hmacB64(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestDingtalkSignedMarkdown(t *testing.T) {
	rc := newReceiver(t, replyWith(200, `{"errcode":0,"errmsg":"ok"}`))
	w := webhook(t, "type: webhook\nformat: dingtalk\nurl_file: url\nsecret_file: secret\n",
		map[string]string{"url": rc.URL + "/robot/send?access_token=" + token + "\n", "secret": secret + "\n"})
	if _, err := w.Do(context.Background(), hostile()); err != nil {
		t.Fatal(err)
	}
	g := rc.next(t)
	q := mustQuery(t, g.RawQuery)
	ts := strconv.FormatInt(fixedNow.UnixMilli(), 10)
	if q["access_token"] != token || q["timestamp"] != ts {
		t.Errorf("query %q", g.RawQuery)
	}
	if want := hmacB64(secret, ts+"\n"+secret); q["sign"] != want {
		t.Errorf("sign %q, want %q", q["sign"], want)
	}
	b := decode(t, g.Body)
	md, _ := b["markdown"].(map[string]any)
	text, _ := md["text"].(string)
	if b["msgtype"] != "markdown" || md["title"] != "[CRITICAL] wallet-password-not-set" {
		t.Fatalf("body %v", b)
	}
	for _, want := range []string{"### [CRITICAL] wallet-password-not-set", "**Host:** miner-01", "**Source:** venus-wallet", "**Time:** 2026-11-25 10:21:34.561 +08:00",
		`fake \*\*bold\*\* \_it\_ \[link\](http://evil.example) &lt;!channel&gt;`, `> \*\*Severity:\*\* RESOLVED`, `> &lt;b&gt;fake&lt;/b&gt; \[click\]`} {
		if !strings.Contains(text, want) {
			t.Errorf("markdown lacks %q:\n%s", want, text)
		}
	}
	assertNeutralised(t, "dingtalk", text)
	// Every line of the log record is quoted: none can start a line of
	// the message. The product's name ends it, for keyword-secured robots.
	if !strings.HasSuffix(text, "\n\n— venus-medic\n") {
		t.Errorf("markdown does not end with the product's name:\n%s", text)
	}
	after := strings.TrimSuffix(text[strings.Index(text, "**Log:**"):], "\n— venus-medic\n")
	for _, l := range strings.Split(strings.TrimSpace(after), "\n")[1:] {
		if l != "" && !strings.HasPrefix(l, ">") {
			t.Errorf("log line not quoted: %q", l)
		}
	}
}

// assertNeutralised checks what no format may pass through from a log:
// terminal sequences, control and invisible characters, a summary split
// over lines, live mentions.
func assertNeutralised(t *testing.T, format, text string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\u202E", "\x00", "\x07", "\n**Severity:** info", "<!channel>", "<!here>", "<@all>", "<b>fake</b>"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s message contains %q:\n%s", format, bad, text)
		}
	}
}

func mustQuery(t *testing.T, raw string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		uv, err := url.QueryUnescape(v)
		if err != nil {
			t.Fatalf("query %q: %v", raw, err)
		}
		out[k] = uv
	}
	return out
}

func TestFeishuSignedPost(t *testing.T) {
	rc := newReceiver(t, replyWith(200, `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`))
	w := webhook(t, "type: webhook\nformat: feishu\nurl_file: url\nsecret_file: secret\n",
		map[string]string{"url": rc.URL + "/open-apis/bot/v2/hook/" + token, "secret": secret})
	if _, err := w.Do(context.Background(), hostile()); err != nil {
		t.Fatal(err)
	}
	g := rc.next(t)
	b := decode(t, g.Body)
	ts := strconv.FormatInt(fixedNow.Unix(), 10)
	if b["timestamp"] != ts {
		t.Errorf("timestamp %v, want %s", b["timestamp"], ts)
	}
	if want := hmacB64(ts+"\n"+secret, ""); b["sign"] != want {
		t.Errorf("sign %v, want %s", b["sign"], want)
	}
	if b["msg_type"] != "post" {
		t.Fatalf("body %v", b)
	}
	post := b["content"].(map[string]any)["post"].(map[string]any)["zh_cn"].(map[string]any)
	if post["title"] != "[CRITICAL] wallet-password-not-set" {
		t.Errorf("title %v", post["title"])
	}
	// Each paragraph is literal text, one element each.
	var lines []string
	for _, p := range post["content"].([]any) {
		els := p.([]any)
		if len(els) != 1 || els[0].(map[string]any)["tag"] != "text" {
			t.Errorf("paragraph %v", p)
		}
		lines = append(lines, els[0].(map[string]any)["text"].(string))
	}
	text := strings.Join(lines, "\n")
	if !strings.Contains(text, "Host: miner-01") || !strings.Contains(text, "    **Severity:** RESOLVED") {
		t.Errorf("post text:\n%s", text)
	}
	for _, bad := range []string{"\x1b", "\u202E", "\x00", "\n**Severity:** info"} {
		if strings.Contains(text, bad) {
			t.Errorf("post contains %q", bad)
		}
	}
}

func TestWecomMarkdown(t *testing.T) {
	rc := newReceiver(t, replyWith(200, `{"errcode":0,"errmsg":"ok"}`))
	w := webhook(t, "type: webhook\nformat: wecom\nurl: "+rc.URL+"/cgi-bin/webhook/send?key="+token+"\n", nil)
	if _, err := w.Do(context.Background(), hostile()); err != nil {
		t.Fatal(err)
	}
	b := decode(t, rc.next(t).Body)
	text := b["markdown"].(map[string]any)["content"].(string)
	if b["msgtype"] != "markdown" || !strings.Contains(text, "> Host: miner-01") {
		t.Errorf("body %v", b)
	}
	assertNeutralised(t, "wecom", text)
	// Log lines are inline code spans with no backtick inside.
	after := text[strings.Index(text, "Log:\n")+5:]
	for _, l := range strings.Split(strings.TrimSpace(after), "\n") {
		if !strings.HasPrefix(l, "`") || !strings.HasSuffix(l, "`") || strings.Count(l, "`") != 2 {
			t.Errorf("log line is not one code span: %q", l)
		}
	}
}

func TestSlackMrkdwn(t *testing.T) {
	rc := newReceiver(t, replyWith(200, "ok"))
	w := webhook(t, "type: webhook\nformat: slack\nurl: "+rc.URL+"/services/T0000/B0000/"+token+"\n", nil)
	if _, err := w.Do(context.Background(), hostile()); err != nil {
		t.Fatal(err)
	}
	b := decode(t, rc.next(t).Body)
	text := b["text"].(string)
	assertNeutralised(t, "slack", text)
	if strings.Count(text, "```") != 2 || !strings.HasSuffix(text, "```") {
		t.Errorf("the log line must be one code block at the end:\n%s", text)
	}
	if !strings.Contains(text, "&lt;!channel&gt;") || !strings.Contains(text, "*Host:* miner-01") {
		t.Errorf("text:\n%s", text)
	}
}

func TestTelegramHTML(t *testing.T) {
	rc := newReceiver(t, replyWith(200, `{"ok":true,"result":{"message_id":1}}`))
	w := webhook(t, "type: webhook\nformat: telegram\nurl_file: url\nchat_id: -1001234567890\n",
		map[string]string{"url": rc.URL + "/bot123456:" + token + "/sendMessage\n"})
	if _, err := w.Do(context.Background(), hostile()); err != nil {
		t.Fatal(err)
	}
	g := rc.next(t)
	if g.Path != "/bot123456:"+token+"/sendMessage" {
		t.Errorf("path %q", g.Path)
	}
	b := decode(t, g.Body)
	text := b["text"].(string)
	if b["chat_id"] != "-1001234567890" || b["parse_mode"] != "HTML" {
		t.Errorf("body %v", b)
	}
	assertNeutralised(t, "telegram", text)
	if strings.Count(text, "<pre>") != 1 || !strings.HasSuffix(text, "</pre>") || !strings.Contains(text, "&lt;b&gt;fake&lt;/b&gt;") {
		t.Errorf("text:\n%s", text)
	}
}

// TestReplies: how each platform's replies are judged.
func TestReplies(t *testing.T) {
	for _, tc := range []struct {
		format string
		status int
		body   string
		ok     bool
		retry  bool
		errHas string
	}{
		{"generic", 200, "", true, false, ""},
		{"generic", 202, "queued", true, false, ""},
		{"generic", 500, "oops", false, true, "HTTP 500"},
		{"generic", 503, "", false, true, "HTTP 503"},
		{"generic", 429, "slow down", false, true, "HTTP 429"},
		{"generic", 400, "bad", false, false, `HTTP 400 Bad Request: "bad"`},
		{"generic", 404, "", false, false, "HTTP 404"},
		{"generic", 302, "", false, false, "HTTP 302"},
		{"dingtalk", 200, `{"errcode":0,"errmsg":"ok"}`, true, false, ""},
		{"dingtalk", 200, `{"errcode":310000,"errmsg":"keywords not in content"}`, false, false, `dingtalk error 310000: "keywords not in content"`},
		{"dingtalk", 200, `{"errcode":130101,"errmsg":"send too fast"}`, false, true, "dingtalk error 130101"},
		{"dingtalk", 200, `<html>captive portal</html>`, false, false, "unexpected reply"},
		{"dingtalk", 200, `{}`, false, false, "unexpected reply"},
		{"wecom", 200, `{"errcode":0,"errmsg":"ok"}`, true, false, ""},
		{"wecom", 200, `{"errcode":93000,"errmsg":"invalid webhook url"}`, false, false, "wecom error 93000"},
		{"wecom", 200, `{"errcode":45009,"errmsg":"api freq out of limit"}`, false, true, "wecom error 45009"},
		{"feishu", 200, `{"code":0,"msg":"success"}`, true, false, ""},
		{"feishu", 200, `{"StatusCode":0,"StatusMessage":"success"}`, true, false, ""},
		{"feishu", 200, `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`, false, false, "feishu error 19021"},
		{"feishu", 200, `{"code":9499,"msg":"too many request"}`, false, true, "feishu error 9499"},
		{"feishu", 200, `{"code":11232,"msg":"frequency limited"}`, false, true, "feishu error 11232"},
		{"slack", 200, "ok", true, false, ""},
		{"slack", 400, "invalid_payload", false, false, "invalid_payload"},
		{"slack", 404, "no_service", false, false, "no_service"},
		{"slack", 429, "rate_limited", false, true, "HTTP 429"},
		{"slack", 200, "something else", false, false, "unexpected reply"},
		{"telegram", 200, `{"ok":true,"result":{}}`, true, false, ""},
		{"telegram", 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, false, false, "chat not found"},
		{"telegram", 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`, false, true, "telegram error 429"},
		{"telegram", 502, `<html>Bad Gateway</html>`, false, true, "HTTP 502"},
	} {
		t.Run(fmt.Sprintf("%s/%d/%s", tc.format, tc.status, tc.body), func(t *testing.T) {
			rc := newReceiver(t, replyWith(tc.status, tc.body))
			src := "type: webhook\nformat: " + tc.format + "\nurl_file: url\n"
			path := "/hook?access_token=" + token
			if tc.format == "telegram" {
				src += "chat_id: '42'\n"
				path = "/bot1:" + token + "/sendMessage"
			}
			w := webhook(t, src, map[string]string{"url": rc.URL + path})
			retry, err := w.Do(context.Background(), firing())
			if (err == nil) != tc.ok || retry != tc.retry {
				t.Fatalf("got retry %v, err %v; want ok %v retry %v", retry, err, tc.ok, tc.retry)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q lacks %q", err, tc.errHas)
				}
				if strings.Contains(err.Error(), token) {
					t.Errorf("error shows the token: %v", err)
				}
				if !strings.Contains(err.Error(), "post "+rc.URL) {
					t.Errorf("error does not name the receiver: %v", err)
				}
			}
		})
	}
}

// TestSecretsStayOutOfDeliveryErrors: a network error, a receiver that
// echoes the token, and a redirect never put the token in the error.
func TestSecretsStayOutOfDeliveryErrors(t *testing.T) {
	echo := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"errcode":300001,"errmsg":"token %s is not exist, url %s"}`, r.URL.Query().Get("access_token"), r.URL.String())
	})
	redirect := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/elsewhere?"+r.URL.RawQuery, http.StatusFound)
	})
	closed := newReceiver(t, nil)
	closedURL := closed.URL
	closed.Close()
	for name, u := range map[string]string{"echo": echo.URL, "redirect": redirect.URL, "closed": closedURL} {
		w := webhook(t, "type: webhook\nformat: dingtalk\nurl_file: url\nsecret_file: secret\n",
			map[string]string{"url": u + "/robot/send?access_token=" + token, "secret": secret})
		_, err := w.Do(context.Background(), firing())
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		for _, s := range []string{token, secret, "access_token", "sign=", "timestamp="} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error shows %q: %v", name, s, err)
			}
		}
		if !strings.Contains(err.Error(), "/robot/send") {
			t.Errorf("%s: error does not say where it posted: %v", name, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://oapi.dingtalk.com/robot/send?access_token=abcdef":                      "https://oapi.dingtalk.com/robot/send",
		"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx":            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
		"https://open.feishu.cn/open-apis/bot/v2/hook/0b9b3b8e-6a55-4c3e-9f1e-3a9f2f7a": "https://open.feishu.cn/open-apis/bot/v2/hook/…",
		"https://api.telegram.org/bot123456:AAbbCCdd/sendMessage":                       "https://api.telegram.org/…",
		"https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX":         "https://hooks.slack.com/services/T0000/B0000/…",
		"http://user:pass@127.0.0.1:9780/hook":                                          "http://127.0.0.1:9780/hook",
		"http://127.0.0.1:9780":                                                         "http://127.0.0.1:9780",
		"https://discord.com/api/webhooks/1234567890123/AbCdEfGhIjKlMnOp":               "https://discord.com/api/webhooks/…",
		"::not a url": "<unparseable URL>",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWebhookHonoursContext: an attempt ends when its context does, even
// when the receiver never answers, and the failure is worth retrying.
func TestWebhookHonoursContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	w := webhook(t, "type: webhook\nurl: "+rc.URL+"/hook?token="+token+"\n", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	retry, err := w.Do(ctx, firing())
	if err == nil || !retry {
		t.Fatalf("got retry %v err %v", retry, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Do returned after %v", d)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error shows the token: %v", err)
	}
}
