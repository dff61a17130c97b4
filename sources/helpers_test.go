package sources

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
)

// waitTimeout bounds every wait on delivery in these tests.
const waitTimeout = 20 * time.Second

// testPoll is the PollInterval the tests use.
const testPoll = 50 * time.Millisecond

// logBuf is a concurrency-safe log sink for asserting what was logged.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t *testing.T) (hclog.Logger, *logBuf) {
	lb := &logBuf{}
	return hclog.New(&hclog.LoggerOptions{Name: "sources", Output: lb, Level: hclog.Debug}), lb
}

// run runs a source and plays the pipeline: it receives every line and
// commits it (while fewer than commitLimit lines were received, when a
// limit is set). Tests wait on what it received.
type run struct {
	t      *testing.T
	src    Source
	cancel context.CancelFunc
	done   chan error

	mu          sync.Mutex
	lines       []event.Line
	changed     chan struct{} // closed and replaced when a line arrives
	commitLimit int           // commit only the first commitLimit lines; <0: all
	gate        chan struct{} // when set, a received line waits until it is closed
	received    int           // lines taken from the source, gated or not
}

func start(t *testing.T, src Source) *run {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{t: t, src: src, cancel: cancel, done: make(chan error, 1), changed: make(chan struct{}), commitLimit: -1}
	out := make(chan event.Line)
	go func() { r.done <- src.Run(ctx, out) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case l := <-out:
				r.mu.Lock()
				gate := r.gate
				r.received++
				close(r.changed)
				r.changed = make(chan struct{})
				r.mu.Unlock()
				if gate != nil {
					select {
					case <-gate:
					case <-ctx.Done():
						return
					}
				}
				r.mu.Lock()
				r.lines = append(r.lines, l)
				if f, ok := src.(*File); ok && (r.commitLimit < 0 || len(r.lines) <= r.commitLimit) {
					f.Commit(l) // before waiters see the line
				}
				close(r.changed)
				r.changed = make(chan struct{})
				r.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

// stop cancels the source and waits for Run to return.
func (r *run) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run returned %v", err)
		}
		r.done <- nil // for a second stop
	case <-time.After(waitTimeout):
		r.t.Fatalf("Run did not return after cancel")
	}
}

func (r *run) got() []event.Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Line(nil), r.lines...)
}

// waitFor waits until cond holds for the lines received so far.
func (r *run) waitFor(what string, cond func([]event.Line) bool) []event.Line {
	r.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		lines := append([]event.Line(nil), r.lines...)
		ch := r.changed
		r.mu.Unlock()
		if cond(lines) {
			return lines
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.t.Fatalf("timed out waiting for %s; got %d lines, last: %s", what, len(lines), tail(lines))
			return nil
		}
	}
}

// hold makes the pipeline stop after receiving its next line, until the
// returned release is called: the source is then blocked in a send.
func (r *run) hold() (release func()) {
	gate := make(chan struct{})
	r.mu.Lock()
	r.gate = gate
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.gate = nil
		r.mu.Unlock()
		close(gate)
	}
}

// waitReceived waits until n lines were taken from the source.
func (r *run) waitReceived(n int) {
	r.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got, ch := r.received, r.changed
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.t.Fatalf("timed out waiting for the source to send line %d", n)
		}
	}
}

// waitN waits until n lines have arrived.
func (r *run) waitN(n int) []event.Line {
	r.t.Helper()
	return r.waitFor(fmt.Sprintf("%d lines", n), func(l []event.Line) bool { return len(l) >= n })
}

// waitSeq waits for a line holding sequence number n.
func (r *run) waitSeq(n int) []event.Line {
	r.t.Helper()
	return r.waitFor(fmt.Sprintf("line %d", n), func(ls []event.Line) bool {
		for _, l := range ls {
			if seqOf(l) == n {
				return true
			}
		}
		return false
	})
}

func tail(ls []event.Line) string {
	var b strings.Builder
	for _, l := range ls[max(0, len(ls)-3):] {
		fmt.Fprintf(&b, "%q (%s@%d) ", trunc(string(l.Text), 60), l.File, l.Offset)
	}
	return b.String()
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// seqLine is the text of sequence-numbered line n.
func seqLine(n int) string { return fmt.Sprintf("seq-%06d some payload to make lines longer", n) }

// seqOf returns the sequence number in l, or -1.
func seqOf(l event.Line) int {
	s, ok := strings.CutPrefix(string(l.Text), "seq-")
	if !ok || len(s) < 6 {
		return -1
	}
	n, err := strconv.Atoi(s[:6])
	if err != nil {
		return -1
	}
	return n
}

// seqs writes lines from..to (inclusive).
func seqs(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		b.WriteString(seqLine(i))
		b.WriteByte('\n')
	}
	return b.String()
}

// appendFile appends s to path (O_APPEND, created if needed).
func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// checkSeq asserts that lines hold exactly the sequence numbers from..to,
// each once, in order.
func checkSeq(t *testing.T, lines []event.Line, from, to int) {
	t.Helper()
	var got []int
	for _, l := range lines {
		got = append(got, seqOf(l))
	}
	want := make([]int, 0, to-from+1)
	for i := from; i <= to; i++ {
		want = append(want, i)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d (%d..%d)\nproblems: %s\nfirst: %s", len(got), len(want), from, to, seqProblems(got, from, to), tail(lines[:min(3, len(lines))]))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d is seq %d, want %d\nproblems: %s", i, got[i], want[i], seqProblems(got, from, to))
		}
	}
}

// seqProblems describes gaps, duplicates and disorder in got.
func seqProblems(got []int, from, to int) string {
	count := map[int]int{}
	var b strings.Builder
	prev, disorder := -1, 0
	for _, n := range got {
		count[n]++
		if n < prev {
			if disorder < 5 {
				fmt.Fprintf(&b, "out of order %d after %d; ", n, prev)
			}
			disorder++
		}
		prev = n
	}
	dups, odd := 0, 0
	for n := from - 1; n <= to+1; n++ {
		if c := count[n]; c > 1 {
			if dups < 10 {
				fmt.Fprintf(&b, "dup %d x%d; ", n, c)
			}
			dups++
		}
	}
	for n := range count {
		if n < from || n > to {
			if odd < 10 {
				fmt.Fprintf(&b, "unexpected %d; ", n)
			}
			odd++
		}
	}
	if dups > 0 {
		fmt.Fprintf(&b, "%d duplicated in all; ", dups)
	}
	missing, ranges := 0, 0
	for i := from; i <= to; i++ {
		if count[i] != 0 {
			continue
		}
		j := i
		for j < to && count[j+1] == 0 {
			j++
		}
		if ranges < 10 {
			fmt.Fprintf(&b, "missing %d..%d; ", i, j)
		}
		ranges++
		missing += j - i + 1
		i = j
	}
	if missing > 0 {
		fmt.Fprintf(&b, "%d missing in all", missing)
	}
	return b.String()
}

// skipShort skips integration tests under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
}
