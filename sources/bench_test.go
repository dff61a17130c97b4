package sources

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

// BenchmarkFileRead reads a large pre-written file of go-log lines from
// its beginning and reports the lines read per second.
func BenchmarkFileRead(b *testing.B) {
	const lines = 200_000
	p := filepath.Join(b.TempDir(), "venus.log")
	fh, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(fh)
	for i := range lines {
		fmt.Fprintf(w, "2026-11-25T10:21:%02d.123+0800\tINFO\tchain\tchain/sync.go:173\tnew head\t{\"height\": %d, \"blocks\": 3}\n", i%60, 3_000_000+i)
	}
	w.Flush()
	fh.Close()
	fi, _ := os.Stat(p)
	b.SetBytes(fi.Size())
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		f, err := NewFile(FileConfig{Name: "venus", Paths: []string{p}, FromBeginning: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan event.Line, 1024)
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx, out) }()
		for range lines {
			f.Commit(<-out)
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(lines)*float64(b.N)/time.Since(start).Seconds(), "lines/s")
}
