package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"

	"github.com/venus-medic/venus-medic/event"
)

// CommandConfig configures a Command source.
type CommandConfig struct {
	// Name is the source name, copied into every event.Line.Source.
	Name string
	// Argv is the command and its arguments. It is run directly, never
	// through a shell.
	Argv []string
	// Env holds KEY=VALUE pairs added to the daemon's environment.
	Env []string
	// Dir is the working directory ("" for the daemon's).
	Dir string
	// MergeStderr delivers the command's stderr as lines too, as `2>&1`
	// would: `docker logs` writes a container's stderr, where the Venus
	// components log, to its own stderr. Otherwise stderr is logged.
	MergeStderr bool
	// MaxLineBytes caps a line (default 1 MiB); see File.
	MaxLineBytes int
	// Backoff is the delay before the first restart of a command that
	// exited (default 1s); it doubles at each exit up to MaxBackoff
	// (default 1m), and starts again from Backoff once the command has
	// run for ResetAfter (default 1m).
	Backoff, MaxBackoff, ResetAfter time.Duration
	// StopGrace is how long the command has to exit after SIGTERM before
	// it is killed (default 5s).
	StopGrace time.Duration
}

// Command runs a long-running command, such as `journalctl -f -o cat -u
// venus-wallet` or `docker logs -f venus`, and delivers its stdout as
// lines. The command runs in its own process group; when it exits, what
// it left running in that group is stopped too, and it is started again
// after a backoff. When ctx is done the group gets SIGTERM, then SIGKILL
// after StopGrace. stderr is logged, at most a few lines a second (the
// number dropped is logged).
//
// Command output has no file position: Line.File, FileID, Offset and Num
// are empty. What the command printed while the daemon was stopped is the
// command's business (journalctl --since/--after-cursor, docker --since).
type Command struct {
	cfg CommandConfig
	log hclog.Logger
}

// NewCommand returns a Command source.
func NewCommand(cfg CommandConfig, log hclog.Logger) (*Command, error) {
	if len(cfg.Argv) == 0 || cfg.Argv[0] == "" {
		return nil, fmt.Errorf("command source %q: no command", cfg.Name)
	}
	for _, kv := range cfg.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("command source %q: env %q: want KEY=VALUE", cfg.Name, kv)
		}
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = cfg.Backoff
	}
	if cfg.ResetAfter <= 0 {
		cfg.ResetAfter = time.Minute
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 5 * time.Second
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Command{cfg: cfg, log: log}, nil
}

// Run runs the command, again and again, until ctx is done; it returns
// nil then.
func (c *Command) Run(ctx context.Context, out chan<- event.Line) error {
	delay := c.cfg.Backoff
	for {
		started := time.Now()
		err := c.runOnce(ctx, out)
		if ctx.Err() != nil {
			return nil
		}
		ran := time.Since(started)
		if ran >= c.cfg.ResetAfter {
			delay = c.cfg.Backoff
		}
		c.log.Warn("command exited, restarting", "command", c.cfg.Argv[0], "error", err, "ran", ran.Round(time.Millisecond), "restart_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(delay*2, c.cfg.MaxBackoff)
	}
}

// runOnce runs the command once and returns why it ended.
func (c *Command) runOnce(ctx context.Context, out chan<- event.Line) error {
	cmd := exec.Command(c.cfg.Argv[0], c.cfg.Argv[1:]...)
	cmd.Env = append(os.Environ(), c.cfg.Env...)
	cmd.Dir = c.cfg.Dir
	setGroup(cmd)
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	var er, ew *os.File
	if c.cfg.MergeStderr {
		cmd.Stderr = pw
	} else {
		if er, ew, err = os.Pipe(); err != nil {
			pr.Close()
			pw.Close()
			return fmt.Errorf("pipe: %w", err)
		}
		cmd.Stderr = ew
	}
	cmd.Stdout = pw
	err = cmd.Start()
	pw.Close()
	if ew != nil {
		ew.Close()
	}
	if err != nil {
		pr.Close()
		if er != nil {
			er.Close()
		}
		return fmt.Errorf("start %s: %w", c.cfg.Argv[0], err)
	}
	c.log.Info("command started", "command", c.cfg.Argv[0], "pid", cmd.Process.Pid)

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stdoutDone := make(chan struct{})
	go func() {
		defer close(stdoutDone)
		c.readLines(ctx, pr, out)
	}()
	stderrDone := make(chan struct{})
	if er != nil {
		go func() {
			defer close(stderrDone)
			c.logStderr(er)
		}()
	} else {
		close(stderrDone)
	}

	var werr error
	select {
	case werr = <-exited:
		// Stop what the command left behind in its group: it would
		// hold the pipes open and run twice after the restart.
		signalGroup(cmd, sigTerm)
	case <-ctx.Done():
		signalGroup(cmd, sigTerm)
		select {
		case werr = <-exited:
		case <-time.After(c.cfg.StopGrace):
			c.log.Warn("command did not stop, killing it", "command", c.cfg.Argv[0], "pid", cmd.Process.Pid)
			signalGroup(cmd, sigKill)
			werr = <-exited
		}
	}
	// Read what is left in the pipes. A process outside the group may
	// still hold them open: give up on them after the grace period.
	grace := time.NewTimer(c.cfg.StopGrace)
	defer grace.Stop()
	for _, done := range []chan struct{}{stdoutDone, stderrDone} {
		select {
		case <-done:
		case <-grace.C:
			signalGroup(cmd, sigKill)
			pr.Close()
			if er != nil {
				er.Close()
			}
			<-done
		}
	}
	pr.Close()
	if er != nil {
		er.Close()
	}
	if werr == nil {
		werr = errors.New("exit status 0")
	}
	return werr
}

// readLines delivers r's lines until EOF or ctx is done. A last line
// without a newline is delivered at EOF.
func (c *Command) readLines(ctx context.Context, r io.Reader, out chan<- event.Line) {
	buf := make([]byte, 64<<10)
	lb := lineBuf{max: c.cfg.MaxLineBytes}
	send := func(text []byte, now time.Time) bool {
		select {
		case out <- event.Line{Source: c.cfg.Name, Text: text, Read: now}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		n, err := r.Read(buf)
		now := time.Now()
		for data := buf[:n]; len(data) > 0; {
			k := bytes.IndexByte(data, '\n')
			if k < 0 {
				lb.add(data)
				break
			}
			if !send(lb.take(data[:k]), now) {
				return
			}
			data = data[k+1:]
		}
		if err != nil {
			// A last line without its newline: complete when the
			// command ended by itself, cut short when it was stopped.
			if !lb.empty() && ctx.Err() == nil {
				send(lb.take(nil), now)
			}
			return
		}
	}
}

// Limits on logging a command's stderr: lines are cut to stderrLineBytes,
// and at most stderrBurst lines are logged at once, then one every
// stderrEvery; the number of lines left out is logged.
const (
	stderrLineBytes = 4 << 10
	stderrBurst     = 20
	stderrEvery     = 200 * time.Millisecond
)

// logStderr logs r's lines, rate limited, until EOF.
func (c *Command) logStderr(r io.Reader) {
	lim := rate.NewLimiter(rate.Every(stderrEvery), stderrBurst)
	dropped := 0
	buf := make([]byte, 16<<10)
	lb := lineBuf{max: stderrLineBytes}
	emit := func(text []byte) {
		if !lim.Allow() {
			if dropped == 0 {
				c.log.Warn("command writes too much to stderr, logging only some of it", "command", c.cfg.Argv[0])
			}
			dropped++
			return
		}
		if dropped > 0 {
			c.log.Warn("command stderr lines not logged", "command", c.cfg.Argv[0], "count", dropped)
			dropped = 0
		}
		c.log.Warn("command stderr", "command", c.cfg.Argv[0], "line", string(text))
	}
	for {
		n, err := r.Read(buf)
		for data := buf[:n]; len(data) > 0; {
			k := bytes.IndexByte(data, '\n')
			if k < 0 {
				lb.add(data)
				break
			}
			emit(lb.take(data[:k]))
			data = data[k+1:]
		}
		if err != nil {
			if !lb.empty() {
				emit(lb.take(nil))
			}
			if dropped > 0 {
				c.log.Warn("command stderr lines not logged", "command", c.cfg.Argv[0], "count", dropped)
			}
			return
		}
	}
}
