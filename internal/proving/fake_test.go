package proving

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestParsesTheFake: the fake CLI the action tests run prints what the
// parsers read, for every sub-command.
func TestParsesTheFake(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "venus-sealer")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/venus-medic/venus-medic/internal/fakevenus/sealer/cmd/fake-proving").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sc := filepath.Join(dir, "scenario.json")
	os.WriteFile(sc, []byte(`{"color": true, "current": 5, "deadlines": {"7": [{"sectors": [1, 2, 3], "bad": {"2": "sector file stat error"}}, {"sectors": [4], "bad": {"4": "x\ny"}}]}}`), 0o600)
	t.Setenv("FAKE_PROVING_SCENARIO", sc)
	run := func(args ...string) string {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		return string(out)
	}
	c, err := ParseCheck(run("proving", "check", "7"))
	if err != nil || c.BadCount != 2 || c.Good != 2 || c.Bad[0].Reason != "sector file stat error" || c.Bad[1].Reason != "x\ny" {
		t.Errorf("check: %+v %v", c, err)
	}
	f, err := ParseFaults(run("proving", "faults"))
	if err != nil || f.Miner != "f01234" || len(f.Sectors) != 2 || f.Sectors[1].Sector != 4 {
		t.Errorf("faults: %+v %v", f, err)
	}
	i, err := ParseInfo(run("proving", "info"))
	if err != nil || i.DeadlineIndex != 5 || i.Faults != 2 || FaultDeadline(i.DeadlineIndex) != 7 {
		t.Errorf("info: %+v %v", i, err)
	}
	d, err := ParseDeadlines(run("proving", "deadlines"))
	if err != nil || len(d.Rows) != 48 || d.Current().Deadline != 5 || d.Rows[7].Faults != 2 || d.Rows[7].Sectors != 4 {
		t.Errorf("deadlines: %+v %v", d, err)
	}
}
