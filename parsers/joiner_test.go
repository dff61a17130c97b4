package parsers

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/venus-medic/venus-medic/event"
)

// joined is what a test expects of one record: its first line number, the
// offset of its last line, and its text.
type joined struct {
	Num    int64
	Offset int64
	Text   string
}

func joinAll(j *Joiner, text string) []joined {
	var out []joined
	add := func(recs []event.Line) {
		for _, r := range recs {
			out = append(out, joined{r.Num, r.Offset, string(r.Text)})
		}
	}
	for _, l := range readLines([]byte(text)) {
		add(j.Add(l))
	}
	add(j.Flush())
	return out
}

// offsets returns the Offset past each line of text (1-based, [0] unused).
func offsets(text string) []int64 {
	out := []int64{0}
	var off int64
	for _, l := range strings.SplitAfter(text, "\n") {
		if l == "" {
			continue
		}
		off += int64(len(l))
		out = append(out, off)
	}
	return out
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestJoinerGoPanic(t *testing.T) {
	in := lines(
		"2024-03-05T10:00:30.000+0800\tINFO\tservice\tservice/message_service.go:481\treceive new head from chain",
		"panic: runtime error: invalid memory address or nil pointer dereference",
		"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x1c8e2f5]",
		"",
		"goroutine 412 [running]:",
		"github.com/ipfs-force-community/sophon-messager/service.(*MessageSelector).selectMessage(0xc000a4e1e0, {0x3a1c7e8, 0xc001f2c0a0}, 0xc00213e000)",
		"\t/build/sophon-messager/service/message_selector.go:402 +0x635",
		"panic: second [recovered]",
		"created by github.com/ipfs-force-community/sophon-messager/service.(*MessageSelector).SelectMessage in goroutine 388",
		"\t/build/sophon-messager/service/message_selector.go:270 +0x2a5",
		"exit status 2",
		"2024-03-05T10:00:41.200+0800\tINFO\tmain\tsophon-messager/main.go:191\twait for height of chain bigger than zero ...",
	)
	off := offsets(in)
	ls := strings.Split(strings.TrimSuffix(in, "\n"), "\n")
	want := []joined{
		{1, off[1], ls[0]},
		{2, off[11], strings.Join(ls[1:11], "\n")},
		{12, off[12], ls[11]},
	}
	if d := cmp.Diff(want, joinAll(NewJoiner(0, 0), in)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	// The crash is one event with no level, its text the whole block.
	var ev event.Event
	(&Auto{}).Parse([]byte(want[1].Text), &ev)
	if ev.Level != "" || ev.Msg != want[1].Text {
		t.Errorf("crash event: level %q, msg %q", ev.Level, ev.Msg)
	}
}

func TestJoinerFatalErrorAndSignal(t *testing.T) {
	in := lines(
		"fatal error: concurrent map writes",
		"",
		"goroutine 77 [running]:",
		"\t/build/x.go:512 +0x1a5",
		"SIGQUIT: quit",
		"PC=0x46b4e1 m=0 sigcode=0",
		"2024-03-05T11:00:41.200+0800\tINFO\tmain\tmain.go:1\tup",
	)
	got := joinAll(NewJoiner(0, 0), in)
	if len(got) != 2 || !strings.HasPrefix(got[0].Text, "fatal error: ") || !strings.HasSuffix(got[0].Text, "PC=0x46b4e1 m=0 sigcode=0") || got[1].Num != 7 {
		t.Errorf("got %+v", got)
	}
}

func TestJoinerRustPanic(t *testing.T) {
	in := lines(
		`2024-10-10T23:59:58.1+08:00 DEBUG ThreadId(22) module{name="worker-2"}: damocles_worker::sealing::sealing_thread::planner::common: handling`,
		"panicked at 'called `Option::unwrap()` on a `None` value', src/sealing/sealing_thread/planner/sealer.rs:412:65",
		"   0: damocles_worker::util::panic_hook::log_panic",
		"             at ./src/util/panic_hook.rs:29:21",
		"   1: std::panicking::rust_panic_with_hook",
		`2024-10-10T23:59:58.0011+08:00 ERROR ThreadId(22) module{name="worker-2"}: damocles_worker::util::panic_hook: panicked at 'x', src/x.rs:1:2 panic.line=1`,
		"thread '<unnamed>' panicked at 'called `Option::unwrap()` on a `None` value', src/sealing/sealing_thread/planner/sealer.rs:412:65",
		"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
		"plain output after the panic",
		// Rust ≥ 1.73: the message is on the line after the header.
		"thread 'main' panicked at src/main.rs:2:5:",
		"called `Option::unwrap()` on a `None` value",
		"stack backtrace:",
		"   0: rust_begin_unwind",
		"             at /rustc/cc66ad46/library/std/src/panicking.rs:595:5",
		"note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
		"another plain line",
	)
	off := offsets(in)
	ls := strings.Split(strings.TrimSuffix(in, "\n"), "\n")
	want := []joined{
		{1, off[1], ls[0]},
		{2, off[5], strings.Join(ls[1:5], "\n")},
		{6, off[6], ls[5]},
		{7, off[8], strings.Join(ls[6:8], "\n")},
		{9, off[9], ls[8]},
		{10, off[15], strings.Join(ls[9:15], "\n")},
		{16, off[16], ls[15]},
	}
	if d := cmp.Diff(want, joinAll(NewJoiner(0, 0), in)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestJoinerAnyhowCausedBy(t *testing.T) {
	in := lines(
		"2024-03-05T12:00:03.9+08:00 ERROR ThreadId(31) vc_processors::core::ext::producer: failed to start response handler. pid: 41234 err=start response handler",
		"",
		"Caused by:",
		"    child process exit",
		"2024-03-05T12:10:00.25+08:00  INFO ThreadId(31) vc_processors::core::ext::producer: producer ready",
		"Error: invalid env filter",
		"",
		"Caused by:",
		"    0: invalid filter directive",
		"    1: error parsing level filter",
	)
	got := joinAll(NewJoiner(0, 0), in)
	if len(got) != 3 || got[0].Text != strings.Join(strings.Split(in, "\n")[:4], "\n") || got[1].Num != 5 || got[2].Num != 6 ||
		!strings.HasSuffix(got[2].Text, "    1: error parsing level filter") {
		t.Fatalf("got %+v", got)
	}
	var ev event.Event
	Tracing{}.Parse([]byte(got[0].Text), &ev)
	if ev.Level != "ERROR" || !strings.Contains(ev.Msg, "Caused by:\n    child process exit") {
		t.Errorf("joined anyhow error parsed as %+v", ev)
	}
}

func TestJoinerFinalConfigDump(t *testing.T) {
	dump := []string{
		"2024-05-01T08:00:00.000+0800\tINFO\tminer\tnode/builder.go:119\tfinal config: ",
		"{",
		`  "API": {`,
		`    "ListenAddress": "/ip4/0.0.0.0/tcp/12308"`,
		"  },",
		`  "Gateway": {`,
		`    "ListenAPI": [`,
		`      "/ip4/10.0.1.20/tcp/45132"`,
		"    ]",
		"  }",
		"}",
	}
	in := lines(append(dump, "2024-05-01T08:00:01.000+0800\tINFO\tminer\tminer/miner.go:1\tstart")...)
	got := joinAll(NewJoiner(0, 0), in)
	if len(got) != 2 || got[0].Text != strings.Join(dump, "\n") {
		t.Fatalf("got %+v", got)
	}
	var ev event.Event
	GoLog{}.Parse([]byte(got[0].Text), &ev)
	if ev.Logger != "miner" || ev.Fields != nil || !strings.HasPrefix(ev.Msg, "final config: \n{\n") || !strings.HasSuffix(ev.Msg, "\n}") {
		t.Errorf("dump parsed as %+v", ev)
	}
}

// TestJoinerTailOnNextLine: a go-log message that ended in "\n" pushes its
// JSON tail to the next line; joined and parsed, the tail is the record's
// fields.
func TestJoinerTailOnNextLine(t *testing.T) {
	in := lines(
		"2024-03-05T12:00:00.100+0800\tINFO\tcommitmgr\tcommitmgr/precommit_processor.go:58\tprocess pre commit",
		"\t{\"proc\": \"pre\", \"miner\": 1234}",
		"2024-03-05T12:00:00.200+0800\tINFO\tdep\tdep/prover.go:87\tprover ready",
		"",
		"2024-03-05T12:00:00.300+0800\tINFO\tdep\tdep/prover.go:88\tdone",
	)
	got := joinAll(NewJoiner(0, 0), in)
	if len(got) != 3 {
		t.Fatalf("got %+v", got)
	}
	var ev event.Event
	GoLog{}.Parse([]byte(got[0].Text), &ev)
	if ev.Msg != "process pre commit" || ev.Fields["proc"] != "pre" || ev.Fields["miner"] != float64(1234) {
		t.Errorf("tail on the next line parsed as %+v", ev)
	}
	GoLog{}.Parse([]byte(got[1].Text), &ev)
	if ev.Msg != "prover ready" || ev.Fields != nil {
		t.Errorf("message and empty line parsed as %+v", ev)
	}
}

// TestJoinerHoldsOnlyWhatMayContinue: a go-log line is held until the next
// line arrives (or Flush); a plain line after it stands alone and comes
// out at once, with the record it ended.
func TestJoinerHoldsOnlyWhatMayContinue(t *testing.T) {
	j := NewJoiner(0, 0)
	l1 := event.Line{Num: 1, Offset: 10, Text: []byte("2024-03-05T10:00:00.000+0800\tINFO\tmain\tmain.go:1\tstart")}
	if out := j.Add(l1); len(out) != 0 || !j.Pending() {
		t.Fatalf("first go-log line: got %d records, pending %v", len(out), j.Pending())
	}
	l2 := event.Line{Num: 2, Offset: 20, Text: []byte("API server listening on 127.0.0.1:3453")}
	out := j.Add(l2)
	if len(out) != 2 || out[0].Num != 1 || out[1].Num != 2 || j.Pending() {
		t.Fatalf("plain line: got %v, pending %v", out, j.Pending())
	}
	for _, plain := range []string{"{\"level\":\"info\",\"msg\":\"json line\"}", "time=\"x\" level=info msg=m", "level=info msg=m"} {
		if out := j.Add(event.Line{Text: []byte(plain)}); len(out) != 1 || j.Pending() {
			t.Errorf("%q: got %d records, pending %v", plain, len(out), j.Pending())
		}
	}
	j.Add(l1)
	if out := j.Flush(); len(out) != 1 || out[0].Num != 1 || j.Pending() {
		t.Errorf("Flush: got %v, pending %v", out, j.Pending())
	}
	if out := j.Flush(); len(out) != 0 {
		t.Errorf("second Flush: got %v", out)
	}
	// A go-log JSON line is not the tail of the record before it.
	j.Add(l1)
	if out := j.Add(event.Line{Num: 2, Text: []byte(`{"level":"info","ts":"2026-11-24T10:00:02.000Z","msg":"x"}`)}); len(out) != 2 {
		t.Errorf("JSON line after go-log: got %d records", len(out))
	}
	// Coloured record starts are starts.
	for _, start := range []string{
		"\x1b[34mINFO\x1b[0m\tmain\tmain.go:1\tx",
		"\x1b[36mINFO\x1b[0m[2026-11-24T10:00:01+08:00] x",
		"\x1b[2m2024-03-05T10:22:03.23+08:00\x1b[0m \x1b[34mDEBUG\x1b[0m x",
		"WARN\trpc\tx.go:1\ty",
	} {
		j.Add(l1)
		if out := j.Add(event.Line{Text: []byte(start)}); len(out) != 1 || !j.Pending() {
			t.Errorf("%q after a record: got %d records, pending %v", start, len(out), j.Pending())
		}
		j.Flush()
	}
}

// TestJoinerCap: a dump of 10,000 goroutines costs at most the caps; the
// record is cut and marked, the rest of the dump is dropped, and the next
// record is whole.
func TestJoinerCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("2024-03-05T10:00:00.000+0800\tINFO\tmain\tmain.go:1\tup\n")
	b.WriteString("panic: boom\n\n")
	for g := 1; g <= 10000; g++ {
		fmt.Fprintf(&b, "goroutine %d [select]:\nmain.worker()\n\t/x/main.go:%d +0x1d\ncreated by main.main in goroutine 1\n\t/x/main.go:9 +0x2a\n\n", g, g)
	}
	b.WriteString("2024-03-05T10:00:05.000+0800\tINFO\tmain\tmain.go:1\trestarted\n")
	in := b.String()
	const maxLines, maxBytes = 100, 4 << 10
	got := joinAll(NewJoiner(maxLines, maxBytes), in)
	if len(got) != 3 {
		t.Fatalf("got %d records, want 3", len(got))
	}
	crash := got[1]
	if crash.Num != 2 || !strings.HasPrefix(crash.Text, "panic: boom\n\ngoroutine 1 [select]:") || !strings.HasSuffix(crash.Text, "\n…[cut]") {
		t.Errorf("crash record: num %d, text %.80q…%q", crash.Num, crash.Text, crash.Text[max(0, len(crash.Text)-20):])
	}
	if n := len(crash.Text); n > maxBytes+len(cutMark) {
		t.Errorf("crash record is %d bytes, cap %d", n, maxBytes)
	}
	if n := strings.Count(crash.Text, "\n") + 1; n > maxLines+1 {
		t.Errorf("crash record has %d lines, cap %d", n, maxLines)
	}
	last := strings.Count(in, "\n")
	if got[2].Num != int64(last) || got[2].Text != "2024-03-05T10:00:05.000+0800\tINFO\tmain\tmain.go:1\trestarted" {
		t.Errorf("record after the dump: %+v", got[2])
	}

	// A line cap.
	got = joinAll(NewJoiner(3, 0), lines("panic: x", "a", "b", "c", "d"))
	if len(got) != 1 || got[0].Text != "panic: x\na\nb"+cutMark {
		t.Errorf("line cap: got %+v", got)
	}
}

// TestJoinerDoesNotWriteIntoCallerMemory: cutting a record whose text is
// still the caller's slice must not append into the caller's array.
func TestJoinerDoesNotWriteIntoCallerMemory(t *testing.T) {
	buf := []byte("panic: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" + "SENTINEL")
	first := buf[:len(buf)-len("SENTINEL")]
	j := NewJoiner(0, 10)
	j.Add(event.Line{Num: 1, Text: first})
	out := j.Add(event.Line{Num: 2, Text: []byte("goroutine 1 [running]:")})
	if len(out) != 1 || !bytes.HasSuffix(out[0].Text, []byte(cutMark)) {
		t.Fatalf("got %+v", out)
	}
	if !bytes.HasSuffix(buf, []byte("SENTINEL")) {
		t.Errorf("caller's memory changed: %q", buf)
	}
}

// TestJoinerKeepsReadTime: a joined record has the Read time and the
// other fields of its first line.
func TestJoinerKeepsReadTime(t *testing.T) {
	t0 := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	j := NewJoiner(0, 0)
	j.Add(event.Line{Source: "s", File: "f", FileID: "1:2", Num: 7, Offset: 100, Read: t0, Text: []byte("panic: x")})
	j.Add(event.Line{Source: "s", File: "f", FileID: "1:2", Num: 8, Offset: 120, Read: t0.Add(time.Second), Text: []byte("goroutine 1 [running]:")})
	out := j.Flush()
	want := event.Line{Source: "s", File: "f", FileID: "1:2", Num: 7, Offset: 120, Read: t0, Text: []byte("panic: x\ngoroutine 1 [running]:")}
	if d := cmp.Diff([]event.Line{want}, out); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
