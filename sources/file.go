package sources

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
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
//   - When the source was busy (a slow pipeline) and a path was rotated
//     or truncated more than once between two looks, the rotated copies
//     of the path modified since the last look whose content was not read
//     yet are read from their start, oldest first, before the current
//     file. Inode numbers are reused quickly, so contents are recognised
//     by their leading bytes, never by inode alone.
//   - A glob never follows the rotated copies (NAME.1, NAME-DATE) or
//     compressed files of the files it matches, so `dir/*` does not read
//     lines twice.
//
// Where a file starts: a file that exists when NewFile runs and has no
// saved position starts at its end (FromBeginning: at its start); if it
// is rotated before Run looks at it, the rotated file is read from there.
// Every file that appears later starts at its beginning.
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
	blind      time.Time // after a truncation that left it empty: its modification time then
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
	// pend holds the ends of the lines delivered and not committed yet
	// (from index ph on), so that committing a record joined from several
	// lines, whose Num is its first line's, counts all its lines.
	pend []lineEnd
	ph   int
}

type lineEnd struct{ off, num int64 }

// maxPend bounds segment.pend; beyond it the oldest ends are forgotten
// (line numbers may then be off after a restart, never positions).
const maxPend = 1 << 16

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

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

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
	num := l.Num
	for seg.ph < len(seg.pend) && seg.pend[seg.ph].off <= l.Offset {
		num = seg.pend[seg.ph].num
		seg.ph++
	}
	switch {
	case seg.ph == len(seg.pend):
		seg.pend, seg.ph = seg.pend[:0], 0
	case seg.ph > 1024 && seg.ph*2 > len(seg.pend):
		seg.pend, seg.ph = append(seg.pend[:0], seg.pend[seg.ph:]...), 0
	}
	seg.comOff = l.Offset
	if num != 0 {
		seg.comNum = num
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
