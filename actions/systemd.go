package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// systemdConfig is the configuration of a systemd-restart action (SPEC §3).
type systemdConfig struct {
	Common `yaml:",inline"`
	// Unit is the unit to restart, a template rendered over the firing.
	Unit string `yaml:"unit"`
	// Max is the flap guard; DefaultRestartMax when not set.
	Max *restartMax `yaml:"max"`
	// VerifyActive checks after the restart that the unit became active
	// (default true).
	VerifyActive *bool `yaml:"verify_active"`
	// Systemctl is the systemctl program (default "systemctl", from PATH).
	Systemctl string `yaml:"systemctl"`
}

// restartMax is at most Count restarts of a unit in any window of Within.
type restartMax struct {
	Count  int               `yaml:"count"`
	Within yamlconf.Duration `yaml:"within"`
}

// Defaults of the flap guard: at most 3 restarts per unit in any hour.
const (
	DefaultRestartCount  = 3
	DefaultRestartWithin = time.Hour
)

// activeWait is how long a restarted unit has to become active, and
// activePoll how often it is asked.
const (
	activeWait = 10 * time.Second
	activePoll = 250 * time.Millisecond
)

// unitName is systemd's unit name syntax: letters, digits and ":_.\@-".
// A name also may not start with "-" (an option) or "." (a path), and
// is at most 255 bytes.
var unitName = regexp.MustCompile(`^[A-Za-z0-9:_\\@][A-Za-z0-9:_.\\@-]*$`)

// unitTypes are systemd's unit types, the suffixes systemctl does not
// complete with ".service".
var unitTypes = []string{"service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "slice", "scope"}

// SystemdRestart restarts a systemd unit with `systemctl restart UNIT`
// (an argv, never a shell), then, unless verify_active is off, polls
// `systemctl is-active UNIT` until the unit is active, for up to 10s.
//
// The unit may be a template over the firing; what it renders to must be
// one valid unit name, and a service: log text can neither pass an option
// to systemctl nor name another kind of unit (reboot.target). A unit
// written out in the configuration may be of any type.
//
// The flap guard allows at most count restarts of a unit in any window
// of within (wall-clock time); beyond it, the action refuses without
// running anything, and the refusal is not retried: escalation is the
// rules' business. A restart that failed is not retried either. The
// history of restarts is kept in memory; Snapshot and Restore carry it
// across a restart of venus-medic.
type SystemdRestart struct {
	systemctl string
	unit      *event.Template
	literal   bool // unit has no template actions: written by the operator
	count     int
	within    time.Duration
	verify    bool
	wait      time.Duration // how long is-active is polled
	now       func() time.Time

	mu       sync.Mutex
	restarts map[string][]time.Time // by unit (with its type suffix), oldest first
}

func newSystemdRestart(s *spec) (Action, error) {
	var c systemdConfig
	if err := s.decode(&c); err != nil {
		return nil, err
	}
	x, err := c.validate(s)
	if err != nil {
		return nil, err // not a typed nil in an Action
	}
	return x, nil
}

// validate checks the configuration and parses the unit template.
func (c *systemdConfig) validate(s *spec) (*SystemdRestart, error) {
	var errs []error
	x := &SystemdRestart{
		systemctl: "systemctl",
		count:     DefaultRestartCount,
		within:    DefaultRestartWithin,
		verify:    c.VerifyActive == nil || *c.VerifyActive,
		wait:      activeWait,
		now:       time.Now,
		restarts:  map[string][]time.Time{},
	}
	switch {
	case strings.TrimSpace(c.Unit) == "":
		errs = append(errs, s.errAt(s.value("unit"), "systemd-restart %q needs unit: the unit to restart, e.g. venus-wallet.service", s.name))
	default:
		t, err := s.template("unit template", s.value("unit"), c.Unit)
		if err != nil {
			errs = append(errs, err)
			break
		}
		x.unit = t
		if !strings.Contains(c.Unit, "{{") {
			x.literal = true
			if err := checkUnit(c.Unit, true); err != nil {
				errs = append(errs, s.errAt(s.value("unit"), "unit: %v", err))
			}
		}
	}
	if m := c.Max; m != nil {
		mn := s.value("max")
		if _, v := yamlconf.Pair(mn, "count"); v != nil {
			if m.Count < 1 {
				errs = append(errs, s.errAt(v, "max count must be at least 1, got %d", m.Count))
			}
			x.count = m.Count
		}
		if _, v := yamlconf.Pair(mn, "within"); v != nil {
			if m.Within <= 0 {
				errs = append(errs, s.errAt(v, "max within must be a duration longer than 0, e.g. 1h"))
			}
			x.within = m.Within.D()
		}
	}
	if _, v := s.pair("systemctl"); v != nil {
		switch {
		case strings.TrimSpace(c.Systemctl) == "":
			errs = append(errs, s.errAt(v, "systemctl must not be empty"))
		case strings.Contains(c.Systemctl, "{{"):
			errs = append(errs, s.errAt(v, "systemctl must be written out, not a template"))
		case strings.ContainsRune(c.Systemctl, os.PathSeparator):
			x.systemctl = s.path(c.Systemctl)
		default:
			x.systemctl = c.Systemctl
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return x, nil
}

// checkUnit checks a unit name; anyType allows units other than services
// (for names written in the configuration). Its errors quote the name.
func checkUnit(u string, anyType bool) error {
	switch {
	case len(u) > 255:
		return fmt.Errorf("%q is not a unit name: longer than 255 bytes", capText(u, 64))
	case strings.HasPrefix(u, "-"):
		return fmt.Errorf("%q is not a unit name: it starts with -", u)
	case !unitName.MatchString(u):
		return fmt.Errorf("%q is not a unit name: use letters, digits and :_.\\@-", capText(u, 64))
	}
	if t := unitType(u); !anyType && t != "" && t != "service" {
		return fmt.Errorf("%q is a %s, not a service", u, t)
	}
	return nil
}

// unitType returns the unit type a name's suffix gives, "" when it has
// none (systemctl then takes it for a service).
func unitType(u string) string {
	i := strings.LastIndexByte(u, '.')
	if i < 0 {
		return ""
	}
	suffix := u[i+1:]
	for _, t := range unitTypes {
		if suffix == t {
			return t
		}
	}
	return ""
}

// unitKey is the name a unit's restarts are counted under: with its type,
// so venus-wallet and venus-wallet.service share one budget.
func unitKey(u string) string {
	if unitType(u) == "" {
		return u + ".service"
	}
	return u
}

// String describes the action.
func (x *SystemdRestart) String() string { return "systemd-restart " + x.unit.String() }

// Do restarts the unit once, discarding the output.
func (x *SystemdRestart) Do(ctx context.Context, f event.Firing) (retry bool, err error) {
	_, retry, err = x.DoOutput(ctx, f)
	return retry, err
}

// DoOutput renders and checks the unit, takes one restart from the
// unit's budget, runs `systemctl restart UNIT` and, when verify_active is
// on, waits for the unit to be active. The output holds the commands run
// and what systemctl printed. No failure is worth retrying: a refused
// unit or budget stays refused, and a failed restart is a case for
// escalation, not for another restart.
func (x *SystemdRestart) DoOutput(ctx context.Context, f event.Firing) (output string, retry bool, err error) {
	unit, err := x.unit.Render(&f)
	if err != nil {
		return "", false, fmt.Errorf("unit: %w", err)
	}
	if err := checkUnit(unit, x.literal); err != nil {
		return "", false, fmt.Errorf("not restarting: %v", err)
	}
	if err := x.take(unit); err != nil {
		return "", false, err
	}

	out := &cappedOutput{max: MaxOutput}
	runErr := x.run(ctx, out, "restart", unit)
	if runErr != nil {
		return out.String(), false, runErr
	}
	if !x.verify {
		return out.String(), false, nil
	}
	if err := x.waitActive(ctx, out, unit); err != nil {
		return out.String(), false, err
	}
	return out.String(), false, nil
}

// take counts one restart of unit now, or refuses when the unit's budget
// is used up.
func (x *SystemdRestart) take(unit string) error {
	now := x.now()
	key := unitKey(unit)
	x.mu.Lock()
	defer x.mu.Unlock()
	h := x.prune(x.restarts[key], now)
	if len(h) >= x.count {
		x.restarts[key] = h
		return fmt.Errorf("restart budget of %d per %s for %s used up; not restarting", x.count, shortDuration(x.within), unit)
	}
	x.restarts[key] = append(h, now)
	return nil
}

// prune drops the restarts that left the window ending at now.
func (x *SystemdRestart) prune(h []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(h) && !h[i].After(now.Add(-x.within)) {
		i++
	}
	return h[i:]
}

// run runs systemctl with args, its output written to out after the
// command line. A non-zero exit is an error with the start of stderr.
func (x *SystemdRestart) run(ctx context.Context, out *cappedOutput, args ...string) error {
	fmt.Fprintf(out, "$ %s %s\n", x.systemctl, strings.Join(args, " "))
	_, err := x.runCmd(ctx, out, args...)
	return err
}

// runCmd runs systemctl with args; it returns what it printed on stdout.
func (x *SystemdRestart) runCmd(ctx context.Context, out *cappedOutput, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, x.systemctl, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "LC_ALL=C")
	stdout := &headBuffer{max: 4096}
	errHead := &headBuffer{max: maxStderrInError}
	cmd.Stdout = teeWriter{out, stdout}
	cmd.Stderr = teeWriter{out, errHead}
	ownProcessGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err == nil || (errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success()) {
		return stdout.String(), nil
	}
	what := x.systemctl + " " + strings.Join(args, " ")
	hint := ""
	if h := strings.TrimSpace(errHead.String()); h != "" {
		hint = fmt.Sprintf(": stderr: %q", h)
	}
	if ctx.Err() != nil {
		return stdout.String(), fmt.Errorf("%s: killed: %w", what, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code >= 0 {
			return stdout.String(), &exitError{msg: fmt.Sprintf("%s: exit status %d%s", what, code, hint)}
		}
		return stdout.String(), fmt.Errorf("%s: %v%s", what, ee, hint)
	}
	return stdout.String(), fmt.Errorf("%s: %w", what, err)
}

// exitError is systemctl's non-zero exit.
type exitError struct {
	msg string
}

func (e *exitError) Error() string { return e.msg }

// waitActive polls `systemctl is-active UNIT` until it says active, for
// up to x.wait; the output keeps the first and the last answer.
func (x *SystemdRestart) waitActive(ctx context.Context, out *cappedOutput, unit string) error {
	deadline := time.Now().Add(x.wait)
	fmt.Fprintf(out, "$ %s is-active %s\n", x.systemctl, unit)
	var state string
	polls := 0
	for {
		polls++
		so, err := x.runCmd(ctx, &cappedOutput{max: 4096}, "is-active", unit)
		state = strings.TrimSpace(so)
		if err == nil && state == "active" {
			fmt.Fprintf(out, "active (after %d checks)\n", polls)
			return nil
		}
		var ee *exitError
		if err != nil && !errors.As(err, &ee) {
			fmt.Fprintf(out, "%v\n", err)
			return fmt.Errorf("restarted %s, but could not check that it is active: %w", unit, err)
		}
		if time.Now().Add(activePoll).After(deadline) {
			break
		}
		t := time.NewTimer(activePoll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			fmt.Fprintf(out, "%s\n", stateOr(state))
			return fmt.Errorf("restarted %s, but it was not active yet (%s) when the time ran out: %w", unit, stateOr(state), ctx.Err())
		}
	}
	fmt.Fprintf(out, "%s (after %d checks in %s)\n", stateOr(state), polls, shortDuration(x.wait))
	return fmt.Errorf("restarted %s, but it is not active after %s: systemctl is-active says %s", unit, shortDuration(x.wait), stateOr(state))
}

func stateOr(s string) string {
	if s == "" {
		return "nothing"
	}
	return fmt.Sprintf("%q", capText(s, 64))
}

// shortDuration writes d without zero units: 1h, 10m, 1h30m, 90s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// restartHistory is the persisted form of the flap guard's history.
type restartHistory struct {
	Version  int                    `json:"version"`
	Restarts map[string][]time.Time `json:"restarts"`
}

// Snapshot returns the restarts still inside the flap guard's window, by
// unit, for the daemon to persist.
func (x *SystemdRestart) Snapshot() ([]byte, error) {
	now := x.now()
	x.mu.Lock()
	h := restartHistory{Version: 1, Restarts: map[string][]time.Time{}}
	for unit, ts := range x.restarts {
		if ts = x.prune(ts, now); len(ts) > 0 {
			h.Restarts[unit] = append([]time.Time(nil), ts...)
		}
	}
	x.mu.Unlock()
	return json.Marshal(h)
}

// Restore replaces the history with one Snapshot returned (by this
// configuration or an earlier one); restarts outside the window are
// dropped. A snapshot it cannot read is an error and changes nothing.
func (x *SystemdRestart) Restore(b []byte) error {
	var h restartHistory
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("systemd-restart history: %w", err)
	}
	if h.Version != 1 {
		return fmt.Errorf("systemd-restart history: unknown version %d", h.Version)
	}
	now := x.now()
	next := map[string][]time.Time{}
	for unit, ts := range h.Restarts {
		if checkUnit(unit, true) != nil {
			continue
		}
		ts = append([]time.Time(nil), ts...)
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		if ts = x.prune(ts, now); len(ts) > 0 {
			next[unitKey(unit)] = ts
		}
	}
	x.mu.Lock()
	x.restarts = next
	x.mu.Unlock()
	return nil
}
