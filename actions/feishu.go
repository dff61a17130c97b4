package actions

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// feishuFormat posts to a Feishu/Lark custom bot: a rich-text ("post")
// message, whose text elements are shown literally, so there is no markup
// to escape. Signed when the bot has a secret. Feishu allows a bot 100
// messages a minute.
var feishuFormat = format{
	name:   "feishu",
	rate:   &Rate{Count: 100, Per: yamlconf.Duration(time.Minute)},
	signed: true,
	build:  buildFeishu,
	check: func(status int, h http.Header, body []byte) (bool, error) {
		// 9499 and 11232: too many requests.
		return checkCode("feishu", status, h, body, 9499, 11232)
	},
}

type feishuText struct {
	Tag  string `json:"tag"`
	Text string `json:"text"`
}

func buildFeishu(w *Webhook, f *event.Firing) (request, error) {
	m := newMessage(f)
	var para [][]feishuText
	add := func(label, v string) {
		if v != "" {
			para = append(para, []feishuText{{Tag: "text", Text: label + v}})
		}
	}
	add("Summary: ", m.summary)
	add("Host: ", m.host)
	add("Source: ", m.source)
	add("Time: ", m.time)
	add("Events: ", m.count)
	if m.line != "" {
		para = append(para, []feishuText{{Tag: "text", Text: "Log:"}})
		for _, l := range strings.Split(m.line, "\n") {
			para = append(para, []feishuText{{Tag: "text", Text: "    " + l}})
		}
	}
	// Bots secured by keywords accept only messages holding one: this
	// name is always there to be used as one.
	para = append(para, []feishuText{{Tag: "text", Text: "— venus-medic"}})
	msg := map[string]any{
		"msg_type": "post",
		"content": map[string]any{
			"post": map[string]any{
				"zh_cn": map[string]any{"title": m.title(), "content": para},
			},
		},
	}
	if sec := w.secret.Reveal(); sec != "" {
		ts, sign := signFeishu(sec, w.now())
		msg["timestamp"] = ts
		msg["sign"] = sign
	}
	body, err := json.Marshal(msg)
	return request{url: w.url.Reveal(), body: body, contentType: "application/json"}, err
}

// signFeishu returns Feishu's timestamp (seconds) and signature: the
// HMAC-SHA256 of an empty message keyed with timestamp+"\n"+secret,
// base64-encoded.
func signFeishu(secret string, now time.Time) (ts, sign string) {
	ts = strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	return ts, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
