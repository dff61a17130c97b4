package parsers

import (
	"bytes"
	"strings"
)

// caretESC is how `cat -v`, less and copied terminal output show ESC: a
// file can hold the two characters ^[ instead of the byte.
const caretESC = "^[["

// hasANSI reports whether b holds an escape sequence, as a byte or in its
// ^[[ caret form.
func hasANSI(b []byte) bool {
	return bytes.IndexByte(b, 0x1b) >= 0 || bytes.Contains(b, []byte(caretESC))
}

// stripANSI removes terminal escape sequences: CSI (ESC [ … final byte,
// which covers colours), OSC (ESC ] … BEL or ST), other two-byte ESC
// sequences, and the caret form ^[[…m of an SGR sequence. A lone ESC at the
// end is dropped.
func stripANSI(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c == '^' && strings.HasPrefix(s[i:], caretESC) {
			if n := sgrLen(s[i+3:]); n > 0 {
				i += 3 + n
				continue
			}
		}
		if c != 0x1b {
			b.WriteByte(c)
			i++
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch s[i] {
		case '[': // CSI: parameters 0x30–0x3F, intermediates 0x20–0x2F, final 0x40–0x7E
			i++
			for i < len(s) && s[i] >= 0x20 && s[i] <= 0x3f {
				i++
			}
			if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
				i++
			}
		case ']': // OSC, ended by BEL or ESC \
			i++
			for i < len(s) {
				if s[i] == 0x07 {
					i++
					break
				}
				if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
					i += 2
					break
				}
				i++
			}
		default:
			i++
		}
	}
	return b.String()
}

// sgrLen returns the length of "digits and semicolons, then m" at the
// start of s, or 0.
func sgrLen(s string) int {
	for i := 0; i < len(s) && i < 32; i++ {
		c := s[i]
		if c == 'm' {
			return i + 1
		}
		if (c < '0' || c > '9') && c != ';' {
			return 0
		}
	}
	return 0
}

// skipANSIPrefix returns b without the escape sequences it starts with.
func skipANSIPrefix(b []byte) []byte {
	for len(b) > 1 && b[0] == 0x1b && b[1] == '[' {
		i := 2
		for i < len(b) && b[i] >= 0x20 && b[i] <= 0x3f {
			i++
		}
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return b
}
