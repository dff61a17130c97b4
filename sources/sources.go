// Package sources is the first stage of the pipeline: it reads lines from
// where the components write them and hands them to the parsers as
// event.Line values.
//
// The contract of the stage is one small interface:
//
//	// Source sends lines to out until ctx is done; it returns only on a
//	// fatal error (or nil when ctx is done).
//	type Source interface{ Run(ctx context.Context, out chan<- event.Line) error }
//
// Sending blocks when out is full, so a slow pipeline slows the source
// down instead of growing memory. Filesystem and process errors are never
// fatal: they are logged and retried; nothing here calls os.Exit or panics.
//
// Two sources live here:
//
//   - File follows files named by paths or globs like `tail -F`, through
//     rotation by rename and by copytruncate, files that do not exist yet,
//     files deleted and recreated, and restarts from a saved position. It
//     is built on one process-wide fsnotify watcher (directories, not
//     files) plus a slow stat poll, on os.File and pread, and owns its
//     offsets; see file.go for how it keeps every line exactly once.
//   - Command runs a long-running command (argv, never a shell) and reads
//     its stdout, restarting it with exponential backoff when it exits.
//
// Positions are at-least-once: File remembers a line as done only when
// the pipeline calls Commit for it (after the rules have seen it), and
// Snapshot returns only committed positions. Lines that were delivered but
// not committed when the daemon stopped are delivered again after a
// restart; no line is skipped.
//
// Lines longer than MaxLineBytes (1 MiB by default) are cut to that size:
// the rest of the line is skipped, the line is delivered once, and the
// lines after it arrive intact. A trailing "\r" is removed. Bytes are
// delivered as they are: invalid UTF-8 and binary junk are not altered,
// except that File skips runs of NUL bytes at the start of a line (what a
// copytruncated file holds where its writer's old offset left a hole).
package sources

import (
	"context"

	"github.com/venus-medic/venus-medic/event"
)

// Source sends lines to out until ctx is done; it returns only on a fatal
// error (or nil when ctx is done).
type Source interface {
	Run(ctx context.Context, out chan<- event.Line) error
}

// DefaultMaxLineBytes is the default cap on the length of one line.
const DefaultMaxLineBytes = 1 << 20

// lineBuf collects the bytes of one line up to max; the rest of a longer
// line is dropped (cut is then set) so that memory stays bounded.
type lineBuf struct {
	max int
	buf []byte
	cut bool
}

// add appends p, keeping at most max bytes.
func (b *lineBuf) add(p []byte) {
	if room := b.max - len(b.buf); len(p) > room {
		p = p[:room]
		b.cut = true
	}
	b.buf = append(b.buf, p...)
}

// empty reports whether no byte of the current line has been seen.
func (b *lineBuf) empty() bool { return len(b.buf) == 0 && !b.cut }

// take returns a copy of the line (with a trailing "\r" removed) and
// starts a new one. When the line is still empty, rest (the bytes before
// the newline in the read buffer) is used directly, saving a copy.
func (b *lineBuf) take(rest []byte) []byte {
	var text []byte
	if b.empty() {
		cut := false
		if len(rest) > b.max {
			rest, cut = rest[:b.max], true
		}
		if !cut {
			rest = trimCR(rest)
		}
		text = append(make([]byte, 0, len(rest)), rest...)
	} else {
		b.add(rest)
		line := b.buf
		if !b.cut {
			line = trimCR(line)
		}
		text = append(make([]byte, 0, len(line)), line...)
	}
	b.reset()
	return text
}

// reset forgets the current line; a large buffer is released.
func (b *lineBuf) reset() {
	if cap(b.buf) > 64<<10 {
		b.buf = nil
	} else {
		b.buf = b.buf[:0]
	}
	b.cut = false
}

func trimCR(p []byte) []byte {
	if n := len(p); n > 0 && p[n-1] == '\r' {
		return p[:n-1]
	}
	return p
}
