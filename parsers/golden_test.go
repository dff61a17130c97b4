package parsers

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/venus-medic/venus-medic/event"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestMain(m *testing.M) {
	// Times without a zone are local: pin local time so that the expected
	// output does not depend on the machine.
	time.Local = time.FixedZone("TEST", 3*3600)
	os.Exit(m.Run())
}

// goldenEvent is what a golden file records of each event.
type goldenEvent struct {
	Num      int64             `json:"num"`
	Time     string            `json:"time,omitempty"`
	Level    string            `json:"level"`
	Logger   string            `json:"logger,omitempty"`
	Caller   string            `json:"caller,omitempty"`
	Msg      string            `json:"msg"`
	Fields   map[string]any    `json:"fields,omitempty"`
	Captures map[string]string `json:"captures,omitempty"`
}

func toGolden(num int64, ev *event.Event) goldenEvent {
	g := goldenEvent{Num: num, Level: ev.Level, Logger: ev.Logger, Caller: ev.Caller,
		Msg: ev.Msg, Fields: ev.Fields, Captures: ev.Captures}
	if !ev.Time.IsZero() {
		g.Time = ev.Time.Format(time.RFC3339Nano)
	}
	return g
}

// readLines splits a file into source lines numbered from 1, as a file
// source would: Offset is the byte offset past each line.
func readLines(data []byte) []event.Line {
	var out []event.Line
	var off int64
	for n := int64(1); len(data) > 0; n++ {
		i := bytes.IndexByte(data, '\n')
		text := data
		if i >= 0 {
			text = data[:i]
			data = data[i+1:]
		} else {
			data = nil
		}
		off += int64(len(text)) + 1
		out = append(out, event.Line{Source: "test", File: "f.log", Num: n, Offset: off, Text: text})
	}
	return out
}

// records joins lines as the pipeline does.
func records(lines []event.Line) []event.Line {
	j := NewJoiner(0, 0)
	var out []event.Line
	for _, l := range lines {
		out = append(out, j.Add(l)...)
	}
	return append(out, j.Flush()...)
}

// TestGolden runs every testdata/PARSER_NAME.log through a Joiner and the
// parser named by its prefix (the regex parser with the pattern in
// testdata/regex_NAME.pattern), and compares the events with
// testdata/PARSER_NAME.golden (one JSON object per record).
func TestGolden(t *testing.T) {
	logs, err := filepath.Glob("testdata/*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range logs {
		base := strings.TrimSuffix(filepath.Base(path), ".log")
		t.Run(base, func(t *testing.T) {
			name, _, _ := strings.Cut(base, "_")
			var opt Options
			if name == "regex" {
				pat, err := os.ReadFile(strings.TrimSuffix(path, ".log") + ".pattern")
				if err != nil {
					t.Fatal(err)
				}
				opt.Pattern = strings.TrimSuffix(string(pat), "\n")
			}
			p, err := New(name, opt)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			for _, rec := range records(readLines(data)) {
				var ev event.Event
				p.Parse(rec.Text, &ev)
				b, err := json.Marshal(toGolden(rec.Num, &ev))
				if err != nil {
					t.Fatal(err)
				}
				out.Write(b)
				out.WriteByte('\n')
			}
			golden := strings.TrimSuffix(path, ".log") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(out.String(), "\n")); d != "" {
				t.Errorf("events differ from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

// TestEveryParserHasGolden: each registered parser has a golden case.
func TestEveryParserHasGolden(t *testing.T) {
	for _, name := range Names() {
		if m, _ := filepath.Glob(filepath.Join("testdata", name+"_*.golden")); len(m) == 0 {
			t.Errorf("parser %s has no testdata/%s_*.log golden case", name, name)
		}
	}
}
