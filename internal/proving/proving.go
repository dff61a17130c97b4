// Package proving knows the proving commands of venus-sealer and
// damocles-manager: the command lines that run them and the tables they
// print (check, faults, info, deadlines).
//
// The parsers take a command's stdout as it is. Colour codes are removed
// first; anything that is not the expected table is a *ParseError naming
// the line, never a panic and never a silently empty result.
package proving

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The tools whose proving commands are known.
const (
	VenusSealer     = "venus-sealer"
	DamoclesManager = "damocles-manager"
)

// Deadlines is the number of WindowPoSt deadlines in a proving period:
// valid indexes are 0 to Deadlines-1.
const Deadlines = 48

// FaultDeadline is the deadline whose faults are declared while deadline
// current is open: (current + 2) mod 48. venus-sealer's `DETECTED FAULTY
// SECTORS` line names no deadline; it is this one for `proving info`'s
// Deadline Index.
func FaultDeadline(current int) int { return (current + 2) % Deadlines }

// CheckOptions are the options of a `proving check` run.
type CheckOptions struct {
	// Repo is venus-sealer's --repo ("" for its default).
	Repo string
	// Actor is venus-sealer's `proving --actor` ("" for the sealer's own).
	Actor string
	// Home is damocles-manager's --home ("" for its default).
	Home string
	// Miner is damocles-manager's `proving --miner`: required there.
	Miner string
	// OnlyBad prints only the bad sectors.
	OnlyBad bool
	// Slow also checks sizes and generates a vanilla proof per sector.
	Slow bool
}

// CheckArgs returns the arguments after the program for `proving check`
// of deadline on tool. Group flags come before the sub-command, as
// urfave/cli v2 wants them; damocles-manager gets --detail, without which
// it prints counts per partition and no sectors.
func CheckArgs(tool string, deadline int, o CheckOptions) ([]string, error) {
	if deadline < 0 || deadline >= Deadlines {
		return nil, fmt.Errorf("deadline %d is not between 0 and %d", deadline, Deadlines-1)
	}
	var args []string
	switch tool {
	case VenusSealer:
		if o.Repo != "" {
			args = append(args, "--repo", o.Repo)
		}
		args = append(args, "proving")
		if o.Actor != "" {
			args = append(args, "--actor", o.Actor)
		}
		args = append(args, "check")
	case DamoclesManager:
		if o.Miner == "" {
			return nil, fmt.Errorf("damocles-manager proving needs a miner")
		}
		if o.Home != "" {
			args = append(args, "--home", o.Home)
		}
		args = append(args, "util", "sealer", "proving", "--miner", o.Miner, "check", "--detail")
	default:
		return nil, fmt.Errorf("unknown tool %q: use %s or %s", tool, VenusSealer, DamoclesManager)
	}
	if o.OnlyBad {
		args = append(args, "--only-bad")
	}
	if o.Slow {
		args = append(args, "--slow")
	}
	return append(args, strconv.Itoa(deadline)), nil
}

// ParseError is output that is not the table a command prints.
type ParseError struct {
	// What names the output: "proving check", "proving faults", ...
	What string
	// Line is the 1-based number of the offending line, 0 for the output
	// as a whole.
	Line int
	// Text is the offending line (cut when long).
	Text string
	// Msg says what was expected.
	Msg string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s output: %s", e.What, e.Msg)
	}
	return fmt.Sprintf("%s output line %d: %s: %q", e.What, e.Line, e.Msg, e.Text)
}

// maxQuoted caps a line quoted in a ParseError.
const maxQuoted = 120

func parseErr(what string, n int, line, msg string) *ParseError {
	if len(line) > maxQuoted {
		line = strings.ToValidUTF8(line[:maxQuoted], "") + "…"
	}
	return &ParseError{What: what, Line: n, Text: line, Msg: msg}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// StripANSI removes terminal colour and cursor codes.
func StripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	return ansi.ReplaceAllString(s, "")
}

// lines splits out into lines without colour codes, carriage returns or
// trailing blanks.
func lines(out string) []string {
	ls := strings.Split(StripANSI(strings.ToValidUTF8(out, "\uFFFD")), "\n")
	for i, l := range ls {
		ls[i] = strings.TrimRight(l, " \t\r")
	}
	for len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	return ls
}

// atoi converts a string of digits known to match \d+; values too big
// for an int are errors.
func atoi(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("number %s out of range", s)
	}
	return n, nil
}

// ---- proving check ----

// BadSector is one bad row of `proving check`.
type BadSector struct {
	Partition int
	Sector    int
	// Reason is the check's error text, possibly of several lines.
	Reason string
}

// PartitionCount is one row of damocles-manager's check without
// --detail: the good and bad sectors of a partition.
type PartitionCount struct {
	Partition int
	Good, Bad int
}

// Check is the parsed output of `proving check N`.
type Check struct {
	// Deadline is the deadline of the rows; -1 when there is no row.
	Deadline int
	// Detail is true for the per-sector table (venus-sealer, damocles
	// with --detail), false for damocles' per-partition counts.
	Detail bool
	// Bad are the bad sectors, by partition and sector (the tools print
	// them in random order). Empty without Detail.
	Bad []BadSector
	// Good and BadCount count the good and bad sectors. With --only-bad
	// good sectors are not printed and Good is 0.
	Good, BadCount int
	// Partitions are the per-partition counts, without Detail.
	Partitions []PartitionCount
}

// Sectors returns the numbers of the bad sectors.
func (c *Check) Sectors() []int {
	out := make([]int, len(c.Bad))
	for i, b := range c.Bad {
		out[i] = b.Sector
	}
	return out
}

var (
	checkDetailHeader  = regexp.MustCompile(`^deadline\s+partition\s+sector\s+status$`)
	checkSummaryHeader = regexp.MustCompile(`^deadline\s+partition\s+good\s+bad$`)
	// The reason may go on over the following lines, so its closing
	// parenthesis is looked for at the end of the row's text.
	checkDetailRow  = regexp.MustCompile(`^(\d+)\s+(\d+)\s+(\d+)\s+(bad|good)(?: \((.*))?$`)
	checkSummaryRow = regexp.MustCompile(`^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`)
)

// ParseCheck parses the output of `proving check N`: the detail table
// `deadline partition sector status` with `bad (<reason>)` and `good`
// rows, or damocles' `deadline partition good bad` counts. A line that
// is not a row continues the previous bad row's reason. Only the header
// is a check that found nothing bad.
func ParseCheck(out string) (*Check, error) {
	const what = "proving check"
	ls := lines(out)
	start := 0
	for start < len(ls) && ls[start] == "" {
		start++
	}
	if start == len(ls) {
		return nil, parseErr(what, 0, "", "empty: no table")
	}
	c := &Check{Deadline: -1}
	head := strings.TrimSpace(ls[start])
	switch {
	case checkDetailHeader.MatchString(head):
		c.Detail = true
	case checkSummaryHeader.MatchString(head):
	default:
		return nil, parseErr(what, start+1, ls[start], `want the header "deadline  partition  sector  status" (or "deadline  partition  good  bad")`)
	}
	setDeadline := func(n int, l, s string) error {
		d, err := atoi(s)
		if err != nil || d >= Deadlines {
			return parseErr(what, n, l, "deadline out of range")
		}
		if c.Deadline >= 0 && d != c.Deadline {
			return parseErr(what, n, l, fmt.Sprintf("a row of deadline %d after rows of deadline %d", d, c.Deadline))
		}
		c.Deadline = d
		return nil
	}
	var reason []string // lines of the last bad row's reason
	last := -1          // index in c.Bad of the row reason belongs to
	flush := func() {
		if last < 0 {
			return
		}
		for len(reason) > 1 && strings.TrimSpace(reason[len(reason)-1]) == "" {
			reason = reason[:len(reason)-1]
		}
		r := strings.Join(reason, "\n")
		c.Bad[last].Reason = strings.TrimSuffix(r, ")")
		last, reason = -1, nil
	}
	for i := start + 1; i < len(ls); i++ {
		l, n := ls[i], i+1
		if !c.Detail {
			if l == "" {
				continue
			}
			m := checkSummaryRow.FindStringSubmatch(l)
			if m == nil {
				return nil, parseErr(what, n, l, "not a row of deadline, partition, good and bad counts")
			}
			if err := setDeadline(n, l, m[1]); err != nil {
				return nil, err
			}
			p, err1 := atoi(m[2])
			g, err2 := atoi(m[3])
			b, err3 := atoi(m[4])
			if err1 != nil || err2 != nil || err3 != nil {
				return nil, parseErr(what, n, l, "number out of range")
			}
			c.Partitions = append(c.Partitions, PartitionCount{Partition: p, Good: g, Bad: b})
			c.Good += g
			c.BadCount += b
			continue
		}
		m := checkDetailRow.FindStringSubmatch(l)
		if m == nil {
			if last >= 0 {
				reason = append(reason, l)
				continue
			}
			if l == "" {
				continue
			}
			return nil, parseErr(what, n, l, "not a row of deadline, partition, sector and status")
		}
		flush()
		if err := setDeadline(n, l, m[1]); err != nil {
			return nil, err
		}
		p, err1 := atoi(m[2])
		s, err2 := atoi(m[3])
		if err1 != nil || err2 != nil {
			return nil, parseErr(what, n, l, "number out of range")
		}
		if m[4] == "good" {
			if strings.Contains(l, "(") {
				return nil, parseErr(what, n, l, "a good row with a reason")
			}
			c.Good++
			continue
		}
		c.Bad = append(c.Bad, BadSector{Partition: p, Sector: s})
		c.BadCount++
		last, reason = len(c.Bad)-1, []string{m[5]}
	}
	flush()
	sort.SliceStable(c.Bad, func(i, j int) bool {
		a, b := c.Bad[i], c.Bad[j]
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Sector < b.Sector
	})
	sort.SliceStable(c.Partitions, func(i, j int) bool { return c.Partitions[i].Partition < c.Partitions[j].Partition })
	return c, nil
}

// ---- proving faults ----

// Fault is one row of `proving faults`: one faulty sector.
type Fault struct {
	Deadline, Partition, Sector int
	// ExpirationDays is how many days until the fault expires the sector.
	ExpirationDays float64
}

// Faults is the parsed output of `proving faults`.
type Faults struct {
	// Miner is the address on the `Miner:` line.
	Miner string
	// Sectors are the faulty sectors, one per row, in printed order.
	Sectors []Fault
}

var (
	faultsMiner  = regexp.MustCompile(`^Miner:\s+(\S+)$`)
	faultsHeader = regexp.MustCompile(`^\s*deadline\s+partition\s+sectors\s+expiration\(days\)$`)
	faultsRow    = regexp.MustCompile(`^\s*(\d+)\s+(\d+)\s+(\d+)\s+(-?[0-9.]+(?:e[+-]\d+)?)$`)
)

// ParseFaults parses the output of `proving faults`: a `Miner: f0…`
// line, the header and one row per faulty sector.
func ParseFaults(out string) (*Faults, error) {
	const what = "proving faults"
	ls := lines(out)
	f := &Faults{}
	i := 0
	for i < len(ls) && ls[i] == "" {
		i++
	}
	if i == len(ls) {
		return nil, parseErr(what, 0, "", "empty: no Miner line")
	}
	m := faultsMiner.FindStringSubmatch(ls[i])
	if m == nil {
		return nil, parseErr(what, i+1, ls[i], `want "Miner: <address>"`)
	}
	f.Miner = m[1]
	i++
	if i == len(ls) {
		return nil, parseErr(what, 0, "", "no table after the Miner line")
	}
	if !faultsHeader.MatchString(ls[i]) {
		return nil, parseErr(what, i+1, ls[i], `want the header "deadline  partition  sectors  expiration(days)"`)
	}
	for i++; i < len(ls); i++ {
		l := ls[i]
		if l == "" {
			continue
		}
		m := faultsRow.FindStringSubmatch(l)
		if m == nil {
			return nil, parseErr(what, i+1, l, "not a row of deadline, partition, sector and expiration")
		}
		d, err1 := atoi(m[1])
		p, err2 := atoi(m[2])
		s, err3 := atoi(m[3])
		exp, err4 := strconv.ParseFloat(m[4], 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || d >= Deadlines {
			return nil, parseErr(what, i+1, l, "number out of range")
		}
		f.Sectors = append(f.Sectors, Fault{Deadline: d, Partition: p, Sector: s, ExpirationDays: exp})
	}
	return f, nil
}

// ---- proving info ----

// Info is the parsed output of `proving info`.
type Info struct {
	// Values holds every `Key: value` line as printed, without the
	// colour codes (e.g. "Deadline Open": "3512340 (2 minutes 30 seconds ago)").
	Values map[string]string
	// Miner is the `Sealer:` (or `Miner:`) line's address.
	Miner         string
	CurrentEpoch  int64
	DeadlineIndex int
	// Faults and Recovering count sectors.
	Faults, Recovering int
}

var infoLine = regexp.MustCompile(`^([A-Z][A-Za-z ]*):\s*(.*)$`)

// ParseInfo parses the output of `proving info`: `Key: value` lines, of
// which Deadline Index is required.
func ParseInfo(out string) (*Info, error) {
	const what = "proving info"
	inf := &Info{Values: map[string]string{}}
	lineOf := map[string]int{}
	for i, l := range lines(out) {
		if strings.TrimSpace(l) == "" {
			continue
		}
		m := infoLine.FindStringSubmatch(l)
		if m == nil {
			return nil, parseErr(what, i+1, l, `not a "Key: value" line`)
		}
		inf.Values[m[1]] = m[2]
		lineOf[m[1]] = i + 1
	}
	// leading returns the number at the start of key's value.
	leading := func(key string, required bool) (int64, error) {
		v, ok := inf.Values[key]
		if !ok {
			if required {
				return 0, parseErr(what, 0, "", "no "+key+" line")
			}
			return 0, nil
		}
		f, _, _ := strings.Cut(v, " ")
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, parseErr(what, lineOf[key], key+": "+v, key+" is not a number")
		}
		return n, nil
	}
	inf.Miner = inf.Values["Sealer"]
	if inf.Miner == "" {
		inf.Miner = inf.Values["Miner"]
	}
	idx, err := leading("Deadline Index", true)
	if err != nil {
		return nil, err
	}
	if idx < 0 || idx >= Deadlines {
		return nil, parseErr(what, lineOf["Deadline Index"], "Deadline Index: "+inf.Values["Deadline Index"], "deadline index out of range")
	}
	inf.DeadlineIndex = int(idx)
	if inf.CurrentEpoch, err = leading("Current Epoch", false); err != nil {
		return nil, err
	}
	n, err := leading("Faults", false)
	if err != nil {
		return nil, err
	}
	inf.Faults = int(n)
	if n, err = leading("Recovering", false); err != nil {
		return nil, err
	}
	inf.Recovering = int(n)
	return inf, nil
}

// ---- proving deadlines ----

// DeadlineRow is one row of `proving deadlines`.
type DeadlineRow struct {
	Deadline int
	// Open is the local wall-clock time the deadline opens, as printed.
	Open             string
	Partitions       int
	Sectors, Faults  int
	ProvenPartitions int
	Current          bool
}

// DeadlineTable is the parsed output of `proving deadlines`.
type DeadlineTable struct {
	// Miner is the `Sealer:` (or `Miner:`) line's address, "" without one.
	Miner string
	Rows  []DeadlineRow
}

// Current returns the current deadline's row, nil when none is marked.
func (t *DeadlineTable) Current() *DeadlineRow {
	for i := range t.Rows {
		if t.Rows[i].Current {
			return &t.Rows[i]
		}
	}
	return nil
}

var (
	deadlinesMiner  = regexp.MustCompile(`^(?:Sealer|Miner):\s+(\S+)$`)
	deadlinesHeader = regexp.MustCompile(`^deadline\s+open\s+partitions\s+sectors \(faults\)\s+proven partitions$`)
	deadlinesRow    = regexp.MustCompile(`^(\d+)\s+(\S*)\s+(\d+)\s+(\d+) \((\d+)\)\s+(\d+)(\s+\(current\))?$`)
)

// ParseDeadlines parses the output of `proving deadlines`.
func ParseDeadlines(out string) (*DeadlineTable, error) {
	const what = "proving deadlines"
	ls := lines(out)
	t := &DeadlineTable{}
	i := 0
	for i < len(ls) && ls[i] == "" {
		i++
	}
	if i < len(ls) {
		if m := deadlinesMiner.FindStringSubmatch(ls[i]); m != nil {
			t.Miner = m[1]
			i++
		}
	}
	if i == len(ls) {
		return nil, parseErr(what, 0, "", "no table")
	}
	if !deadlinesHeader.MatchString(ls[i]) {
		return nil, parseErr(what, i+1, ls[i], `want the header "deadline  open  partitions  sectors (faults)  proven partitions"`)
	}
	for i++; i < len(ls); i++ {
		l := ls[i]
		if l == "" {
			continue
		}
		m := deadlinesRow.FindStringSubmatch(l)
		if m == nil {
			return nil, parseErr(what, i+1, l, "not a row of deadline, open, partitions, sectors (faults) and proven partitions")
		}
		var n [5]int
		for k, s := range []string{m[1], m[3], m[4], m[5], m[6]} {
			v, err := atoi(s)
			if err != nil {
				return nil, parseErr(what, i+1, l, "number out of range")
			}
			n[k] = v
		}
		if n[0] >= Deadlines {
			return nil, parseErr(what, i+1, l, "deadline out of range")
		}
		t.Rows = append(t.Rows, DeadlineRow{
			Deadline: n[0], Open: m[2], Partitions: n[1], Sectors: n[2], Faults: n[3],
			ProvenPartitions: n[4], Current: m[7] != "",
		})
	}
	return t, nil
}
