// Package event holds the types passed between the stages of the pipeline:
// sources produce Lines, parsers turn them into Events, rules turn Events
// into Firings, and actions carry Firings out. It imports only the standard
// library, so every stage can depend on it and on nothing else.
package event

import (
	"time"
)

// Line is one record as a source read it: usually one line of text, or
// several lines joined into one record (a Go panic, a Rust backtrace).
type Line struct {
	// Source is the name of the configured source that read the line.
	Source string
	// File is the path of the file the line came from ("" for command output).
	File string
	// FileID identifies the file independently of its name
	// ("dev:inode"); "" for sources that are not files.
	FileID string
	// Offset is the byte offset just past this line in File. A position
	// is committed only once the rules have seen the line.
	Offset int64
	// Num is the 1-based number of the (first) line in its file, 0 when unknown.
	Num int64
	// Text is the line without its trailing newline.
	Text []byte
	// Read is when the source read the line.
	Read time.Time
}

// Event is what a rule sees. Field names (the expr tags) are part of the
// product contract, SPEC §1.
type Event struct {
	Source   string            `expr:"source" json:"source"`
	Host     string            `expr:"host" json:"host"`
	Time     time.Time         `expr:"time" json:"time"`
	Level    string            `expr:"level" json:"level"`
	Logger   string            `expr:"logger" json:"logger"`
	Caller   string            `expr:"caller" json:"caller"`
	Msg      string            `expr:"msg" json:"msg"`
	Fields   map[string]any    `expr:"fields" json:"fields,omitempty"`
	Captures map[string]string `expr:"captures" json:"captures,omitempty"`
	Line     string            `expr:"line" json:"line"`
	File     string            `expr:"file" json:"file,omitempty"`
	Offset   int64             `expr:"offset" json:"offset,omitempty"`
	// LineNo is the 1-based number of the event's first line in File, 0
	// when unknown (command output, a file read from a saved position).
	LineNo int64 `expr:"lineno" json:"lineno,omitempty"`
}

// Levels in increasing order of severity, as go-log writes them.
const (
	LevelDebug  = "DEBUG"
	LevelInfo   = "INFO"
	LevelWarn   = "WARN"
	LevelError  = "ERROR"
	LevelDPanic = "DPANIC"
	LevelPanic  = "PANIC"
	LevelFatal  = "FATAL"
)

// Firing is a rule's decision to act on an event.
type Firing struct {
	// ID is unique per firing (rule, group and event time); actions use it
	// to deduplicate, the audit log to refer to it.
	ID       string   `json:"id"`
	Rule     string   `json:"rule"`
	Severity string   `json:"severity"`
	Summary  string   `json:"summary"`
	Actions  []string `json:"actions"`
	// Group is the value of the rule's threshold `by` expression ("" without one).
	Group string `json:"group,omitempty"`
	// Count is how many matching events led to this firing (the threshold
	// count, or 1), plus those suppressed by the cooldown since the last firing.
	Count int `json:"count"`
	// Resolved is true when the firing closes an incident instead of opening one.
	Resolved bool  `json:"resolved,omitempty"`
	Event    Event `json:"event"`
	// Results holds, per action name, the data an earlier action of the
	// chain produced (proving-check: the bad sectors), for the actions
	// that run after it (an action's `then`).
	Results map[string]any `json:"results,omitempty"`
	// Via lists the actions whose `then` led to this firing, in order.
	Via []string `json:"via,omitempty"`
}

// Time is the time of the event that caused the firing.
func (f *Firing) Time() time.Time { return f.Event.Time }
