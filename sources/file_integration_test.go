package sources

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/venus-medic/venus-medic/event"
)

func newFile(t *testing.T, cfg FileConfig) (*File, *logBuf) {
	t.Helper()
	log, lb := testLogger(t)
	if cfg.Name == "" {
		cfg.Name = "venus-wallet"
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = testPoll
	}
	f, err := NewFile(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source log:\n%s", lb)
		}
	})
	return f, lb
}

func fileIDOf(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := identify(fi)
	return id.String()
}

// An existing file is read from its end by default: only what is written
// after the start arrives, with the fields the pipeline relies on.
func TestFileReadsNewLinesFromEnd(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	appendFile(t, p, seqs(1, 10))
	f, _ := newFile(t, FileConfig{Paths: []string{p}})
	r := start(t, f)
	appendFile(t, p, seqs(11, 20))
	lines := r.waitN(10)
	checkSeq(t, lines, 11, 20)
	id := fileIDOf(t, p)
	off := int64(len(seqs(1, 10)))
	for i, l := range lines {
		off += int64(len(seqLine(11+i)) + 1)
		if l.Source != "venus-wallet" || l.File != p || l.FileID != id || l.Offset != off || l.Num != int64(11+i) || l.Read.IsZero() {
			t.Fatalf("line %d: got source %q file %q id %q offset %d num %d, want venus-wallet %q %q %d %d",
				i, l.Source, l.File, l.FileID, l.Offset, l.Num, p, id, off, 11+i)
		}
	}
	st := f.Status()
	if len(st) != 1 || st[0].Path != p || st[0].Offset != off || st[0].Size != off || st[0].LagBytes != 0 || st[0].FileID != id {
		t.Fatalf("status = %+v, want offset = size = %d, no lag", st, off)
	}
}

func TestFileFromBeginning(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	appendFile(t, p, seqs(1, 10))
	f, _ := newFile(t, FileConfig{Paths: []string{p}, FromBeginning: true})
	r := start(t, f)
	appendFile(t, p, seqs(11, 20))
	checkSeq(t, r.waitN(20), 1, 20)
}

// Lines come out as written: CRLF loses its CR, invalid UTF-8 and control
// bytes stay, and a partial last line waits for its newline.
func TestFileLineContent(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	f, _ := newFile(t, FileConfig{Paths: []string{p}})
	r := start(t, f)
	junk := []byte{0xff, 0xfe, 'x', 0x01, 0x00, 'y', 0x1b, '[', '3', '1', 'm'}
	appendFile(t, p, "crlf line\r\n"+string(junk)+"\n")
	appendFile(t, p, "partial")
	// Wait until the source has seen the partial line's bytes.
	deadline := time.Now().Add(waitTimeout)
	for {
		if st := f.Status(); len(st) == 1 && st[0].Size == int64(len("crlf line\r\n")+len(junk)+1+len("partial")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the partial line: %+v", f.Status())
		}
		time.Sleep(5 * time.Millisecond) // polling the filesystem-facing status
	}
	appendFile(t, p, " completed\n")
	lines := r.waitN(3)
	want := []string{"crlf line", string(junk), "partial completed"}
	for i, w := range want {
		if string(lines[i].Text) != w {
			t.Errorf("line %d = %q, want %q", i, lines[i].Text, w)
		}
	}
	if len(r.got()) != 3 {
		t.Errorf("got %d lines, want 3: %s", len(r.got()), tail(r.got()))
	}
}

// A 5 MB line is cut to MaxLineBytes, counts as one line, and the lines
// after it arrive intact.
func TestFileLongLine(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	f, _ := newFile(t, FileConfig{Paths: []string{p}})
	r := start(t, f)
	long := strings.Repeat("x", 5<<20)
	appendFile(t, p, seqs(1, 1)+long+"\n"+seqs(2, 3))
	lines := r.waitN(4)
	if len(lines[1].Text) != DefaultMaxLineBytes || !bytes.Equal(lines[1].Text, []byte(long[:DefaultMaxLineBytes])) {
		t.Fatalf("long line: got %d bytes, want %d", len(lines[1].Text), DefaultMaxLineBytes)
	}
	if want := int64(len(seqs(1, 1)) + len(long) + 1); lines[1].Offset != want || lines[1].Num != 2 {
		t.Fatalf("long line offset %d num %d, want %d 2", lines[1].Offset, lines[1].Num, want)
	}
	checkSeq(t, []event.Line{lines[0], lines[2], lines[3]}, 1, 3)
	if lines[3].Num != 4 {
		t.Fatalf("line after the long one is number %d, want 4", lines[3].Num)
	}
}

// Globs: every match is followed in order; files that appear later are
// read from their beginning; rotated and compressed copies are not read.
func TestFileGlob(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")
	appendFile(t, a, "old a\n")
	appendFile(t, b, "old b\n")
	appendFile(t, a+".1", "rotated a\n")
	appendFile(t, b+"-20261124.gz", "not text\n")
	f, _ := newFile(t, FileConfig{Paths: []string{filepath.Join(dir, "*")}})
	r := start(t, f)
	appendFile(t, a, seqs(1, 100))
	appendFile(t, b, seqs(101, 200))
	appendFile(t, c, seqs(201, 300)) // created after the start
	lines := r.waitN(300)
	per := map[string][]event.Line{}
	for _, l := range lines {
		per[l.File] = append(per[l.File], l)
	}
	checkSeq(t, per[a], 1, 100)
	checkSeq(t, per[b], 101, 200)
	checkSeq(t, per[c], 201, 300)
	if len(per) != 3 {
		t.Fatalf("read files %v, want only a.log, b.log, c.log", keys(per))
	}
	// A rotated copy appearing later is not read either.
	appendFile(t, c+".1", "copy of c\n")
	appendFile(t, a, seqs(301, 301))
	r.waitSeq(301)
	for _, l := range r.got() {
		if strings.Contains(string(l.Text), "copy") || strings.Contains(string(l.Text), "rotated") {
			t.Fatalf("read a rotated copy: %q from %s", l.Text, l.File)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A file that does not exist yet, in a directory that does not exist
// yet, is read from its beginning once it appears.
func TestFileWaitsForFile(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "wallet.log")
	q := filepath.Join(dir, "later", "sealer.log")
	f, lb := newFile(t, FileConfig{Paths: []string{p, q}})
	r := start(t, f)
	appendFile(t, p, seqs(1, 50))
	checkSeq(t, r.waitN(50), 1, 50)
	if err := os.Mkdir(filepath.Dir(q), 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, q, seqs(51, 60))
	checkSeq(t, r.waitN(60)[50:], 51, 60)
	if !strings.Contains(lb.String(), "file does not exist, waiting for it") {
		t.Errorf("the wait was not logged:\n%s", lb)
	}
}

// Rename rotation: lines the writer puts in the old file after the
// rename, while the new file already exists, are read before the new file.
func TestFileRenameRotation(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "wallet.log")
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, _ := newFile(t, FileConfig{Paths: []string{p}})
	r := start(t, f)
	io.WriteString(w, seqs(1, 100))
	r.waitSeq(100)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, "") // logrotate's create
	io.WriteString(w, seqs(101, 150))
	w.Close()
	appendFile(t, p, seqs(151, 200)) // the writer reopened
	lines := r.waitSeq(200)
	checkSeq(t, lines, 1, 200)
	for _, l := range lines[100:150] {
		if l.File != p || l.FileID != fileIDOf(t, p+".1") {
			t.Fatalf("line %q from %s %s, want the old file's id", l.Text, l.File, l.FileID)
		}
	}
	for i, l := range lines[150:] {
		if l.Num != int64(i+1) {
			t.Fatalf("new file's line %q is number %d, want %d", l.Text, l.Num, i+1)
		}
	}
	if st := f.Status(); st[0].Rotations != 1 || st[0].FileID != fileIDOf(t, p) {
		t.Fatalf("status %+v, want 1 rotation and the new file", st)
	}
}

// Many rename rotations under a steady writer: every line exactly once, in order.
func TestFileRenameRotationStress(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "wallet.log")
	f, _ := newFile(t, FileConfig{Paths: []string{p}, FromBeginning: true})
	appendFile(t, p, "")
	r := start(t, f)
	const total, every = 20000, 2000
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	rot := 0
	for i := 1; i <= total; i++ {
		io.WriteString(w, seqLine(i)+"\n")
		if i%every == 0 && i < total {
			rot++
			// logrotate: shift the old copies, rename, create; the
			// writer goes on in the old file for a while.
			for k := rot; k >= 1; k-- {
				os.Rename(fmt.Sprintf("%s.%d", p, k), fmt.Sprintf("%s.%d", p, k+1))
			}
			if err := os.Rename(p, p+".1"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, p, "")
			for j := 1; j <= 50; j++ {
				i++
				io.WriteString(w, seqLine(i)+"\n")
			}
			w.Close()
			if w, err = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Close()
	checkSeq(t, r.waitSeq(total), 1, total)
}

// copytruncate with a writer that keeps its offset (nohup x > x.log): the
// truncated file restarts with a run of NULs, and the lines not read
// before the truncation are read from the copy.
func TestFileCopytruncate(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "wallet.log")
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644) // no O_APPEND, like `>`
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, lb := newFile(t, FileConfig{Paths: []string{p}})
	r := start(t, f)
	io.WriteString(w, seqs(1, 100))
	r.waitSeq(100)
	// Hold the pipeline: the source reads 101..102, sends 101 and blocks
	// on 102. Lines written now are not read before the truncation: after
	// it they are only in the copy.
	release := r.hold()
	io.WriteString(w, seqs(101, 102))
	r.waitReceived(101)
	io.WriteString(w, seqs(103, 200))
	copyFile(t, p, p+".1")
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, seqs(201, 300)) // at the old offset: NULs before it
	release()
	lines := r.waitSeq(300)
	checkSeq(t, lines, 1, 300)
	for _, l := range lines {
		if bytes.IndexByte(l.Text, 0) >= 0 {
			t.Fatalf("line with NULs delivered: %q", l.Text)
		}
	}
	for _, l := range lines[102:200] {
		if l.File != p+".1" {
			t.Fatalf("line %q read from %s, want the copy", l.Text, l.File)
		}
	}
	if st := f.Status(); st[0].Truncations != 1 {
		t.Fatalf("status %+v, want 1 truncation", st)
	}
	if !strings.Contains(lb.String(), "reading its unread lines from the rotated copy") {
		t.Fatalf("the copy was not used:\n%s", lb)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Repeated copytruncate under a steady writer, as logrotate does it
// (shift the old copies, copy, truncate), with a writer that keeps its
// offset (`>`) and one that appends (`>>`). The writer is paused only
// between the copy and the truncation: lines written there are in
// neither file, which no tailer can help.
func TestFileCopytruncateStress(t *testing.T) {
	skipShort(t)
	for _, mode := range []struct {
		name string
		flag int
	}{{"offset", os.O_WRONLY}, {"append", os.O_WRONLY | os.O_APPEND}} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "sealer.log")
			appendFile(t, p, "")
			f, _ := newFile(t, FileConfig{Paths: []string{p}, FromBeginning: true})
			r := start(t, f)
			w, err := os.OpenFile(p, mode.flag, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			const total, every = 20000, 2500
			for i := 1; i <= total; i++ {
				io.WriteString(w, seqLine(i)+"\n")
				if i%every == 0 && i < total {
					for k := 3; k >= 1; k-- {
						os.Rename(fmt.Sprintf("%s.%d", p, k), fmt.Sprintf("%s.%d", p, k+1))
					}
					copyFile(t, p, p+".1")
					if err := os.Truncate(p, 0); err != nil {
						t.Fatal(err)
					}
				}
			}
			lines := r.waitSeq(total)
			checkSeq(t, lines, 1, total)
			if st := f.Status(); st[0].Truncations == 0 {
				t.Fatalf("no truncation seen: %+v", st)
			}
		})
	}
}

// A file deleted and created again is read from its beginning.
func TestFileDeletedAndRecreated(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	appendFile(t, p, "")
	f, _ := newFile(t, FileConfig{Paths: []string{p}})
	r := start(t, f)
	appendFile(t, p, seqs(1, 50))
	r.waitSeq(50)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, seqs(51, 100))
	checkSeq(t, r.waitSeq(100), 1, 100)
	// Deleted for good: the old descriptor is let go.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		f.mu.Lock()
		n := len(f.streams[p].readers)
		f.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deleted file is still held open")
		}
		time.Sleep(testPoll / 2) // polling the source's state
	}
	appendFile(t, p, seqs(101, 110))
	checkSeq(t, r.waitSeq(110), 1, 110)
}

// A directory in the file's place is reported and waited out.
func TestFileReplacedByDirectory(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	appendFile(t, p, "")
	f, lb := newFile(t, FileConfig{Paths: []string{p}})
	r := start(t, f)
	appendFile(t, p, seqs(1, 10))
	r.waitSeq(10)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(lb.String(), "path is a directory") {
		if time.Now().After(deadline) {
			t.Fatalf("the directory was not reported:\n%s", lb)
		}
		time.Sleep(testPoll / 2) // polling the log
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, seqs(11, 20))
	checkSeq(t, r.waitSeq(20), 1, 20)
}

// A file renamed from one followed name to another goes on where it was.
func TestFileRenamedBetweenFollowedNames(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, "")
	f, _ := newFile(t, FileConfig{Paths: []string{filepath.Join(dir, "*.log")}})
	r := start(t, f)
	appendFile(t, a, seqs(1, 10))
	r.waitSeq(10)
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	appendFile(t, b, seqs(11, 20))
	lines := r.waitSeq(20)
	checkSeq(t, lines, 1, 20)
	// Lines written right after the rename may still be read through the
	// old name's open descriptor (it is the same file); either name is
	// right, what matters is that each line arrives once and in order.
	for _, l := range lines[10:] {
		if l.File != a && l.File != b {
			t.Fatalf("line read from %s, want %s or %s", l.File, a, b)
		}
	}
}

// Without inotify (the instance limit reached) files are still followed,
// by polling, and the daemon does not stop.
func TestFileWithoutWatcher(t *testing.T) {
	skipShort(t)
	saved := newWatcher
	newWatcher = func() (*fsnotify.Watcher, error) { return nil, fmt.Errorf("too many open files") }
	defer func() { newWatcher = saved }()
	p := filepath.Join(t.TempDir(), "wallet.log")
	f, lb := newFile(t, FileConfig{Paths: []string{p}})
	r := start(t, f)
	appendFile(t, p, seqs(1, 10))
	checkSeq(t, r.waitSeq(10), 1, 10)
	if !strings.Contains(lb.String(), "polling instead") {
		t.Fatalf("the fallback was not logged:\n%s", lb)
	}
}

// All File sources of the process share one inotify instance.
func TestFileSharesOneWatcher(t *testing.T) {
	skipShort(t)
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc")
	}
	before := inotifyFDs(t)
	dir := t.TempDir()
	var runs []*run
	for i := range 5 {
		sub := filepath.Join(dir, fmt.Sprint(i))
		os.Mkdir(sub, 0o755)
		p := filepath.Join(sub, "x.log")
		f, _ := newFile(t, FileConfig{Paths: []string{p}})
		r := start(t, f)
		runs = append(runs, r)
		appendFile(t, p, seqs(i, i))
		r.waitSeq(i)
	}
	if n := inotifyFDs(t) - before; n != 1 {
		t.Fatalf("%d inotify instances for 5 file sources, want 1", n)
	}
	for _, r := range runs {
		r.stop()
	}
	if n := inotifyFDs(t) - before; n != 0 {
		t.Fatalf("%d inotify instances left after the sources stopped", n)
	}
}

func inotifyFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.Contains(l, "inotify") {
			n++
		}
	}
	return n
}

// Runs of NULs between lines (a hole left by a writer, or blocks never
// written before a crash) are skipped; NULs inside a line are kept.
func TestFileSkipsNULRuns(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	appendFile(t, p, "")
	f, _ := newFile(t, FileConfig{Paths: []string{p}})
	r := start(t, f)
	appendFile(t, p, seqLine(1)+"\n"+strings.Repeat("\x00", 70000)+seqLine(2)+"\n"+"in\x00side\n")
	lines := r.waitN(3)
	checkSeq(t, lines[:2], 1, 2)
	if string(lines[2].Text) != "in\x00side" {
		t.Fatalf("got %q", lines[2].Text)
	}
}
