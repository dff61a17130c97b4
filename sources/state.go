package sources

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// fileState is what Snapshot returns and Restore reads: per followed
// path, the files whose lines are not all committed, oldest first, and
// the configured paths, which tell a file that appeared while the daemon
// was stopped (read from its start) from one whose path was added to the
// configuration (read from where the configuration says).
type fileState struct {
	Version  int         `json:"version"`
	Patterns []string    `json:"patterns"`
	Files    []pathState `json:"files,omitempty"`
}

type pathState struct {
	Path  string     `json:"path"`
	Chain []position `json:"chain"`
}

// position is a committed position in one file.
type position struct {
	File   string      `json:"file"`   // its name when the line was read
	ID     string      `json:"id"`     // dev:inode
	FP     fingerprint `json:"fp"`     // its leading bytes
	Offset int64       `json:"offset"` // just past the last committed line
	Num    int64       `json:"num"`    // that line's number; -1 when unknown
}

const stateVersion = 1

// Snapshot returns the committed positions as JSON, for the daemon to
// save. Before Run it returns what Restore was given.
func (f *File) Snapshot() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ran && f.restored != nil {
		return json.Marshal(f.restored)
	}
	st := fileState{Version: stateVersion, Patterns: f.cfg.Paths}
	for _, s := range f.streams {
		ps := pathState{Path: s.path}
		for _, seg := range s.segs {
			ps.Chain = append(ps.Chain, position{File: seg.file, ID: seg.id, FP: seg.fp, Offset: seg.comOff, Num: seg.comNum})
		}
		if len(ps.Chain) > 0 {
			st.Files = append(st.Files, ps)
		}
	}
	sort.Slice(st.Files, func(i, j int) bool { return st.Files[i].Path < st.Files[j].Path })
	return json.Marshal(st)
}

// Restore sets the positions saved by Snapshot; it must be called before Run.
func (f *File) Restore(b []byte) error {
	var st fileState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("file positions: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("file positions: unknown version %d", st.Version)
	}
	for _, ps := range st.Files {
		for _, e := range ps.Chain {
			if _, err := parseFileID(e.ID); err != nil {
				return fmt.Errorf("file positions of %s: %w", ps.Path, err)
			}
			if e.Offset < 0 || e.FP.Lead < 0 {
				return fmt.Errorf("file positions of %s: negative offset", ps.Path)
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ran {
		return errors.New("file positions: restore after run")
	}
	f.restored = &st
	return nil
}
