package actions

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// wecomFormat posts to a WeCom (企业微信) group robot: a markdown
// message. WeCom allows a robot 20 messages a minute.
var wecomFormat = format{
	name:  "wecom",
	rate:  &Rate{Count: 20, Per: yamlconf.Duration(time.Minute)},
	build: buildWecom,
	check: func(status int, h http.Header, body []byte) (bool, error) {
		// -1: system busy; 45009: API frequency limit.
		return checkCode("wecom", status, h, body, -1, 45009)
	},
}

// wecomCode neutralises a line of log text for an inline code span, which
// is the only code WeCom's markdown has: no backticks (cleanLine removed
// them) and no angle brackets, which WeCom reads as mentions.
var wecomCode = strings.NewReplacer("<", "‹", ">", "›")

func buildWecom(w *Webhook, f *event.Firing) (request, error) {
	m := newMessage(f)
	color := "warning"
	switch m.status {
	case "INFO", "RESOLVED":
		color = "info"
	case "WARNING":
		color = "comment"
	}
	var b strings.Builder
	b.WriteString(`**<font color="` + color + `">[` + m.status + "] " + mdEscape(m.rule) + "</font>**\n")
	b.WriteString("> Summary: " + mdEscape(m.summary) + "\n")
	b.WriteString("> Host: " + mdEscape(m.host) + "\n")
	b.WriteString("> Source: " + mdEscape(m.source) + "\n")
	if m.time != "" {
		b.WriteString("> Time: " + mdEscape(m.time) + "\n")
	}
	if m.count != "" {
		b.WriteString("> Events: " + m.count + "\n")
	}
	if m.line != "" {
		b.WriteString("Log:\n")
		for _, l := range strings.Split(m.line, "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			b.WriteString("`" + wecomCode.Replace(l) + "`\n")
		}
	}
	body, err := json.Marshal(map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]string{"content": b.String()},
	})
	return request{url: w.url.Reveal(), body: body, contentType: "application/json"}, err
}
