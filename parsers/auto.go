package parsers

import (
	"sync/atomic"

	"github.com/venus-medic/venus-medic/event"
)

// Auto detects the format of each record: go-log console (with or without
// time, TABs or spaces), Rust tracing, logrus, JSON, logfmt, else raw. A
// damocles-manager log mixes go-log and tracing lines, so detection is per
// record, not per file. The first byte picks the candidates, and the
// format that matched last is tried first, so a homogeneous log costs one
// attempt per record. An Auto is safe for concurrent use.
type Auto struct {
	last atomic.Int32 // index in formats of the last format that matched
}

// formats are the formats Auto tries, in this order after the last match.
var formats = [...]matcher{
	matchGoLog,
	matchTracing,
	matchLogrus,
	matchJSON,
	func(r record, ev *event.Event) bool { return matchLogfmt(r, ev, true) },
}

const (
	fGoLog = 1 << iota
	fTracing
	fLogrus
	fJSON
	fLogfmt
)

// candidates returns the formats that can start with byte c.
func candidates(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return fGoLog | fTracing
	case c == '{' || c == ' ' || c == '\t':
		return fJSON
	case c >= 'A' && c <= 'Z':
		return fGoLog | fLogrus | fLogfmt
	case c >= 'a' && c <= 'z' || c == '_' || c == '@':
		return fLogfmt
	}
	return 0
}

// Parse implements Parser.
func (a *Auto) Parse(rec []byte, ev *event.Event) {
	r := newRecord(rec)
	reset(ev)
	if r.s == "" {
		return
	}
	cand := candidates(r.s[0])
	last := int(a.last.Load())
	if cand&(1<<last) != 0 {
		if formats[last](r, ev) {
			return
		}
		reset(ev)
		cand &^= 1 << last
	}
	for i, m := range formats {
		if cand&(1<<i) == 0 {
			continue
		}
		if m(r, ev) {
			a.last.Store(int32(i))
			return
		}
		reset(ev)
	}
	ev.Msg = r.s
}
