package parsers

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// decodeObject decodes a JSON object as encoding/json does into a
// map[string]any (numbers are float64); an empty object gives nil fields.
// ok is false when s is not one JSON object.
func decodeObject(s string) (map[string]any, bool) {
	if len(s) == 0 || s[0] != '{' {
		return nil, false
	}
	if m, ok := decodeFlat(s); ok {
		return m, true
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return nil, false
	}
	if len(m) == 0 {
		return nil, true
	}
	return m, true
}

// decodeFlat is decodeObject's fast path for the shape of nearly every
// zap tail: one object whose values are strings without escapes, numbers,
// true, false or null. Keys and strings are substrings of s, so it
// allocates only the map and the boxed values. For any other input it
// returns false and encoding/json decides; for the inputs it accepts it
// gives what encoding/json gives.
func decodeFlat(s string) (map[string]any, bool) {
	if len(s) == 0 || s[0] != '{' {
		return nil, false
	}
	i := skipWS(s, 1)
	if i < len(s) && s[i] == '}' {
		return nil, skipWS(s, i+1) == len(s)
	}
	var m map[string]any
	for {
		key, j, ok := flatString(s, i)
		if !ok {
			return nil, false
		}
		i = skipWS(s, j)
		if i >= len(s) || s[i] != ':' {
			return nil, false
		}
		i = skipWS(s, i+1)
		if i >= len(s) {
			return nil, false
		}
		var v any
		switch c := s[i]; {
		case c == '"':
			str, j, ok := flatString(s, i)
			if !ok {
				return nil, false
			}
			v, i = str, j
		case c == '-' || isDigit(c):
			j := numberEnd(s, i)
			if j < 0 {
				return nil, false
			}
			f, err := strconv.ParseFloat(s[i:j], 64)
			if err != nil {
				return nil, false
			}
			v, i = f, j
		case hasWord(s, i, "true"):
			v, i = true, i+4
		case hasWord(s, i, "false"):
			v, i = false, i+5
		case hasWord(s, i, "null"):
			v, i = nil, i+4
		default:
			return nil, false
		}
		if m == nil {
			m = make(map[string]any, 4)
		}
		m[key] = v
		i = skipWS(s, i)
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
			continue
		case '}':
			return m, skipWS(s, i+1) == len(s)
		}
		return nil, false
	}
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func hasWord(s string, i int, w string) bool {
	return len(s)-i >= len(w) && s[i:i+len(w)] == w
}

// flatString reads a JSON string at s[i] that has no escapes, no control
// characters and only valid UTF-8.
func flatString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	ascii := true
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			str := s[i+1 : j]
			if !ascii && !utf8.ValidString(str) {
				return "", 0, false
			}
			return str, j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", 0, false
}

// numberEnd returns the end of the JSON number at s[i], or -1 when it is
// not one: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(s string, i int) int {
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return -1
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return -1
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i
}
