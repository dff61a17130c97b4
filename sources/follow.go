package sources

import (
	"bytes"
	"context"
	"io"
	"os"
	"slices"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

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
	seg := r.seg
	seg.endOff, seg.endNum = end, r.num
	if len(seg.pend)-seg.ph >= maxPend {
		seg.ph++
	}
	seg.pend = append(seg.pend, lineEnd{end, r.num})
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
