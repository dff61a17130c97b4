package parsers

import "github.com/venus-medic/venus-medic/event"

// levels maps the level names of the formats we read (lower case) to the
// event's levels.
var levels = map[string]string{
	"trace": event.LevelDebug, "trac": event.LevelDebug, "trc": event.LevelDebug,
	"debug": event.LevelDebug, "debu": event.LevelDebug, "dbug": event.LevelDebug, "dbg": event.LevelDebug,
	"info": event.LevelInfo, "inf": event.LevelInfo, "information": event.LevelInfo,
	"informational": event.LevelInfo, "notice": event.LevelInfo, "noti": event.LevelInfo, "notic": event.LevelInfo,
	"warn": event.LevelWarn, "warning": event.LevelWarn, "warni": event.LevelWarn, "wrn": event.LevelWarn,
	"error": event.LevelError, "erro": event.LevelError, "err": event.LevelError, "eror": event.LevelError,
	"dpanic": event.LevelDPanic,
	"panic":  event.LevelPanic, "pani": event.LevelPanic,
	"fatal": event.LevelFatal, "fata": event.LevelFatal, "critical": event.LevelFatal,
	"crit": event.LevelFatal, "criti": event.LevelFatal, "crt": event.LevelFatal,
	"emerg": event.LevelFatal, "emergency": event.LevelFatal, "alert": event.LevelFatal,
}

// normLevel maps a level name in any case to an event level, or "" when
// it is not one.
func normLevel(s string) string {
	if len(s) == 0 || len(s) > 13 {
		return ""
	}
	var buf [13]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return levels[string(buf[:len(s)])]
}

// numLevel maps the numeric levels of bunyan and pino (10 trace … 60
// fatal) to an event level.
func numLevel(f float64) string {
	switch f {
	case 10, 20:
		return event.LevelDebug
	case 30:
		return event.LevelInfo
	case 40:
		return event.LevelWarn
	case 50:
		return event.LevelError
	case 60:
		return event.LevelFatal
	}
	return ""
}

// goLogLevel recognises the level column of a go-log console line: zap's
// capital levels, and go-logging's (go-log before v1.0) WARNING, NOTICE and
// CRITICAL.
func goLogLevel(s string) string {
	switch s {
	case "DEBUG":
		return event.LevelDebug
	case "INFO", "NOTICE":
		return event.LevelInfo
	case "WARN", "WARNING":
		return event.LevelWarn
	case "ERROR":
		return event.LevelError
	case "DPANIC":
		return event.LevelDPanic
	case "PANIC":
		return event.LevelPanic
	case "FATAL", "CRITICAL":
		return event.LevelFatal
	}
	return ""
}
