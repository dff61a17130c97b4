package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/proving"
)

// ProbeConfig configures a Probe source.
type ProbeConfig struct {
	// Name is the source name, copied into every line.
	Name string
	// Every is the interval between runs (the first run is at start).
	Every time.Duration
	// Command is the argv run each time (never a shell). Exactly one of
	// Command, URL and RPC is set.
	Command []string
	// URL is fetched with GET each time (e.g. a component's /healthcheck).
	URL string
	// RPC is a JSON-RPC call made each time.
	RPC *RPCCall
	// Env is added to the daemon's environment for the command.
	Env []string
	// Timeout bounds one run (default: Every, at most 5 minutes).
	Timeout time.Duration
	// Parse names a known output format whose content becomes fields:
	// "proving-faults" (`venus-sealer proving faults` and damocles-manager's
	// equivalent): faults (count), sectors (list), miner. "" keeps the
	// output as text only.
	Parse string
}

// RPCCall is a JSON-RPC 2.0 call over HTTP POST, as Venus components
// answer them at /rpc/v0 (e.g. Filecoin.LockState on venus-wallet).
type RPCCall struct {
	URL    string
	Method string
	// Params is the JSON array of parameters ("[]" when empty).
	Params json.RawMessage
	// Token is sent as `Authorization: Bearer <token>`; it never appears
	// in a result, a log line or an error.
	Token string
}

// MaxProbeOutput caps the output a probe keeps from one run.
const MaxProbeOutput = 64 << 10

// Probe runs a command every interval and turns each result into one line:
// a JSON object (for the json parser) with `msg`, `level` (INFO when the
// command succeeded, ERROR when it did not), `ts`, and the fields `probe`,
// `exit_code`, `ok`, `duration_ms`, `lines` (non-empty output lines),
// `output` (capped), `error`, plus what Parse extracts. Rules then work on
// probe results as on log lines, e.g.
// `source == "proving-faults" && fields.faults > 0`.
type Probe struct {
	cfg ProbeConfig
	log hclog.Logger
}

// ProbeParsers lists the output formats a probe can parse.
var ProbeParsers = []string{"proving-faults"}

// NewProbe checks a probe's configuration.
func NewProbe(cfg ProbeConfig, log hclog.Logger) (*Probe, error) {
	kinds := 0
	if len(cfg.Command) > 0 {
		kinds++
		if cfg.Command[0] == "" {
			return nil, errors.New("probe command has an empty program")
		}
	}
	if cfg.URL != "" {
		kinds++
	}
	if cfg.RPC != nil {
		kinds++
		if cfg.RPC.URL == "" || cfg.RPC.Method == "" {
			return nil, errors.New("probe rpc needs url and method")
		}
	}
	if kinds != 1 {
		return nil, errors.New("probe needs exactly one of command, http, rpc")
	}
	if cfg.Every <= 0 {
		return nil, errors.New("probe needs every: an interval above 0")
	}
	switch cfg.Parse {
	case "", "proving-faults":
	default:
		return nil, fmt.Errorf("unknown probe parse %q (known: %s)", cfg.Parse, strings.Join(ProbeParsers, ", "))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = min(cfg.Every, 5*time.Minute)
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Probe{cfg: cfg, log: log}, nil
}

// Run runs the probe at start and then every interval until ctx is done.
func (p *Probe) Run(ctx context.Context, out chan<- event.Line) error {
	t := time.NewTicker(p.cfg.Every)
	defer t.Stop()
	for {
		line := p.once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case out <- line:
		case <-ctx.Done():
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// once runs the probe one time and describes the result as a line.
func (p *Probe) once(ctx context.Context) event.Line {
	if p.cfg.URL != "" || p.cfg.RPC != nil {
		return p.onceHTTP(ctx)
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	cmd := exec.Command(p.cfg.Command[0], p.cfg.Command[1:]...)
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	var buf cappedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	setGroup(cmd)
	rec := map[string]any{"probe": p.cfg.Name, "ts": start.Format(time.RFC3339Nano)}
	err := cmd.Start()
	if err == nil {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-cctx.Done():
			signalGroup(cmd, sigKill)
			<-done
			err = fmt.Errorf("killed after %s", p.cfg.Timeout)
		}
	}
	output := buf.String()
	code := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		code = -1
	}
	rec["exit_code"] = code
	rec["ok"] = err == nil
	rec["duration_ms"] = time.Since(start).Milliseconds()
	rec["output"] = output
	n := 0
	for _, l := range strings.Split(output, "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	rec["lines"] = n
	msg := fmt.Sprintf("probe %s: %s exited %d", p.cfg.Name, p.cfg.Command[0], code)
	if err != nil {
		rec["error"] = err.Error()
		msg = fmt.Sprintf("probe %s: %s failed: %v", p.cfg.Name, p.cfg.Command[0], err)
	}
	if err == nil && p.cfg.Parse == "proving-faults" {
		f, perr := proving.ParseFaults(output)
		if perr != nil {
			rec["error"] = perr.Error()
			err = perr
			msg = fmt.Sprintf("probe %s: unexpected output: %v", p.cfg.Name, perr)
		} else {
			sectors := make([]int, 0, len(f.Sectors))
			for _, s := range f.Sectors {
				sectors = append(sectors, s.Sector)
			}
			rec["faults"] = len(f.Sectors)
			rec["sectors"] = sectors
			rec["miner"] = f.Miner
			msg = fmt.Sprintf("probe %s: %d faulty sectors", p.cfg.Name, len(f.Sectors))
		}
	}
	rec["msg"] = msg
	rec["level"] = "INFO"
	if err != nil {
		rec["level"] = "ERROR"
		p.log.Warn("probe failed", "error", err)
	}
	b, _ := json.Marshal(rec)
	return event.Line{Source: p.cfg.Name, Text: b, Read: time.Now()}
}

// cappedBuffer keeps the first MaxProbeOutput bytes written to it.
type cappedBuffer struct {
	b   bytes.Buffer
	cut bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := MaxProbeOutput - c.b.Len(); len(p) > room {
		c.b.Write(p[:max(room, 0)])
		c.cut = true
		return len(p), nil
	}
	return c.b.Write(p)
}

func (c *cappedBuffer) String() string {
	if c.cut {
		return c.b.String() + "…[cut]"
	}
	return c.b.String()
}

// onceHTTP makes the probe's HTTP GET or JSON-RPC call one time.
func (p *Probe) onceHTTP(ctx context.Context) event.Line {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	rec := map[string]any{"probe": p.cfg.Name, "ts": start.Format(time.RFC3339Nano)}
	var req *http.Request
	var err error
	target := p.cfg.URL
	if c := p.cfg.RPC; c != nil {
		target = c.URL
		params := c.Params
		if len(params) == 0 {
			params = json.RawMessage("[]")
		}
		body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": c.Method, "params": params, "id": 1})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			if c.Token != "" {
				req.Header.Set("Authorization", "Bearer "+c.Token)
			}
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.URL, nil)
	}
	what := target
	if u, perr := url.Parse(target); perr == nil {
		what = u.Scheme + "://" + u.Host + u.Path // no query, no user info
	}
	var status int
	var body []byte
	if err == nil {
		var resp *http.Response
		resp, err = probeClient.Do(req)
		if err == nil {
			status = resp.StatusCode
			body, _ = io.ReadAll(io.LimitReader(resp.Body, MaxProbeOutput))
			resp.Body.Close()
			if status/100 != 2 {
				err = fmt.Errorf("HTTP %d", status)
			}
		} else {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the URL is reported separately, without its query
			}
		}
	}
	rec["status"] = status
	rec["duration_ms"] = time.Since(start).Milliseconds()
	rec["output"] = string(body)
	if err == nil && p.cfg.RPC != nil {
		var resp struct {
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if jerr := json.Unmarshal(body, &resp); jerr != nil {
			err = fmt.Errorf("not a JSON-RPC answer: %v", jerr)
		} else if resp.Error != nil {
			err = fmt.Errorf("%s: %s", p.cfg.RPC.Method, resp.Error.Message)
		} else {
			var v any
			_ = json.Unmarshal(resp.Result, &v)
			rec["result"] = v
		}
	}
	rec["ok"] = err == nil
	msg := fmt.Sprintf("probe %s: %s answered %d", p.cfg.Name, what, status)
	rec["level"] = "INFO"
	if err != nil {
		msg = fmt.Sprintf("probe %s: %s: %v", p.cfg.Name, what, err)
		rec["error"] = err.Error()
		rec["level"] = "ERROR"
		p.log.Warn("probe failed", "target", what, "error", err)
	}
	rec["msg"] = msg
	b, _ := json.Marshal(rec)
	return event.Line{Source: p.cfg.Name, Text: b, Read: time.Now()}
}

// probeClient makes the HTTP probes; each request carries its own timeout.
var probeClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
