package sources

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
)

// checkPath looks at what is at s's path now: nothing, the file being
// read, or another file (rotation, recreation), which is queued behind
// the files being read, or taken over from another path it was renamed
// from.
func (f *File) checkPath(s *stream) {
	fi, err := os.Stat(s.path)
	var newest *reader
	if n := len(s.readers); n > 0 {
		newest = s.readers[n-1]
	}
	if err != nil || !fi.Mode().IsRegular() {
		f.absent(s, fi, err)
		if newest != nil && newest.atPath {
			newest.atPath = false
			newest.lastGrowth = time.Now() // its writer may still write: give it a PollInterval
			f.log.Info("file moved or deleted, reading it to its end", "file", s.path, "file_id", newest.ids)
		}
		return
	}
	if s.problem != "" {
		if s.problem != "missing" {
			f.log.Info("file is back", "file", s.path)
		}
		s.problem = ""
	}
	id, _ := identify(fi)
	if newest != nil && newest.id == id {
		newest.atPath = true
		s.seenMod = fi.ModTime()
		return
	}
	if slices.ContainsFunc(s.readers, func(o *reader) bool { return o.id == id }) {
		return // an older file of the path came back: it is being read already
	}
	if newest != nil && newest.atPath {
		newest.atPath = false
		newest.lastGrowth = time.Now() // its writer may still write: give it a PollInterval
	}
	if r, from := f.holder(id, s); r != nil {
		if fi2, err := os.Stat(from.path); err == nil {
			if id2, _ := identify(fi2); id2 == id {
				return // the same file under two followed names: read once
			}
		}
		f.transfer(r, from, s)
		return
	}
	r, err := f.open(s.path, 0, 0)
	if errors.Is(err, os.ErrNotExist) {
		return // gone between the look and the open: seen at the next look
	}
	if err != nil {
		if s.problem != err.Error() {
			s.problem = err.Error()
			f.log.Warn("cannot open file", "file", s.path, "error", err)
		}
		return
	}
	r.atPath = true
	f.capture(r, false)
	if s.hadFile {
		old := ""
		if newest != nil {
			old = newest.ids
		}
		missed := f.missed(s.path, s.seenMod, false, r)
		f.mu.Lock()
		s.rotations += int64(1 + len(missed))
		f.mu.Unlock()
		for _, m := range missed {
			f.log.Info("file rotated more than once since last look, reading the rotated file from its beginning", "file", s.path, "rotated", m.path, "file_id", m.ids)
			f.push(s, m)
		}
		f.log.Info("file rotated, reading the new file from its beginning", "file", s.path, "old_file_id", old, "new_file_id", r.ids)
	} else {
		f.log.Info("following new file", "file", s.path, "file_id", r.ids)
	}
	s.hadFile = true
	s.seenMod = fi.ModTime()
	f.push(s, r)
}

// absent reports, once per kind of problem, why nothing is read at s's path.
func (f *File) absent(s *stream, fi os.FileInfo, err error) {
	var key, msg string
	level := hclog.Info
	switch {
	case errors.Is(err, os.ErrNotExist):
		key, msg = "missing", "file does not exist, waiting for it"
	case err != nil:
		key, msg, level = "error:"+err.Error(), "cannot look at file, retrying", hclog.Warn
	case fi.IsDir():
		key, msg, level = "dir", "path is a directory, not a file; waiting for a file", hclog.Warn
	default:
		key, msg, level = "irregular", "path is not a regular file, waiting for one", hclog.Warn
	}
	if s.problem == key {
		return
	}
	first := s.problem == "" && !s.hadFile
	s.problem = key
	if key == "missing" && !first && !s.literal {
		level = hclog.Debug
	}
	if err != nil {
		f.log.Log(level, msg, "file", s.path, "error", err)
	} else {
		f.log.Log(level, msg, "file", s.path)
	}
}

// holder returns the reader, in a stream other than s, that has file id open.
func (f *File) holder(id fileID, s *stream) (*reader, *stream) {
	for _, o := range f.streams {
		if o == s {
			continue
		}
		for _, r := range o.readers {
			if r.id == id && !r.copy {
				return r, o
			}
		}
	}
	return nil, nil
}

// transfer moves r, renamed from one followed path to another, to the
// stream of its new path: it goes on from where it is.
func (f *File) transfer(r *reader, from, to *stream) {
	f.mu.Lock()
	if i := slices.Index(from.readers, r); i >= 0 {
		from.readers = slices.Delete(from.readers, i, i+1)
	}
	f.closeSeg(r.seg)
	r.path = to.path
	r.atPath = true
	r.seg = f.newSeg(to, r)
	to.readers = append(to.readers, r)
	f.mu.Unlock()
	to.hadFile = true
	f.log.Info("file renamed, going on under its new name", "file", from.path, "new_name", to.path, "file_id", r.ids, "offset", r.lineStart)
}

// discover adds a stream for every new file a glob matches.
func (f *File) discover() {
	for _, p := range f.candidates() {
		if _, ok := f.streams[p]; ok {
			continue
		}
		s := f.addStream(p)
		f.checkPath(s)
	}
}

// prune drops the streams of glob matches that are gone and finished.
func (f *File) prune() {
	for p, s := range f.streams {
		if s.literal || len(s.readers) > 0 {
			continue
		}
		if _, err := os.Stat(p); err == nil && covers(f.cfg.Paths, p) {
			continue
		}
		f.mu.Lock()
		if len(s.segs) == 0 {
			delete(f.streams, p)
			f.dirty = true
		}
		f.mu.Unlock()
	}
}

// missed finds the files that were at path, and were rotated away,
// between two looks (the source was busy, or rotations came in quick
// succession): rotated copies of path modified at or after since (the
// modification time of what was read at the last look), that are neither
// being read (nor one of known), nor finished with, nor copies of content
// already read or known. They are returned oldest first, opened at their
// start. copies is set when looking for the copies of truncated contents:
// a candidate with no content yet is then a copy still being made (of
// the content now at path), not a missed content.
func (f *File) missed(path string, since time.Time, copies bool, known ...*reader) []*reader {
	if since.IsZero() {
		return nil
	}
	dir, base := filepath.Split(path)
	var out []*reader
	var times []time.Time
	// A file renamed between the look and the open (logrotate shifting
	// its copies) is looked for again.
	for attempt := 0; attempt < 3; attempt++ {
		retry := false
		for _, sb := range siblings(dir, func(name string) bool { return isRotationOf(base, name) && !compressed(name) }) {
			if sb.fi.ModTime().Before(since) || f.held(sb.id) || slices.ContainsFunc(append(out, known...), func(k *reader) bool { return k.id == sb.id }) {
				continue
			}
			m, err := f.open(sb.path, 0, 0)
			if err != nil {
				retry = retry || errors.Is(err, os.ErrNotExist)
				continue
			}
			// Inode numbers are reused: a finished file's number says
			// nothing, its content does.
			ok, _ := m.fp.check(m.f, sb.fi.Size(), f.scratch)
			if !ok || copies && len(m.fp.Data) == 0 || f.knownContent(m.fp, append(out, known...)) {
				m.f.Close()
				continue
			}
			out = append(out, m)
			times = append(times, sb.fi.ModTime())
		}
		if !retry {
			break
		}
	}
	sort.Sort(byTime{out, times})
	return out
}

// held reports whether a reader of any stream has file id open.
func (f *File) held(id fileID) bool {
	for _, o := range f.streams {
		for _, r := range o.readers {
			if r.id == id {
				return true
			}
		}
	}
	return false
}

type byTime struct {
	r []*reader
	t []time.Time
}

func (b byTime) Len() int           { return len(b.r) }
func (b byTime) Less(i, j int) bool { return b.t[i].Before(b.t[j]) }
func (b byTime) Swap(i, j int) {
	b.r[i], b.r[j] = b.r[j], b.r[i]
	b.t[i], b.t[j] = b.t[j], b.t[i]
}

// knownContent reports whether a file starting with fp starts like a
// file being read (or one of also), finished with, or truncated in this
// run: whether it is a copy of content already known. A file with no
// content yet is not.
func (f *File) knownContent(fp fingerprint, also []*reader) bool {
	if len(fp.Data) == 0 {
		return false
	}
	same := func(k fingerprint) bool {
		n := min(len(k.Data), len(fp.Data))
		return n > 0 && k.Lead == fp.Lead && bytes.Equal(k.Data[:n], fp.Data[:n])
	}
	for _, k := range f.done {
		if same(k) {
			return true
		}
	}
	for _, k := range f.gonefp {
		if same(k) {
			return true
		}
	}
	for _, o := range f.streams {
		for _, h := range o.readers {
			if same(h.fp) {
				return true
			}
		}
	}
	for _, h := range also {
		if same(h.fp) {
			return true
		}
	}
	return false
}

// remember notes a file finished with, or a content truncated away.
func (f *File) remember(id *fileID, fp fingerprint) {
	const keep = 1024
	if id != nil {
		if len(f.done) >= keep {
			for k := range f.done {
				delete(f.done, k)
				break
			}
		}
		f.done[*id] = fp
		return
	}
	if len(f.gonefp) >= 64 {
		f.gonefp = f.gonefp[1:]
	}
	f.gonefp = append(f.gonefp, fp)
}

// truncated handles r's file having been truncated: the lines after the
// last one read are looked for in a rotated copy, and r starts over.
func (f *File) truncated(s *stream, r *reader, lastMod time.Time) {
	old, from, num, seen := r.fp, r.lineStart, r.num, r.seen
	f.remember(nil, old)
	var c *reader
	if len(old.Data) > 0 {
		c = f.findCopy(r, old, from, num)
	}
	f.mu.Lock()
	f.closeSeg(r.seg)
	*r = reader{
		f: r.f, path: r.path, id: r.id, ids: r.ids, seg: r.seg,
		line: lineBuf{max: f.cfg.MaxLineBytes}, size: -1,
		lastGrowth: time.Now(), nlink: r.nlink, atPath: r.atPath,
	}
	f.mu.Unlock()
	f.capture(r, true)
	f.mu.Lock()
	r.seg = f.newSeg(s, r)
	f.mu.Unlock()
	// Contents written and rotated away since the last look. r's new
	// content is known now: a copy of it (logrotate copies before it
	// truncates) is not taken for a missed one.
	known := []*reader{r}
	if c != nil {
		known = append(known, c)
	}
	missed := f.missed(r.path, lastMod, true, known...)
	// Read in order: the copy of the old content, the missed contents,
	// then the new content.
	var before []*reader
	if c != nil {
		before = append(before, c)
	}
	f.mu.Lock()
	s.truncations += int64(1 + len(missed))
	f.insertBefore(s, r, append(before, missed...))
	f.mu.Unlock()
	for _, m := range missed {
		f.log.Info("file truncated more than once since last look, reading the rotated copy from its beginning", "file", r.path, "copy", m.path)
	}
	switch lost := seen - from; {
	case c != nil:
		f.log.Info("file truncated, reading its unread lines from the rotated copy", "file", r.path, "copy", c.path, "offset", from)
	case lost > 0:
		f.log.Warn("file truncated and no rotated copy found, its unread lines are lost", "file", r.path, "offset", from, "lost_bytes", lost)
	default:
		f.log.Info("file truncated, reading it from its beginning", "file", r.path)
	}
}

// insertBefore queues rs, in order, before r, with their segments before
// r's. Called with f.mu held.
func (f *File) insertBefore(s *stream, r *reader, rs []*reader) {
	if len(rs) == 0 {
		return
	}
	for _, b := range rs {
		b.seg = f.newSeg(s, b)
	}
	// newSeg appended them after r's segment: move r's behind them.
	if i := slices.Index(s.segs, r.seg); i >= 0 {
		s.segs = append(slices.Delete(s.segs, i, i+1), r.seg)
	}
	i := slices.Index(s.readers, r)
	s.readers = slices.Insert(s.readers, i, rs...)
}

// capture takes the fingerprint and modification time of r's content
// now, for a reader that will be read later (queued behind others): if
// the content is rotated away before then, that is noticed and the
// content looked for.
func (f *File) capture(r *reader, truncated bool) {
	if fi, err := r.f.Stat(); err == nil {
		r.mtime = fi.ModTime()
		r.fp.check(r.f, fi.Size(), f.scratch)
		if truncated && len(r.fp.Data) == 0 {
			// Nothing to recognise the new content by yet: when there
			// is, the copies of contents truncated away meanwhile are
			// looked for.
			r.blind = r.mtime
		}
	}
}

// findCopy looks among the rotated copies of r's file for one that starts
// with fp, the truncated file's old fingerprint, and opens it at from.
// When several do, the most recently modified wins.
func (f *File) findCopy(r *reader, fp fingerprint, from, num int64) *reader {
	dir, base := filepath.Split(r.path)
	// A copy renamed between the look and the open (logrotate shifting
	// its copies) is looked for again.
	for attempt := 0; attempt < 3; attempt++ {
		var best string
		var bestTime time.Time
		for _, sb := range siblings(dir, func(name string) bool { return isRotationOf(base, name) && !compressed(name) }) {
			if sb.id == r.id {
				continue
			}
			if fp.matches(sb.path, sb.fi.Size(), f.scratch) && (best == "" || sb.fi.ModTime().After(bestTime)) {
				best, bestTime = sb.path, sb.fi.ModTime()
			}
		}
		if best == "" {
			return nil
		}
		c, err := f.open(best, from, num)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			f.log.Warn("cannot open rotated copy", "file", best, "error", err)
			return nil
		}
		c.fp = fingerprint{Lead: fp.Lead, Data: fp.Data}
		if fi, err := c.f.Stat(); err != nil || c.id == r.id {
			c.f.Close()
			continue
		} else if ok, _ := c.fp.check(c.f, fi.Size(), f.scratch); !ok {
			c.f.Close() // another file took the name meanwhile
			continue
		}
		c.copy = true
		return c
	}
	return nil
}
