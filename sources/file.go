package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
)

// FileConfig configures a File source.
type FileConfig struct {
	// Name is the source name, copied into every event.Line.Source.
	Name string
	// Paths are file paths or globs (filepath.Match syntax).
	Paths []string
	// FromBeginning reads a file that exists when the source is created,
	// and has no saved position, from its start instead of its end. Files
	// that appear later are always read from their start.
	FromBeginning bool
	// MaxLineBytes caps a line (default 1 MiB): the rest of a longer line
	// is skipped, and the line is still delivered once.
	MaxLineBytes int
	// PollInterval is how often every followed file is checked with a
	// stat, for changes the watcher missed (NFS, FUSE, overflow); it is
	// also how long a rotated file must stay unchanged before it is
	// considered finished (default 1s).
	PollInterval time.Duration
}

// FileStatus describes one followed path.
type FileStatus struct {
	// Path is the followed path.
	Path string `json:"path"`
	// FileID is the "dev:inode" of the file now read under Path ("" when
	// there is none).
	FileID string `json:"file_id,omitempty"`
	// Offset is the committed position in that file.
	Offset int64 `json:"offset"`
	// Size is the file's size when it was last looked at.
	Size int64 `json:"size"`
	// LagBytes counts the bytes not yet committed, rotated files still
	// being read included.
	LagBytes int64 `json:"lag_bytes"`
	// Rotations counts the times another file took the path's place
	// (rename rotation, deletion and creation).
	Rotations int64 `json:"rotations"`
	// Truncations counts the times the file was truncated (copytruncate).
	Truncations int64 `json:"truncations"`
}

// File follows files like `tail -F`, keeping every line exactly once
// through rotation and restarts (the rest of this comment says how).
//
// Each followed path is a stream: the file now at the path, preceded,
// during a rotation, by the files still to be finished. Only the first
// file of a stream is read, so a stream's lines come in order:
//
//   - Rename rotation (logrotate's `create`): the open descriptor keeps
//     the renamed file, and its writer may still write to it. It is read
//     until it has not grown for a PollInterval, and only then is the new
//     file at the path read, from its start.
//   - Copytruncate (how Venus logs are rotated, their writers never
//     reopen): a file that became shorter than the position read, or
//     whose leading bytes (fingerprint) changed, was truncated. The lines
//     not read before the truncation are in the copy logrotate made
//     (NAME.1, NAME-DATE; compressed copies cannot be read): the sibling
//     whose leading bytes equal the old fingerprint is read from the old
//     position before the truncated file is read again from its start.
//     After each read the fingerprint is checked again, so bytes read
//     after a truncation are never taken for the old content. A writer
//     that kept its offset leaves a run of NUL bytes (a hole) at the
//     start; it is skipped. Only lines written between logrotate's copy
//     and its truncation can be lost: they are in neither file.
//   - A deleted file is read to its end; one created again is read from
//     its start. A directory in a file's place is reported and waited out.
//
// Positions: Commit marks a delivered line as seen by the rules, and only
// committed positions are in Snapshot. The positions are kept per
// delivery segment (one file, one content generation), so that lines of a
// rotated file committed late still count for that file. Snapshot
// records, per path, the files whose lines are not all committed with
// their identity (dev:inode), fingerprint, committed offset and line
// count. After Restore, Run finds each of them again: still at its path
// (same inode, same leading bytes, not shorter), renamed in the same
// directory (same inode), or, for a truncated file, its copy (same
// leading bytes); it reads them from the saved offset, then the file now
// at the path from its start. A file that cannot be found is logged.
// Lines delivered but not committed before a stop are delivered again
// (at-least-once).
//
// File never holds its mutex while sending a line, so Commit, Snapshot
// and Status may be called from the goroutine that receives the lines.
type File struct {
	cfg     FileConfig
	log     hclog.Logger
	literal map[string]bool      // configured paths without glob characters
	initial map[string]startInfo // regular files that existed when NewFile ran

	// Used by the Run goroutine only.
	buf     []byte // read buffer
	scratch []byte // fingerprint buffer (fpSize bytes)
	order   []*stream
	dirty   bool // streams were added or removed: order must be rebuilt
	// done holds the fingerprints of files finished with in this run
	// (bounded), so that a rotated file seen again is not taken for one
	// never read.
	done   map[fileID]fingerprint
	gonefp []fingerprint // fingerprints of truncated contents (bounded)

	// mu guards streams (the map and each stream's readers slice: written
	// only by the Run goroutine, which may read them without mu), every
	// stream's segs and counters, every segment, each reader's seg and
	// size, restored, ran and hot.
	mu       sync.Mutex
	streams  map[string]*stream
	restored *fileState
	ran      bool
	hot      *segment // the segment the last Commit went to
}

type startInfo struct {
	id   fileID
	size int64
}

// stream is one followed path.
type stream struct {
	path    string
	literal bool      // a configured path, kept while it does not exist
	readers []*reader // oldest first; only readers[0] is read
	segs    []*segment
	hadFile bool      // a file was followed at path before: a new one is a rotation
	seenMod time.Time // the newest reader's modification time when last seen at path
	problem string    // what was last reported about path, to report it once

	rotations, truncations int64
}

// reader is one open file of a stream. Only the Run goroutine uses it,
// except seg and size (guarded by File.mu).
type reader struct {
	f    *os.File
	path string // Line.File: the name the file was found under
	id   fileID
	ids  string // id.String()
	fp   fingerprint

	readPos   int64 // next byte to read
	lineStart int64 // offset just past the last complete line
	num       int64 // number of the last complete line; -1 when unknown
	line      lineBuf

	size       int64 // size when last looked at; -1 before the first look
	mtime      time.Time
	seen       int64 // largest size seen in this content generation
	lastGrowth time.Time
	nlink      uint64
	blind      time.Time // set when queued with no content yet: its modification time then
	atPath     bool      // the file is the one now at its stream's path
	copy       bool      // a rotated copy: read to its end, then closed

	seg *segment
}

// segment is the positions of the lines one reader delivered from one
// content generation of one file: what Commit moves and Snapshot saves.
type segment struct {
	s      *stream
	file   string // event.Line.File of its lines
	id     string // event.Line.FileID of its lines
	fp     fingerprint
	comOff int64 // committed: offset just past the last committed line
	comNum int64
	endOff int64 // offset just past the last delivered line
	endNum int64
	closed bool // no more lines will be delivered into it
}

// NewFile returns a File source. It notes which files exist now: with no
// saved position they are read from their end (or their start with
// FromBeginning), and every file that appears later from its start.
func NewFile(cfg FileConfig, log hclog.Logger) (*File, error) {
	if len(cfg.Paths) == 0 {
		return nil, fmt.Errorf("file source %q: no path", cfg.Name)
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	f := &File{
		cfg:     cfg,
		log:     log,
		literal: map[string]bool{},
		initial: map[string]startInfo{},
		streams: map[string]*stream{},
		done:    map[fileID]fingerprint{},
		buf:     make([]byte, 128<<10),
		scratch: make([]byte, fpSize),
	}
	paths := make([]string, 0, len(cfg.Paths))
	for _, p := range cfg.Paths {
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("file source %q: path %q: %w", cfg.Name, p, err)
		}
		p = filepath.Clean(p)
		paths = append(paths, p)
		if !hasMeta(p) {
			f.literal[p] = true
		}
	}
	f.cfg.Paths = paths
	for _, p := range f.candidates() {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			id, _ := identify(fi)
			f.initial[p] = startInfo{id: id, size: fi.Size()}
		}
	}
	return f, nil
}

func hasMeta(p string) bool { return bytes.ContainsAny([]byte(p), `*?[\`) }

// Run follows the files until ctx is done; it returns nil then. It runs
// once per File.
func (f *File) Run(ctx context.Context, out chan<- event.Line) error {
	f.mu.Lock()
	if f.ran {
		f.mu.Unlock()
		return errors.New("file source already ran")
	}
	f.ran = true
	f.mu.Unlock()

	// Watch before looking, so nothing happens unseen in between.
	sub := hub.subscribe(f.log)
	defer sub.close()
	sub.watch(f.dirs())
	defer f.closeAll()

	f.setup()
	sub.watch(f.dirs())
	tick := time.NewTicker(f.cfg.PollInterval)
	defer tick.Stop()
	full := false
	for {
		if err := f.scan(ctx, out, full); err != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sub.wake:
			full = sub.structural.Swap(false)
		case <-tick.C:
			sub.watch(f.dirs())
			full = true
		}
	}
}

// scan brings every stream up to date. full also globs again for new
// files and drops streams that are finished.
func (f *File) scan(ctx context.Context, out chan<- event.Line, full bool) error {
	for _, s := range f.sorted() {
		f.checkPath(s)
	}
	if full {
		f.discover()
	}
	for _, s := range f.sorted() {
		if err := f.pump(ctx, out, s); err != nil {
			return err
		}
	}
	if full {
		f.prune()
	}
	return nil
}

func (f *File) sorted() []*stream {
	if f.dirty || f.order == nil {
		f.order = f.order[:0]
		for _, s := range f.streams {
			f.order = append(f.order, s)
		}
		sort.Slice(f.order, func(i, j int) bool { return f.order[i].path < f.order[j].path })
		f.dirty = false
	}
	return f.order
}

func (f *File) addStream(p string) *stream {
	s := &stream{path: p, literal: f.literal[p]}
	f.mu.Lock()
	f.streams[p] = s
	f.mu.Unlock()
	f.dirty = true
	return s
}

// candidates returns the paths to follow now: every configured literal
// path, existing or not, and every regular file a glob matches, less the
// rotated copies and compressed files of the paths followed (a glob such
// as /var/log/venus/* must not read wallet.log.1 a second time).
func (f *File) candidates() []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range f.cfg.Paths {
		if f.literal[p] {
			add(p)
			continue
		}
		ms, _ := filepath.Glob(p)
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
				add(m)
			}
		}
	}
	byDir := map[string][]string{}
	for _, p := range out {
		byDir[filepath.Dir(p)] = append(byDir[filepath.Dir(p)], filepath.Base(p))
	}
	for p := range f.streams {
		byDir[filepath.Dir(p)] = append(byDir[filepath.Dir(p)], filepath.Base(p))
	}
	kept := out[:0]
	for _, q := range out {
		if f.literal[q] {
			kept = append(kept, q)
			continue
		}
		name := filepath.Base(q)
		drop := compressed(name)
		for _, b := range byDir[filepath.Dir(q)] {
			if drop {
				break
			}
			drop = isRotationOf(b, name)
		}
		if !drop {
			kept = append(kept, q)
		}
	}
	sort.Strings(kept)
	return kept
}

// covers reports whether one of patterns names path.
func covers(patterns []string, path string) bool {
	for _, p := range patterns {
		if p == path {
			return true
		}
		if ok, _ := filepath.Match(p, path); ok && hasMeta(p) {
			return true
		}
	}
	return false
}

// dirs returns the directories to watch: those of the configured paths
// (glob directories expanded) and of the followed paths.
func (f *File) dirs() []string {
	set := map[string]bool{}
	for _, p := range f.cfg.Paths {
		d := filepath.Dir(p)
		if !hasMeta(d) {
			set[d] = true
			continue
		}
		ms, _ := filepath.Glob(d)
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				set[m] = true
			}
		}
	}
	f.mu.Lock()
	for p := range f.streams {
		set[filepath.Dir(p)] = true
	}
	f.mu.Unlock()
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

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

// maxCount is the largest prefix whose lines are counted to number the
// lines of a file read from its end; beyond it, numbers are unknown (0).
const maxCount = 256 << 20

func countLines(fh *os.File, upto int64) int64 {
	if upto > maxCount {
		return -1
	}
	buf := make([]byte, 256<<10)
	var n, off int64
	for off < upto {
		k, err := fh.ReadAt(buf[:min(int64(len(buf)), upto-off)], off)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		off += int64(k)
		if err != nil || k == 0 {
			break
		}
	}
	return n
}

// open opens path for reading from offset start, the line before it being number num.
func (f *File) open(path string, start, num int64) (*reader, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	id, nlink := identify(fi)
	return &reader{
		f: fh, path: path, id: id, ids: id.String(),
		readPos: start, lineStart: start, num: num,
		line: lineBuf{max: f.cfg.MaxLineBytes},
		size: -1, lastGrowth: time.Now(), nlink: nlink,
	}, nil
}

// push appends r to s, with a new segment starting at r's position.
func (f *File) push(s *stream, r *reader) {
	f.mu.Lock()
	r.seg = f.newSeg(s, r)
	s.readers = append(s.readers, r)
	f.mu.Unlock()
}

// newSeg starts a segment at r's position. Called with f.mu held.
func (f *File) newSeg(s *stream, r *reader) *segment {
	seg := &segment{s: s, file: r.path, id: r.ids, fp: r.fp,
		comOff: r.lineStart, comNum: r.num, endOff: r.lineStart, endNum: r.num}
	s.segs = append(s.segs, seg)
	return seg
}

// closeSeg marks seg as receiving no more lines and drops it once all its
// lines are committed. Called with f.mu held.
func (f *File) closeSeg(seg *segment) {
	seg.closed = true
	if seg.comOff >= seg.endOff {
		f.dropSeg(seg)
	}
}

func (f *File) dropSeg(seg *segment) {
	s := seg.s
	if i := slices.Index(s.segs, seg); i >= 0 {
		s.segs = slices.Delete(s.segs, i, i+1)
	}
	if f.hot == seg {
		f.hot = nil
	}
}

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
			if m.fp.check(m.f, sb.fi.Size(), f.scratch); copies && len(m.fp.Data) == 0 || f.knownContent(m, sb.fi.Size(), append(out, known...)) {
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

// knownContent reports whether r's file (size bytes) starts like a file
// being read, finished with, or truncated in this run: a copy of it.
func (f *File) knownContent(r *reader, size int64, also []*reader) bool {
	if size == 0 {
		return false
	}
	if ok, _ := r.fp.check(r.f, size, f.scratch); !ok || len(r.fp.Data) == 0 {
		return false
	}
	fp := r.fp
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

// pump reads s's files in order: each to its end, and a file that is no
// longer the one at the path is finished once it stops growing.
func (f *File) pump(ctx context.Context, out chan<- event.Line, s *stream) error {
	for len(s.readers) > 0 {
		r := s.readers[0]
		truncated, err := f.read(ctx, out, s, r)
		if err != nil {
			return err
		}
		if truncated {
			continue // a copy may have been queued before r
		}
		retired := r.copy || len(s.readers) > 1 || !r.atPath
		if !retired {
			return nil
		}
		idle := time.Since(r.lastGrowth) >= f.cfg.PollInterval
		switch {
		case r.copy,
			len(s.readers) > 1 && idle,
			!r.atPath && r.nlink == 0 && idle:
			if err := f.finish(ctx, out, s, r); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

// read reads r from its position to its end. truncated is true when r
// turned out to have been truncated: it then starts over, and the copy
// holding its unread lines, if found, was queued before it.
func (f *File) read(ctx context.Context, out chan<- event.Line, s *stream, r *reader) (truncated bool, err error) {
	fi, err := r.f.Stat()
	if err != nil {
		f.log.Warn("cannot stat open file", "file", r.path, "error", err)
		return false, nil
	}
	size := fi.Size()
	_, r.nlink = identify(fi)
	if size == r.size && fi.ModTime().Equal(r.mtime) && r.readPos >= size {
		return false, nil // idle: one fstat
	}
	lastMod := r.mtime
	r.mtime = fi.ModTime()
	f.setSize(r, size)
	if size < r.readPos || !f.checkFP(r, size) {
		if r.copy {
			// A copy holds nothing more for us (it ends before the
			// position, or it changed): it is finished.
			return false, nil
		}
		f.truncated(s, r, lastMod)
		return true, nil
	}
	r.seen = max(r.seen, size)
	if !r.blind.IsZero() && len(r.fp.Data) > 0 {
		since := r.blind
		r.blind = time.Time{}
		if missed := f.missed(r.path, since, true, r); len(missed) > 0 {
			f.mu.Lock()
			s.truncations += int64(len(missed))
			f.insertBefore(s, r, missed)
			f.mu.Unlock()
			for _, m := range missed {
				f.log.Info("file truncated more than once since last look, reading the rotated copy from its beginning", "file", r.path, "copy", m.path)
			}
			return true, nil
		}
	}
	if r.readPos < r.fp.Lead && r.line.empty() {
		// The hole a copytruncated file starts with: nothing to read there.
		r.readPos, r.lineStart = r.fp.Lead, r.fp.Lead
	}
	now := time.Now()
	for {
		n, rerr := r.f.ReadAt(f.buf, r.readPos)
		if n > 0 {
			end := r.readPos + int64(n)
			// The bytes just read are the old content only if the file
			// still starts as it did after reading them.
			if !f.checkFP(r, max(size, end)) {
				if r.copy {
					return false, nil
				}
				f.truncated(s, r, lastMod)
				return true, nil
			}
			if err := f.consume(ctx, out, r, f.buf[:n], now); err != nil {
				return false, err
			}
			r.readPos = end
			r.seen = max(r.seen, end)
			r.lastGrowth = now
		}
		if rerr != nil || n < len(f.buf) {
			if rerr != nil && rerr != io.EOF {
				f.log.Warn("cannot read file", "file", r.path, "error", rerr)
			}
			break
		}
	}
	f.setSize(r, max(size, r.readPos))
	return false, nil
}

func (f *File) setSize(r *reader, size int64) {
	f.mu.Lock()
	r.size = size
	f.mu.Unlock()
}

// checkFP checks r's fingerprint against its file, size bytes long, and
// records a grown fingerprint in r's segment.
func (f *File) checkFP(r *reader, size int64) bool {
	ok, changed := r.fp.check(r.f, size, f.scratch)
	if ok && changed {
		f.mu.Lock()
		r.seg.fp = r.fp
		f.mu.Unlock()
	}
	return ok
}

// consume splits buf, read at r.readPos, into lines and delivers them.
// NUL bytes at the start of a line are skipped.
func (f *File) consume(ctx context.Context, out chan<- event.Line, r *reader, buf []byte, now time.Time) error {
	pos := r.readPos
	for i := 0; i < len(buf); {
		if buf[i] == 0 && r.line.empty() {
			j := i + 1
			for j < len(buf) && buf[j] == 0 {
				j++
			}
			i = j
			r.lineStart = pos + int64(i)
			continue
		}
		k := bytes.IndexByte(buf[i:], '\n')
		if k < 0 {
			r.line.add(buf[i:])
			break
		}
		if err := f.deliver(ctx, out, r, r.line.take(buf[i:i+k]), pos+int64(i+k+1), now); err != nil {
			return err
		}
		i += k + 1
	}
	return nil
}

// deliver sends one line ending at offset end. The segment learns of it
// before it is sent, so that a Commit for it, however early, finds it.
func (f *File) deliver(ctx context.Context, out chan<- event.Line, r *reader, text []byte, end int64, now time.Time) error {
	var num int64
	if r.num >= 0 {
		r.num++
		num = r.num
	}
	r.lineStart = end
	f.mu.Lock()
	r.seg.endOff, r.seg.endNum = end, r.num
	f.mu.Unlock()
	select {
	case out <- event.Line{Source: f.cfg.Name, File: r.path, FileID: r.ids, Offset: end, Num: num, Text: text, Read: now}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish closes a file that will not be read any more; a last line
// without its newline is delivered, since no more of it will come.
func (f *File) finish(ctx context.Context, out chan<- event.Line, s *stream, r *reader) error {
	if !r.line.empty() {
		if err := f.deliver(ctx, out, r, r.line.take(nil), r.readPos, time.Now()); err != nil {
			return err
		}
	}
	r.f.Close()
	f.remember(&r.id, r.fp)
	f.mu.Lock()
	if i := slices.Index(s.readers, r); i >= 0 {
		s.readers = slices.Delete(s.readers, i, i+1)
	}
	f.closeSeg(r.seg)
	f.mu.Unlock()
	f.log.Debug("finished reading file", "file", r.path, "file_id", r.ids, "offset", r.readPos)
	return nil
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
		f: r.f, path: r.path, id: r.id, ids: r.ids,
		line: lineBuf{max: f.cfg.MaxLineBytes}, size: -1,
		lastGrowth: time.Now(), nlink: r.nlink, atPath: r.atPath,
	}
	f.capture(r, true)
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
// content looked for. Called with or without f.mu held: it touches only
// fields of r that the Run goroutine alone uses.
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

func (f *File) closeAll() {
	for _, s := range f.streams {
		for _, r := range s.readers {
			r.f.Close()
		}
	}
}

// Commit records that the rules have seen l. It may be called from any
// goroutine, also after Run has returned. The lines of one file must be
// committed in the order they were delivered; a line that is not
// committed is delivered again after a restart.
func (f *File) Commit(l event.Line) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if seg := f.hot; seg != nil && seg.holds(l) {
		f.commit(seg, l)
		return
	}
	for _, s := range f.streams {
		for i, seg := range s.segs {
			if !seg.holds(l) {
				continue
			}
			// Earlier finished segments of the same file and name were
			// delivered before l: the pipeline is done with them.
			for j := i - 1; j >= 0; j-- {
				if o := s.segs[j]; o.closed && o.id == seg.id && o.file == seg.file {
					f.dropSeg(o)
				}
			}
			f.hot = seg
			f.commit(seg, l)
			return
		}
	}
}

// holds reports whether l is a delivered, not yet committed line of seg.
func (seg *segment) holds(l event.Line) bool {
	if l.FileID != seg.id || l.File != seg.file || l.Offset <= seg.comOff || l.Offset > seg.endOff {
		return false
	}
	return l.Num == 0 || seg.comNum < 0 || (l.Num > seg.comNum && l.Num <= seg.endNum)
}

// commit moves seg's committed position to l. Called with f.mu held.
func (f *File) commit(seg *segment, l event.Line) {
	seg.comOff = l.Offset
	if l.Num > 0 {
		seg.comNum = l.Num
	}
	if seg.closed && seg.comOff >= seg.endOff {
		f.dropSeg(seg)
	}
}

// Status describes every followed path.
func (f *File) Status() []FileStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]FileStatus, 0, len(f.streams))
	for _, s := range f.streams {
		st := FileStatus{Path: s.path, Rotations: s.rotations, Truncations: s.truncations}
		for _, seg := range s.segs {
			if seg.closed {
				st.LagBytes += seg.endOff - seg.comOff
			}
		}
		for _, r := range s.readers {
			if r.size > r.seg.comOff {
				st.LagBytes += r.size - r.seg.comOff
			}
		}
		if n := len(s.readers); n > 0 {
			r := s.readers[n-1]
			st.FileID, st.Offset, st.Size = r.ids, r.seg.comOff, max(r.size, 0)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
