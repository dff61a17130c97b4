package rules

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// scalarPos returns the file position (1-based line and column, in
// characters) of the character at offset off (in characters) of the value
// of scalar node val, whose key node is key (nil when unknown). lines are
// the file's lines.
//
// The YAML node only says where the value starts; the expression's own
// offset has to be carried through the scalar's style: a quoted value
// starts after its quote and has escapes, a plain or quoted value folds
// line breaks into spaces, a literal block (|) keeps its lines below the
// indicator, and a folded block (>) folds them.
func scalarPos(lines []string, key, val *yaml.Node, off int) (int, int) {
	value := []rune(val.Value)
	if off >= len(value) {
		off = len(value) - 1
	}
	// an error at a block scalar's trailing line break is at the end of its last line
	for off > 0 && strings.Trim(string(value[off:]), "\n") == "" {
		off--
	}
	if off < 0 {
		off = 0
	}
	if val.Line < 1 || val.Line > len(lines) || val.Column < 1 {
		return val.Line, val.Column
	}
	switch {
	case val.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		indent := blockIndent(lines, key, val)
		if val.Style&yaml.LiteralStyle != 0 {
			l, c := 0, 0
			for _, r := range value[:off] {
				if r == '\n' {
					l, c = l+1, 0
				} else {
					c++
				}
			}
			return val.Line + 1 + l, indent + c + 1
		}
		return align(lines, value, off, val.Line, indent, 0, indent)
	case val.Style&yaml.DoubleQuotedStyle != 0:
		return align(lines, value, off, val.Line-1, val.Column, '"', -1)
	case val.Style&yaml.SingleQuotedStyle != 0:
		return align(lines, value, off, val.Line-1, val.Column, '\'', -1)
	default:
		return align(lines, value, off, val.Line-1, val.Column-1, 0, -1)
	}
}

// blockIndent returns the indentation of a block scalar's content: from
// its indentation indicator (relative to the key's indentation) or from
// its first non-blank line.
func blockIndent(lines []string, key, val *yaml.Node) int {
	header := []rune(lines[val.Line-1])
	if val.Column-1 < len(header) {
		for _, r := range header[val.Column:] {
			if r >= '1' && r <= '9' {
				parent := 0
				if key != nil {
					parent = key.Column - 1
				}
				return parent + int(r-'0')
			}
			if r != '+' && r != '-' {
				break
			}
		}
	}
	for _, l := range lines[val.Line:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		return len(l) - len(strings.TrimLeft(l, " "))
	}
	return 0
}

// align walks the raw text of a folded scalar from line index li, column
// index ci (0-based) alongside its value and returns the position of the
// value's character at off. Continuation lines lose their indentation
// (exactly indent characters for a folded block, all leading blanks when
// indent < 0); a line break becomes one space or newline of the value.
// quote is the closing quote of a quoted scalar, or 0.
func align(lines []string, value []rune, off, li, ci int, quote rune, indent int) (int, int) {
	vi := 0
	lastLine, lastCol := li+1, ci+1
	for first := true; li < len(lines); li, first = li+1, false {
		raw := []rune(lines[li])
		j := 0
		switch {
		case first:
			j = ci
		case indent >= 0:
			for j < indent && j < len(raw) && raw[j] == ' ' {
				j++
			}
		default:
			for j < len(raw) && (raw[j] == ' ' || raw[j] == '\t') {
				j++
			}
		}
		joined := false // an escaped line break joins without a separator
		for j < len(raw) {
			if vi >= len(value) || (quote != 0 && raw[j] == quote && !(quote == '\'' && j+1 < len(raw) && raw[j+1] == '\'')) {
				return li + 1, j + 1
			}
			if vi == off {
				return li + 1, j + 1
			}
			lastLine, lastCol = li+1, j+1
			switch {
			case quote == '"' && raw[j] == '\\':
				if j+1 == len(raw) {
					joined = true
					j++
					continue
				}
				switch raw[j+1] {
				case 'x':
					j += 4
				case 'u':
					j += 6
				case 'U':
					j += 10
				default:
					j += 2
				}
				vi++
			case quote == '\'' && raw[j] == '\'':
				j += 2
				vi++
			case raw[j] == value[vi]:
				j++
				vi++
			default:
				j++ // not in the value (trailing blanks before a fold)
			}
		}
		if joined || vi >= len(value) {
			continue
		}
		if value[vi] == ' ' || value[vi] == '\n' {
			if vi == off {
				return li + 1, len(raw) + 1
			}
			vi++
		}
	}
	return lastLine, lastCol
}
