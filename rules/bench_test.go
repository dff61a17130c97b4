package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

// benchSet builds n rules from the pattern (%d is the rule's number).
func benchSet(b *testing.B, n int, when string) *Set {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("rules:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - name: r%d\n    when: '%s'\n", i, fmt.Sprintf(when, i))
		if i%4 == 0 {
			sb.WriteString("    threshold: {count: 3, within: 10m}\n")
		}
	}
	set, err := LoadFiles(map[string][]byte{"bench.yaml": []byte(sb.String())}, Options{Host: "h"})
	if err != nil {
		b.Fatal(err)
	}
	return set
}

var benchEvent = event.Event{
	Source: "venus-sealer", Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Level: "ERROR",
	Logger: "wdpost", Caller: "wdpost/wdpost_run.go:123", Msg: "running window post failed",
	Fields: map[string]any{"deadline": float64(12), "error": "context deadline exceeded"},
}

// BenchmarkEval shows a non-matching event to n rules of the usual shape
// (for every source, a level test and a message test).
func BenchmarkEval(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			set := benchSet(b, n, `level == "ERROR" && msg contains "needle %d"`)
			ev := benchEvent
			b.ReportAllocs()
			for b.Loop() {
				if f := set.Eval(&ev); len(f) != 0 {
					b.Fatal("fired")
				}
			}
		})
	}
}

// BenchmarkEvalVM is BenchmarkEval with rules the VM has to run.
func BenchmarkEvalVM(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			set := benchSet(b, n, `fields["deadline"] == %d + 100`)
			ev := benchEvent
			b.ReportAllocs()
			for b.Loop() {
				if f := set.Eval(&ev); len(f) != 0 {
					b.Fatal("fired")
				}
			}
		})
	}
}

// BenchmarkEvalTimed is BenchmarkEval with every rule an absence or a
// sequence, whose clocks every event of their sources looks at.
func BenchmarkEvalTimed(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("rules:\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "  - name: r%d\n    when: 'level == \"ERROR\" && msg contains \"needle %d\"'\n", i, i)
		if i%2 == 0 {
			sb.WriteString("    absent: {within: 10m}\n")
		} else {
			sb.WriteString("    sequence: {then: 'msg == \"done\"', within: 10m, by: 'fields[\"deadline\"]'}\n")
		}
	}
	set, err := LoadFiles(map[string][]byte{"bench.yaml": []byte(sb.String())}, Options{Host: "h"})
	if err != nil {
		b.Fatal(err)
	}
	ev := benchEvent
	b.ReportAllocs()
	for b.Loop() {
		if f := set.Eval(&ev); len(f) != 0 {
			b.Fatal("fired")
		}
	}
}
