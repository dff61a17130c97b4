package sources

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// setup creates the streams at the start of Run, from the saved positions
// when there are some.
func (f *File) setup() {
	f.mu.Lock()
	st := f.restored
	f.restored = nil
	f.mu.Unlock()

	chains := map[string][]position{}
	var saved []string
	if st != nil {
		saved = st.Patterns
		for _, ps := range st.Files {
			if len(ps.Chain) == 0 {
				continue
			}
			if !covers(f.cfg.Paths, ps.Path) {
				f.log.Info("saved position of a file no longer configured, dropped", "file", ps.Path)
				continue
			}
			chains[ps.Path] = ps.Chain
		}
	}
	paths := f.candidates()
	for p := range chains {
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	followed := map[string]bool{}
	for _, p := range paths {
		followed[p] = true
		f.addStream(p)
	}
	var unclaimed []position
	drained := map[fileID]bool{}
	for _, p := range paths {
		if c := chains[p]; len(c) > 0 {
			unclaimed = append(unclaimed, f.restoreStream(f.streams[p], c, followed, drained)...)
		}
	}
	for _, p := range paths {
		if len(chains[p]) == 0 {
			unclaimed = f.startStream(f.streams[p], st != nil && covers(saved, p), unclaimed, followed)
		}
	}
	for _, e := range unclaimed {
		f.log.Warn("saved file not found, its unread lines are lost; reading the current file from its beginning", "file", e.File, "file_id", e.ID, "offset", e.Offset)
	}
}

// restoreStream finds again the files of a saved chain (oldest first) and
// queues them from their saved positions. It returns the entries it could
// not find: another followed path may hold them (renamed while stopped).
func (f *File) restoreStream(s *stream, chain []position, followed map[string]bool, drained map[fileID]bool) (lost []position) {
	s.hadFile = true
	for _, e := range chain {
		id, err := parseFileID(e.ID)
		if err != nil {
			continue
		}
		if r := f.openSame(s.path, id, e); r != nil {
			r.atPath = true
			f.push(s, r)
			f.log.Info("resuming file", "file", s.path, "file_id", r.ids, "offset", r.readPos)
			return lost
		}
		q, isCopy := f.locate(s.path, id, e, followed)
		if q == "" {
			lost = append(lost, e)
			continue
		}
		r, err := f.open(q, e.Offset, e.Num)
		if err != nil {
			f.log.Warn("cannot open rotated file", "file", q, "error", err)
			lost = append(lost, e)
			continue
		}
		if drained[r.id] {
			r.f.Close()
			continue
		}
		drained[r.id] = true
		r.fp = fingerprint{Lead: e.FP.Lead, Data: e.FP.Data}
		r.copy = isCopy
		f.push(s, r)
		f.log.Info("reading rotated file from its saved position", "file", s.path, "rotated", q, "file_id", r.ids, "offset", e.Offset)
	}
	return lost
}

// openSame opens path if it is still the saved file: the same inode, the
// same leading bytes, and not shorter than the saved offset.
func (f *File) openSame(path string, id fileID, e position) *reader {
	r, err := f.open(path, e.Offset, e.Num)
	if err != nil {
		return nil
	}
	fp := fingerprint{Lead: e.FP.Lead, Data: e.FP.Data}
	fi, err := r.f.Stat()
	if err == nil && r.id == id && fi.Size() >= e.Offset {
		if ok, _ := fp.check(r.f, fi.Size(), f.scratch); ok {
			r.fp = fp
			return r
		}
	}
	r.f.Close()
	return nil
}

// locate looks in path's directory for a saved file that is no longer at
// path: by inode (renamed, with the same leading bytes), or else among
// the rotated copies by leading bytes (copied then truncated). Followed
// paths are not considered: their own streams read them.
func (f *File) locate(path string, id fileID, e position, followed map[string]bool) (string, bool) {
	dir, base := filepath.Split(path)
	var cp string
	var cpTime time.Time
	for _, sb := range siblings(dir, func(name string) bool {
		q := filepath.Join(dir, name)
		return q != path && !followed[q] && !compressed(name)
	}) {
		size := sb.fi.Size()
		if sb.id == id {
			if size >= e.Offset && e.FP.matches(sb.path, size, f.scratch) {
				return sb.path, false
			}
			continue
		}
		if len(e.FP.Data) > 0 && isRotationOf(base, sb.name) && e.FP.matches(sb.path, size, f.scratch) {
			if cp == "" || sb.fi.ModTime().After(cpTime) {
				cp, cpTime = sb.path, sb.fi.ModTime()
			}
		}
	}
	return cp, cp != ""
}

// startStream starts a stream that has no saved chain. appeared is true
// when the path was configured at the last run: the file appeared while
// the daemon was stopped and is read from its start, unless it is a saved
// file of another path, renamed (it then goes on from that position).
func (f *File) startStream(s *stream, appeared bool, unclaimed []position, followed map[string]bool) []position {
	in, wasThere := f.initial[s.path]
	wasThere = wasThere && !appeared
	r, err := f.open(s.path, 0, 0)
	if err != nil {
		if wasThere {
			f.startRotated(s, in, followed)
		}
		if fi, serr := os.Stat(s.path); serr != nil || !fi.Mode().IsRegular() {
			f.absent(s, fi, serr)
		} else if !errors.Is(err, os.ErrNotExist) {
			f.log.Warn("cannot open file", "file", s.path, "error", err)
		}
		return unclaimed
	}
	if wasThere && r.id != in.id {
		// The file that was at the path when NewFile ran was rotated
		// away since: what was written to it meanwhile is read first.
		f.startRotated(s, in, followed)
	}
	fi, err := r.f.Stat()
	if err != nil {
		r.f.Close()
		return unclaimed
	}
	r.atPath = true
	for i, e := range unclaimed {
		if e.ID != r.ids {
			continue
		}
		fp := fingerprint{Lead: e.FP.Lead, Data: e.FP.Data}
		if ok, _ := fp.check(r.f, fi.Size(), f.scratch); ok && fi.Size() >= e.Offset {
			r.readPos, r.lineStart, r.num, r.fp = e.Offset, e.Offset, e.Num, fp
			f.push(s, r)
			s.hadFile = true
			f.log.Info("resuming file found under a new name", "file", s.path, "was", e.File, "offset", e.Offset)
			return slices.Delete(unclaimed, i, i+1)
		}
	}
	if wasThere && in.id == r.id && !f.cfg.FromBeginning {
		r.readPos, r.lineStart = in.size, in.size
		r.num = countLines(r.f, in.size)
	}
	f.push(s, r)
	s.hadFile = true
	f.log.Info("following file", "file", s.path, "file_id", r.ids, "offset", r.readPos)
	return unclaimed
}

// startRotated queues the file that was at s's path when NewFile ran, if
// it can be found in the directory (by inode), from where it was then.
func (f *File) startRotated(s *stream, in startInfo, followed map[string]bool) {
	start := in.size
	if f.cfg.FromBeginning {
		start = 0
	}
	q, _ := f.locate(s.path, in.id, position{Offset: start}, followed)
	if q == "" {
		return
	}
	r, err := f.open(q, start, -1)
	if err != nil || r.id != in.id {
		if r != nil {
			r.f.Close()
		}
		return
	}
	r.num = countLines(r.f, start)
	f.push(s, r)
	s.hadFile = true
	f.log.Info("file rotated before it was read, reading the rotated file first", "file", s.path, "rotated", q, "offset", start)
}
