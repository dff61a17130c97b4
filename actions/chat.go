package actions

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/venus-medic/venus-medic/event"
)

// Chat messages show a firing to people. Everything that comes from a log
// (the summary, which defaults to the message, and the raw line) is
// untrusted: a line must not be able to fake a field, hide one, add a
// link or mention everyone. So the formats show the line apart (a code
// block or a quote) with control characters and the markup's own quote
// characters removed, and escape the markup in the other fields.

// Caps, in bytes, on what a chat message shows of a firing. Platforms
// refuse long messages (WeCom at 4096 bytes, Telegram at 4096 characters).
const (
	maxChatSummary = 500
	maxChatLine    = 1500
)

// message is a firing as the chat formats show it, every field plain
// text, already cleaned of control characters and capped. The formats
// escape it for their markup.
type message struct {
	status  string // CRITICAL, WARNING, INFO, RESOLVED
	rule    string
	summary string
	host    string
	source  string
	time    string
	count   string // "" when the firing stands for one event
	line    string // the raw log text: may have several lines
}

func newMessage(f *event.Firing) message {
	m := message{
		status:  strings.ToUpper(f.Severity),
		rule:    oneLine(f.Rule, 200),
		summary: oneLine(f.Summary, maxChatSummary),
		host:    oneLine(f.Event.Host, 200),
		source:  oneLine(f.Event.Source, 200),
		line:    cleanLine(f.Event.Line, maxChatLine),
	}
	if m.status == "" {
		m.status = "WARNING"
	}
	if f.Resolved {
		m.status = "RESOLVED"
	}
	if m.summary == "" {
		m.summary = oneLine(f.Event.Msg, maxChatSummary)
	}
	if !f.Event.Time.IsZero() {
		m.time = f.Event.Time.Format("2006-01-02 15:04:05.000 -07:00")
	}
	if f.Count > 1 {
		m.count = strconv.Itoa(f.Count)
	}
	return m
}

// title is the message's one-line heading.
func (m *message) title() string { return "[" + m.status + "] " + m.rule }

// ansi matches terminal colour and cursor sequences.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// invisible reports runes that change how text around them shows without
// showing themselves: bidirectional overrides (which can make text read
// backwards) and zero-width characters.
func invisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x206F, r == 0xFEFF:
		return true
	}
	return false
}

// clean removes what a log line must not bring into a message: invalid
// UTF-8, terminal sequences, control characters (newlines and tabs are
// kept when keepLines) and invisible characters.
func clean(s string, keepLines bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = ansi.ReplaceAllString(s, "")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			if keepLines {
				if r == '\t' {
					b.WriteString("    ")
				} else {
					b.WriteRune(r)
				}
			} else {
				b.WriteByte(' ')
			}
		case unicode.IsControl(r), invisible(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// oneLine cleans s into a single line of at most max bytes.
func oneLine(s string, max int) string {
	return capText(strings.TrimSpace(clean(s, false)), max)
}

// cleanLine cleans a raw log record for a code block or quote: its lines
// are kept, backticks become quotes (a code block cannot be closed from
// inside), and it is capped at max bytes.
func cleanLine(s string, max int) string {
	s = clean(s, true)
	s = strings.ReplaceAll(s, "`", "'")
	s = strings.Trim(s, "\n")
	return capText(s, max)
}

// capText cuts s to at most max bytes on a rune boundary, marking the cut.
func capText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…[cut]"
}

// mdEscape escapes text for the markdown of DingTalk and WeCom, so that
// it shows as written: no emphasis, code, links, images, tables,
// strikethrough or HTML. Block markup (headings, quotes, lists) only
// starts a line, and escaped text never does: it always follows a label.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '~', '|':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
