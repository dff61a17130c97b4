package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/venus-medic/venus-medic/actions"
)

// State is the daemon's state directory. It is the only writer of
// state_dir: positions, rule state and the audit log (STYLE "Where state
// lives"). Snapshots are written crash-safely: a temporary file in the same
// directory is written, fsynced and renamed over the old one, and the
// directory is fsynced, so a crash leaves either the old or the new file,
// never a torn one.
type State struct {
	dir string

	mu sync.Mutex // guards the audit file and the last-saved cache
	// last holds the bytes last written per file, to skip identical writes.
	last  map[string][]byte
	audit *os.File
	// auditSize is the current size of the audit log, for rotation.
	auditSize int64
}

// maxAudit is the size at which audit.jsonl is rotated to audit.jsonl.1.
const maxAudit = 16 << 20

// OpenState creates (if needed) and opens a state directory.
func OpenState(dir string) (*State, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	probe := filepath.Join(dir, ".write-test")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return nil, fmt.Errorf("state_dir %s is not writable: %w", dir, err)
	}
	_ = os.Remove(probe)
	return &State{dir: dir, last: map[string][]byte{}}, nil
}

// Dir returns the state directory.
func (s *State) Dir() string { return s.dir }

// Read returns the content of a state file, nil when it does not exist.
// A file that is not valid JSON (torn by an outside hand, or by a disk
// error) is moved aside as NAME.corrupt and nil is returned, so the daemon
// starts clean rather than not at all.
func (s *State) Read(name string) ([]byte, error) {
	p := filepath.Join(s.dir, name)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		_ = os.Rename(p, p+".corrupt")
		return nil, fmt.Errorf("state file %s is corrupt; moved to %s.corrupt", p, name)
	}
	s.mu.Lock()
	s.last[name] = b
	s.mu.Unlock()
	return b, nil
}

// Write replaces a state file atomically (temp file, fsync, rename, fsync
// of the directory). Writing the same bytes again is skipped.
func (s *State) Write(name string, b []byte) error {
	s.mu.Lock()
	same := bytes.Equal(s.last[name], b)
	s.mu.Unlock()
	if same {
		return nil
	}
	p := filepath.Join(s.dir, name)
	tmp, err := os.CreateTemp(s.dir, "."+name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return err
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	s.mu.Lock()
	s.last[name] = append([]byte(nil), b...)
	s.mu.Unlock()
	return nil
}

// auditRecord is one line of audit.jsonl.
type auditRecord struct {
	Time     string  `json:"time"`
	FiringID string  `json:"firing_id"`
	Rule     string  `json:"rule"`
	Action   string  `json:"action"`
	Source   string  `json:"source,omitempty"`
	Line     string  `json:"line,omitempty"`
	Outcome  string  `json:"outcome"`
	Attempts int     `json:"attempts"`
	Error    string  `json:"error,omitempty"`
	Output   string  `json:"output,omitempty"`
	Seconds  float64 `json:"seconds"`
}

// Audit appends an action's outcome to audit.jsonl (one JSON object per
// line, fsynced), rotating the file to audit.jsonl.1 past 16 MiB.
func (s *State) Audit(r actions.Record) error {
	b, err := json.Marshal(auditRecord{
		Time: r.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), FiringID: r.FiringID,
		Rule: r.Rule, Action: r.Action, Source: r.Source, Line: r.Line, Outcome: r.Outcome, Attempts: r.Attempts,
		Error: r.Err, Output: r.Output, Seconds: r.Duration.Seconds(),
	})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	p := filepath.Join(s.dir, "audit.jsonl")
	if s.audit != nil && s.auditSize+int64(len(b)) > maxAudit {
		s.audit.Close()
		s.audit = nil
		if err := os.Rename(p, p+".1"); err != nil {
			return err
		}
	}
	if s.audit == nil {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		s.audit, s.auditSize = f, st.Size()
	}
	n, err := s.audit.Write(b)
	s.auditSize += int64(n)
	if err != nil {
		return err
	}
	return s.audit.Sync()
}

// Close closes the audit log.
func (s *State) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.audit != nil {
		err := s.audit.Close()
		s.audit = nil
		return err
	}
	return nil
}
