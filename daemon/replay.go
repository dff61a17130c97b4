package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/parsers"
	"github.com/venus-medic/venus-medic/rules"
)

// ReplayOptions configure an offline replay (`venus-medic test`).
type ReplayOptions struct {
	// Source is the source name given to every event; "" infers it from
	// each file's name (InferSource).
	Source string
	// Parser is the parser name (default auto); Pattern is the regex parser's.
	Parser, Pattern string
	Host            string
	// MaxLineBytes cuts longer lines (default 1 MiB).
	MaxLineBytes int
	// Progress, when set, is called about twice a second with the bytes
	// read so far and the total size (0 when unknown).
	Progress func(done, total int64)
	// Stdin is read for the file name "-".
	Stdin io.Reader
}

// Hit is one firing found by a replay, with where its event came from.
type Hit struct {
	Firing event.Firing
	File   string
	Line   int64
}

// ReplayStats counts what a replay read.
type ReplayStats struct {
	Files    int
	Lines    int64
	Bytes    int64
	Records  int64
	Unparsed int64 // records no parser understood (level empty)
	Firings  int64
	Elapsed  time.Duration
}

// Replay reads log files through the rules without running any action.
// Windows, cooldowns and verifications run on the events' own time; a
// record without a time takes the time of the record before it in the same
// file (or the file's modification time when it is the first).
func Replay(ctx context.Context, set *rules.Set, files []string, opt ReplayOptions, hit func(Hit)) (ReplayStats, error) {
	start := time.Now()
	var st ReplayStats
	if opt.Parser == "" {
		opt.Parser = "auto"
	}
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = 1 << 20
	}
	var total int64
	for _, f := range files {
		if f == "-" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return st, err
		}
		if fi.IsDir() {
			return st, fmt.Errorf("%s is a directory", f)
		}
		total += fi.Size()
	}
	var last time.Time
	lastProgress := time.Now()
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		p, err := parsers.New(opt.Parser, parsers.Options{Pattern: opt.Pattern})
		if err != nil {
			return st, err
		}
		src := opt.Source
		if src == "" {
			src = InferSource(name)
		}
		var r io.Reader
		var mtime time.Time
		if name == "-" {
			r = opt.Stdin
			if r == nil {
				r = os.Stdin
			}
			mtime = time.Now()
		} else {
			f, err := os.Open(name)
			if err != nil {
				return st, err
			}
			defer f.Close()
			if fi, err := f.Stat(); err == nil {
				mtime = fi.ModTime()
			}
			r = f
		}
		st.Files++
		prevTime := mtime
		j := parsers.NewJoiner(0, 0)
		handle := func(recs []event.Line) {
			for _, rec := range recs {
				ev := makeEvent(p, rec, opt.Host)
				if ev.Time.IsZero() { // records carry no read time here
					ev.Time = prevTime
				}
				prevTime = ev.Time
				st.Records++
				if ev.Level == "" {
					st.Unparsed++
				}
				for _, f := range set.Eval(&ev) {
					st.Firings++
					hit(Hit{Firing: f, File: name, Line: f.Event.LineNo})
				}
				last = ev.Time
			}
		}
		br := bufio.NewReaderSize(r, 256<<10)
		var num, off int64
		for {
			text, n, err := readLine(br, opt.MaxLineBytes)
			if n > 0 {
				num++
				off += int64(n)
				st.Lines++
				st.Bytes += int64(n)
				handle(j.Add(event.Line{Source: src, File: name, Offset: off, Num: num, Text: text}))
				if opt.Progress != nil && num%4096 == 0 && time.Since(lastProgress) > 500*time.Millisecond {
					lastProgress = time.Now()
					opt.Progress(st.Bytes, total)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return st, fmt.Errorf("%s: %w", name, err)
			}
		}
		handle(j.Flush())
	}
	if !last.IsZero() {
		for _, f := range set.Tick(last) {
			st.Firings++
			hit(Hit{Firing: f, File: f.Event.File, Line: f.Event.LineNo})
		}
	}
	if opt.Progress != nil {
		opt.Progress(st.Bytes, total)
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// readLine reads one line of at most max bytes (the rest of a longer line
// is skipped). It returns the line without "\n" or "\r\n" and the number of
// bytes consumed; a copy is returned since the reader's buffer is reused.
func readLine(br *bufio.Reader, max int) ([]byte, int, error) {
	var out []byte
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		n += len(chunk)
		if len(out) < max {
			room := max - len(out)
			c := chunk
			if len(c) > room {
				c = c[:room]
			}
			out = append(out, c...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		out = bytes.TrimSuffix(out, []byte{'\n'})
		out = bytes.TrimSuffix(out, []byte{'\r'})
		if err == io.EOF && n == 0 {
			return nil, 0, io.EOF
		}
		return out, n, err
	}
}

// logNames maps the log file names that the Venus documentation uses
// (`nohup ./x run > x.log`) to component names.
var logNames = []struct{ prefix, source string }{
	{"venus-wallet", "venus-wallet"}, {"wallet", "venus-wallet"},
	{"sophon-gateway", "sophon-gateway"}, {"venus-gateway", "sophon-gateway"}, {"gateway", "sophon-gateway"},
	{"sophon-messager", "sophon-messager"}, {"venus-messager", "sophon-messager"}, {"messager", "sophon-messager"}, {"msg", "sophon-messager"},
	{"sophon-miner", "sophon-miner"}, {"venus-miner", "sophon-miner"}, {"miner", "sophon-miner"},
	{"sophon-auth", "sophon-auth"}, {"venus-auth", "sophon-auth"}, {"auth", "sophon-auth"},
	{"venus-sealer", "venus-sealer"}, {"sealer", "venus-sealer"},
	{"damocles-manager", "damocles-manager"}, {"venus-sector-manager", "damocles-manager"}, {"sector-manager", "damocles-manager"},
	{"damocles-worker", "damocles-worker"}, {"venus-worker", "damocles-worker"},
	{"droplet", "droplet"}, {"venus-market", "droplet"}, {"market", "droplet"},
	{"venus", "venus"},
}

// InferSource guesses a component from a log file's name (wallet.log →
// venus-wallet, msg.log → sophon-messager, …); "" when it cannot.
func InferSource(path string) string {
	base := strings.ToLower(filepath.Base(path))
	for _, n := range logNames {
		if strings.HasPrefix(base, n.prefix) {
			rest := base[len(n.prefix):]
			if rest == "" || strings.IndexAny(rest[:1], ".-_0123456789") == 0 {
				return n.source
			}
		}
	}
	return ""
}

// hitJSON is the `test --json` object (SPEC §2), keys in this order.
type hitJSON struct {
	Rule     string   `json:"rule"`
	Source   string   `json:"source"`
	Time     string   `json:"time"`
	File     string   `json:"file"`
	Line     int64    `json:"line"`
	Severity string   `json:"severity"`
	Actions  []string `json:"actions"`
	Summary  string   `json:"summary"`
	Resolved bool     `json:"resolved,omitempty"`
}

// JSON renders the hit as `venus-medic test --json` prints it, without the newline.
func (h Hit) JSON() []byte {
	acts := h.Firing.Actions
	if acts == nil {
		acts = []string{}
	}
	b, _ := json.Marshal(hitJSON{
		Rule: h.Firing.Rule, Source: h.Firing.Event.Source, Time: h.Firing.Event.Time.Format(time.RFC3339Nano),
		File: h.File, Line: h.Line, Severity: h.Firing.Severity, Actions: acts,
		Summary: h.Firing.Summary, Resolved: h.Firing.Resolved,
	})
	return b
}
