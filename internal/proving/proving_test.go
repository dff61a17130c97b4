package proving

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The samples are the outputs in venus/sealing.md §4, printed with the
// tools' own tabwriter settings.
const (
	sampleCheckDetail = "deadline  partition  sector  status\n" +
		"7         0          1001    bad (stat object sealed/s-t01234-1001 for sealed file: stat /mnt/store1/sealed/s-t01234-1001: no such file or directory)\n" +
		"7         1          12003   bad (cache and/or sealed paths not found, cache \"\", sealed \"\")\n"
	sampleCheckSummary = "deadline  partition  good  bad\n" +
		"7         0          2348  1\n" +
		"7         1          1203  0\n"
	sampleFaults = "Miner: f01234\n" +
		"deadline  partition  sectors  expiration(days)\n" +
		"  7       0          1001     512.5086805555555\n" +
		"  12      1          23007    312.5\n"
	sampleInfo = "Sealer: f01234\n" +
		"Current Epoch:           3512345\n" +
		"Proving Period Boundary: 1200\n" +
		"Proving Period Start:    3511920 (3 hours 32 minutes ago)\n" +
		"Next Period Start:       3514800 (in 20 hours 27 minutes)\n" +
		"\n" +
		"Faults:      3 (0.00%)\n" +
		"Recovering:  0\n" +
		"Deadline Index:       7\n" +
		"Deadline Sectors:     4698\n" +
		"Deadline Open:        3512340 (2 minutes 30 seconds ago)\n" +
		"Deadline Close:       3512400 (in 27 minutes 30 seconds)\n" +
		"Deadline Challenge:   3512320 (12 minutes 30 seconds ago)\n" +
		"Deadline FaultCutoff: 3512270 (37 minutes 30 seconds ago)\n"
	sampleDeadlines = "Sealer: f01234\n" +
		"deadline  open      partitions  sectors (faults)  proven partitions\n" +
		"0         03:30:00  1           2349 (0)          1\n" +
		"7         07:00:00  2           4698 (3)          0  (current)\n" +
		"47        03:00:00  0           0 (0)             0\n"
)

const (
	reasonStat  = "stat object sealed/s-t01234-1001 for sealed file: stat /mnt/store1/sealed/s-t01234-1001: no such file or directory"
	reasonPaths = `cache and/or sealed paths not found, cache "", sealed ""`
)

func TestParseCheck(t *testing.T) {
	both := []BadSector{{0, 1001, reasonStat}, {1, 12003, reasonPaths}}
	for _, tc := range []struct {
		name string
		out  string
		want *Check
	}{
		{"detail", sampleCheckDetail, &Check{Deadline: 7, Detail: true, Bad: both, BadCount: 2}},
		{"random order", "deadline  partition  sector  status\n" +
			"7         1          12003   bad (" + reasonPaths + ")\n" +
			"7         0          1001    bad (" + reasonStat + ")\n",
			&Check{Deadline: 7, Detail: true, Bad: both, BadCount: 2}},
		{"only header", "deadline  partition  sector  status\n", &Check{Deadline: -1, Detail: true}},
		{"colour", "deadline  partition  sector  status\n" +
			"7         0          1001    \x1b[31mbad\x1b[0m (" + reasonStat + ")\n" +
			"7         0          1002    \x1b[32mgood\x1b[0m\n" +
			"7         1          12003   \x1b[31mbad\x1b[0m (" + reasonPaths + ")\r\n",
			&Check{Deadline: 7, Detail: true, Bad: both, BadCount: 2, Good: 1}},
		{"good rows", "deadline  partition  sector  status\n" +
			"3         0          10      good\n3         0          11      good\n",
			&Check{Deadline: 3, Detail: true, Good: 2}},
		{"multi-line reason", "deadline  partition  sector  status\n" +
			"7         0          1001    bad (generate vanilla proof of 1001 failed: ffi error:\n" +
			"   0: storage_proofs_core::error::Error::Unclassified(\"bad path\")\n" +
			"\n" +
			"   1: filecoin_proofs::api::post_util::generate_single_vanilla_proof)\n" +
			"7  0  999  bad (reason (with parens): x)\n",
			&Check{Deadline: 7, Detail: true, BadCount: 2, Bad: []BadSector{
				{0, 999, "reason (with parens): x"},
				{0, 1001, "generate vanilla proof of 1001 failed: ffi error:\n   0: storage_proofs_core::error::Error::Unclassified(\"bad path\")\n\n   1: filecoin_proofs::api::post_util::generate_single_vanilla_proof"},
			}}},
		{"summary", sampleCheckSummary, &Check{Deadline: 7, Good: 3551, BadCount: 1,
			Partitions: []PartitionCount{{0, 2348, 1}, {1, 1203, 0}}}},
		{"summary doc", "deadline  partition  good  bad\n0         0          2349  0\n",
			&Check{Deadline: 0, Good: 2349, Partitions: []PartitionCount{{0, 2349, 0}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCheck(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseCheckGarbage(t *testing.T) {
	for _, tc := range []struct{ name, out, want string }{
		{"empty", "", "proving check output: empty: no table"},
		{"blank", "\n\n \n", "proving check output: empty: no table"},
		{"no header", "7  0  1001  bad (x)\n", `proving check output line 1: want the header`},
		{"html", "<html><body>502 Bad Gateway</body></html>\n", `proving check output line 1: want the header`},
		{"junk row", "deadline  partition  sector  status\nhello world\n", `line 2: not a row of deadline, partition, sector and status: "hello world"`},
		{"two deadlines", "deadline  partition  sector  status\n7 0 1 bad (x)\n8 0 2 bad (y)\n", "a row of deadline 8 after rows of deadline 7"},
		{"deadline 48", "deadline  partition  sector  status\n48 0 1 bad (x)\n", "deadline out of range"},
		{"huge number", "deadline  partition  sector  status\n7 0 99999999999999999999999 bad (x)\n", "number out of range"},
		{"good with reason", "deadline  partition  sector  status\n7 0 1 good (x)\n", "a good row with a reason"},
		{"summary junk", "deadline  partition  good  bad\n7 0 x 1\n", "not a row of deadline, partition, good and bad counts"},
		{"binary", "\x00\xff\xfe deadline\n", "want the header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCheck(tc.out)
			var pe *ParseError
			if !errors.As(err, &pe) || got != nil {
				t.Fatalf("got %+v, %v; want a ParseError", got, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseFaults(t *testing.T) {
	got, err := ParseFaults("Miner: \x1b[34mf01234\x1b[0m\n" + strings.SplitN(sampleFaults, "\n", 2)[1])
	if err != nil {
		t.Fatal(err)
	}
	want := &Faults{Miner: "f01234", Sectors: []Fault{{7, 0, 1001, 512.5086805555555}, {12, 1, 23007, 312.5}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	got, err = ParseFaults("Miner: f01234\ndeadline  partition  sectors  expiration(days)\n")
	if err != nil || len(got.Sectors) != 0 {
		t.Errorf("no faults: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "deadline  partition  sectors  expiration(days)\n", "Miner: f01234\n", "Miner: f01234\ndeadline  partition  sectors  expiration(days)\n  7  0  x  1.5\n"} {
		if got, err := ParseFaults(bad); err == nil {
			t.Errorf("%q: parsed as %+v", bad, got)
		}
	}
}

func TestParseInfo(t *testing.T) {
	got, err := ParseInfo(sampleInfo)
	if err != nil {
		t.Fatal(err)
	}
	if got.Miner != "f01234" || got.CurrentEpoch != 3512345 || got.DeadlineIndex != 7 || got.Faults != 3 || got.Recovering != 0 {
		t.Errorf("got %+v", got)
	}
	if got.Values["Deadline Close"] != "3512400 (in 27 minutes 30 seconds)" || len(got.Values) != 13 {
		t.Errorf("values %q", got.Values)
	}
	if FaultDeadline(got.DeadlineIndex) != 9 || FaultDeadline(46) != 0 || FaultDeadline(47) != 1 {
		t.Error("FaultDeadline")
	}
	for _, bad := range []string{"", "Sealer: f01234\n", strings.Replace(sampleInfo, "Deadline Index:       7", "Deadline Index:       x", 1), strings.Replace(sampleInfo, "Deadline Index:       7", "Deadline Index:       48", 1), "panic: boom\n\ngoroutine 1 [running]:\n"} {
		if got, err := ParseInfo(bad); err == nil {
			t.Errorf("%q: parsed as %+v", bad, got)
		}
	}
}

func TestParseDeadlines(t *testing.T) {
	got, err := ParseDeadlines(sampleDeadlines)
	if err != nil {
		t.Fatal(err)
	}
	want := &DeadlineTable{Miner: "f01234", Rows: []DeadlineRow{
		{0, "03:30:00", 1, 2349, 0, 1, false},
		{7, "07:00:00", 2, 4698, 3, 0, true},
		{47, "03:00:00", 0, 0, 0, 0, false},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if c := got.Current(); c == nil || c.Deadline != 7 {
		t.Errorf("current %+v", c)
	}
	for _, bad := range []string{"", "Sealer: f01234\n", "Sealer: f01234\ndeadline  open      partitions  sectors (faults)  proven partitions\n0  03:30:00  1  2349  1\n"} {
		if got, err := ParseDeadlines(bad); err == nil {
			t.Errorf("%q: parsed as %+v", bad, got)
		}
	}
}

func TestCheckArgs(t *testing.T) {
	for _, tc := range []struct {
		tool string
		ddl  int
		o    CheckOptions
		want string
	}{
		{VenusSealer, 7, CheckOptions{OnlyBad: true}, "proving check --only-bad 7"},
		{VenusSealer, 0, CheckOptions{Repo: "/srv/sealer", Actor: "f01234", Slow: true}, "--repo /srv/sealer proving --actor f01234 check --slow 0"},
		{DamoclesManager, 47, CheckOptions{Miner: "1234", OnlyBad: true}, "util sealer proving --miner 1234 check --detail --only-bad 47"},
		{DamoclesManager, 9, CheckOptions{Miner: "f01234", Home: "/srv/dm", OnlyBad: true, Slow: true}, "--home /srv/dm util sealer proving --miner f01234 check --detail --only-bad --slow 9"},
	} {
		got, err := CheckArgs(tc.tool, tc.ddl, tc.o)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s %d %+v: got %q, %v; want %q", tc.tool, tc.ddl, tc.o, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		tool string
		ddl  int
		o    CheckOptions
	}{{VenusSealer, -1, CheckOptions{}}, {VenusSealer, 48, CheckOptions{}}, {DamoclesManager, 7, CheckOptions{}}, {"lotus-miner", 7, CheckOptions{}}} {
		if got, err := CheckArgs(tc.tool, tc.ddl, tc.o); err == nil {
			t.Errorf("%s %d %+v: got %q", tc.tool, tc.ddl, tc.o, got)
		}
	}
}
