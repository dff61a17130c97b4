package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// webhookConfig is the configuration of a webhook action (SPEC §3).
type webhookConfig struct {
	Common     `yaml:",inline"`
	Format     string `yaml:"format"`
	URL        string `yaml:"url"`
	URLFile    string `yaml:"url_file"`
	URLEnv     string `yaml:"url_env"`
	SecretFile string `yaml:"secret_file"`
	ChatID     string `yaml:"chat_id"`
	Template   string `yaml:"template"`
}

// Webhook posts a firing to an HTTP endpoint, as generic JSON or as a
// message for a chat platform (DingTalk, Feishu/Lark, WeCom, Slack,
// Telegram), and checks the platform's reply.
type Webhook struct {
	fm     *format
	url    yamlconf.Secret
	secret yamlconf.Secret // signing secret (DingTalk, Feishu)
	chatID string          // Telegram
	tmpl   *event.Template // generic body; nil for the default body
	shown  string          // the URL as errors show it (redactURL)
	scrub  scrubber
	client *http.Client
	now    func() time.Time
}

// format is what differs between webhook formats.
type format struct {
	name string
	// rate is the platform's own limit, the default rate; nil for none.
	rate *Rate
	// signed formats take secret_file (DingTalk, Feishu).
	signed bool
	// chatID formats need chat_id (Telegram).
	chatID bool
	// build makes the request for a firing: the URL to post to (signed
	// formats add to it), the body and its content type.
	build func(w *Webhook, f *event.Firing) (request, error)
	// check judges the reply: nil when delivered, else whether it is
	// worth retrying and why.
	check func(status int, h http.Header, body []byte) (retry bool, err error)
}

type request struct {
	url         string
	body        []byte
	contentType string
}

// formats is the table of webhook formats; each lives in its own file.
var formats = map[string]*format{
	"generic":  &genericFormat,
	"dingtalk": &dingtalkFormat,
	"feishu":   &feishuFormat,
	"wecom":    &wecomFormat,
	"slack":    &slackFormat,
	"telegram": &telegramFormat,
}

func formatNames() []string {
	out := make([]string, 0, len(formats))
	for n := range formats {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// maxReply bounds how much of a reply is read.
const maxReply = 64 << 10

// transport is shared by every webhook: connections are reused, and
// connecting has its own timeouts. The attempt's context (the action's
// timeout, DefaultTimeout when Do is called without a deadline) bounds
// the whole request.
var transport = &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 2 * time.Minute, // a backstop; attempts have their own timeout
	IdleConnTimeout:       90 * time.Second,
	MaxIdleConnsPerHost:   2,
	ForceAttemptHTTP2:     true,
}

// client does not follow redirects: a webhook that moved is a
// configuration problem, and the body should not go elsewhere.
var client = &http.Client{
	Transport: transport,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

func newWebhook(s *spec) (Action, error) {
	var c webhookConfig
	if err := s.decode(&c); err != nil {
		return nil, err
	}
	w, err := c.validate(s)
	if err != nil {
		return nil, err // not a typed nil in an Action
	}
	return w, nil
}

// validate checks the configuration, reads the files it names and parses
// its template.
func (c *webhookConfig) validate(s *spec) (*Webhook, error) {
	var errs []error
	if c.Format == "" {
		c.Format = "generic"
	}
	fm, ok := formats[c.Format]
	if !ok {
		msg := fmt.Sprintf("unknown webhook format %q; known formats: %s", c.Format, strings.Join(formatNames(), ", "))
		if sg := yamlconf.Suggest(c.Format, formatNames()); sg != "" {
			msg += fmt.Sprintf("; did you mean %q?", sg)
		}
		return nil, s.errAt(s.value("format"), "%s", msg)
	}
	w := &Webhook{fm: fm, chatID: c.ChatID, client: client, now: time.Now}

	// The URL: exactly one of url, url_file, url_env.
	var given []string
	for _, k := range []string{"url", "url_file", "url_env"} {
		if k, _ := s.pair(k); k != nil {
			given = append(given, k.Value)
		}
	}
	switch {
	case len(given) == 0:
		errs = append(errs, s.errAt(s.node, "webhook %q needs one of url, url_file, url_env", s.name))
	case len(given) > 1:
		errs = append(errs, s.errAt(s.keyNode(given[1]), "webhook %q takes only one of url, url_file, url_env", s.name))
	case c.URL != "":
		w.url = yamlconf.Secret(c.URL)
		if err := checkURL(c.URL); err != nil {
			errs = append(errs, s.errAt(s.value("url"), "url %s: %v", redactURL(c.URL), err))
		}
	case c.URLFile != "":
		u, err := s.readSecret("url_file", c.URLFile)
		if err != nil {
			errs = append(errs, err)
			break
		}
		w.url = u
		if err := checkURL(u.Reveal()); err != nil {
			errs = append(errs, s.errAt(s.keyNode("url_file"), "url_file %q: %v", c.URLFile, err))
		}
	case c.URLEnv != "":
		v := os.Getenv(c.URLEnv)
		if v == "" {
			errs = append(errs, s.errAt(s.keyNode("url_env"), "url_env %q: the variable is not set", c.URLEnv))
			break
		}
		w.url = yamlconf.Secret(v)
		if err := checkURL(v); err != nil {
			errs = append(errs, s.errAt(s.keyNode("url_env"), "url_env %q: %v", c.URLEnv, err))
		}
	default:
		errs = append(errs, s.errAt(s.value(given[0]), "%s must not be empty", given[0]))
	}

	if c.SecretFile != "" {
		if !fm.signed {
			errs = append(errs, s.errAt(s.keyNode("secret_file"), "secret_file is only for the dingtalk and feishu formats, not %s", fm.name))
		} else if sec, err := s.readSecret("secret_file", c.SecretFile); err != nil {
			errs = append(errs, err)
		} else {
			w.secret = sec
		}
	}
	if fm.chatID {
		if c.ChatID == "" {
			errs = append(errs, s.errAt(s.node, "telegram webhook %q needs chat_id", s.name))
		}
		if w.url != "" && !strings.HasSuffix(strings.TrimRight(urlPath(w.url.Reveal()), "/"), "/sendMessage") {
			errs = append(errs, s.errAt(s.keyNode(given[0]), "the telegram URL must be the bot's sendMessage URL, https://api.telegram.org/bot<token>/sendMessage"))
		}
	} else if c.ChatID != "" {
		errs = append(errs, s.errAt(s.keyNode("chat_id"), "chat_id is only for the telegram format"))
	}
	if c.Template != "" {
		if fm != &genericFormat {
			errs = append(errs, s.errAt(s.keyNode("template"), "template is only for the generic format; %s messages have a fixed layout", fm.name))
		} else if t, err := s.template("template", s.value("template"), c.Template); err != nil {
			errs = append(errs, err)
		} else {
			w.tmpl = t
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	w.shown = redactURL(w.url.Reveal())
	w.scrub = newScrubber(w.url.Reveal(), w.secret.Reveal())
	return w, nil
}

// checkURL checks that u is an absolute http(s) URL. Its errors do not
// quote u.
func checkURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return errors.New("not an http or https URL")
	}
	return nil
}

func urlPath(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Path
}

func (w *Webhook) format() string { return w.fm.name }

func (w *Webhook) defaultRate() *Rate {
	if w.fm.rate == nil {
		return nil
	}
	r := *w.fm.rate
	return &r
}

// String describes the webhook without its secrets.
func (w *Webhook) String() string { return w.fm.name + " webhook " + w.shown }

// Do posts firing f once. Network errors, timeouts, HTTP 429 and 5xx and
// the platforms' rate-limit codes are worth retrying; other refusals are
// not. Errors name the URL only as redactURL shows it.
func (w *Webhook) Do(ctx context.Context, f event.Firing) (retry bool, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	req, err := w.fm.build(w, &f)
	if err != nil {
		return false, w.scrub.err(fmt.Errorf("%s body: %w", w.fm.name, err))
	}
	// A signed URL's signature is a secret too, for as long as it is valid.
	scrub := w.scrub
	if req.url != w.url.Reveal() {
		scrub = newScrubber(req.url, w.url.Reveal(), w.secret.Reveal())
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.url, bytes.NewReader(req.body))
	if err != nil {
		return false, scrub.err(fmt.Errorf("post %s: %w", w.shown, unwrapURLErr(err)))
	}
	hreq.Header.Set("Content-Type", req.contentType)
	hreq.Header.Set("User-Agent", "venus-medic")
	resp, err := w.client.Do(hreq)
	if err != nil {
		return true, scrub.err(fmt.Errorf("post %s: %w", w.shown, unwrapURLErr(err)))
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReply))
	if rerr != nil && resp.StatusCode/100 == 2 {
		return true, scrub.err(fmt.Errorf("post %s: reading the reply: %w", w.shown, unwrapURLErr(rerr)))
	}
	if retry, err := w.fm.check(resp.StatusCode, resp.Header, body); err != nil {
		return retry, scrub.err(fmt.Errorf("post %s: %w", w.shown, err))
	}
	return false, nil
}

// unwrapURLErr drops net/http's *url.Error wrapper, whose text holds the
// whole URL.
func unwrapURLErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkHTTP judges the HTTP status alone: 2xx is delivered, 429 and 5xx
// are worth retrying (after Retry-After when the server gives one),
// anything else is a refusal.
func checkHTTP(status int, h http.Header, body []byte) (retry bool, err error) {
	if status/100 == 2 {
		return false, nil
	}
	err = fmt.Errorf("HTTP %d %s: %q", status, http.StatusText(status), snippet(body))
	switch {
	case status == http.StatusTooManyRequests:
		return true, withRetryAfter(err, parseRetryAfter(h.Get("Retry-After")))
	case status >= 500:
		return true, withRetryAfter(err, parseRetryAfter(h.Get("Retry-After")))
	}
	return false, err
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// snippet returns the start of a reply body for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) && len(s) > 0 {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// codeReply is the reply of the platforms that answer with an error code.
type codeReply struct {
	ErrCode       *int   `json:"errcode"` // DingTalk, WeCom
	ErrMsg        string `json:"errmsg"`
	Code          *int   `json:"code"` // Feishu
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"` // Feishu (older replies)
	StatusMessage string `json:"StatusMessage"`
}

// checkCode judges a reply carrying a platform error code: the HTTP
// status first, then the code, which must be present and 0. Codes in
// retryable are the platform's rate limits and transient errors.
func checkCode(platform string, status int, h http.Header, body []byte, retryable ...int) (bool, error) {
	if retry, err := checkHTTP(status, h, body); err != nil {
		return retry, err
	}
	var r codeReply
	if err := json.Unmarshal(body, &r); err != nil {
		return false, fmt.Errorf("%s: unexpected reply %q", platform, snippet(body))
	}
	code, msg := r.ErrCode, r.ErrMsg
	if code == nil {
		code, msg = r.Code, r.Msg
	}
	if code == nil || (*code == 0 && r.StatusCode != nil && *r.StatusCode != 0) {
		code, msg = r.StatusCode, r.StatusMessage
	}
	if code == nil {
		return false, fmt.Errorf("%s: unexpected reply %q", platform, snippet(body))
	}
	if *code == 0 {
		return false, nil
	}
	err := fmt.Errorf("%s error %d: %q", platform, *code, snippet([]byte(msg)))
	for _, c := range retryable {
		if *code == c {
			return true, err
		}
	}
	return false, err
}
