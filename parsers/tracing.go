package parsers

import (
	"strings"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

// Tracing parses Rust tracing-subscriber lines (the Full format), as
// damocles-worker and its processors write them:
//
//	2024-03-05T10:40:12.031254+08:00  WARN ThreadId(22) module{name="worker-2"}:seal{miner=Some(1234) sector=Some(100)}: damocles_worker::sealing::…::task: temp error occurred: … retry=0
//
// The time has 1–9 fraction digits and Z or ±HH:MM; the level is
// right-aligned to five characters (TRACE becomes DEBUG). ThreadId(NN)
// becomes Fields["thread"] ("22"); each span field becomes
// Fields["span.key"] (Fields["module.name"] = "worker-2",
// Fields["seal.sector"] = "100"): Debug strings are unquoted, Some(x) is x
// and a None field is left out. The target (the module path) is the Logger.
// The message is what follows the target; the k=v fields at its end (on the
// record's last line) are moved to Fields when each value is a quoted
// string, a run of non-blank characters, or a bracketed Debug value: a
// value with blanks outside quotes and brackets, like
// `failure=permanent: …`, stays in the message. All values are strings.
type Tracing struct{}

// Parse implements Parser.
func (Tracing) Parse(rec []byte, ev *event.Event) { parseWith(rec, ev, matchTracing) }

func matchTracing(r record, ev *event.Event) bool {
	s := r.s
	t, n, ok := parseTime(s, time.Local)
	if !ok || n >= len(s) || s[n] != ' ' {
		return false
	}
	i := n
	for i < len(s) && s[i] == ' ' {
		i++
	}
	end := i
	for end < len(s) && s[end] >= 'A' && s[end] <= 'Z' {
		end++
	}
	var lvl string
	switch s[i:end] {
	case "TRACE", "DEBUG":
		lvl = event.LevelDebug
	case "INFO":
		lvl = event.LevelInfo
	case "WARN":
		lvl = event.LevelWarn
	case "ERROR":
		lvl = event.LevelError
	default:
		return false
	}
	if end >= len(s) || s[end] != ' ' {
		return false
	}
	i = end + 1
	thread := ""
	if strings.HasPrefix(s[i:], "ThreadId(") {
		j := i + len("ThreadId(")
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == j || k >= len(s) || s[k] != ')' {
			return false
		}
		thread = strings.TrimLeft(s[j:k], "0")
		if thread == "" {
			thread = "0"
		}
		i = k + 1
		if i < len(s) && s[i] == ' ' {
			i++
		}
	}
	target, msgAt, ok := tracingSpans(s, i, ev)
	if !ok && thread == "" {
		return false
	}
	ev.Time = t
	ev.Level = lvl
	if thread != "" {
		setField(ev, "thread", thread)
	}
	ev.Logger = target
	ev.Msg = trailingFields(s[msgAt:], ev, rustValue)
	return true
}

// tracingSpans reads the spans (`name{k=v …}:` glued together, then one
// blank) and the target (`a::b::c: `) that start at s[i:]. Span fields go
// to ev.Fields. It returns the target, where the message starts, and
// whether a target was found; without one the message starts at i.
func tracingSpans(s string, i int, ev *event.Event) (string, int, bool) {
	start := i
	for i < len(s) {
		j := i
		for j < len(s) && isIdent(s[j]) {
			j++
		}
		if j == i || j == len(s) {
			break
		}
		switch s[j] {
		case '{':
			k := closingBrace(s, j)
			if k < 0 || k+1 >= len(s) || s[k+1] != ':' {
				return "", start, false
			}
			spanFields(s[i:j], s[j+1:k], ev)
			i = k + 2
			if i < len(s) && s[i] == ' ' {
				i++
			}
			start = i
			continue
		case ':':
			if j+1 < len(s) && s[j+1] == ':' { // a module path: the target
				k := j
				for k+1 < len(s) && s[k] == ':' && s[k+1] == ':' {
					k += 2
					for k < len(s) && isIdent(s[k]) {
						k++
					}
				}
				if k < len(s) && s[k] == ':' && (k+1 == len(s) || s[k+1] == ' ') {
					return s[i:k], min(k+2, len(s)), true
				}
				return "", start, false
			}
			if j+1 == len(s) || s[j+1] == ' ' { // a one-word target
				return s[i:j], min(j+2, len(s)), true
			}
			i = j + 1 // a span without fields, glued to the next one
			continue
		}
		break
	}
	return "", start, false
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// closingBrace returns the index of the '}' that closes the '{' at s[open],
// skipping quoted strings and nested brackets, or -1.
func closingBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '"':
			j := closingQuote(s, i)
			if j < 0 {
				return -1
			}
			i = j
		case '{', '(', '[':
			depth++
		case '}', ')', ']':
			depth--
			if depth == 0 {
				if s[i] == '}' {
					return i
				}
				return -1
			}
		case '\n':
			return -1
		}
	}
	return -1
}

// closingQuote returns the index of the unescaped '"' that closes the one
// at s[open], or -1.
func closingQuote(s string, open int) int {
	for i := open + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// spanFields adds the fields of span name ("k=v k2=v2") to ev.Fields as
// "name.k".
func spanFields(name, s string, ev *event.Event) {
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		ks := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			// a field without a value (`span{flag}`) or trailing junk
			continue
		}
		key := s[ks:i]
		i++
		vs := i
		depth := 0
	value:
		for ; i < len(s); i++ {
			switch s[i] {
			case '"':
				if j := closingQuote(s, i); j >= 0 {
					i = j
				}
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				depth--
			case ' ':
				if depth <= 0 {
					break value
				}
			}
		}
		if v, ok := rustValue(s[vs:i]); ok && key != "" {
			setField(ev, spanKey(name, key), v)
		}
	}
}

// spanKeys are the span fields damocles-worker prints, so that building
// their "span.key" names allocates nothing.
var spanKeys = map[string]string{
	"module.name": "module.name", "seal.miner": "seal.miner", "seal.sector": "seal.sector",
	"seal.event": "seal.event", "handle.prev": "handle.prev", "handle.current": "handle.current",
	"sub.name": "sub.name", "sub.pid": "sub.pid", "request.id": "request.id", "request.size": "request.size",
}

// spanKey returns name + "." + key.
func spanKey(name, key string) string {
	var buf [32]byte
	if len(name)+1+len(key) <= len(buf) {
		b := append(append(append(buf[:0], name...), '.'), key...)
		if k, ok := spanKeys[string(b)]; ok {
			return k
		}
	}
	return name + "." + key
}

// rustValue turns a Debug-formatted value into its text: Some(x) is x,
// quoted strings are unquoted, None is absent.
func rustValue(v string) (string, bool) {
	for len(v) > 6 && strings.HasPrefix(v, "Some(") && v[len(v)-1] == ')' {
		v = v[5 : len(v)-1]
	}
	if v == "None" {
		return "", false
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && closingQuote(v, 0) == len(v)-1 {
		return unescape(v[1 : len(v)-1]), true
	}
	return v, true
}

// unescape resolves the backslash escapes of Rust's Debug and Go's %q
// strings: \n \r \t \0 \\ \" \' \xHH \uXXXX \u{X…} \UXXXXXXXX. An escape it
// does not know is kept as written.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '0':
			b.WriteByte(0)
		case '\\', '"', '\'':
			b.WriteByte(e)
		case 'x', 'u', 'U':
			var hex string
			switch {
			case e == 'u' && i+1 < len(s) && s[i+1] == '{':
				if end := strings.IndexByte(s[i:], '}'); end > 2 && end <= 9 {
					hex = s[i+2 : i+end]
					if r, ok := hexRune(hex); ok {
						b.WriteRune(r)
						i += end
						continue
					}
				}
			case e == 'x' && i+2 < len(s):
				hex = s[i+1 : i+3]
			case e == 'u' && i+4 < len(s):
				hex = s[i+1 : i+5]
			case e == 'U' && i+8 < len(s):
				hex = s[i+1 : i+9]
			}
			if r, ok := hexRune(hex); ok {
				if e == 'x' {
					b.WriteByte(byte(r))
				} else {
					b.WriteRune(r)
				}
				i += len(hex)
				continue
			}
			b.WriteByte('\\')
			b.WriteByte(e)
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String()
}

func hexRune(h string) (rune, bool) {
	if h == "" || len(h) > 8 {
		return 0, false
	}
	var r rune
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// trailingFields moves the k=v fields at the end of msg (on its last line)
// to ev.Fields, converting each value with conv (which may drop it), and
// returns the message without them. It reads backwards one token at a
// time: a token is `key=value` where key is [A-Za-z_][A-Za-z0-9_.-]* and
// value has no blank outside quotes and brackets; a
// bracketed value may follow a type name and one blank (`Backtrace [{ … }]`,
// `Job { id: 1 }`). The first token that is not such a field ends the
// fields.
func trailingFields(msg string, ev *event.Event, conv func(string) (string, bool)) string {
	end := len(trimRightSpace(msg))
	lineStart := strings.LastIndexByte(msg[:end], '\n') + 1
	for end > lineStart {
		start, ok := tokenStart(msg, lineStart, end)
		if !ok || start == end {
			break
		}
		tok := msg[start:end]
		key, val, isField := splitField(tok)
		if !isField && (tok[0] == '[' || tok[0] == '{') && start-1 > lineStart {
			// `key=Name [..]`: join with the token before.
			if ps, ok := tokenStart(msg, lineStart, start-1); ok {
				if k, v, f := splitField(msg[ps : start-1]); f && isTypeName(v) {
					key, val, isField = k, msg[ps+len(k)+1:end], true
					start = ps
				}
			}
		}
		if !isField {
			break
		}
		if v, keep := conv(val); keep && !setField(ev, key, v) {
			break
		}
		end = start
		for end > lineStart && isBlank(msg[end-1]) {
			end--
		}
	}
	return trimBlank(msg[:end])
}

// splitField splits "key=value" with a valid key (the value may be empty).
func splitField(tok string) (string, string, bool) {
	eq := strings.IndexByte(tok, '=')
	if eq <= 0 {
		return "", "", false
	}
	k := tok[:eq]
	if c := k[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return "", "", false
	}
	for i := 1; i < len(k); i++ {
		if c := k[i]; !isIdent(c) && c != '.' {
			return "", "", false
		}
	}
	return k, tok[eq+1:], true
}

func isTypeName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdent(s[i]) && s[i] != ':' {
			return false
		}
	}
	return true
}

// tokenStart returns where the token that ends at s[end] begins, reading
// backwards from end to lo: the token ends at a blank outside quotes and
// brackets. ok is false for unbalanced quotes or brackets.
func tokenStart(s string, lo, end int) (int, bool) {
	var stack [16]byte
	depth := 0
	for i := end - 1; i >= lo; i-- {
		switch c := s[i]; c {
		case '"':
			if escaped(s, lo, i) {
				continue
			}
			j := i - 1
			for j >= lo && (s[j] != '"' || escaped(s, lo, j)) {
				j--
			}
			if j < lo {
				return 0, false
			}
			i = j
		case ')', ']', '}':
			if depth == len(stack) {
				return 0, false
			}
			stack[depth] = c
			depth++
		case '(', '[', '{':
			if depth == 0 {
				continue
			}
			if stack[depth-1] != closer(c) {
				return 0, false
			}
			depth--
		case ' ', '\t':
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	if depth != 0 {
		return 0, false
	}
	return lo, true
}

func closer(c byte) byte {
	switch c {
	case '(':
		return ')'
	case '[':
		return ']'
	}
	return '}'
}

// escaped reports whether s[i] follows an odd number of backslashes.
func escaped(s string, lo, i int) bool {
	n := 0
	for j := i - 1; j >= lo && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}
