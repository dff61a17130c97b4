package parsers

import (
	"strings"

	"github.com/venus-medic/venus-medic/event"
)

// Logfmt parses logfmt lines, `k=v k2="quoted v"`, as logrus (without
// colours), go-kit and many Go programs write them. The keys time, ts,
// timestamp, level, lvl, severity, msg, message, logger and caller set the
// event's fields; every other key, and a time or level that cannot be read,
// goes to Fields (string values; a key without '=' has the value ""). A
// record without a msg key keeps its whole text as Msg. A record with no
// key=value pair, or with an unterminated quote, is raw.
type Logfmt struct{}

// Parse implements Parser.
func (Logfmt) Parse(rec []byte, ev *event.Event) {
	parseWith(rec, ev, func(r record, ev *event.Event) bool { return matchLogfmt(r, ev, false) })
}

// matchLogfmt reads r as logfmt. When strict (detecting the format among
// others), every token must be key=value and a level or msg key must be
// present.
func matchLogfmt(r record, ev *event.Event, strict bool) bool {
	var a textAssigner
	a.ev = ev
	pairs, ok := scanLogfmt(r.s, strict, a.set)
	if !ok || pairs == 0 || (strict && !a.hasMsg && ev.Level == "" && !a.hadLevel) {
		return false
	}
	if !a.hasMsg {
		ev.Msg = r.s
	}
	return true
}

// scanLogfmt calls fn for each key/value of s and returns how many tokens
// had a value. ok is false when s is not logfmt: an unterminated quote, a
// quote in a key, or (when strict) a key without a value.
func scanLogfmt(s string, strict bool, fn func(k, v string)) (pairs int, ok bool) {
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			return pairs, true
		}
		ks := i
		for i < len(s) && s[i] > ' ' && s[i] != '=' && s[i] != '"' {
			i++
		}
		if i == ks {
			return pairs, false
		}
		key := s[ks:i]
		if i == len(s) || s[i] == ' ' || s[i] == '\t' {
			if strict {
				return pairs, false
			}
			fn(key, "")
			continue
		}
		if s[i] != '=' {
			return pairs, false
		}
		i++
		var v string
		if i < len(s) && s[i] == '"' {
			j := closingQuote(s, i)
			if j < 0 {
				return pairs, false
			}
			v = unescape(s[i+1 : j])
			i = j + 1
			if i < len(s) && s[i] != ' ' && s[i] != '\t' {
				return pairs, false
			}
		} else {
			vs := i
			for i < len(s) && s[i] != ' ' && s[i] != '\t' {
				i++
			}
			v = s[vs:i]
		}
		pairs++
		fn(key, v)
	}
}

// textAssigner maps text key/values onto an event.
type textAssigner struct {
	ev       *event.Event
	hasMsg   bool
	hadLevel bool
}

func (a *textAssigner) set(k, v string) {
	ev := a.ev
	switch strings.ToLower(k) {
	case "time", "ts", "timestamp", "@timestamp":
		if ev.Time.IsZero() {
			if t, ok := parseTimeValue(v); ok {
				ev.Time = t
				return
			}
		}
	case "level", "lvl", "severity", "loglevel":
		a.hadLevel = true
		if ev.Level == "" {
			if l := normLevel(strings.TrimSpace(v)); l != "" {
				ev.Level = l
				return
			}
		}
	case "msg", "message":
		if !a.hasMsg {
			ev.Msg = v
			a.hasMsg = true
			return
		}
	case "logger":
		if ev.Logger == "" {
			ev.Logger = v
			return
		}
	case "caller":
		if ev.Caller == "" {
			ev.Caller = v
			return
		}
	}
	setField(ev, k, v)
}
