package parsers

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/venus-medic/venus-medic/event"
)

// seedLines adds the lines of the testdata logs whose names match glob to
// the fuzz corpus (a few dozen: the corpus stays small).
func seedLines(f *testing.F, glob string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", glob))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for l := range bytes.SplitSeq(data, []byte("\n")) {
			f.Add(l)
		}
	}
}

var allLevels = []string{"", "DEBUG", "INFO", "WARN", "ERROR", "DPANIC", "PANIC", "FATAL"}

// checkParse checks what holds for any input: Parse does not panic, the
// level is one of the event levels, Parse resets a used event and leaves
// the pipeline's fields alone, and a record that does not match (no
// level) is its text without escapes.
func checkParse(t *testing.T, p Parser, rec []byte, rawWhenNoLevel bool) {
	var fresh event.Event
	p.Parse(rec, &fresh)
	if !slices.Contains(allLevels, fresh.Level) {
		t.Fatalf("level %q", fresh.Level)
	}
	used := event.Event{Source: "s", Host: "h", Line: "l", File: "f", Offset: 1, LineNo: 2, Level: "INFO", Msg: "old",
		Fields: map[string]any{"old": 1}, Captures: map[string]string{"old": "1"}, Logger: "old", Caller: "old"}
	used.Time = used.Time.AddDate(2000, 0, 0)
	p.Parse(rec, &used)
	fresh.Source, fresh.Host, fresh.Line, fresh.File, fresh.Offset, fresh.LineNo = "s", "h", "l", "f", 1, 2
	if d := cmp.Diff(fresh, used); d != "" {
		t.Fatalf("a used event parses differently (-fresh +used):\n%s", d)
	}
	if rawWhenNoLevel && fresh.Level == "" {
		r := newRecord(rec)
		if fresh.Msg != r.s || fresh.Fields != nil || !fresh.Time.IsZero() {
			t.Fatalf("unmatched record: %+v, want Msg = %q only", fresh, r.s)
		}
	}
}

func FuzzParseGoLog(f *testing.F) {
	seedLines(f, "golog_*.log")
	f.Fuzz(func(t *testing.T, rec []byte) { checkParse(t, GoLog{}, rec, true) })
}

func FuzzParseTracing(f *testing.F) {
	seedLines(f, "tracing_*.log")
	f.Fuzz(func(t *testing.T, rec []byte) { checkParse(t, Tracing{}, rec, true) })
}

func FuzzParseAuto(f *testing.F) {
	seedLines(f, "auto_*.log")
	seedLines(f, "logrus_*.log")
	seedLines(f, "json_*.log")
	f.Fuzz(func(t *testing.T, rec []byte) { checkParse(t, &Auto{}, rec, false) })
}

// FuzzJoiner: joining loses nothing below the caps (the records put back
// together are the input, each record starts at its first line and ends at
// its last), stays within the caps, and returns at most two records per
// line.
func FuzzJoiner(f *testing.F) {
	for _, p := range []string{"auto_manager.log", "auto_worker-panic.log", "golog_manager.log", "tracing_worker.log"} {
		data, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ls := readLines(data)
		if len(ls) > 5000 {
			return
		}
		// Below the caps: nothing lost.
		j := NewJoiner(len(ls)+1, len(data)+1)
		var recs []event.Line
		for _, l := range ls {
			out := j.Add(l)
			if len(out) > 2 {
				t.Fatalf("Add returned %d records", len(out))
			}
			recs = append(recs, out...)
		}
		recs = append(recs, j.Flush()...)
		if j.Pending() {
			t.Fatal("pending after Flush")
		}
		var texts []string
		next := int64(1)
		for _, r := range recs {
			if r.Num != next {
				t.Fatalf("record starts at line %d, want %d", r.Num, next)
			}
			n := int64(bytes.Count(r.Text, []byte("\n")))
			if want := ls[r.Num+n-1].Offset; r.Offset != want {
				t.Fatalf("record at line %d ends at offset %d, want %d", r.Num, r.Offset, want)
			}
			next = r.Num + n + 1
			texts = append(texts, string(r.Text))
		}
		var orig []string
		for _, l := range ls {
			orig = append(orig, string(l.Text))
		}
		if strings.Join(texts, "\n") != strings.Join(orig, "\n") {
			t.Fatalf("records do not put back together the input")
		}
		// Small caps: bounded.
		const maxLines, maxBytes = 4, 64
		j = NewJoiner(maxLines, maxBytes)
		check := func(out []event.Line) {
			for _, r := range out {
				text := bytes.TrimSuffix(r.Text, []byte(cutMark))
				first, _, _ := bytes.Cut(text, []byte("\n"))
				if len(text) > max(maxBytes, len(first)) || bytes.Count(text, []byte("\n")) >= maxLines {
					t.Fatalf("record over the caps: %q", r.Text)
				}
			}
		}
		for _, l := range ls {
			check(j.Add(l))
		}
		check(j.Flush())
	})
}

// FuzzDecodeObject: the fast path for JSON tails agrees with
// encoding/json whenever it accepts an input.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"api hub": "/dns/x/wss"}`, `{"a":1,"b":-2.5e3,"c":true,"d":null}`, `{}`, `{"a":"\u00e9"}`, `{"n":1e999}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, ok := decodeFlat(s); ok {
			checkSameAsJSON(t, s, m)
		}
	})
}

func checkSameAsJSON(t *testing.T, s string, m map[string]any) {
	t.Helper()
	var want map[string]any
	if err := json.Unmarshal([]byte(s), &want); err != nil {
		t.Fatalf("decodeFlat accepted %q, encoding/json says %v", s, err)
	}
	if len(want) == 0 {
		want = nil
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Fatalf("decodeFlat(%q) differs from encoding/json (-json +flat):\n%s", s, d)
	}
}
