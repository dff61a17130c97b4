package actions

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// slackFormat posts to a Slack incoming webhook: an mrkdwn message.
// Slack allows about one message a second per webhook.
var slackFormat = format{
	name:  "slack",
	rate:  &Rate{Count: 1, Per: yamlconf.Duration(time.Second)},
	build: buildSlack,
	check: checkSlack,
}

// slackEscape escapes the three characters Slack gives a meaning to in
// any text: & and the angle brackets of links and mentions (<!channel>).
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func buildSlack(w *Webhook, f *event.Firing) (request, error) {
	m := newMessage(f)
	var b strings.Builder
	b.WriteString("*" + slackEscape.Replace(m.title()) + "*\n")
	b.WriteString("*Summary:* " + slackEscape.Replace(m.summary) + "\n")
	b.WriteString("*Host:* " + slackEscape.Replace(m.host) + "\n")
	b.WriteString("*Source:* " + slackEscape.Replace(m.source) + "\n")
	if m.time != "" {
		b.WriteString("*Time:* " + slackEscape.Replace(m.time) + "\n")
	}
	if m.count != "" {
		b.WriteString("*Events:* " + m.count + "\n")
	}
	if m.line != "" {
		b.WriteString("```\n" + slackEscape.Replace(m.line) + "\n```")
	}
	body, err := json.Marshal(map[string]any{
		"text":         b.String(),
		"unfurl_links": false,
		"unfurl_media": false,
	})
	return request{url: w.url.Reveal(), body: body, contentType: "application/json"}, err
}

// checkSlack: an incoming webhook answers "ok"; the Web API answers JSON
// with "ok": true.
func checkSlack(status int, h http.Header, body []byte) (bool, error) {
	if retry, err := checkHTTP(status, h, body); err != nil {
		return retry, err
	}
	if strings.TrimSpace(string(body)) == "ok" {
		return false, nil
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err == nil {
		if r.OK {
			return false, nil
		}
		return r.Error == "ratelimited", fmt.Errorf("slack error %q", snippet([]byte(r.Error)))
	}
	return false, fmt.Errorf("slack: unexpected reply %q", snippet(body))
}
