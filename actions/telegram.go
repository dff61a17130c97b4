package actions

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// telegramFormat posts to the Bot API's sendMessage (the URL, which holds
// the bot token, comes from url_file) for chat_id: an HTML message, the
// one Telegram markup with plain escaping. Telegram allows a bot 20
// messages a minute in a group.
var telegramFormat = format{
	name:   "telegram",
	rate:   &Rate{Count: 20, Per: yamlconf.Duration(time.Minute)},
	chatID: true,
	build:  buildTelegram,
	check:  checkTelegram,
}

func buildTelegram(w *Webhook, f *event.Firing) (request, error) {
	m := newMessage(f)
	e := html.EscapeString
	var b strings.Builder
	b.WriteString("<b>" + e(m.title()) + "</b>\n")
	b.WriteString("<b>Summary:</b> " + e(m.summary) + "\n")
	b.WriteString("<b>Host:</b> " + e(m.host) + "\n")
	b.WriteString("<b>Source:</b> " + e(m.source) + "\n")
	if m.time != "" {
		b.WriteString("<b>Time:</b> " + e(m.time) + "\n")
	}
	if m.count != "" {
		b.WriteString("<b>Events:</b> " + m.count + "\n")
	}
	if m.line != "" {
		b.WriteString("<pre>" + e(m.line) + "</pre>")
	}
	body, err := json.Marshal(map[string]any{
		"chat_id":                  w.chatID,
		"text":                     b.String(),
		"parse_mode":               "HTML",
		"disable_web_page_preview": true,
	})
	return request{url: w.url.Reveal(), body: body, contentType: "application/json"}, err
}

// checkTelegram: the Bot API answers {"ok": true, ...} or {"ok": false,
// "error_code": N, "description": "...", "parameters": {"retry_after": S}}.
func checkTelegram(status int, h http.Header, body []byte) (bool, error) {
	var r struct {
		OK          bool   `json:"ok"`
		ErrorCode   int    `json:"error_code"`
		Description string `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		if retry, err := checkHTTP(status, h, body); err != nil {
			return retry, err
		}
		return false, fmt.Errorf("telegram: unexpected reply %q", snippet(body))
	}
	if r.OK && status/100 == 2 {
		return false, nil
	}
	code := r.ErrorCode
	if code == 0 {
		code = status
	}
	err := fmt.Errorf("telegram error %d: %q", code, snippet([]byte(r.Description)))
	if code == http.StatusTooManyRequests || code >= 500 {
		return true, withRetryAfter(err, time.Duration(r.Parameters.RetryAfter)*time.Second)
	}
	return false, err
}
