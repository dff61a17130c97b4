package parsers

import (
	"bytes"

	"github.com/venus-medic/venus-medic/event"
)

// Default caps of a joined record (NewJoiner with 0).
const (
	DefaultMaxLines = 2000
	DefaultMaxBytes = 256 << 10
)

// cutMark ends the text of a record that hit a cap.
const cutMark = "\n…[cut]"

// Joiner joins the lines of a multi-line record into one record, before
// parsing. It sees one stream (one file) and is not safe for concurrent
// use. The rules:
//
//   - A Go `panic: `, `fatal error: ` or `SIGxxx: ` line starts a crash
//     block that takes every following line (goroutine headers, function
//     lines, TAB-indented frames, blank lines, `exit status 2`) until a
//     line that starts another record.
//   - A Rust panic (`thread '…' panicked at …` or `panicked at …`) takes the
//     blank and indented lines of its backtrace (`   0: …`, `at …`),
//     `stack backtrace:`, the `note: run with RUST_BACKTRACE=1 …` line, and,
//     when its first line ends in ':' (Rust ≥ 1.73), the message line after
//     it.
//   - A go-log, tracing or logrus record, or a Rust `Error: ` line, takes the
//     following lines that are blank, start with a blank, `{`, `}`, `]`, or
//     `Caused by:` (the go-log JSON tail on the next line after a TAB,
//     sophon-miner's `final config:` JSON dump, anyhow causes, `%+v`
//     stacks).
//   - Any other line stands alone (plain fmt output, go-log JSON lines,
//     logfmt lines) and is returned at once.
//
// A record that may still continue is held until the next line shows it
// has ended, or until Flush (which the pipeline calls when the source has
// been idle a moment, and at EOF): a single go-log line is held no longer.
//
// A joined record's Text is its lines joined with "\n"; it has the Num and
// Read (and the other fields) of its first line and the Offset of its last
// line. A record that would pass maxLines lines or maxBytes bytes is cut:
// it is returned at once with "\n…[cut]" at the end of its text, and the
// rest of its block is dropped, so a dump of 10,000 goroutines costs at
// most the caps (dropped lines make no record: the Offset of the next
// record covers them). A single line is never cut here (sources cap
// lines).
//
// Add takes ownership of l.Text: the caller must not change it afterwards.
type Joiner struct {
	maxLines, maxBytes int

	// The pending record: kind is kindNone when there is none. rec.Text
	// is its first line until a second is joined; from then on the text
	// is in buf, a buffer of the Joiner's own.
	kind  blockKind
	rec   event.Line
	buf   []byte
	lines int
	// expectMsg: the pending Rust panic's header ended in ':', the next
	// line is its message.
	expectMsg bool

	// skip is the kind of a cut record's block, whose remaining lines are
	// dropped; kindNone otherwise.
	skip blockKind
}

type blockKind uint8

const (
	kindNone blockKind = iota
	kindRecord
	kindGoPanic
	kindRustPanic
)

// lineClass says whether a line starts a record, and which.
type lineClass uint8

const (
	classPlain     lineClass = iota // does not start a record
	classRecord                     // starts a record that may continue
	classAlone                      // starts a record of one line
	classGoPanic                    // starts a Go crash block
	classRustPanic                  // starts a Rust panic block
)

// NewJoiner returns a Joiner whose records are capped at maxLines lines
// and maxBytes bytes; 0 (or less) means DefaultMaxLines / DefaultMaxBytes.
func NewJoiner(maxLines, maxBytes int) *Joiner {
	if maxLines <= 0 {
		maxLines = DefaultMaxLines
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Joiner{maxLines: maxLines, maxBytes: maxBytes}
}

// Add feeds the next line and returns the records it completes: none,
// one, or two (the pending record and a line that stands alone).
func (j *Joiner) Add(l event.Line) []event.Line {
	cls := classify(l.Text)
	if j.kind != kindNone {
		if continues(j.kind, cls, l.Text, j.expectMsg) {
			return j.absorb(l)
		}
		return j.begin([]event.Line{j.take()}, cls, l)
	}
	if j.skip != kindNone {
		if continues(j.skip, cls, l.Text, false) {
			return nil
		}
		j.skip = kindNone
	}
	return j.begin(nil, cls, l)
}

// Flush returns the pending record, if any, and ends any block.
func (j *Joiner) Flush() []event.Line {
	j.skip = kindNone
	if j.kind == kindNone {
		return nil
	}
	return []event.Line{j.take()}
}

// Pending reports whether a record is held, waiting for the next line or
// a Flush.
func (j *Joiner) Pending() bool { return j.kind != kindNone }

func (j *Joiner) begin(out []event.Line, cls lineClass, l event.Line) []event.Line {
	switch cls {
	case classRecord:
		j.hold(l, kindRecord)
	case classGoPanic:
		j.hold(l, kindGoPanic)
	case classRustPanic:
		j.hold(l, kindRustPanic)
		t := bytes.TrimRight(l.Text, " \r")
		j.expectMsg = len(t) > 0 && t[len(t)-1] == ':'
	default:
		out = append(out, l)
	}
	return out
}

func (j *Joiner) hold(l event.Line, k blockKind) {
	j.kind = k
	j.rec = l
	j.buf = nil
	j.lines = 1
	j.expectMsg = false
}

// absorb joins l to the pending record, or cuts the record when l would
// pass a cap.
func (j *Joiner) absorb(l event.Line) []event.Line {
	j.expectMsg = false
	size := len(j.rec.Text)
	if j.buf != nil {
		size = len(j.buf)
	}
	if j.lines+1 > j.maxLines || size+1+len(l.Text) > j.maxBytes {
		k, joined := j.kind, j.buf != nil
		rec := j.take()
		if !joined { // still the caller's slice: copy before appending
			rec.Text = append(make([]byte, 0, size+len(cutMark)), rec.Text...)
		}
		rec.Text = append(rec.Text, cutMark...)
		j.skip = k
		return []event.Line{rec}
	}
	if j.buf == nil {
		j.buf = make([]byte, 0, 2*(len(j.rec.Text)+len(l.Text))+2)
		j.buf = append(j.buf, j.rec.Text...)
	}
	j.buf = append(j.buf, '\n')
	j.buf = append(j.buf, l.Text...)
	j.rec.Offset = l.Offset
	j.lines++
	return nil
}

// take returns the pending record and forgets it.
func (j *Joiner) take() event.Line {
	rec := j.rec
	if j.buf != nil {
		rec.Text = j.buf
	}
	j.kind = kindNone
	j.rec = event.Line{}
	j.buf = nil
	j.lines = 0
	j.expectMsg = false
	return rec
}

// continues reports whether a line of class cls and text t belongs to a
// pending block of kind k.
func continues(k blockKind, cls lineClass, t []byte, expectMsg bool) bool {
	switch k {
	case kindGoPanic:
		return cls == classPlain || cls == classGoPanic
	case kindRustPanic:
		if cls != classPlain {
			return false
		}
		return expectMsg || blankStart(t) || bytes.HasPrefix(t, []byte("note: ")) ||
			bytes.HasPrefix(t, []byte("stack backtrace:"))
	case kindRecord:
		if cls != classPlain {
			return false
		}
		if blankStart(t) {
			return true
		}
		switch t[0] {
		case '{', '}', ']':
			return true
		}
		return bytes.HasPrefix(t, []byte("Caused by:"))
	}
	return false
}

// blankStart reports whether t is empty or starts with a blank (or is a
// lone CR).
func blankStart(t []byte) bool {
	return len(t) == 0 || t[0] == ' ' || t[0] == '\t' || t[0] == '\r'
}

// classify tells whether a line starts a record, without a regexp: it
// looks at the first bytes only (after any leading colour codes).
func classify(b []byte) lineClass {
	if len(b) > 0 && b[0] == 0x1b {
		b = skipANSIPrefix(b)
	}
	if len(b) == 0 {
		return classPlain
	}
	switch c := b[0]; {
	case isDigit(c):
		if isDateTime(b) || isClock(b) {
			return classRecord
		}
	case c >= 'A' && c <= 'Z':
		if bytes.HasPrefix(b, []byte("Error: ")) {
			return classRecord
		}
		if isSignalLine(b) {
			return classGoPanic
		}
		n := 0
		for n < len(b) && n < 9 && b[n] >= 'A' && b[n] <= 'Z' {
			n++
		}
		if n < 4 || n == len(b) {
			break
		}
		switch b[n] {
		case '\t', ' ':
			if goLogLevel(string(b[:n])) != "" {
				return classRecord
			}
		case '[', 0x1b:
			if normLevel(string(b[:n])) != "" {
				return classRecord
			}
		}
	case c == 'p':
		if bytes.HasPrefix(b, []byte("panic: ")) {
			return classGoPanic
		}
		if bytes.HasPrefix(b, []byte("panicked at ")) {
			return classRustPanic
		}
	case c == 'f':
		if bytes.HasPrefix(b, []byte("fatal error: ")) {
			return classGoPanic
		}
	case c == 't':
		if bytes.HasPrefix(b, []byte("thread '")) && bytes.Contains(b[:min(len(b), 256)], []byte("' panicked at")) {
			return classRustPanic
		}
		if bytes.HasPrefix(b, []byte("time=")) || bytes.HasPrefix(b, []byte("ts=")) {
			return classAlone
		}
	case c == 'l':
		if bytes.HasPrefix(b, []byte("level=")) || bytes.HasPrefix(b, []byte("lvl=")) {
			return classAlone
		}
	case c == '{':
		// zap's JSON encoder writes no blank after ':', its console tail does.
		for _, p := range jsonStarts {
			if bytes.HasPrefix(b, p) {
				return classAlone
			}
		}
	}
	return classPlain
}

var jsonStarts = [][]byte{[]byte(`{"level":"`), []byte(`{"ts":`), []byte(`{"time":`), []byte(`{"L":"`)}

// isClock reports whether b starts with "HH:MM:SS.mmm " (go-log before
// v1.0).
func isClock(b []byte) bool {
	if len(b) < 13 || b[2] != ':' || b[5] != ':' || b[8] != '.' || b[12] != ' ' {
		return false
	}
	for _, i := range [...]int{0, 1, 3, 4, 6, 7, 9, 10, 11} {
		if !isDigit(b[i]) {
			return false
		}
	}
	return true
}

// isSignalLine reports whether b starts like the Go runtime's report of a
// fatal signal: "SIGSEGV: segmentation violation", "SIGQUIT: quit".
func isSignalLine(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("SIG")) {
		return false
	}
	i := 3
	for i < len(b) && i < 12 && b[i] >= 'A' && b[i] <= 'Z' {
		i++
	}
	return i > 3 && i+1 < len(b) && b[i] == ':' && b[i+1] == ' '
}
