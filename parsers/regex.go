package parsers

import (
	"fmt"
	"regexp"

	"github.com/venus-medic/venus-medic/event"
)

// Regex parses records with an operator's regular expression (RE2
// syntax). Every named group that matched becomes a capture
// (Captures["name"]); the groups named time, level, msg, logger and caller
// also set those event fields (a time in ISO 8601, RFC 1123, ANSIC,
// `2006/01/02 15:04:05` or Unix seconds; without a zone it is local time).
// Without a msg group, Msg is the whole record. A record the expression
// does not match is raw.
type Regex struct {
	re    *regexp.Regexp
	names []string
}

// NewRegex compiles pattern into a Regex parser.
func NewRegex(pattern string) (*Regex, error) {
	if pattern == "" {
		return nil, fmt.Errorf("the regex parser needs a pattern")
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("bad pattern %q: %w", pattern, err)
	}
	return &Regex{re: re, names: re.SubexpNames()}, nil
}

// Parse implements Parser.
func (p *Regex) Parse(rec []byte, ev *event.Event) { parseWith(rec, ev, p.match) }

func (p *Regex) match(r record, ev *event.Event) bool {
	loc := p.re.FindStringSubmatchIndex(r.s)
	if loc == nil {
		return false
	}
	hasMsg := false
	for i, name := range p.names {
		if name == "" || loc[2*i] < 0 {
			continue
		}
		v := r.s[loc[2*i]:loc[2*i+1]]
		if ev.Captures == nil {
			ev.Captures = make(map[string]string, len(p.names))
		}
		ev.Captures[name] = v
		switch name {
		case "time":
			if t, ok := parseTimeValue(v); ok {
				ev.Time = t
			}
		case "level":
			ev.Level = normLevel(trimBlank(v))
		case "msg":
			ev.Msg = v
			hasMsg = true
		case "logger":
			ev.Logger = v
		case "caller":
			ev.Caller = v
		}
	}
	if !hasMsg {
		ev.Msg = r.s
	}
	return true
}
