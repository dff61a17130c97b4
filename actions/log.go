package actions

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
)

// logConfig is the configuration of a log action: the common keys only.
type logConfig struct {
	Common `yaml:",inline"`
}

// maxLogLine caps the log text a log action writes.
const maxLogLine = 4096

// Log writes firings to the daemon's own log (the journal under systemd):
// critical at ERROR, warning at WARN, info at INFO.
type Log struct {
	log hclog.Logger
}

func newLog(s *spec) (Action, error) {
	var c logConfig
	if err := s.decode(&c); err != nil {
		return nil, err
	}
	return &Log{log: s.log.With("action", s.name)}, nil
}

// Do writes firing f; it never fails.
func (l *Log) Do(_ context.Context, f event.Firing) (bool, error) {
	level := hclog.Warn
	switch f.Severity {
	case "critical":
		level = hclog.Error
	case "info":
		level = hclog.Info
	}
	msg := "rule fired"
	if f.Resolved {
		msg = "rule resolved"
	}
	args := []any{
		"rule", f.Rule, "severity", f.Severity, "summary", f.Summary,
		"source", f.Event.Source, "host", f.Event.Host,
		"time", f.Event.Time.Format(time.RFC3339Nano),
	}
	if f.Count > 1 {
		args = append(args, "count", f.Count)
	}
	args = append(args, "line", capText(f.Event.Line, maxLogLine))
	l.log.Log(level, msg, args...)
	return false, nil
}
