package parsers

import (
	"encoding/json"
	"strings"

	"github.com/venus-medic/venus-medic/event"
)

// JSON parses one JSON object per record: go-log's GOLOG_LOG_FMT=json
// lines (`{"level":"error","ts":"…","logger":…,"caller":…,"msg":…, fields…}`,
// the golog-json parser) and any other JSON log. The keys time, ts,
// timestamp, @timestamp (an ISO 8601 string or Unix seconds), level, lvl,
// severity (a name in any case, or bunyan's numbers 10–60), msg, message,
// logger and caller set the event's fields; every other key goes to Fields
// with its JSON value (numbers are float64, nested objects and arrays are
// kept). A record without a msg key keeps its whole text as Msg.
type JSON struct{}

// Parse implements Parser.
func (JSON) Parse(rec []byte, ev *event.Event) { parseWith(rec, ev, matchJSON) }

func matchJSON(r record, ev *event.Event) bool {
	s := strings.TrimSpace(r.s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return false
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return false
	}
	for _, k := range timeKeys {
		if v, ok := m[k]; ok && assignJSONTime(ev, v) {
			delete(m, k)
			break
		}
	}
	for _, k := range levelKeys {
		if v, ok := m[k]; ok && assignJSONLevel(ev, v) {
			delete(m, k)
			break
		}
	}
	hasMsg := false
	for _, k := range msgKeys {
		if v, ok := m[k]; ok {
			ev.Msg = jsonText(v)
			hasMsg = true
			delete(m, k)
			break
		}
	}
	if v, ok := m["logger"].(string); ok {
		ev.Logger = v
		delete(m, "logger")
	}
	if v, ok := m["caller"].(string); ok {
		ev.Caller = v
		delete(m, "caller")
	}
	if len(m) > 0 {
		ev.Fields = m
	}
	if !hasMsg {
		ev.Msg = r.s
	}
	return true
}

// The keys that name the event's time, level and message, in the order
// they are looked for.
var (
	timeKeys  = []string{"ts", "time", "timestamp", "@timestamp", "Time", "Timestamp"}
	levelKeys = []string{"level", "lvl", "severity", "loglevel", "Level", "Severity"}
	msgKeys   = []string{"msg", "message", "Msg", "Message"}
)

func assignJSONTime(ev *event.Event, v any) bool {
	switch x := v.(type) {
	case string:
		if t, ok := parseTimeValue(x); ok {
			ev.Time = t
			return true
		}
	case float64:
		if x > 0 {
			ev.Time = unixTime(x, 0)
			return true
		}
	}
	return false
}

func assignJSONLevel(ev *event.Event, v any) bool {
	switch x := v.(type) {
	case string:
		ev.Level = normLevel(strings.TrimSpace(x))
	case float64:
		ev.Level = numLevel(x)
	}
	return ev.Level != ""
}

// jsonText renders a JSON value as message text.
func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
