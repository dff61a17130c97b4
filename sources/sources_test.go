package sources

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLineBuf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []string // added before the newline; the last is passed to take
		want  string
	}{
		{"plain", []string{"abc"}, "abc"},
		{"crlf", []string{"abc\r"}, "abc"},
		{"split", []string{"ab", "c\r"}, "abc"},
		{"cut", []string{"abcdefghij"}, "abcdefgh"},
		{"cut across parts", []string{"abcde", "fghij"}, "abcdefgh"},
		{"cut keeps a CR that is not the end", []string{"abcdefg\r", "xx"}, "abcdefg\r"},
		{"empty", []string{""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := lineBuf{max: 8}
			for _, p := range tc.parts[:len(tc.parts)-1] {
				b.add([]byte(p))
			}
			got := b.take([]byte(tc.parts[len(tc.parts)-1]))
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if !b.empty() {
				t.Fatal("not reset after take")
			}
		})
	}
}

func TestIsRotationOf(t *testing.T) {
	yes := []string{"wallet.log.1", "wallet.log.12", "wallet.log-20261125", "wallet.log.2026-11-25",
		"wallet.log.1.gz", "wallet.log-20261125.gz", "wallet-20261125.log", "wallet-20261125.log.xz",
		"wallet.log_2026-11-25T10"}
	no := []string{"wallet.log", "wallet.log.old", "wallet.logx", "wallet.log.1a", "sealer.log.1",
		"wallet.log.", "wallet.log-", "wallet2.log", "wallet-x.log"}
	for _, n := range yes {
		if !isRotationOf("wallet.log", n) {
			t.Errorf("%s is a rotation of wallet.log", n)
		}
	}
	for _, n := range no {
		if isRotationOf("wallet.log", n) {
			t.Errorf("%s is not a rotation of wallet.log", n)
		}
	}
	if !compressed("x.log.1.gz") || !compressed("x.log-1.zst") || compressed("x.log.1") {
		t.Error("compressed() is wrong")
	}
}

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	write := func(b []byte) *os.File {
		t.Helper()
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	scratch := make([]byte, fpSize)
	long := strings.Repeat("line one of the log\n", 100)

	f := write([]byte(long[:40]))
	var fp fingerprint
	if ok, changed := fp.check(f, 40, scratch); !ok || !changed || string(fp.Data) != long[:40] {
		t.Fatalf("first look: ok %v changed %v data %q", ok, changed, fp.Data)
	}
	// The file grew: the fingerprint grows up to fpSize.
	f = write([]byte(long))
	if ok, _ := fp.check(f, int64(len(long)), scratch); !ok || len(fp.Data) != fpSize {
		t.Fatalf("grown: ok %v len %d", ok, len(fp.Data))
	}
	// Truncated and written again: no longer the same content.
	f = write([]byte("another content entirely\n"))
	if ok, _ := fp.check(f, 25, scratch); ok {
		t.Fatal("a replaced content still matches")
	}
	// A content after a hole: the lead is skipped, and a second
	// truncation with a longer hole is noticed.
	g, err := os.Create(filepath.Join(dir, "holey"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.WriteAt([]byte("text after the hole\n"), 1<<20)
	var h fingerprint
	if ok, _ := h.check(g, 1<<20+20, scratch); !ok || h.Lead != 1<<20 || string(h.Data) != "text after the hole\n" {
		t.Fatalf("hole: ok %v lead %d data %q", ok, h.Lead, h.Data)
	}
	g.Truncate(0)
	g.WriteAt([]byte("text after the hole\n"), 2<<20)
	if ok, _ := h.check(g, 2<<20+20, scratch); ok {
		t.Fatal("a content moved further by a second truncation still matches")
	}
}

func TestNewFileErrors(t *testing.T) {
	if _, err := NewFile(FileConfig{Name: "x"}, nil); err == nil {
		t.Error("no path accepted")
	}
	if _, err := NewFile(FileConfig{Name: "x", Paths: []string{"/var/log/[x"}}, nil); err == nil {
		t.Error("bad glob accepted")
	}
}

func TestNewCommandErrors(t *testing.T) {
	for _, cfg := range []CommandConfig{
		{Name: "x"},
		{Name: "x", Argv: []string{""}},
		{Name: "x", Argv: []string{"journalctl"}, Env: []string{"NOEQUALS"}},
	} {
		if _, err := NewCommand(cfg, nil); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// Positions restored but not yet run are saved again as they were, so a
// daemon stopping before its sources start loses nothing.
func TestSnapshotBeforeRun(t *testing.T) {
	f, err := NewFile(FileConfig{Name: "x", Paths: []string{"/nonexistent/x.log"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	saved := `{"version":1,"patterns":["/nonexistent/x.log"],"files":[{"path":"/nonexistent/x.log","chain":[{"file":"/nonexistent/x.log","id":"1:2","fp":{"data":"YWJj"},"offset":4,"num":1}]}]}`
	if err := f.Restore([]byte(saved)); err != nil {
		t.Fatal(err)
	}
	got, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(saved, string(got)); diff != "" {
		t.Fatalf("snapshot changed (-want +got):\n%s", diff)
	}
}

func TestRestoreErrors(t *testing.T) {
	for _, b := range []string{
		`not json`,
		`{"version":2}`,
		`{"version":1,"files":[{"path":"/x","chain":[{"id":"nope"}]}]}`,
		`{"version":1,"files":[{"path":"/x","chain":[{"id":"1:2","offset":-1}]}]}`,
	} {
		f, _ := NewFile(FileConfig{Name: "x", Paths: []string{"/x"}}, nil)
		if err := f.Restore([]byte(b)); err == nil {
			t.Errorf("%s accepted", b)
		}
	}
}
