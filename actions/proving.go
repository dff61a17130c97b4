package actions

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/proving"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// provingConfig is the configuration of a proving-check action (SPEC §3).
type provingConfig struct {
	Common `yaml:",inline"`
	// Tool is venus-sealer or damocles-manager.
	Tool string `yaml:"tool"`
	// Binary is the program to run; the tool's name (found in PATH) when not set.
	Binary string `yaml:"binary"`
	// Deadline is a template rendered over the firing: the deadline index.
	Deadline string `yaml:"deadline"`
	// OnlyBad lists only the bad sectors; true when not set.
	OnlyBad *bool `yaml:"only_bad"`
	// Miner is damocles-manager's --miner: a template or a literal.
	Miner string `yaml:"miner"`
	// Home is damocles-manager's --home.
	Home string `yaml:"home"`
	// Actor is venus-sealer's proving --actor.
	Actor string `yaml:"actor"`
	// Repo is venus-sealer's --repo.
	Repo string `yaml:"repo"`
	// Slow adds --slow: size checks and a vanilla proof per sector.
	Slow bool `yaml:"slow"`
}

// Caps of what a proving check keeps of the command's output.
const (
	// maxProvingStdout bounds the table read from stdout: some thousands
	// of bad rows with long reasons.
	maxProvingStdout = 4 << 20
	// maxProvingSummary bounds the text for the audit record.
	maxProvingSummary = 2048
	// maxProvingFailureOutput bounds the output kept of a failed run.
	maxProvingFailureOutput = 4096
	// maxQuotedValue bounds a rendered value quoted in an error.
	maxQuotedValue = 64
)

var (
	minerID = regexp.MustCompile(`^(f0|t0)?[0-9]{1,20}$`)
	actorID = regexp.MustCompile(`^[ft]0[0-9]{1,20}$`)
	// floatText is how a template renders a big number taken from a
	// log line's JSON (a float64), e.g. 1.234567e+06.
	floatText = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?e\+[0-9]+$`)
)

// ProvingCheck runs `proving check` of venus-sealer or damocles-manager
// for the deadline a firing names and parses the table it prints.
//
// The deadline (and damocles-manager's miner) are templates over the
// firing, but what runs is built from their values as numbers: a
// rendered deadline that is not an integer from 0 to 47, or a miner that
// is not an actor id, is refused without running anything, so log text
// can add no option and no argument. The command runs in its own process
// group, killed as a whole when the attempt's context ends.
type ProvingCheck struct {
	tool     string
	prog     string
	deadline *event.Template
	miner    *event.Template // damocles-manager only
	opts     proving.CheckOptions
}

// ProvingResult is what a proving check found, for notifications and
// later rules.
type ProvingResult struct {
	// Tool is venus-sealer or damocles-manager.
	Tool string
	// Miner is damocles-manager's --miner ("" for venus-sealer).
	Miner string
	// Deadline is the deadline checked.
	Deadline int
	// OnlyBad is true when good sectors were not listed (Good is then 0).
	OnlyBad bool
	// Truncated is true when the table was longer than venus-medic
	// reads: the counts and the list are then lower bounds.
	Truncated bool
	proving.Check
}

// Map returns the result as template and rule data: tool, miner,
// deadline, bad_count, bad_sectors (the numbers), bad (a list of
// partition, sector and reason), good (when good sectors were listed),
// only_bad, truncated.
func (r *ProvingResult) Map() map[string]any {
	bad := make([]any, len(r.Bad))
	nums := make([]any, len(r.Bad))
	for i, b := range r.Bad {
		bad[i] = map[string]any{"partition": b.Partition, "sector": b.Sector, "reason": b.Reason}
		nums[i] = b.Sector
	}
	m := map[string]any{
		"tool": r.Tool, "deadline": r.Deadline, "bad_count": r.BadCount,
		"bad_sectors": nums, "bad": bad, "only_bad": r.OnlyBad, "truncated": r.Truncated,
	}
	if r.Miner != "" {
		m["miner"] = r.Miner
	}
	if !r.OnlyBad || !r.Detail {
		m["good"] = r.Good
	}
	return m
}

// Resulter is implemented by actions whose runs produce structured
// results (proving-check: the bad sectors). DoResult does what
// Outputter's DoOutput does and also returns the result as data (nil
// when the attempt failed).
type Resulter interface {
	DoResult(ctx context.Context, f event.Firing) (result map[string]any, output string, retry bool, err error)
}

var (
	_ Outputter = (*ProvingCheck)(nil)
	_ Resulter  = (*ProvingCheck)(nil)
)

func newProvingCheck(s *spec) (Action, error) {
	var c provingConfig
	if err := s.decode(&c); err != nil {
		return nil, err
	}
	p, err := c.validate(s)
	if err != nil {
		return nil, err // not a typed nil in an Action
	}
	return p, nil
}

// validate checks the configuration and parses its templates.
func (c *provingConfig) validate(s *spec) (*ProvingCheck, error) {
	var errs []error
	tools := []string{proving.VenusSealer, proving.DamoclesManager}
	p := &ProvingCheck{tool: c.Tool, opts: proving.CheckOptions{OnlyBad: c.OnlyBad == nil || *c.OnlyBad, Slow: c.Slow}}
	switch c.Tool {
	case proving.VenusSealer, proving.DamoclesManager:
	case "":
		errs = append(errs, s.errAt(s.value("tool"), "proving-check %q needs tool: venus-sealer or damocles-manager", s.name))
	default:
		msg := fmt.Sprintf("unknown tool %q: use venus-sealer or damocles-manager", c.Tool)
		if sg := yamlconf.Suggest(c.Tool, tools); sg != "" {
			msg += fmt.Sprintf("; did you mean %q?", sg)
		}
		errs = append(errs, s.errAt(s.value("tool"), "%s", msg))
	}

	p.prog = c.Tool
	if _, v := s.pair("binary"); v != nil {
		switch {
		case strings.TrimSpace(c.Binary) == "":
			errs = append(errs, s.errAt(v, "binary must not be empty: leave it out to run %s from PATH", orTool(c.Tool)))
		case strings.Contains(c.Binary, "{{"):
			errs = append(errs, s.errAt(v, "binary must be written out, not a template: log text must not choose what runs"))
		case strings.Contains(c.Binary, "/"):
			p.prog = s.path(c.Binary)
		default:
			p.prog = c.Binary
		}
	}

	// The deadline: a template; written out, it is checked now.
	if _, v := s.pair("deadline"); v == nil || strings.TrimSpace(c.Deadline) == "" {
		errs = append(errs, s.errAt(s.value("deadline"), `proving-check %q needs deadline: the deadline index to check, e.g. '{{ field "decl-index" }}' or '{{ capture "idx" }}'`, s.name))
	} else if t, err := s.template("deadline template", v, c.Deadline); err != nil {
		errs = append(errs, err)
	} else if !strings.Contains(c.Deadline, "{{") {
		if _, err := deadlineValue(c.Deadline); err != nil {
			errs = append(errs, s.errAt(v, "%v", err))
		}
		p.deadline = t
	} else {
		p.deadline = t
	}

	// The keys of the other tool are mistakes, not ignored.
	wrong := func(key, other string) {
		if k, _ := s.pair(key); k != nil {
			errs = append(errs, s.errAt(k, "%s is a key of %s, not of %s%s", key, otherTool(c.Tool), c.Tool, other))
		}
	}
	literal := func(key, val string) (string, bool) {
		_, v := s.pair(key)
		if v == nil {
			return "", false
		}
		switch {
		case strings.TrimSpace(val) == "":
			errs = append(errs, s.errAt(v, "%s must not be empty: leave it out for the default", key))
		case strings.Contains(val, "{{"):
			errs = append(errs, s.errAt(v, "%s must be written out, not a template", key))
		default:
			return val, true
		}
		return "", false
	}
	switch c.Tool {
	case proving.VenusSealer:
		wrong("miner", ": venus-sealer checks its own actor (actor sets proving --actor)")
		wrong("home", ": venus-sealer's repository is repo")
		if a, ok := literal("actor", c.Actor); ok {
			if !actorID.MatchString(a) {
				errs = append(errs, s.errAt(s.value("actor"), "actor must be a miner's id address, e.g. f01234, got %q", a))
			}
			p.opts.Actor = a
		}
		if r, ok := literal("repo", c.Repo); ok {
			p.opts.Repo = repoPath(s, r)
		}
	case proving.DamoclesManager:
		wrong("actor", ": damocles-manager's is miner")
		wrong("repo", ": damocles-manager's home is home")
		_, v := s.pair("miner")
		switch {
		case v == nil || strings.TrimSpace(c.Miner) == "":
			errs = append(errs, s.errAt(s.value("miner"), `proving-check %q with damocles-manager needs miner: the miner id, e.g. 1234, f01234 or '{{ field "mid" }}'`, s.name))
		default:
			t, err := s.template("miner template", v, c.Miner)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if !strings.Contains(c.Miner, "{{") {
				if _, err := minerValue(c.Miner); err != nil {
					errs = append(errs, s.errAt(v, "%v", err))
				}
			}
			p.miner = t
		}
		if h, ok := literal("home", c.Home); ok {
			p.opts.Home = repoPath(s, h)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func orTool(t string) string {
	if t == "" {
		return "the tool"
	}
	return t
}

func otherTool(t string) string {
	if t == proving.VenusSealer {
		return proving.DamoclesManager
	}
	return proving.VenusSealer
}

// repoPath resolves a repository or home directory like other paths of
// the configuration; one starting with ~ is left to the tool, which
// expands it.
func repoPath(s *spec, p string) string {
	if strings.HasPrefix(p, "~") {
		return p
	}
	return s.path(p)
}

// quoteValue quotes a rendered value for an error, cut when long.
func quoteValue(v string) string {
	if len(v) > maxQuotedValue {
		return strconv.Quote(capText(v, maxQuotedValue))
	}
	return strconv.Quote(v)
}

// deadlineValue reads a rendered deadline: an integer from 0 to 47.
func deadlineValue(v string) (int, error) {
	t := strings.TrimSpace(integral(strings.TrimSpace(v)))
	if len(t) > 0 && len(t) <= 2 && isDigits(t) {
		if n, _ := strconv.Atoi(t); n < proving.Deadlines {
			return n, nil
		}
	}
	return 0, fmt.Errorf("deadline must be an integer from 0 to %d, got %s", proving.Deadlines-1, quoteValue(v))
}

// minerValue reads a rendered miner: an actor id, 1234 or f01234.
func minerValue(v string) (string, error) {
	t := integral(strings.TrimSpace(v))
	if !minerID.MatchString(t) {
		return "", fmt.Errorf("miner must be a miner id such as 1234 or f01234, got %s", quoteValue(v))
	}
	return t, nil
}

// integral turns a whole number that a template rendered from a float64
// in exponent form (1.234567e+06) back into its digits; other text is
// returned as is.
func integral(v string) string {
	if !floatText.MatchString(v) {
		return v
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != math.Trunc(f) || f > 1<<53 {
		return v
	}
	return strconv.FormatUint(uint64(f), 10)
}

// String describes the action.
func (p *ProvingCheck) String() string { return "proving-check " + p.tool }

// name names the command in errors.
func (p *ProvingCheck) name() string { return p.tool + " proving check" }

// Do runs the check once.
func (p *ProvingCheck) Do(ctx context.Context, f event.Firing) (retry bool, err error) {
	_, _, retry, err = p.Run(ctx, f)
	return retry, err
}

// DoOutput runs the check once; the output is a short account of what
// it found, e.g. "deadline 7: 2 bad sectors: 1001 (…), 12003 (…)".
func (p *ProvingCheck) DoOutput(ctx context.Context, f event.Firing) (output string, retry bool, err error) {
	_, output, retry, err = p.Run(ctx, f)
	return output, retry, err
}

// DoResult runs the check once and also returns ProvingResult.Map.
func (p *ProvingCheck) DoResult(ctx context.Context, f event.Firing) (result map[string]any, output string, retry bool, err error) {
	r, output, retry, err := p.Run(ctx, f)
	if r != nil {
		result = r.Map()
	}
	return result, output, retry, err
}

// Run runs the check once for firing f. The command exits 0 whether or
// not sectors are bad: then the table is the result, and one that does
// not parse is a failure not worth retrying. A non-zero exit is a
// failure carrying the tool's error line, worth retrying unless it is a
// usage error; so is an unreachable damocles-manager. A deadline or
// miner that does not render to a valid value is refused without
// running anything, and not retried. The output is the short account
// of the result, or on a failure the start of the command's output.
func (p *ProvingCheck) Run(ctx context.Context, f event.Firing) (res *ProvingResult, output string, retry bool, err error) {
	v, err := p.deadline.Render(&f)
	if err != nil {
		return nil, "", false, fmt.Errorf("%s: deadline: %w", p.name(), err)
	}
	ddl, err := deadlineValue(v)
	if err != nil {
		return nil, "", false, fmt.Errorf("%s: %w: nothing was run", p.name(), err)
	}
	opts := p.opts
	if p.miner != nil {
		v, err := p.miner.Render(&f)
		if err != nil {
			return nil, "", false, fmt.Errorf("%s: miner: %w", p.name(), err)
		}
		if opts.Miner, err = minerValue(v); err != nil {
			return nil, "", false, fmt.Errorf("%s: %w: nothing was run", p.name(), err)
		}
	}
	args, err := proving.CheckArgs(p.tool, ddl, opts)
	if err != nil {
		return nil, "", false, fmt.Errorf("%s: %w", p.name(), err)
	}

	cmd := exec.CommandContext(ctx, p.prog, args...)
	stdout := &cappedOutput{max: maxProvingStdout}
	stderr := &cappedOutput{max: MaxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	runErr := runGroup(cmd)
	outText, cut := kept(stdout)
	errText, _ := kept(stderr)

	if runErr != nil {
		output = failureOutput(outText, errText)
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil || !errors.As(runErr, &ee) || ee.ExitCode() < 0:
			retry, err = runError(ctx, p.name(), cmd, runErr, time.Since(start), "")
		case strings.Contains(errText, "SealerCliAPI client unavailable"):
			retry, err = true, fmt.Errorf("%s: damocles-manager is not reachable: the check needs the running manager's API (exit status %d)", p.name(), ee.ExitCode())
		default:
			line := errorLine(errText, outText)
			retry = !usageError(line)
			err = fmt.Errorf("%s: exit status %d: %s", p.name(), ee.ExitCode(), line)
		}
		return nil, output, retry, err
	}

	if cut {
		// Parse the complete lines; the rest is counted as cut.
		if i := strings.LastIndexByte(outText, '\n'); i >= 0 {
			outText = outText[:i+1]
		}
	}
	c, err := proving.ParseCheck(outText)
	if err == nil && c.Deadline >= 0 && c.Deadline != ddl {
		err = fmt.Errorf("rows of deadline %d for a check of deadline %d", c.Deadline, ddl)
	}
	if err != nil {
		return nil, failureOutput(outText, errText), false, fmt.Errorf("unexpected output from %s: %w", p.name(), err)
	}
	c.Deadline = ddl
	res = &ProvingResult{Tool: p.tool, Miner: opts.Miner, Deadline: ddl, OnlyBad: opts.OnlyBad, Truncated: cut, Check: *c}
	return res, res.Summary(), false, nil
}

// kept returns what c kept and whether some was cut.
func kept(c *cappedOutput) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String(), c.dropped > 0
}

// failureOutput is the start of a failed run's output, for the record.
func failureOutput(stdout, stderr string) string {
	var b strings.Builder
	if s := strings.TrimSpace(stdout); s != "" {
		b.WriteString("stdout:\n" + s + "\n")
	}
	if s := strings.TrimSpace(stderr); s != "" {
		b.WriteString("stderr:\n" + s + "\n")
	}
	return capText(strings.ToValidUTF8(proving.StripANSI(b.String()), "\uFFFD"), maxProvingFailureOutput)
}

// goLogError is a go-log line at ERROR: time, level, logger, caller, message.
var goLogError = regexp.MustCompile(`^\S+\tERROR\t[^\t]*\t[^\t]*\t(.*)$`)

// errorLine picks the line that says why a command failed: venus-sealer's
// `ERROR: <err>`, damocles-manager's go-log ERROR line, a panic's first
// line, or else the first line of stderr (of stdout when stderr is empty).
func errorLine(stderr, stdout string) string {
	pick := func(s string) string {
		var first string
		for _, l := range strings.Split(proving.StripANSI(s), "\n") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			if first == "" {
				first = l
			}
			if m := goLogError.FindStringSubmatch(l); m != nil {
				return m[1]
			}
			if strings.HasPrefix(l, "ERROR: ") || strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "Incorrect Usage") {
				return strings.TrimPrefix(l, "ERROR: ")
			}
		}
		return first
	}
	l := pick(stderr)
	if l == "" {
		l = pick(stdout)
	}
	if l == "" {
		return "no output"
	}
	return capText(strings.ToValidUTF8(l, "\uFFFD"), maxStderrInError)
}

// usageError reports whether an error line says the command line was
// wrong: running it again cannot help.
func usageError(line string) bool {
	for _, s := range []string{"flag provided but not defined", "Incorrect Usage", "incorrect number of arguments", "must pass deadline index", "No help topic"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// Summary is a short account of the result, e.g. "deadline 7: 2 bad
// sectors: 1001 (stat …: no such file or directory), 12003 (…)".
func (r *ProvingResult) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deadline %d: ", r.Deadline)
	more := ""
	if r.Truncated {
		more = "at least "
	}
	switch {
	case r.BadCount == 0:
		b.WriteString("no bad sectors")
	case r.BadCount == 1:
		fmt.Fprintf(&b, "%s1 bad sector", more)
	default:
		fmt.Fprintf(&b, "%s%d bad sectors", more, r.BadCount)
	}
	if !r.OnlyBad || !r.Detail {
		fmt.Fprintf(&b, " (%d good)", r.Good)
	}
	if !r.Detail && r.BadCount > 0 {
		var parts []string
		for _, pc := range r.Partitions {
			if pc.Bad > 0 {
				parts = append(parts, fmt.Sprintf("partition %d: %d", pc.Partition, pc.Bad))
			}
		}
		b.WriteString(": " + strings.Join(parts, ", "))
	}
	for i, s := range r.Bad {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		item := fmt.Sprintf("%s%d (%s)", sep, s.Sector, shortReason(s.Reason))
		if b.Len()+len(item) > maxProvingSummary-32 {
			fmt.Fprintf(&b, ", … and %d more", len(r.Bad)-i)
			break
		}
		b.WriteString(item)
	}
	if r.Truncated {
		b.WriteString(" [output cut]")
	}
	return b.String()
}

// shortReason shortens a reason for the summary: one line, its start and
// its end (where the cause usually is).
func shortReason(r string) string {
	r = strings.Join(strings.Fields(r), " ")
	const head, tail = 48, 48
	if len(r) <= head+tail+8 {
		return r
	}
	h, t := r[:head], r[len(r)-tail:]
	for len(h) > 0 && !utf8.ValidString(h) {
		h = h[:len(h)-1]
	}
	for len(t) > 0 && !utf8.ValidString(t) {
		t = t[1:]
	}
	return h + "…" + t
}
