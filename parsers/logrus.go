package parsers

import (
	"strings"

	"github.com/venus-medic/venus-medic/event"
)

// Logrus parses sirupsen/logrus text lines, as sophon-auth writes them
// with colours forced on:
//
//	\x1b[36mINFO\x1b[0m[2026-11-24T10:00:01+08:00] server start and listen on 0.0.0.0:8989   \x1b[36mkey\x1b[0m=value …
//
// and the same without colours (the message is padded to 44 characters,
// the key=value fields follow), or with the seconds since start instead of
// a time (`INFO[0012]`). The four-letter level (TRAC DEBU INFO WARN ERRO
// FATA PANI) is mapped to an event level. Logrus' uncoloured default,
// `time="…" level=info msg="…" key=value`, is read as logfmt.
type Logrus struct{}

// Parse implements Parser.
func (Logrus) Parse(rec []byte, ev *event.Event) { parseWith(rec, ev, matchLogrus) }

func matchLogrus(r record, ev *event.Event) bool {
	s := r.s
	open := strings.IndexByte(s[:min(len(s), 8)], '[')
	if open < 4 {
		return matchLogfmt(r, ev, true)
	}
	lvl := normLevel(s[:open])
	if lvl == "" {
		return false
	}
	close := strings.IndexByte(s, ']')
	if close <= open {
		return false
	}
	stamp := s[open+1 : close]
	allDigits := true
	for i := 0; i < len(stamp); i++ {
		if !isDigit(stamp[i]) {
			allDigits = false
			break
		}
	}
	if !allDigits {
		t, ok := parseTimeValue(stamp)
		if !ok {
			return false
		}
		ev.Time = t
	}
	ev.Level = lvl
	if r.ansi {
		if msg, ok := logrusColored(r.raw, ev); ok {
			ev.Msg = msg
			return true
		}
	}
	ev.Msg = trailingFields(s[close+1:], ev, goValue)
	return true
}

// logrusColored reads the message and fields of a coloured line: each
// field starts with " ESC[NNm", its key ends with "ESC[0m=". That marks
// the fields apart from the message even when the message holds "k=v".
func logrusColored(raw string, ev *event.Event) (string, bool) {
	i := strings.Index(raw, "\x1b[0m[")
	if i < 0 {
		return "", false
	}
	close := strings.IndexByte(raw[i+5:], ']')
	if close < 0 {
		return "", false
	}
	rest := raw[i+5+close+1:]
	first := strings.Index(rest, " \x1b[")
	if first < 0 {
		return trimBlank(stripANSI(rest)), true
	}
	msg := trimBlank(stripANSI(rest[:first]))
	rest = rest[first:]
	for rest != "" {
		// rest is " ESC[NNm key ESC[0m=value"
		m := strings.IndexByte(rest, 'm')
		if m < 0 {
			break
		}
		kv := rest[m+1:]
		next := strings.Index(kv, " \x1b[")
		if next < 0 {
			next = len(kv)
		}
		field := kv[:next]
		rest = kv[next:]
		k, v, ok := strings.Cut(field, "\x1b[0m=")
		if !ok {
			continue
		}
		if v, keep := goValue(stripANSI(v)); keep {
			setField(ev, stripANSI(k), v)
		}
	}
	return msg, true
}

// goValue unquotes a Go %q-quoted value and keeps any other as written.
func goValue(v string) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && closingQuote(v, 0) == len(v)-1 {
		return unescape(v[1 : len(v)-1]), true
	}
	return v, true
}
