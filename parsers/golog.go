package parsers

import (
	"strings"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

// GoLog parses ipfs/go-log console lines, the format of every Venus Go
// component (zap's console encoder, fields joined by TAB):
//
//	2024-03-05T10:21:33.123+0800	ERROR	wallet_event	wallet_event/listenevent.go:236	WalletSign error password not set	{"api hub": "/dns/…/wss"}
//
// It accepts the line with or without the time column, with ANSI colour
// around the level, with an empty message (two TABs before the JSON tail),
// with logger names that contain spaces (`worker prover`), with the JSON
// tail on the next line of a joined record (a message that ended in "\n"),
// and copied from a terminal or a web page with the TABs turned into runs of
// spaces (then the caller is the token ending in `.go:NNN` and the logger is
// what lies between the level and the caller). The JSON tail's keys become
// Fields; a tail that is not a JSON object stays part of Msg. It also reads
// the layouts of go-log before v1.0 (go-logging):
//
//	2019-05-01 15:04:05.000000 ERROR chain syncer.go:123: message
//	15:04:05.000 ERROR      chain: message syncer.go:123
type GoLog struct{}

// Parse implements Parser.
func (GoLog) Parse(rec []byte, ev *event.Event) { parseWith(rec, ev, matchGoLog) }

func matchGoLog(r record, ev *event.Event) bool {
	s := r.s
	if s == "" {
		return false
	}
	if isDigit(s[0]) {
		t, n, ok := parseTime(s, time.Local)
		if !ok {
			return matchGoLogV1Color(s, ev)
		}
		if n >= len(s) || (s[n] != '\t' && s[n] != ' ') {
			return false
		}
		ev.Time = t
		s = trimLeftBlank(s[n:])
	}
	end := 0
	for end < len(s) && s[end] != '\t' && s[end] != ' ' {
		end++
	}
	if end == len(s) {
		return false
	}
	lvl := goLogLevel(s[:end])
	if lvl == "" {
		return false
	}
	ev.Level = lvl
	if s[end] == '\t' {
		goLogTabs(s[end+1:], ev)
		return true
	}
	return goLogSpaces(trimLeftBlank(s[end:]), ev)
}

// goLogTabs reads "logger\tcaller\tmessage[\t{json}]"; the logger is
// absent when zap has no logger name.
func goLogTabs(s string, ev *event.Event) {
	f1, rest, ok := strings.Cut(s, "\t")
	if c, isCaller := callerTok(f1); isCaller {
		ev.Caller = c
		goLogMsg(rest, ev, splitTailTab)
		return
	}
	if !ok {
		ev.Msg = trimBlank(f1)
		return
	}
	f2, rest2, ok := strings.Cut(rest, "\t")
	if c, isCaller := callerTok(f2); isCaller {
		ev.Logger = f1
		ev.Caller = c
		if ok {
			goLogMsg(rest2, ev, splitTailTab)
		}
		return
	}
	// No caller column: "LEVEL\tlogger\tmessage".
	ev.Logger = f1
	goLogMsg(rest, ev, splitTailTab)
}

// goLogSpaces reads a line whose TABs became spaces: the caller is the
// first token that ends in .go:NNN, the logger is what comes before it.
// Without a caller on the first line the line is not go-log.
func goLogSpaces(s string, ev *event.Event) bool {
	i := 0
	for k := 0; k < 8 && i < len(s) && s[i] != '\n'; k++ {
		j := i
		for j < len(s) && !isBlank(s[j]) && s[j] != '\n' {
			j++
		}
		if c, ok := callerTok(s[i:j]); ok {
			logger := trimBlank(s[:i])
			if strings.Contains(logger, "ThreadId(") || strings.Contains(logger, "::") {
				return false // a tracing line that mentions a Go file
			}
			ev.Logger = logger
			ev.Caller = c
			goLogMsg(s[j:], ev, splitTailSpaces)
			return true
		}
		i = j
		for i < len(s) && isBlank(s[i]) {
			i++
		}
	}
	return false
}

func goLogMsg(s string, ev *event.Event, split func(string) (string, map[string]any)) {
	ev.Msg, ev.Fields = split(s)
}

// matchGoLogV1Color reads go-log's go-logging colour layout (colours
// already removed): "15:04:05.000 LEVEL     module: message file.go:123".
// The line has no date, so Time stays zero.
func matchGoLogV1Color(s string, ev *event.Event) bool {
	if len(s) < 14 || s[2] != ':' || s[5] != ':' || s[8] != '.' || s[12] != ' ' {
		return false
	}
	for _, i := range [...]int{0, 1, 3, 4, 6, 7, 9, 10, 11} {
		if !isDigit(s[i]) {
			return false
		}
	}
	rest := s[13:]
	end := strings.IndexByte(rest, ' ')
	if end <= 0 {
		return false
	}
	var lvl string
	switch w := rest[:end]; w {
	case "WARNI":
		lvl = event.LevelWarn
	case "NOTIC":
		lvl = event.LevelInfo
	case "CRITI":
		lvl = event.LevelFatal
	default:
		lvl = goLogLevel(w)
	}
	if lvl == "" {
		return false
	}
	rest = trimLeftBlank(rest[end:])
	colon := strings.Index(rest, ": ")
	if colon <= 0 || strings.ContainsAny(rest[:colon], " \t\n") {
		return false
	}
	ev.Level = lvl
	ev.Logger = rest[:colon]
	msg := trimRightSpace(rest[colon+2:])
	if k := strings.LastIndexAny(msg, " \n"); k >= 0 {
		if c, ok := callerTok(msg[k+1:]); ok {
			ev.Caller = c
			msg = msg[:k]
		}
	}
	ev.Msg = trimBlank(msg)
	return true
}

// callerTok reports whether t is a zap short caller, "dir/file.go:123"
// (go-logging adds a colon after it), and returns it without that colon.
func callerTok(t string) (string, bool) {
	t = strings.TrimSuffix(t, ":")
	c := strings.LastIndexByte(t, ':')
	if c < 4 || c == len(t)-1 || !strings.HasSuffix(t[:c], ".go") {
		return "", false
	}
	for i := c + 1; i < len(t); i++ {
		if !isDigit(t[i]) {
			return "", false
		}
	}
	if strings.ContainsAny(t, " \t\n") {
		return "", false
	}
	return t, true
}

// splitTailTab splits a go-log message from its JSON tail: the text after
// the last TAB when it is a one-line JSON object (zap escapes TABs inside
// JSON strings, so the tail holds none), or else the last line of a joined
// record when it is one.
func splitTailTab(m string) (string, map[string]any) {
	end := trimRightSpace(m)
	if end == "" || end[len(end)-1] != '}' {
		return trimBlank(end), nil
	}
	if i := strings.LastIndexByte(end, '\t'); i >= 0 && end[i+1] == '{' && strings.IndexByte(end[i+1:], '\n') < 0 {
		if f, ok := decodeObject(end[i+1:]); ok {
			return trimBlank(end[:i]), f
		}
	}
	if i := strings.LastIndexByte(end, '\n'); i >= 0 {
		if c := trimLeftBlank(end[i+1:]); c != "" && c[0] == '{' {
			if f, ok := decodeObject(c); ok {
				return trimBlank(end[:i]), f
			}
		}
	}
	return trimBlank(end), nil
}

// splitTailSpaces splits a message from a trailing JSON object when TABs
// are lost: the object starts at a '{' on the last line that follows a
// blank (or starts the message), the leftmost one that makes a valid JSON
// object up to the end.
func splitTailSpaces(m string) (string, map[string]any) {
	end := trimRightSpace(m)
	if end == "" || end[len(end)-1] != '}' {
		return trimBlank(end), nil
	}
	start := strings.LastIndexByte(end, '\n') + 1
	tries := 0
	for i := start; i < len(end) && tries < 8; i++ {
		if end[i] != '{' || (i > 0 && !isBlank(end[i-1]) && end[i-1] != '\n') {
			continue
		}
		tries++
		if f, ok := decodeObject(end[i:]); ok {
			return trimBlank(end[:i]), f
		}
	}
	return trimBlank(end), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func trimLeftBlank(s string) string {
	for len(s) > 0 && isBlank(s[0]) {
		s = s[1:]
	}
	return s
}

// trimRightSpace removes trailing blanks, CRs and newlines.
func trimRightSpace(s string) string {
	for len(s) > 0 {
		switch s[len(s)-1] {
		case ' ', '\t', '\r', '\n':
			s = s[:len(s)-1]
			continue
		}
		break
	}
	return s
}

// trimBlank removes leading blanks and trailing white space.
func trimBlank(s string) string { return trimLeftBlank(trimRightSpace(s)) }
