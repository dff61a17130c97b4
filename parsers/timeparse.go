package parsers

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var zeroTime time.Time

// zones caches one fixed zone per offset (in minutes, ±23:59), so parsing
// a time allocates nothing.
var zones [2*1440 - 1]atomic.Pointer[time.Location]

func fixedZone(minutes int) *time.Location {
	if minutes == 0 {
		return time.UTC
	}
	i := minutes + 1439
	if l := zones[i].Load(); l != nil {
		return l
	}
	l := time.FixedZone("", minutes*60)
	zones[i].Store(l)
	return l
}

func digits(s string, n int) (int, bool) {
	if len(s) < n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// isDateTime reports whether s starts with YYYY-MM-DDTHH:MM:SS (or a space
// for the T): the start of every timestamped record we read.
func isDateTime[T string | []byte](s T) bool {
	if len(s) < 19 {
		return false
	}
	for i := 0; i < 19; i++ {
		c := s[i]
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != 'T' && c != ' ' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// parseTime parses the timestamp at the start of s: YYYY-MM-DD, then T or
// one space, HH:MM:SS, an optional fraction (1–9 digits are kept, more are
// read and dropped), then an optional zone: Z, ±HH:MM, ±HHMM or ±HH. A time
// without a zone is in loc. It returns the time and the number of bytes
// read; the zone offset is kept as written.
func parseTime(s string, loc *time.Location) (time.Time, int, bool) {
	if !isDateTime(s) {
		return zeroTime, 0, false
	}
	year, _ := digits(s, 4)
	month, _ := digits(s[5:], 2)
	day, _ := digits(s[8:], 2)
	hour, _ := digits(s[11:], 2)
	minute, _ := digits(s[14:], 2)
	sec, _ := digits(s[17:], 2)
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || sec > 60 {
		return zeroTime, 0, false
	}
	i := 19
	nsec := 0
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		j := i + 1
		n := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			if n < 9 {
				nsec = nsec*10 + int(s[j]-'0')
				n++
			}
			j++
		}
		if n == 0 {
			return zeroTime, 0, false
		}
		for k := n; k < 9; k++ {
			nsec *= 10
		}
		i = j
	}
	if i < len(s) {
		switch c := s[i]; c {
		case 'Z', 'z':
			loc = time.UTC
			i++
		case '+', '-':
			hh, ok := digits(s[i+1:], 2)
			if !ok {
				break
			}
			j := i + 3
			mm := 0
			if j < len(s) && s[j] == ':' {
				if mm, ok = digits(s[j+1:], 2); !ok {
					return zeroTime, 0, false
				}
				j += 3
			} else if m, ok := digits(s[j:], 2); ok {
				mm = m
				j += 2
			}
			if hh > 23 || mm > 59 {
				return zeroTime, 0, false
			}
			off := hh*60 + mm
			if c == '-' {
				off = -off
			}
			loc = fixedZone(off)
			i = j
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), i, true
}

// extraLayouts are the other layouts a time field or capture may use.
var extraLayouts = []string{
	time.RFC1123Z, time.RFC1123, time.RFC850, time.ANSIC, time.UnixDate,
	"2006/01/02 15:04:05.999999999 -0700", "2006/01/02 15:04:05.999999999",
	"02/Jan/2006:15:04:05 -0700",
}

// parseTimeValue parses a whole time value: ISO 8601 (see parseTime), one
// of extraLayouts, or Unix seconds (milliseconds, microseconds or
// nanoseconds when longer). Times without a zone are local.
func parseTimeValue(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if t, n, ok := parseTime(v, time.Local); ok && n == len(v) {
		return t, true
	}
	if len(v) >= 9 && len(v) <= 19 {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return unixTime(float64(n), n), true
		}
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 1e8 && !strings.ContainsAny(v, "eEnNiI") {
		return unixTime(f, 0), true
	}
	for _, l := range extraLayouts {
		if t, err := time.ParseInLocation(l, v, time.Local); err == nil {
			return t, true
		}
	}
	return zeroTime, false
}

// unixTime converts an epoch number in seconds, milliseconds, microseconds
// or nanoseconds (told apart by size) to a time. exact, when not 0, is the
// same number as an integer, so nanoseconds lose no precision.
func unixTime(f float64, exact int64) time.Time {
	switch {
	case f >= 1e17:
		if exact != 0 {
			return time.Unix(0, exact)
		}
		return time.Unix(0, int64(f))
	case f >= 1e14:
		return time.UnixMicro(int64(f))
	case f >= 1e11:
		return time.UnixMilli(int64(f))
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9+0.5)/1000*1000)
}
