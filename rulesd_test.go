package venusmedic

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/venus-medic/venus-medic/daemon"
	"github.com/venus-medic/venus-medic/rules"
)

var update = flag.Bool("update", false, "rewrite rules.d/testdata/*/expected.jsonl from the current output")

// TestShippedRules replays every case under rules.d/testdata through the
// shipped rules, as `venus-medic test --rules rules.d/ --source S --json
// rules.d/testdata/CASE/input.log` would, and compares with expected.jsonl.
// It also checks that every shipped rule fires in some case.
func TestShippedRules(t *testing.T) {
	cases, err := filepath.Glob("rules.d/testdata/*/input.log")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	fired := map[string]bool{}
	var all *rules.Set
	for _, input := range cases {
		dir := filepath.Dir(input)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, "source"))
			if err != nil {
				t.Fatal(err)
			}
			set, err := rules.LoadFiles(BuiltinRules(), rules.Options{})
			if err != nil {
				t.Fatal(err)
			}
			all = set
			var out bytes.Buffer
			_, err = daemon.Replay(context.Background(), set, []string{input}, daemon.ReplayOptions{
				Source: strings.TrimSpace(string(src)), Host: "miner-host",
			}, func(h daemon.Hit) {
				fired[h.Firing.Rule] = true
				out.Write(h.JSON())
				out.WriteByte('\n')
			})
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(dir, "expected.jsonl")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(out.String(), "\n")); d != "" {
				t.Errorf("firings differ from %s (-want +got):\n%s", golden, d)
			}
		})
	}
	if all == nil {
		return
	}
	for _, r := range all.Rules() {
		if !fired[r.Name] {
			t.Errorf("shipped rule %s fires in no case under rules.d/testdata", r.Name)
		}
	}
}

// TestShippedRulesCheck: the shipped rules load against the embedded
// default configuration (every action they name exists there).
func TestShippedRulesCheck(t *testing.T) {
	cfg, err := daemon.ParseConfig(DefaultConfigName, DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, n := range cfg.ActionNames() {
		defined[n] = true
	}
	if _, err := daemon.LoadRules(cfg, BuiltinRules(), func(n string) bool { return defined[n] }, ""); err != nil {
		t.Fatal(err)
	}
}
