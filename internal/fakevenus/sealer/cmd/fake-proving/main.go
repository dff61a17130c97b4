// Command fake-proving behaves like the proving commands of venus-sealer
// and damocles-manager, for tests: it takes their command lines, flag
// positions included, and prints their tables with their print code and
// tabwriter settings, from a scenario file.
//
// It acts as the tool named by the base name of argv[0] (venus-sealer or
// damocles-manager), or by $FAKE_PROVING_TOOL. The scenario is the JSON
// file named by $FAKE_PROVING_SCENARIO (see scenario); without one the
// miner has no bad sector.
//
// Command lines, as the real tools take them (urfave/cli v2: a command's
// flags go between it and its sub-command, and flag parsing stops at the
// first argument):
//
//	venus-sealer [--repo R] [--color] proving [--actor A] check [--only-bad] [--slow] [--storage-id ID] [--faulty] N
//	venus-sealer … proving [--actor A] info | faults | deadlines
//	damocles-manager [--home H] util [--listen L] [--conf-dir D] sealer proving --miner M check [--only-bad] [--slow] [--state-check] [--faulty] [--detail] N
//	damocles-manager … proving --miner M info | faults | deadlines
//
// Errors are printed as the tools print them: venus-sealer `ERROR: <err>`
// and a blank line on stderr, damocles-manager a go-log ERROR line of
// logger cmd; both exit 1.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// scenario is what the fake miner looks like and how the command behaves.
type scenario struct {
	// Miner is the miner's address, f01234 when empty.
	Miner string `json:"miner"`
	// Mode is how the command behaves: "" prints the tables; "hang"
	// starts a child in its process group and sleeps; "garbage" prints
	// Garbage and exits 0; "error" fails with Error and exit 1; "panic"
	// is damocles-manager whose manager cannot be dialled (check panics).
	Mode    string `json:"mode"`
	Error   string `json:"error"`
	Garbage string `json:"garbage"`
	// Color prints the statuses in colour, as on a terminal.
	Color bool `json:"color"`
	// Deadlines holds the partitions of each deadline ("7": [...]).
	Deadlines map[string][]partition `json:"deadlines"`
	// Current is the current deadline index for `info` and `deadlines`.
	Current int `json:"current"`
	// ArgvFile, when set, receives the arguments as a JSON list.
	ArgvFile string `json:"argv_file"`
	// PIDFile, when set in hang mode, receives the pid of the child.
	PIDFile string `json:"pid_file"`
}

// partition is one partition's sectors; Bad maps a bad sector's number
// to the reason its check fails.
type partition struct {
	Sectors []uint64          `json:"sectors"`
	Bad     map[string]string `json:"bad"`
}

const (
	venusSealer     = "venus-sealer"
	damoclesManager = "damocles-manager"
)

func main() {
	if os.Getenv("FAKE_PROVING_CHILD") == "sleep" {
		time.Sleep(time.Hour)
		return
	}
	tool := os.Getenv("FAKE_PROVING_TOOL")
	if tool == "" {
		tool = filepath.Base(os.Args[0])
	}
	sc, err := load(os.Getenv("FAKE_PROVING_SCENARIO"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake-proving:", err)
		os.Exit(2)
	}
	if sc.ArgvFile != "" {
		b, _ := json.Marshal(os.Args[1:])
		if err := os.WriteFile(sc.ArgvFile, b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "fake-proving:", err)
			os.Exit(2)
		}
	}
	var run func(*scenario, []string) error
	switch tool {
	case venusSealer:
		run = sealer
	case damoclesManager:
		run = damocles
	default:
		fmt.Fprintf(os.Stderr, "fake-proving: run me as %s or %s, not %q\n", venusSealer, damoclesManager, tool)
		os.Exit(2)
	}
	if err := run(sc, os.Args[1:]); err != nil {
		var ex exit
		if errors.As(err, &ex) {
			os.Exit(int(ex))
		}
		if tool == venusSealer {
			// app/venus-sealer/main.go:122-130
			fmt.Fprintf(os.Stderr, "ERROR: %s\n\n", err)
		} else {
			// cmd/damocles-manager/internal/run.go:44-54
			fmt.Fprintf(os.Stderr, "%s\tERROR\tcmd\tinternal/run.go:51\t%s\n", time.Now().Format("2006-01-02T15:04:05.000Z0700"), err)
		}
		os.Exit(1)
	}
}

// exit ends the command with a status, its messages already printed.
type exit int

func (e exit) Error() string { return "exit " + strconv.Itoa(int(e)) }

func load(path string) (*scenario, error) {
	sc := &scenario{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, sc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if sc.Miner == "" {
		sc.Miner = "f01234"
	}
	return sc, nil
}

// flags parses a command's flags as urfave/cli v2 does (with the flag
// package: parsing stops at the first argument) and returns the rest.
func flags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "Incorrect Usage: %s\n\n", err)
		return nil, err
	}
	return fs.Args(), nil
}

// command takes the sub-command name off args.
func command(args []string, want ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("no command: want one of %s", strings.Join(want, ", "))
	}
	for _, w := range want {
		if args[0] == w {
			return w, args[1:], nil
		}
	}
	fmt.Fprintf(os.Stderr, "No help topic for '%s'\n", args[0])
	return "", nil, exit(3)
}

func sealer(sc *scenario, args []string) error {
	g := flag.NewFlagSet("venus-sealer", flag.ContinueOnError)
	g.String("repo", "~/.venussealer", "")
	g.Bool("color", false, "")
	args, err := flags(g, args)
	if err != nil {
		return err
	}
	if _, args, err = command(args, "proving"); err != nil {
		return err
	}
	p := flag.NewFlagSet("proving", flag.ContinueOnError)
	p.String("actor", "", "")
	if args, err = flags(p, args); err != nil {
		return err
	}
	sub, args, err := command(args, "info", "deadlines", "deadline", "faults", "check")
	if err != nil {
		return err
	}
	return proving(sc, venusSealer, sub, args, func() error { return nil })
}

func damocles(sc *scenario, args []string) error {
	g := flag.NewFlagSet("damocles-manager", flag.ContinueOnError)
	g.String("home", "~/.damocles-manager", "")
	args, err := flags(g, args)
	if err != nil {
		return err
	}
	if _, args, err = command(args, "util"); err != nil {
		return err
	}
	u := flag.NewFlagSet("util", flag.ContinueOnError)
	u.String("listen", ":1789", "")
	u.String("conf-dir", "", "")
	if args, err = flags(u, args); err != nil {
		return err
	}
	if _, args, err = command(args, "sealer"); err != nil {
		return err
	}
	if _, args, err = command(args, "proving"); err != nil {
		return err
	}
	p := flag.NewFlagSet("proving", flag.ContinueOnError)
	miner := p.String("miner", "", "")
	if args, err = flags(p, args); err != nil {
		return err
	}
	sub, args, err := command(args, "info", "faults", "deadlines", "deadline", "check")
	if err != nil {
		return err
	}
	return proving(sc, damoclesManager, sub, args, func() error {
		// global.go:153-156: the sub-commands start by reading the miner.
		if *miner == "" {
			return errors.New("empty address string")
		}
		if !regexp.MustCompile(`^([ft]0)?[0-9]+$`).MatchString(*miner) {
			return fmt.Errorf("invalid miner address %q", *miner)
		}
		return nil
	})
}

// proving runs a proving sub-command with its own flags; before is the
// group's check of its own flags, run once the sub-command's are parsed.
func proving(sc *scenario, tool, sub string, args []string, before func() error) error {
	c := flag.NewFlagSet(sub, flag.ContinueOnError)
	onlyBad := c.Bool("only-bad", false, "")
	detail := false
	switch sub {
	case "check":
		c.Bool("slow", false, "")
		c.Bool("faulty", false, "")
		if tool == venusSealer {
			c.String("storage-id", "", "")
		} else {
			c.Bool("state-check", false, "")
			c.BoolVar(&detail, "detail", false, "")
		}
	case "deadlines":
		if tool == damoclesManager {
			c.Bool("all", false, "")
		}
	}
	args, err := flags(c, args)
	if err != nil {
		return err
	}
	if err := before(); err != nil {
		return err
	}
	switch sc.Mode {
	case "hang":
		return hang(sc)
	case "error":
		return errors.New(sc.Error)
	case "garbage":
		fmt.Print(sc.Garbage)
		return nil
	}
	switch sub {
	case "check":
		if len(args) != 1 {
			if tool == venusSealer {
				return errors.New("must pass deadline index")
			}
			fmt.Println("NAME:\n   damocles-manager util sealer proving check - check sectors provable")
			fmt.Fprintf(os.Stderr, "ERROR: incorrect number of arguments, got %d\n", len(args))
			return exit(1)
		}
		idx, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return fmt.Errorf("could not parse deadline index: %w", err)
		}
		if tool == damoclesManager && sc.Mode == "panic" {
			// dep/sealer_constructor.go:347-355, core/client_gen.go:166-168
			fmt.Fprint(os.Stderr, "panic: SealerCliAPI client unavailable\n\ngoroutine 1 [running]:\n"+
				"github.com/ipfs-force-community/damocles/damocles-manager/core.(*UnimplementedSealerCliAPI).CheckProvable(...)\n"+
				"\t/build/damocles-manager/core/client_gen.go:167\n")
			return exit(2)
		}
		check(sc, idx, tool == venusSealer || detail, *onlyBad)
	case "faults":
		faults(sc)
	case "info":
		info(sc)
	case "deadlines":
		deadlines(sc)
	default:
		return fmt.Errorf("%s is not faked", sub)
	}
	return nil
}

func (sc *scenario) color(code int, s string) string {
	if !sc.Color {
		return s
	}
	return fmt.Sprintf("\x1b[%dm%s\x1b[0m", code, s)
}

// check prints `proving check` (venus-sealer proving.go:505-506, :588-594;
// damocles util_sealer_proving.go:625-630, :678-695). Rows come from Go
// maps: their order is random.
func check(sc *scenario, idx uint64, detail, onlyBad bool) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	if detail {
		_, _ = fmt.Fprintln(tw, "deadline\tpartition\tsector\tstatus")
	} else {
		_, _ = fmt.Fprintln(tw, "deadline\tpartition\tgood\tbad")
	}
	for parIdx, par := range sc.Deadlines[strconv.FormatUint(idx, 10)] {
		status := map[uint64]string{}
		for _, s := range par.Sectors {
			status[s] = ""
		}
		for k, reason := range par.Bad {
			s, _ := strconv.ParseUint(k, 10, 64)
			status[s] = reason
			if reason == "" {
				status[s] = "unknown"
			}
		}
		if len(status) == 0 {
			continue
		}
		if !detail {
			bad := len(par.Bad)
			_, _ = fmt.Fprintf(tw, "%d\t%d\t%d\t%d\n", idx, parIdx, len(status)-bad, bad)
			continue
		}
		for s, reason := range status {
			if reason != "" {
				_, _ = fmt.Fprintf(tw, "%d\t%d\t%d\t%s\n", idx, parIdx, s, sc.color(31, "bad")+fmt.Sprintf(" (%s)", reason))
			} else if !onlyBad {
				_, _ = fmt.Fprintf(tw, "%d\t%d\t%d\t%s\n", idx, parIdx, s, sc.color(32, "good"))
			}
		}
	}
	_ = tw.Flush()
}

// faults prints `proving faults`: one row per bad sector.
func faults(sc *scenario) {
	fmt.Printf("Miner: %s\n", sc.color(34, sc.Miner))
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "deadline\tpartition\tsectors\texpiration(days)")
	for _, dl := range sortedKeys(sc.Deadlines) {
		for parIdx, par := range sc.Deadlines[strconv.Itoa(dl)] {
			var bad []uint64
			for k := range par.Bad {
				s, _ := strconv.ParseUint(k, 10, 64)
				bad = append(bad, s)
			}
			sort.Slice(bad, func(i, j int) bool { return bad[i] < bad[j] })
			for _, s := range bad {
				_, _ = fmt.Fprintf(tw, "  %d\t%d\t%d\t%v\n", dl, parIdx, s, float64((1200000-3512345)*30)/60/60/24*-1)
			}
		}
	}
	_ = tw.Flush()
}

// info prints `proving info` (venus-sealer proving.go:217-231).
func info(sc *scenario) {
	var faulty, sectors int
	for _, pars := range sc.Deadlines {
		for _, p := range pars {
			faulty += len(p.Bad)
			sectors += len(p.Sectors)
		}
	}
	pct := 0
	if sectors > 0 {
		pct = faulty * 100 / sectors
	}
	fmt.Printf("Sealer: %s\n", sc.color(34, sc.Miner))
	fmt.Printf("Current Epoch:           %d\n", 3512345)
	fmt.Printf("Proving Period Boundary: %d\n", 1200)
	fmt.Printf("Proving Period Start:    %d (%s)\n", 3511920, "3 hours 32 minutes ago")
	fmt.Printf("Next Period Start:       %d (%s)\n\n", 3514800, "in 20 hours 27 minutes")
	fmt.Printf("Faults:      %d (%.2f%%)\n", faulty, float64(pct))
	fmt.Printf("Recovering:  %d\n", 0)
	fmt.Printf("Deadline Index:       %d\n", sc.Current)
	var current int
	for _, p := range sc.Deadlines[strconv.Itoa(sc.Current)] {
		current += len(p.Sectors)
	}
	fmt.Printf("Deadline Sectors:     %d\n", current)
	fmt.Printf("Deadline Open:        %d (%s)\n", 3512340, "2 minutes 30 seconds ago")
	fmt.Printf("Deadline Close:       %d (%s)\n", 3512400, "in 27 minutes 30 seconds")
	fmt.Printf("Deadline Challenge:   %d (%s)\n", 3512320, "12 minutes 30 seconds ago")
	fmt.Printf("Deadline FaultCutoff: %d (%s)\n", 3512270, "37 minutes 30 seconds ago")
}

// deadlines prints `proving deadlines` (venus-sealer proving.go:281-284, :326).
func deadlines(sc *scenario) {
	fmt.Printf("Sealer: %s\n", sc.color(34, sc.Miner))
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "deadline\topen\tpartitions\tsectors (faults)\tproven partitions")
	for dl := 0; dl < 48; dl++ {
		pars := sc.Deadlines[strconv.Itoa(dl)]
		var sectors, faulty int
		for _, p := range pars {
			sectors += len(p.Sectors)
			faulty += len(p.Bad)
		}
		cur := ""
		if dl == sc.Current {
			cur = "\t(current)"
		}
		open := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Add(time.Duration(dl) * 30 * time.Minute).Format("15:04:05")
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%d\t%d (%d)\t%d%s\n", dl, open, len(pars), sectors, faulty, 0, cur)
	}
	_ = tw.Flush()
}

func sortedKeys(m map[string][]partition) []int {
	var out []int
	for k := range m {
		if n, err := strconv.Atoi(k); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// hang starts a child in the process group, reports its pid and sleeps,
// as a command stuck on an unreachable API or a slow disk.
func hang(sc *scenario) error {
	c := exec.Command(os.Args[0])
	c.Env = append(os.Environ(), "FAKE_PROVING_CHILD=sleep")
	if err := c.Start(); err != nil {
		return err
	}
	if sc.PIDFile != "" {
		tmp := sc.PIDFile + ".tmp"
		_ = os.WriteFile(tmp, []byte(strconv.Itoa(c.Process.Pid)), 0o600)
		_ = os.Rename(tmp, sc.PIDFile)
	}
	time.Sleep(time.Hour)
	return nil
}
