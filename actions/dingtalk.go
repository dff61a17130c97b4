package actions

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// dingtalkFormat posts to a DingTalk group robot: a markdown message,
// signed when the robot has a secret ("加签"). DingTalk allows a robot 20
// messages a minute and mutes it for 10 minutes beyond that.
var dingtalkFormat = format{
	name:   "dingtalk",
	rate:   &Rate{Count: 20, Per: yamlconf.Duration(time.Minute)},
	signed: true,
	build:  buildDingtalk,
	check: func(status int, h http.Header, body []byte) (bool, error) {
		// -1: system busy; 130101: sending too fast.
		return checkCode("dingtalk", status, h, body, -1, 130101)
	},
}

func buildDingtalk(w *Webhook, f *event.Firing) (request, error) {
	m := newMessage(f)
	var b strings.Builder
	b.WriteString("### [" + m.status + "] " + mdEscape(m.rule) + "\n\n")
	b.WriteString("**Summary:** " + mdEscape(m.summary) + "\n\n")
	b.WriteString("**Host:** " + mdEscape(m.host) + "\n\n")
	b.WriteString("**Source:** " + mdEscape(m.source) + "\n\n")
	if m.time != "" {
		b.WriteString("**Time:** " + mdEscape(m.time) + "\n\n")
	}
	if m.count != "" {
		b.WriteString("**Events:** " + m.count + "\n\n")
	}
	if m.line != "" {
		// DingTalk's markdown has no code blocks: the line is a quote,
		// escaped, one quoted line per line of the record.
		b.WriteString("**Log:**\n\n")
		for _, l := range strings.Split(m.line, "\n") {
			b.WriteString("> " + mdEscape(l) + "\n>\n")
		}
	}
	// Robots secured by keywords accept only messages holding one: this
	// name is always there to be used as one.
	b.WriteString("\n— venus-medic\n")
	body, err := json.Marshal(map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]string{"title": m.title(), "text": b.String()},
	})
	return request{url: signDingtalk(w.url.Reveal(), w.secret.Reveal(), w.now()), body: body, contentType: "application/json"}, err
}

// signDingtalk adds DingTalk's signature to the robot URL when there is a
// secret: timestamp (ms) and sign = base64(HMAC-SHA256(secret,
// timestamp+"\n"+secret)), URL-escaped.
func signDingtalk(u, secret string, now time.Time) string {
	if secret == "" {
		return u
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	sign := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "timestamp=" + ts + "&sign=" + url.QueryEscape(sign)
}
