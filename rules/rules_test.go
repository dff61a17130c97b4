package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// configured is the action set the bad-file tests check names against.
func configured(name string) bool { return name == "ops" || name == "wallet-setpwd" }

// errLines renders a Load error the way `check` prints it.
func errLines(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	for _, e := range yamlconf.Sorted(err) {
		var pe *yamlconf.PosError
		if !errors.As(e, &pe) {
			t.Errorf("not a PosError: %T %v", e, e)
		}
		out = append(out, e.Error())
	}
	return out
}

// TestBadFiles loads every testdata/bad/NAME.yaml (after the files of
// NAME.d/ when that exists) and compares the problems with NAME.errors.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".errors")
			if err != nil {
				t.Fatal(err)
			}
			paths := []string{f}
			if d := strings.TrimSuffix(f, ".yaml") + ".d"; exists(d) {
				paths = []string{d, f}
			}
			set, err := Load(paths, Options{ActionExists: configured})
			if err == nil {
				t.Fatalf("loaded %d rules, want errors", len(set.Rules()))
			}
			if set != nil {
				t.Errorf("got a Set along with errors")
			}
			got := errLines(t, err)
			if diff := cmp.Diff(strings.Split(strings.TrimSpace(string(want)), "\n"), got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestGoodFiles(t *testing.T) {
	set, err := Load([]string{"testdata/good"}, Options{ActionExists: configured, Host: "miner-1"})
	if err != nil {
		t.Fatalf("good rules rejected:\n%s", strings.Join(errLines(t, err), "\n"))
	}
	wantFiles := []string{
		"testdata/good/comments-only.yaml", "testdata/good/empty-list.yaml", "testdata/good/empty.yaml",
		"testdata/good/every-key.yml", "testdata/good/null-list.yaml", "testdata/good/wallet.yaml",
	}
	if diff := cmp.Diff(wantFiles, set.Files()); diff != "" {
		t.Errorf("files (-want +got), hidden and non-YAML files must be skipped:\n%s", diff)
	}
	var names []string
	for _, r := range set.Rules() {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{"messager-push-failed", "any-panic", "chain-stalled", "push-not-confirmed", "wallet-password-not-set", "wallet-listener-restart-loop"}, names); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	info := set.Rules()[4]
	want := Info{
		Name: "wallet-password-not-set", Description: "venus-wallet cannot sign because its password is not set",
		File: "testdata/good/wallet.yaml", Line: 3, Sources: []string{"venus-wallet"},
		When:     `level == "ERROR" && msg contains "WalletSign error password not set"`,
		Severity: "critical", Actions: []string{"ops", "wallet-setpwd"}, Cooldown: 15 * time.Minute,
		OnFailure: []string{"ops"},
	}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
	if got := set.Rules()[1]; got.Severity != "info" || len(got.Actions) != 0 || got.Actions == nil {
		t.Errorf("any-panic: severity %q actions %#v, want info and []", got.Severity, got.Actions)
	}
	if got := set.Rules()[5].Severity; got != "warning" {
		t.Errorf("default severity %q, want warning", got)
	}
	absence := set.Rules()[2]
	if absence.Absent != 3*time.Minute || absence.By != "host" || *absence.Budget != (BudgetInfo{Count: 2, Within: time.Hour}) ||
		strings.Join(absence.Escalate, ",") != "ops" {
		t.Errorf("chain-stalled: %+v", absence)
	}
	seq := set.Rules()[3]
	if *seq.Sequence != (SequenceInfo{Then: `msg == "message on chain"`, Within: 5 * time.Minute}) || seq.By != `fields["id"]` ||
		*seq.Budget != (BudgetInfo{Count: 1, Within: 24 * time.Hour}) || seq.Escalate == nil || len(seq.Escalate) != 0 {
		t.Errorf("push-not-confirmed: %+v", seq)
	}
	if diff := cmp.Diff([]string{"ops", "wallet-setpwd"}, set.ActionNames()); diff != "" {
		t.Errorf("action names (-want +got):\n%s", diff)
	}
}

func TestActionsNotCheckedWithoutConfiguration(t *testing.T) {
	if _, err := Load([]string{"testdata/bad/unknown-action.yaml"}, Options{}); err != nil {
		t.Fatalf("rule files alone must not check action names: %v", err)
	}
}

func TestLoadFilesUsesKeysInPositions(t *testing.T) {
	files := map[string][]byte{
		"rules.d/b.yaml": []byte("rules:\n  - name: b\n    when: mesage == \"x\"\n"),
		"rules.d/a.yaml": []byte("rules:\n  - name: a\n    when: msg == \"x\"\n"),
	}
	_, err := LoadFiles(files, Options{})
	got := errLines(t, err)
	want := []string{`rules.d/b.yaml:3:11: unknown field "mesage"; did you mean "msg"?`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	files["rules.d/b.yaml"] = []byte("rules:\n  - name: b\n    when: msg == \"y\"\n")
	set, err := LoadFiles(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"rules.d/a.yaml", "rules.d/b.yaml"}, set.Files()); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestLoadReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "rules:\n  - name: a\n    when: msg ==\n")
	write("b.yml", "rulez: []\n")
	write("c.txt", "ignored")
	_, err := Load([]string{dir, filepath.Join(dir, "missing.yaml")}, Options{})
	got := errLines(t, err)
	want := []string{
		filepath.Join(dir, "a.yaml") + ":3:16: unexpected end of the expression",
		filepath.Join(dir, "b.yml") + `:1:1: unknown field "rulez"; did you mean "rules"?`,
		filepath.Join(dir, "missing.yaml") + ":1:1: cannot read rules: no such file or directory",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLoadRefusesFilesOthersCanWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(p, []byte("rules:\n  - name: a\n    when: msg == \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]string{p}, Options{}); err != nil {
		t.Fatalf("0644 refused: %v", err)
	}
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	_, err := Load([]string{dir}, Options{})
	got := errLines(t, err)
	want := []string{p + ":1:1: refusing rule file: writable by everyone (chmod o-w " + p + ")"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestScalarPositions(t *testing.T) {
	// The same mistake (the field "lvl") in every style of scalar.
	src := strings.Join([]string{
		"rules:",
		"  - {name: flow, when: 'msg == \"a\" && lvl == \"b\"'}",
		"  - name: crlf-literal",
		"    when: |-",
		"        msg == \"a\"",
		"        && lvl == \"b\"",
		"  - name: folded-blank-lines",
		"    when: >",
		"      msg == \"a\"",
		"",
		"      && lvl == \"b\"",
		"  - name: escaped-newline",
		"    when: \"msg == \\\"a\\\" \\",
		"      && lvl == \\\"b\\\"\"",
		"",
	}, "\r\n")
	_, err := LoadFiles(map[string][]byte{"p.yaml": []byte(src)}, Options{})
	got := errLines(t, err)
	want := []string{
		`p.yaml:2:39: unknown field "lvl"; did you mean "level"?`,
		`p.yaml:6:12: unknown field "lvl"; did you mean "level"?`,
		`p.yaml:11:10: unknown field "lvl"; did you mean "level"?`,
		`p.yaml:14:10: unknown field "lvl"; did you mean "level"?`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
