package actions

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// redactURL returns what of a webhook URL may be shown: the scheme, the
// host and the leading path segments that cannot be secrets. The query
// (DingTalk's access_token, WeCom's key), user info, and every path
// segment from the first one that may be a token on (Feishu's hook id,
// Slack's hook token, Telegram's bot token) are left out:
//
//	https://oapi.dingtalk.com/robot/send?access_token=X  → https://oapi.dingtalk.com/robot/send
//	https://api.telegram.org/bot123:AA…/sendMessage      → https://api.telegram.org/…
//	https://hooks.slack.com/services/T0/B0/XXXXXXXX      → https://hooks.slack.com/services/T0/B0/…
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<unparseable URL>"
	}
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	b.WriteString(u.Host)
	path := strings.Trim(u.EscapedPath(), "/")
	if path == "" {
		return b.String()
	}
	for _, seg := range strings.Split(path, "/") {
		if !harmlessSegment(seg) {
			b.WriteString("/…")
			return b.String()
		}
		b.WriteString("/")
		b.WriteString(seg)
	}
	return b.String()
}

// harmlessSegment reports whether a path segment cannot be a token: a
// short one (ids like Slack's T0123ABCD are not secret, tokens are long),
// or a plain word. A segment with ':' (Telegram's bot123:token) never is.
func harmlessSegment(seg string) bool {
	if seg == "" || strings.ContainsAny(seg, ":%@=") {
		return false
	}
	if len(seg) <= 12 {
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
				return false
			}
		}
		return true
	}
	for _, r := range seg {
		if !(r >= 'a' && r <= 'z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// scrubber removes secrets from error text: the whole URL and each of its
// parts that redactURL leaves out, and signing secrets.
type scrubber []string

func newScrubber(rawURL string, secrets ...string) scrubber {
	var s scrubber
	add := func(v string) {
		if len(v) >= 4 {
			s = append(s, v)
		}
	}
	add(rawURL)
	if u, err := url.Parse(rawURL); err == nil {
		add(u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
				add(url.QueryEscape(v))
			}
		}
		for _, seg := range strings.Split(strings.Trim(u.Path, "/"), "/") {
			if !harmlessSegment(seg) {
				add(seg)
			}
		}
		if u.User != nil {
			add(u.User.String())
		}
	}
	for _, v := range secrets {
		add(v)
	}
	// Longest first, so a secret containing another is removed whole.
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && len(s[j]) > len(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// text returns msg with every secret replaced by <secret>.
func (s scrubber) text(msg string) string {
	for _, v := range s {
		msg = strings.ReplaceAll(msg, v, "<secret>")
	}
	return msg
}

// err returns err with its text scrubbed; nil stays nil. The result does
// not wrap err, whose text may hold a secret, except for the sentinel
// context errors the Dispatcher looks for.
func (s scrubber) err(err error) error {
	if err == nil {
		return nil
	}
	msg := s.text(err.Error())
	for _, sentinel := range []error{context.DeadlineExceeded, context.Canceled} {
		if errors.Is(err, sentinel) {
			return &scrubbed{msg: msg, is: sentinel}
		}
	}
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return &retryAfterError{err: fmt.Errorf("%s", msg), after: ra.after}
	}
	return errors.New(msg)
}

type scrubbed struct {
	msg string
	is  error
}

func (e *scrubbed) Error() string        { return e.msg }
func (e *scrubbed) Is(target error) bool { return target == e.is }
