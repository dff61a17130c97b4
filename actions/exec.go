package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// execConfig is the configuration of an exec action (SPEC §3).
type execConfig struct {
	Common  `yaml:",inline"`
	Command yaml.Node         `yaml:"command"`
	Env     map[string]string `yaml:"env"`
	Dir     string            `yaml:"dir"`
}

// MaxOutput caps the output of a command kept for the audit record
// (stdout and stderr together); the rest is counted and marked.
const MaxOutput = 64 << 10

// maxStderrInError is how much of stderr an error quotes.
const maxStderrInError = 256

// Exec runs a command with an argv, never through a shell. Each element
// of the argv is a template rendered over the firing into exactly one
// argument, whatever the log text holds (spaces, quotes, `$(...)`,
// newlines, `{{`): the text is data, never parsed again. The program
// itself is literal, so log text cannot choose what runs.
//
// The command gets the daemon's environment plus env, the firing as the
// generic webhook's JSON on stdin, and runs in its own process group,
// which is killed as a whole when the attempt's context ends.
type Exec struct {
	prog string
	argv []*event.Template // the arguments after the program, one template each
	env  []envVar
	dir  string
}

type envVar struct {
	name string
	tmpl *event.Template
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func newExec(s *spec) (Action, error) {
	var c execConfig
	if err := s.decode(&c); err != nil {
		return nil, err
	}
	x, err := c.validate(s)
	if err != nil {
		return nil, err // not a typed nil in an Action
	}
	return x, nil
}

// validate checks the configuration and parses its templates.
func (c *execConfig) validate(s *spec) (*Exec, error) {
	var errs []error
	x := &Exec{dir: s.path(c.Dir)}
	cn := &c.Command
	switch {
	case cn.Kind == 0 || (cn.Kind == yaml.SequenceNode && len(cn.Content) == 0) || cn.Tag == "!!null":
		errs = append(errs, s.errAt(s.value("command"), "exec %q needs command: a list of the program and its arguments, e.g. [/usr/local/bin/notify, \"{{ .rule }}\"]", s.name))
	case cn.Kind != yaml.SequenceNode:
		errs = append(errs, s.errAt(cn, "command must be a list of the program and its arguments, e.g. [/usr/local/bin/notify, \"{{ .rule }}\"]: it is never run by a shell"))
	default:
		for i, el := range cn.Content {
			if el.Kind != yaml.ScalarNode {
				errs = append(errs, s.errAt(el, "command[%d] must be a string", i))
				continue
			}
			if i == 0 {
				switch {
				case strings.TrimSpace(el.Value) == "":
					errs = append(errs, s.errAt(el, "the program (the first element of command) must not be empty"))
				case strings.Contains(el.Value, "{{"):
					errs = append(errs, s.errAt(el, "the program (the first element of command) must be written out, not a template: log text must not choose what runs"))
				default:
					x.prog = el.Value
				}
				continue
			}
			t, err := s.template(fmt.Sprintf("command[%d] template", i), el, el.Value)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			x.argv = append(x.argv, t)
		}
	}
	en := s.value("env")
	names := make([]string, 0, len(c.Env))
	for name := range c.Env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		k, v := yamlconf.Pair(en, name)
		if !envName.MatchString(name) {
			errs = append(errs, s.errAt(k, "bad environment variable name %q: use letters, digits and _", name))
			continue
		}
		t, err := s.template("env "+name+" template", v, c.Env[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		x.env = append(x.env, envVar{name: name, tmpl: t})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return x, nil
}

// String describes the command.
func (x *Exec) String() string { return "exec " + x.prog }

// Do runs the command once, discarding its output.
func (x *Exec) Do(ctx context.Context, f event.Firing) (retry bool, err error) {
	_, retry, err = x.DoOutput(ctx, f)
	return retry, err
}

// DoOutput runs the command once and returns its stdout and stderr,
// interleaved as written and capped at MaxOutput. A non-zero exit or a
// kill is worth retrying; a command that cannot start (not found, not
// executable) is not. Errors carry the exit status and the start of
// stderr.
func (x *Exec) DoOutput(ctx context.Context, f event.Firing) (output string, retry bool, err error) {
	args := make([]string, len(x.argv))
	for i, t := range x.argv {
		a, err := t.Render(&f)
		if err != nil {
			return "", false, fmt.Errorf("command[%d]: %w", i+1, err)
		}
		args[i] = noNUL(a)
	}
	env := os.Environ()
	for _, e := range x.env {
		v, err := e.tmpl.Render(&f)
		if err != nil {
			return "", false, fmt.Errorf("env %s: %w", e.name, err)
		}
		env = append(env, e.name+"="+noNUL(v))
	}
	stdin, err := firingJSON(&f)
	if err != nil {
		return "", false, err
	}

	cmd := exec.CommandContext(ctx, x.prog, args...)
	cmd.Dir = x.dir
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	out := &cappedOutput{max: MaxOutput}
	errHead := &headBuffer{max: maxStderrInError}
	cmd.Stdout = out
	cmd.Stderr = teeWriter{out, errHead}

	start := time.Now()
	err = runGroup(cmd)
	output = out.String()
	if err == nil {
		return output, false, nil
	}
	hint := ""
	if h := strings.TrimSpace(errHead.String()); h != "" {
		hint = fmt.Sprintf(": stderr: %q", h)
	}
	retry, err = runError(ctx, x.prog, cmd, err, time.Since(start), hint)
	return output, retry, err
}

// runGroup runs cmd, made by exec.CommandContext, in a process group of
// its own that is killed as a whole when the context ends. Children that
// outlive the command and keep its output open hold it up at most 2s; a
// command that succeeded is then still a success.
func runGroup(cmd *exec.Cmd) error {
	ownProcessGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		return nil
	}
	return err
}

// runError describes err, the failure of runGroup(cmd) after took, and
// says whether it is worth retrying: a kill at the context's end or a
// non-zero exit is, a command that cannot start (not found, not
// executable, bad dir) is not. name names the command in the error; hint
// is appended to an exit's error (e.g. the start of stderr).
func runError(ctx context.Context, name string, cmd *exec.Cmd, err error, took time.Duration, hint string) (retry bool, _ error) {
	if ctx.Err() != nil {
		if cmd.ProcessState == nil {
			return true, fmt.Errorf("%s: not started: %w", name, ctx.Err())
		}
		return true, fmt.Errorf("%s: killed with its process group after %s: %w", name, took.Round(time.Millisecond), ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code >= 0 {
			return true, fmt.Errorf("%s: exit status %d%s", name, code, hint)
		}
		return true, fmt.Errorf("%s: %v%s", name, ee, hint)
	}
	// It did not start: not found, not executable, bad dir.
	return false, fmt.Errorf("%s: %w", name, err)
}

// noNUL replaces NUL bytes, which no argument or environment value can
// hold, so the rest of the text still arrives.
func noNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// cappedOutput keeps the first max bytes written to it and counts the
// rest. Writes never fail, so the command is never stopped by the cap.
type cappedOutput struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	max     int
	dropped int64
}

func (c *cappedOutput) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - c.buf.Len()
	if room >= len(p) {
		c.buf.Write(p)
		return len(p), nil
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	c.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// String returns what was kept, with a marker when output was cut.
func (c *cappedOutput) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.ToValidUTF8(c.buf.String(), "\uFFFD")
	if c.dropped > 0 {
		s += fmt.Sprintf("\n…[output cut: %d more bytes]", c.dropped)
	}
	return s
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (h *headBuffer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.ToValidUTF8(h.buf.String(), "\uFFFD")
}

// teeWriter writes to both writers, neither of which fails.
type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (t teeWriter) Write(p []byte) (int, error) {
	t.a.Write(p)
	t.b.Write(p)
	return len(p), nil
}
