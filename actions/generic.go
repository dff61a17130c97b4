package actions

import (
	"encoding/json"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

// genericFormat posts the firing as JSON (SPEC §3), or the webhook's
// template rendered over the firing. Any 2xx reply is delivered.
var genericFormat = format{
	name:  "generic",
	build: buildGeneric,
	check: checkHTTP,
}

// genericBody is the generic webhook's default body.
type genericBody struct {
	Rule     string    `json:"rule"`
	Severity string    `json:"severity"`
	Summary  string    `json:"summary"`
	Source   string    `json:"source"`
	Host     string    `json:"host"`
	Time     string    `json:"time"`
	Event    eventBody `json:"event"`
	Actions  []string  `json:"actions"`
	Resolved bool      `json:"resolved,omitempty"`
	// Results are what earlier actions of a `then` chain produced.
	Results map[string]any `json:"results,omitempty"`
}

// eventBody is an event with the field names of SPEC §1, every one present.
type eventBody struct {
	Source   string            `json:"source"`
	Host     string            `json:"host"`
	Time     string            `json:"time"`
	Level    string            `json:"level"`
	Logger   string            `json:"logger"`
	Caller   string            `json:"caller"`
	Msg      string            `json:"msg"`
	Fields   map[string]any    `json:"fields"`
	Captures map[string]string `json:"captures"`
	Line     string            `json:"line"`
	File     string            `json:"file"`
	Offset   int64             `json:"offset"`
}

// firingJSON renders a firing as the generic webhook's default body;
// exec gives the same JSON to its command on stdin.
func firingJSON(f *event.Firing) ([]byte, error) {
	ev := &f.Event
	t := ev.Time.Format(time.RFC3339Nano)
	b := genericBody{
		Rule: f.Rule, Severity: f.Severity, Summary: f.Summary,
		Source: ev.Source, Host: ev.Host, Time: t,
		Event: eventBody{
			Source: ev.Source, Host: ev.Host, Time: t, Level: ev.Level,
			Logger: ev.Logger, Caller: ev.Caller, Msg: ev.Msg,
			Fields: ev.Fields, Captures: ev.Captures, Line: ev.Line,
			File: ev.File, Offset: ev.Offset,
		},
		Actions:  f.Actions,
		Resolved: f.Resolved,
		Results:  f.Results,
	}
	if b.Event.Fields == nil {
		b.Event.Fields = map[string]any{}
	}
	if b.Event.Captures == nil {
		b.Event.Captures = map[string]string{}
	}
	if b.Actions == nil {
		b.Actions = []string{}
	}
	return json.Marshal(b)
}

func buildGeneric(w *Webhook, f *event.Firing) (request, error) {
	r := request{url: w.url.Reveal(), contentType: "application/json"}
	if w.tmpl == nil {
		body, err := firingJSON(f)
		r.body = body
		return r, err
	}
	s, err := w.tmpl.Render(f)
	if err != nil {
		return r, err
	}
	r.body = []byte(s)
	if !json.Valid(r.body) {
		r.contentType = "text/plain; charset=utf-8"
	}
	return r, nil
}
