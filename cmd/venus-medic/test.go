package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/venus-medic/venus-medic/daemon"
	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/rules"
)

var testCmd = &cli.Command{
	Name:      "test",
	Usage:     "replay log files through rules offline: which rules fire, when, and which actions would run (nothing is executed)",
	ArgsUsage: "LOGFILE... (- for stdin)",
	Description: "Windows, cooldowns and verifications run on the lines' own timestamps.\n" +
		"Without --source, each file's component is inferred from its name\n" +
		"(wallet.log → venus-wallet, msg.log → sophon-messager, ...).",
	Flags: []cli.Flag{
		&cli.StringSliceFlag{Name: "rules", Aliases: []string{"r"}, Usage: "rule `PATH` (file or directory, or builtin for the shipped rules; repeatable)", Required: true},
		&cli.StringFlag{Name: "source", Aliases: []string{"s"}, Usage: "source `NAME` of the lines (e.g. venus-wallet)"},
		&cli.StringFlag{Name: "parser", Aliases: []string{"p"}, Value: "auto", Usage: "parser `NAME`"},
		&cli.StringFlag{Name: "pattern", Usage: "regular expression with named groups, for --parser regex"},
		&cli.BoolFlag{Name: "json", Usage: "one JSON object per firing on stdout, nothing else"},
		&cli.StringFlag{Name: "host", Usage: "host name given to the events (default: this host)"},
	},
	Action: func(ctx context.Context, cmd *cli.Command) error {
		files := cmd.Args().Slice()
		if len(files) == 0 {
			return cli.Exit("test: no log file given (use - for stdin)", 2)
		}
		stdout, stderr := cmd.Root().Writer, cmd.Root().ErrWriter
		if stderr == nil {
			stderr = os.Stderr
		}
		set, err := loadRules(cmd.StringSlice("rules"), rules.Options{})
		if err != nil {
			printProblems(stderr, err)
			return cli.Exit("", 1)
		}
		host := cmd.String("host")
		if host == "" {
			host, _ = os.Hostname()
		}
		src := event.CanonicalSource(cmd.String("source"))
		if src != "" && !event.IsComponent(src) && !ruleSource(set, src) {
			fmt.Fprintf(stderr, "note: no rule names the source %q and it is not a Venus component (%s): only rules without a source apply\n", src, strings.Join(event.Components, ", "))
		}
		if src == "" {
			for _, f := range files {
				if daemon.InferSource(f) == "" {
					fmt.Fprintf(stderr, "note: no --source given and none can be inferred from %q: only rules without a source apply to it\n", f)
				}
			}
		}
		w := bufio.NewWriterSize(stdout, 64<<10)
		defer w.Flush()
		asJSON := cmd.Bool("json")
		perRule := map[string]int{}
		opt := daemon.ReplayOptions{Source: src, Parser: cmd.String("parser"), Pattern: cmd.String("pattern"), Host: host}
		if isTerminal(os.Stderr) {
			opt.Progress = progress(stderr)
		}
		st, err := daemon.Replay(ctx, set, files, opt, func(h daemon.Hit) {
			perRule[h.Firing.Rule]++
			if asJSON {
				writeJSONHit(w, h)
			} else {
				writeTextHit(w, h)
			}
		})
		if opt.Progress != nil {
			fmt.Fprint(stderr, "\r\033[K")
		}
		if err != nil {
			w.Flush()
			return cli.Exit("test: "+err.Error(), 1)
		}
		if asJSON {
			return nil
		}
		writeSummary(w, st, perRule, len(set.Rules()))
		return nil
	},
}

func writeJSONHit(w io.Writer, h daemon.Hit) {
	w.Write(h.JSON())
	w.Write([]byte{'\n'})
}

func writeTextHit(w io.Writer, h daemon.Hit) {
	what := h.Firing.Rule
	if h.Firing.Resolved {
		what += " (resolved)"
	}
	acts := "no actions"
	if len(h.Firing.Actions) > 0 {
		acts = "would run: " + strings.Join(h.Firing.Actions, ", ")
	}
	fmt.Fprintf(w, "%s:%d  %s  %-8s %s  [%s]\n    %s\n", h.File, h.Line,
		h.Firing.Event.Time.Format(time.RFC3339Nano), h.Firing.Severity, what, acts, oneLine(h.Firing.Summary))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ⏎ ")
}

func writeSummary(w io.Writer, st daemon.ReplayStats, perRule map[string]int, nRules int) {
	rate := float64(st.Lines) / st.Elapsed.Seconds()
	fmt.Fprintf(w, "\nLines: %d in %d file(s), %d records (%d not understood by the parser)\n", st.Lines, st.Files, st.Records, st.Unparsed)
	fmt.Fprintf(w, "Rules: %d loaded, %d fired, %d firing(s)\n", nRules, len(perRule), st.Firings)
	names := make([]string, 0, len(perRule))
	for n := range perRule {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if perRule[names[i]] != perRule[names[j]] {
			return perRule[names[i]] > perRule[names[j]]
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		fmt.Fprintf(w, "  %6d  %s\n", perRule[n], n)
	}
	fmt.Fprintf(w, "Elapsed: %s (%.0f lines/s)\n", st.Elapsed.Round(time.Millisecond), rate)
}

// ruleSource reports whether a rule of set names source src.
func ruleSource(set *rules.Set, src string) bool {
	for _, r := range set.Rules() {
		for _, s := range r.Sources {
			if event.CanonicalSource(s) == src {
				return true
			}
		}
	}
	return false
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows bytes read on a terminal, redrawn in place.
func progress(w io.Writer) func(done, total int64) {
	start := time.Now()
	return func(done, total int64) {
		mb := float64(done) / (1 << 20)
		rate := mb / time.Since(start).Seconds()
		if total > 0 {
			fmt.Fprintf(w, "\r\033[K%.0f / %.0f MiB (%.0f%%), %.0f MiB/s", mb, float64(total)/(1<<20), 100*float64(done)/float64(total), rate)
		} else {
			fmt.Fprintf(w, "\r\033[K%.0f MiB, %.0f MiB/s", mb, rate)
		}
	}
}
