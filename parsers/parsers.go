// Package parsers is the parse stage of the pipeline: it turns a record (one
// log line, or several lines joined into one by a Joiner) into an event.
//
// The contract of the stage:
//
//	type Parser interface{ Parse(rec []byte, ev *event.Event) }
//
// Every parser keeps these promises:
//
//   - Parse never fails: an unreadable record becomes Msg = raw text (ANSI
//     escapes removed), Level = "".
//   - Parse fills only Time, Level, Logger, Caller, Msg, Fields and Captures,
//     and resets each of them first (ev is reused between records). It never
//     touches Source, Host, Line, File, Offset or LineNo.
//   - Time is the record's own time with its own precision and zone offset,
//     or zero when the record has none (the pipeline then uses the read
//     time). A time without a zone is taken as local time.
//   - Level is "" or one of DEBUG INFO WARN ERROR DPANIC PANIC FATAL: TRACE
//     and logrus' TRAC map to DEBUG, `warning` to WARN, `err`/ERRO to ERROR,
//     CRITICAL to FATAL. A level the parser cannot map is left in Fields
//     under its own key (json, logfmt) or in Captures (regex).
//   - Fields is nil when the record has no structured fields. JSON values
//     keep their JSON types (numbers are float64); values read from text
//     (tracing, logrus, logfmt) are strings.
//   - A Parser keeps no reference to rec after Parse returns, except through
//     the strings it puts in ev (which are copies).
//
// Parsers are registered by name in one table (see Names): golog,
// golog-json, tracing, logrus, logfmt, json, regex and auto. A Joiner, used
// before the parser, turns the lines of a multi-line record (Go panics,
// Rust backtraces, messages that span lines) into one record.
package parsers

import (
	"fmt"
	"strings"

	"github.com/venus-medic/venus-medic/event"
)

// Parser turns one record into an event. Parse never fails: an unreadable
// record becomes Msg = raw text (ANSI escapes removed), Level = "".
type Parser interface {
	Parse(rec []byte, ev *event.Event)
}

// Options configures a parser. Only the regex parser takes options.
type Options struct {
	// Pattern is the regex parser's regular expression (RE2 syntax) with
	// named groups.
	Pattern string
}

// parsers is the table of parsers by name, in the order Names lists them.
var parsers = []struct {
	name string
	new  func(Options) (Parser, error)
}{
	{"golog", func(Options) (Parser, error) { return GoLog{}, nil }},
	{"golog-json", func(Options) (Parser, error) { return JSON{}, nil }},
	{"tracing", func(Options) (Parser, error) { return Tracing{}, nil }},
	{"logrus", func(Options) (Parser, error) { return Logrus{}, nil }},
	{"logfmt", func(Options) (Parser, error) { return Logfmt{}, nil }},
	{"json", func(Options) (Parser, error) { return JSON{}, nil }},
	{"regex", func(o Options) (Parser, error) { return NewRegex(o.Pattern) }},
	{"auto", func(Options) (Parser, error) { return &Auto{}, nil }},
}

// Names lists the parser names New accepts.
func Names() []string {
	out := make([]string, len(parsers))
	for i, p := range parsers {
		out[i] = p.name
	}
	return out
}

// New returns the parser called name. An unknown name, a pattern given to
// a parser other than regex, or a bad pattern is an error.
func New(name string, opt Options) (Parser, error) {
	for _, p := range parsers {
		if p.name != name {
			continue
		}
		if opt.Pattern != "" && name != "regex" {
			return nil, fmt.Errorf("parser %q takes no pattern (only regex does)", name)
		}
		return p.new(opt)
	}
	return nil, fmt.Errorf("unknown parser %q (known: %s)", name, strings.Join(Names(), ", "))
}

// record is the text of one record as the format matchers see it.
type record struct {
	// raw is the record as read; s is raw without ANSI escapes (the same
	// string when raw has none).
	raw, s string
	// ansi reports whether raw had escape sequences.
	ansi bool
}

func newRecord(rec []byte) record {
	raw := string(rec)
	if !hasANSI(rec) {
		return record{raw: raw, s: raw}
	}
	return record{raw: raw, s: stripANSI(raw), ansi: true}
}

// matcher is one log format: match fills ev from r and reports whether r
// is in that format. It may leave ev partly filled when it reports false.
type matcher func(r record, ev *event.Event) bool

// reset clears the fields a parser owns.
func reset(ev *event.Event) {
	ev.Time = zeroTime
	ev.Level = ""
	ev.Logger = ""
	ev.Caller = ""
	ev.Msg = ""
	ev.Fields = nil
	ev.Captures = nil
}

// parseWith runs one matcher and falls back to the raw text.
func parseWith(rec []byte, ev *event.Event, m matcher) {
	r := newRecord(rec)
	reset(ev)
	if !m(r, ev) {
		reset(ev)
		ev.Msg = r.s
	}
}

// maxFields caps the fields read from the text of one record (tracing,
// logrus, logfmt), so that a huge line of k=v pairs cannot make a huge map.
// Further pairs are dropped (logfmt) or stay in the message (tracing,
// logrus).
const maxFields = 256

// setField adds k=v to ev.Fields, creating the map on first use. It
// reports false, and adds nothing, when ev has maxFields fields already.
func setField(ev *event.Event, k string, v any) bool {
	if ev.Fields == nil {
		ev.Fields = make(map[string]any, 4)
	} else if len(ev.Fields) >= maxFields {
		return false
	}
	ev.Fields[k] = v
	return true
}
