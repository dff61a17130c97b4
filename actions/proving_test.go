package actions

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/proving"
)

const fakeProvingPkg = "github.com/venus-medic/venus-medic/internal/fakevenus/sealer/cmd/fake-proving"

// fakeProving builds the fake proving CLI into a temporary folder, as
// venus-sealer and damocles-manager, and returns the folder.
func fakeProving(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	out, err := exec.Command(goBin, "build", "-o", filepath.Join(dir, "venus-sealer"), fakeProvingPkg).CombinedOutput()
	if err != nil {
		t.Fatalf("building the fake proving CLI: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "venus-sealer"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "damocles-manager"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// provingScenario writes the fake's scenario and points it there; the
// fake writes its arguments to the returned file.
func provingScenario(t *testing.T, sc map[string]any) (argvFile string) {
	t.Helper()
	dir := t.TempDir()
	argvFile = filepath.Join(dir, "argv.json")
	sc["argv_file"] = argvFile
	b, _ := json.Marshal(sc)
	p := filepath.Join(dir, "scenario.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_PROVING_SCENARIO", p)
	return argvFile
}

func readArgv(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the fake did not run: %v", err)
	}
	var args []string
	if err := json.Unmarshal(b, &args); err != nil {
		t.Fatal(err)
	}
	return args
}

func provingCheck(t *testing.T, src string) *ProvingCheck {
	t.Helper()
	return buildYAML(t, src, nil).Action.(*ProvingCheck)
}

const (
	reasonStat  = "stat object sealed/s-t01234-1001 for sealed file: stat /mnt/store1/sealed/s-t01234-1001: no such file or directory"
	reasonPaths = `cache and/or sealed paths not found, cache "", sealed ""`
	reasonFFI   = "generate vanilla proof of 1002 failed: ffi error:\n   0: Unclassified(\"bad path\")\n   1: generate_single_vanilla_proof"
)

// deadline7 is the sample of venus/sealing.md §4.2 and a good sector.
func deadline7(extra map[string]string) map[string]any {
	bad0 := map[string]string{"1001": reasonStat}
	for k, v := range extra {
		bad0[k] = v
	}
	return map[string]any{"deadlines": map[string]any{
		"7": []any{
			map[string]any{"sectors": []int{1000, 1001, 1002}, "bad": bad0},
			map[string]any{"sectors": []int{12003}, "bad": map[string]string{"12003": reasonPaths}},
		},
		"9": []any{map[string]any{"sectors": []int{5, 6}}},
	}}
}

// wdpostFiring is a venus-sealer line naming the aborted deadline, with
// the rule's capture, and damocles-manager's poster fields.
func wdpostFiring(captures map[string]string, fields map[string]any) event.Firing {
	f := firing()
	f.Rule = "wdpost-aborted"
	f.Event.Source = "venus-sealer"
	f.Event.Msg = "Aborted window post Proving (Deadline: &{CurrentEpoch:3512345 PeriodStart:3511920 Index:7 Open:3512340})"
	f.Event.Captures = captures
	f.Event.Fields = fields
	return f
}

func TestProvingCheckVenusSealer(t *testing.T) {
	dir := fakeProving(t)
	sc := deadline7(nil)
	sc["color"] = true
	argv := provingScenario(t, sc)
	p := provingCheck(t, "type: proving-check\ntool: venus-sealer\nbinary: "+filepath.Join(dir, "venus-sealer")+
		"\ndeadline: '{{ capture \"idx\" }}'\nrepo: /srv/venus-sealer\nactor: f01234\n")
	res, output, retry, err := p.DoResult(context.Background(), wdpostFiring(map[string]string{"idx": "7"}, nil))
	if err != nil || retry {
		t.Fatalf("retry %v err %v", retry, err)
	}
	if d := cmp.Diff([]string{"--repo", "/srv/venus-sealer", "proving", "--actor", "f01234", "check", "--only-bad", "7"}, readArgv(t, argv)); d != "" {
		t.Errorf("argv (-want +got):\n%s", d)
	}
	want := `deadline 7: 2 bad sectors: 1001 (stat object sealed/s-t01234-1001 for sealed file…/sealed/s-t01234-1001: no such file or directory), 12003 (cache and/or sealed paths not found, cache "", sealed "")`
	if output != want {
		t.Errorf("output\n got %s\nwant %s", output, want)
	}
	wantRes := map[string]any{
		"tool": "venus-sealer", "deadline": 7, "bad_count": 2, "only_bad": true, "truncated": false,
		"bad_sectors": []any{1001, 12003},
		"bad": []any{
			map[string]any{"partition": 0, "sector": 1001, "reason": reasonStat},
			map[string]any{"partition": 1, "sector": 12003, "reason": reasonPaths},
		},
	}
	if d := cmp.Diff(wantRes, res); d != "" {
		t.Errorf("result (-want +got):\n%s", d)
	}

	// All sectors, a reason over several lines; the deadline from a field.
	provingScenario(t, deadline7(map[string]string{"1002": reasonFFI}))
	p = provingCheck(t, "type: proving-check\ntool: venus-sealer\nbinary: "+filepath.Join(dir, "venus-sealer")+
		"\ndeadline: '{{ field \"ddl-idx\" }}'\nonly_bad: false\nslow: true\n")
	r, output, _, err := p.Run(context.Background(), wdpostFiring(nil, map[string]any{"ddl-idx": float64(7)}))
	if err != nil {
		t.Fatal(err)
	}
	if r.BadCount != 3 || r.Good != 1 || r.Bad[1].Sector != 1002 || r.Bad[1].Reason != reasonFFI {
		t.Errorf("result %+v", r)
	}
	if !strings.HasPrefix(output, "deadline 7: 3 bad sectors (1 good): 1001 (") || !strings.Contains(output, "1002 (generate vanilla proof of 1002 failed: ffi error…ied(\"bad path\") 1: generate_single_vanilla_proof), 12003 (") {
		t.Errorf("output %s", output)
	}

	// A clean deadline: only the header.
	r, output, _, err = p.Run(context.Background(), wdpostFiring(nil, map[string]any{"ddl-idx": float64(9)}))
	if err != nil || r.BadCount != 0 || r.Good != 2 || output != "deadline 9: no bad sectors (2 good)" {
		t.Errorf("clean deadline: %+v %q %v", r, output, err)
	}
}

func TestProvingCheckDamocles(t *testing.T) {
	dir := fakeProving(t)
	argv := provingScenario(t, deadline7(nil))
	p := provingCheck(t, "type: proving-check\ntool: damocles-manager\nbinary: "+filepath.Join(dir, "damocles-manager")+
		"\ndeadline: '{{ field \"decl-index\" }}'\nminer: '{{ field \"mid\" }}'\nhome: /srv/damocles\n")
	// A big miner id comes out of the log's JSON as a float64.
	f := wdpostFiring(nil, map[string]any{"mid": float64(1234567), "ddl-idx": float64(5), "decl-index": float64(7)})
	r, output, retry, err := p.Run(context.Background(), f)
	if err != nil || retry {
		t.Fatalf("retry %v err %v", retry, err)
	}
	if d := cmp.Diff([]string{"--home", "/srv/damocles", "util", "sealer", "proving", "--miner", "1234567", "check", "--detail", "--only-bad", "7"}, readArgv(t, argv)); d != "" {
		t.Errorf("argv (-want +got):\n%s", d)
	}
	if r.Miner != "1234567" || r.BadCount != 2 || !strings.HasPrefix(output, "deadline 7: 2 bad sectors: 1001 (") {
		t.Errorf("result %+v output %q", r, output)
	}

	p = provingCheck(t, "type: proving-check\ntool: damocles-manager\nbinary: "+filepath.Join(dir, "damocles-manager")+
		"\ndeadline: 7\nminer: f01234\nonly_bad: false\n")
	r, output, _, err = p.Run(context.Background(), firing())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"util", "sealer", "proving", "--miner", "f01234", "check", "--detail", "7"}, readArgv(t, argv)); d != "" {
		t.Errorf("argv (-want +got):\n%s", d)
	}
	if r.Good != 2 || r.BadCount != 2 || !strings.HasPrefix(output, "deadline 7: 2 bad sectors (2 good): ") {
		t.Errorf("result %+v output %q", r, output)
	}
}

// TestProvingCheckHostileValues: a deadline or miner from log text that
// is not a plain number is refused, naming the value, and nothing runs.
func TestProvingCheckHostileValues(t *testing.T) {
	dir := fakeProving(t)
	argv := provingScenario(t, deadline7(nil))
	sealer := provingCheck(t, "type: proving-check\ntool: venus-sealer\nbinary: "+filepath.Join(dir, "venus-sealer")+"\ndeadline: '{{ capture \"idx\" }}'\n")
	dm := provingCheck(t, "type: proving-check\ntool: damocles-manager\nbinary: "+filepath.Join(dir, "damocles-manager")+"\ndeadline: '{{ capture \"idx\" }}'\nminer: '{{ capture \"mid\" }}'\n")
	for _, tc := range []struct {
		p         *ProvingCheck
		idx, mid  string
		wantInErr string
	}{
		{sealer, "7 --slow", "", `deadline must be an integer from 0 to 47, got "7 --slow"`},
		{sealer, "$(id)", "", `got "$(id)"`},
		{sealer, "-1", "", `got "-1"`},
		{sealer, "48", "", `got "48"`},
		{sealer, "", "", `got ""`},
		{sealer, "7\n8", "", `got "7\n8"`},
		{sealer, "--only-bad", "", `got "--only-bad"`},
		{sealer, strings.Repeat("9", 5000), "", `got "99999`},
		{dm, "7", "1234 --slow", `miner must be a miner id such as 1234 or f01234, got "1234 --slow"`},
		{dm, "7", "$(id)", `got "$(id)"`},
		{dm, "7", "-1", `got "-1"`},
		{dm, "7", "f3abc", `got "f3abc"`},
		{dm, "48", "1234", `got "48"`},
	} {
		os.Remove(argv)
		output, retry, err := tc.p.DoOutput(context.Background(), wdpostFiring(map[string]string{"idx": tc.idx, "mid": tc.mid}, nil))
		if err == nil || retry || !strings.Contains(err.Error(), tc.wantInErr) || !strings.Contains(err.Error(), "nothing was run") || output != "" {
			t.Errorf("idx %q mid %q: retry %v err %v output %q", tc.idx, tc.mid, retry, err, output)
		}
		if len(err.Error()) > 300 {
			t.Errorf("error of %d bytes", len(err.Error()))
		}
		if _, err := os.Stat(argv); err == nil {
			t.Errorf("idx %q mid %q: the command ran with %q", tc.idx, tc.mid, readArgv(t, argv))
		}
	}
}

// TestProvingCheckHangIsKilled: a command that hangs is killed with its
// process group when the attempt's time is up.
func TestProvingCheckHangIsKilled(t *testing.T) {
	dir := fakeProving(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	provingScenario(t, map[string]any{"mode": "hang", "pid_file": pidFile})
	p := provingCheck(t, "type: proving-check\ntool: venus-sealer\nbinary: "+filepath.Join(dir, "venus-sealer")+"\ndeadline: 7\n")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, retry, err := p.DoOutput(ctx, firing())
	if err == nil || !retry || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "venus-sealer proving check: killed with its process group") {
		t.Fatalf("retry %v err %v", retry, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the attempt took %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the fake did not start its child: %v", err)
	}
	pid, _ := strconv.Atoi(string(b))
	waitDead(t, pid)
}

func TestProvingCheckFailures(t *testing.T) {
	dir := fakeProving(t)
	sealerSrc := "type: proving-check\ntool: venus-sealer\nbinary: " + filepath.Join(dir, "venus-sealer") + "\ndeadline: 7\n"
	dmSrc := "type: proving-check\ntool: damocles-manager\nbinary: " + filepath.Join(dir, "damocles-manager") + "\ndeadline: 7\nminer: 1234\n"
	for _, tc := range []struct {
		name      string
		src       string
		sc        map[string]any
		retry     bool
		wantErr   string
		wantInOut string
	}{
		{"garbage", sealerSrc, map[string]any{"mode": "garbage", "garbage": "<html><body>502 Bad Gateway</body></html>\n"}, false,
			`unexpected output from venus-sealer proving check: proving check output line 1: want the header`, "502 Bad Gateway"},
		{"nothing", sealerSrc, map[string]any{"mode": "garbage", "garbage": ""}, false,
			`unexpected output from venus-sealer proving check: proving check output: empty: no table`, ""},
		{"junk rows", dmSrc, map[string]any{"mode": "garbage", "garbage": "deadline  partition  sector  status\nsegmentation fault\n"}, false,
			`unexpected output from damocles-manager proving check: proving check output line 2: not a row`, "segmentation fault"},
		{"wrong deadline", sealerSrc, map[string]any{"mode": "garbage", "garbage": "deadline  partition  sector  status\n8  0  1  bad (x)\n"}, false,
			`unexpected output from venus-sealer proving check: rows of deadline 8 for a check of deadline 7`, ""},
		{"sealer error", sealerSrc, map[string]any{"mode": "error", "error": "could not get API info: repo at '/root/.venussealer' is not initialized"}, true,
			`venus-sealer proving check: exit status 1: could not get API info: repo at '/root/.venussealer' is not initialized`, "ERROR: could not get API info"},
		{"damocles error", dmSrc, map[string]any{"mode": "error", "error": "get chain head: dial tcp 127.0.0.1:3453: connect: connection refused"}, true,
			`damocles-manager proving check: exit status 1: get chain head: dial tcp 127.0.0.1:3453: connect: connection refused`, "internal/run.go:51"},
		{"damocles unreachable", dmSrc, map[string]any{"mode": "panic"}, true,
			`damocles-manager proving check: damocles-manager is not reachable`, "panic: SealerCliAPI client unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			provingScenario(t, tc.sc)
			p := provingCheck(t, tc.src)
			res, output, retry, err := p.DoResult(context.Background(), firing())
			if err == nil || retry != tc.retry || !strings.HasPrefix(err.Error(), tc.wantErr) || res != nil {
				t.Fatalf("retry %v err %v result %v; want retry %v err %q", retry, err, res, tc.retry, tc.wantErr)
			}
			if !strings.Contains(output, tc.wantInOut) || len(output) > maxProvingFailureOutput+len("…[cut]") {
				t.Errorf("output %q", output)
			}
		})
	}

	// Not installed: not worth retrying.
	p := provingCheck(t, "type: proving-check\ntool: venus-sealer\nbinary: /nonexistent/venus-sealer\ndeadline: 7\n")
	if retry, err := p.Do(context.Background(), firing()); err == nil || retry || !strings.Contains(err.Error(), "/nonexistent/venus-sealer") {
		t.Errorf("missing binary: retry %v err %v", retry, err)
	}
}

// TestFakeProvingFlagPositions: the fake takes flags where the real
// tools do and refuses them elsewhere, as urfave/cli v2 does.
func TestFakeProvingFlagPositions(t *testing.T) {
	dir := fakeProving(t)
	provingScenario(t, deadline7(nil))
	for _, tc := range []struct {
		tool    string
		args    []string
		code    int
		wantErr string
	}{
		{"venus-sealer", []string{"proving", "check", "--only-bad", "7"}, 0, ""},
		{"venus-sealer", []string{"proving", "check", "7", "--only-bad"}, 1, "ERROR: must pass deadline index"},
		{"venus-sealer", []string{"proving", "check", "--actor", "f01234", "7"}, 1, "ERROR: flag provided but not defined: -actor"},
		{"venus-sealer", []string{"proving", "check", "seven"}, 1, "ERROR: could not parse deadline index"},
		{"damocles-manager", []string{"util", "sealer", "proving", "--miner", "1234", "check", "--detail", "--only-bad", "7"}, 0, ""},
		{"damocles-manager", []string{"util", "sealer", "proving", "check", "--miner", "1234", "7"}, 1, "flag provided but not defined: -miner"},
		{"damocles-manager", []string{"util", "sealer", "proving", "check", "7"}, 1, "empty address string"},
		{"damocles-manager", []string{"util", "sealer", "proving", "--miner", "1234", "check", "7", "--detail"}, 1, "ERROR: incorrect number of arguments, got 2"},
	} {
		cmd := exec.Command(filepath.Join(dir, tc.tool), tc.args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(stderr.String(), tc.wantErr) {
			t.Errorf("%s %q: exit %d stderr %q; want exit %d and %q", tc.tool, tc.args, code, stderr.String(), tc.code, tc.wantErr)
		}
	}
}

// TestProvingSummaryIsCapped: thousands of bad sectors make a short
// account; the result keeps them all.
func TestProvingSummaryIsCapped(t *testing.T) {
	r := &ProvingResult{Tool: "venus-sealer", Deadline: 3, OnlyBad: true}
	r.Detail = true
	for i := 0; i < 3000; i++ {
		r.Bad = append(r.Bad, proving.BadSector{Partition: 0, Sector: 100000 + i, Reason: reasonStat})
	}
	r.BadCount = len(r.Bad)
	s := r.Summary()
	if len(s) > maxProvingSummary || !strings.HasPrefix(s, "deadline 3: 3000 bad sectors: 100000 (") || !strings.Contains(s, " more") {
		t.Errorf("summary of %d bytes: %s", len(s), s)
	}
	if m := r.Map(); m["bad_count"] != 3000 || len(m["bad_sectors"].([]any)) != 3000 {
		t.Errorf("map lost sectors")
	}
}
