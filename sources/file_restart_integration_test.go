package sources

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/venus-medic/venus-medic/event"
)

// firstRun follows cfg, receives lines 1..upto (written by write) and
// commits only the first commit of them, then stops and returns the
// saved positions.
func firstRun(t *testing.T, cfg FileConfig, commit, upto int, write func()) []byte {
	t.Helper()
	f, _ := newFile(t, cfg)
	r := start(t, f)
	r.mu.Lock()
	r.commitLimit = commit
	r.mu.Unlock()
	write()
	r.waitSeq(upto)
	r.stop()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// secondRun starts a new File on cfg from the saved positions.
func secondRun(t *testing.T, cfg FileConfig, snap []byte) (*run, *logBuf) {
	t.Helper()
	f, lb := newFile(t, cfg)
	if err := f.Restore(snap); err != nil {
		t.Fatal(err)
	}
	return start(t, f), lb
}

// A restart resumes right after the last committed line; lines delivered
// but not committed come again, and line numbers go on.
func TestFileRestartResumes(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	appendFile(t, p, "")
	cfg := FileConfig{Paths: []string{p}}
	snap := firstRun(t, cfg, 50, 100, func() { appendFile(t, p, seqs(1, 100)) })
	appendFile(t, p, seqs(101, 120))
	r, _ := secondRun(t, cfg, snap)
	lines := r.waitSeq(120)
	checkSeq(t, lines, 51, 120)
	if lines[0].Num != 51 {
		t.Fatalf("first line after the restart is number %d, want 51", lines[0].Num)
	}
}

// Rotated by rename while stopped: the old file is found by its inode and
// read from the saved position, with what its writer added after the
// rename, then the new file from its beginning.
func TestFileRestartAfterRename(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "wallet.log")
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	appendFile(t, p+".1", "an older rotation\n")
	cfg := FileConfig{Paths: []string{p}}
	snap := firstRun(t, cfg, 50, 100, func() { io.WriteString(w, seqs(1, 100)) })
	io.WriteString(w, seqs(101, 110))
	for _, mv := range [][2]string{{p + ".1", p + ".2"}, {p, p + ".1"}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	io.WriteString(w, seqs(111, 120)) // the writer has not reopened yet
	appendFile(t, p, seqs(121, 130))
	r, _ := secondRun(t, cfg, snap)
	checkSeq(t, r.waitSeq(130), 51, 130)
}

// Copytruncated while stopped: the unread lines are found in the copy by
// the file's leading bytes, then the truncated file is read from its
// beginning, past the NULs its writer's offset left.
func TestFileRestartAfterCopytruncate(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "sealer.log")
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cfg := FileConfig{Paths: []string{p}}
	snap := firstRun(t, cfg, 50, 100, func() { io.WriteString(w, seqs(1, 100)) })
	io.WriteString(w, seqs(101, 110))
	copyFile(t, p, p+"-20261125")
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, seqs(111, 130))
	r, lb := secondRun(t, cfg, snap)
	lines := r.waitSeq(130)
	checkSeq(t, lines, 51, 130)
	if lines[0].File != p+"-20261125" {
		t.Fatalf("line 51 read from %s, want the copy", lines[0].File)
	}
	if !strings.Contains(lb.String(), "reading rotated file from its saved position") {
		t.Fatalf("the copy was not reported:\n%s", lb)
	}
}

// The saved file is gone: the current file is read from its beginning,
// and that is logged.
func TestFileRestartSavedFileGone(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	appendFile(t, p, "")
	cfg := FileConfig{Paths: []string{p}}
	snap := firstRun(t, cfg, 50, 100, func() { appendFile(t, p, seqs(1, 100)) })
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, seqs(200, 210))
	r, lb := secondRun(t, cfg, snap)
	checkSeq(t, r.waitSeq(210), 200, 210)
	if !strings.Contains(lb.String(), "saved file not found") {
		t.Fatalf("the loss was not logged:\n%s", lb)
	}
}

// Stopped in the middle of a rotation, with lines of both files not yet
// committed: both are saved, and both are read again from their
// committed positions, in order.
func TestFileRestartMidRotation(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "wallet.log")
	appendFile(t, p, "")
	cfg := FileConfig{Paths: []string{p}}
	snap := firstRun(t, cfg, 80, 150, func() {
		appendFile(t, p, seqs(1, 100))
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
		appendFile(t, p, seqs(101, 150))
	})
	appendFile(t, p, seqs(151, 160))
	r, _ := secondRun(t, cfg, snap)
	checkSeq(t, r.waitSeq(160), 81, 160)
}

// After a restart, a file that appeared while the daemon was stopped is
// read from its beginning; one whose path was added to the configuration
// starts at its end (from: end), like at a first start.
func TestFileRestartNewFiles(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	appendFile(t, a, "")
	cfg := FileConfig{Paths: []string{filepath.Join(dir, "*.log")}}
	snap := firstRun(t, cfg, -1, 10, func() { appendFile(t, a, seqs(1, 10)) })
	b := filepath.Join(dir, "b.log")
	appendFile(t, b, seqs(101, 110)) // appeared while stopped
	other := filepath.Join(dir, "other", "x.txt")
	os.Mkdir(filepath.Dir(other), 0o755)
	appendFile(t, other, seqs(201, 210)) // existed before its path was configured
	cfg.Paths = append(cfg.Paths, other)
	r, _ := secondRun(t, cfg, snap)
	appendFile(t, other, seqs(211, 215))
	appendFile(t, a, seqs(11, 12))
	lines := r.waitFor("all files", func(ls []event.Line) bool { return len(ls) >= 2+10+5 })
	per := map[string][]event.Line{}
	for _, l := range lines {
		per[l.File] = append(per[l.File], l)
	}
	checkSeq(t, per[a], 11, 12)
	checkSeq(t, per[b], 101, 110)
	checkSeq(t, per[other], 211, 215)
}

// The pipeline commits a record joined from several lines (a Go panic)
// with the first line's number and the last line's offset: after a
// restart the numbers still go on from the last line committed.
func TestFileRestartLineNumbersAfterJoinedRecord(t *testing.T) {
	skipShort(t)
	p := filepath.Join(t.TempDir(), "wallet.log")
	appendFile(t, p, "")
	cfg := FileConfig{Paths: []string{p}}
	f, _ := newFile(t, cfg)
	r := start(t, f)
	r.mu.Lock()
	r.commitLimit = 0
	r.mu.Unlock()
	appendFile(t, p, seqs(1, 10))
	lines := r.waitSeq(10)
	rec := lines[3] // lines 2..4 joined into one record
	rec.Offset, rec.Num = lines[3].Offset, lines[1].Num
	f.Commit(lines[0])
	f.Commit(rec)
	r.stop()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := secondRun(t, cfg, snap)
	got := r2.waitSeq(10)
	checkSeq(t, got, 5, 10)
	if got[0].Num != 5 {
		t.Fatalf("line 5 numbered %d after the restart", got[0].Num)
	}
}
