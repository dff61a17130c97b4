package yamlconf

import (
	"strings"
	"testing"
	"time"
)

type inner struct {
	Count  int      `yaml:"count"`
	Within Duration `yaml:"within"`
}

type outer struct {
	Name string   `yaml:"name"`
	When string   `yaml:"when"`
	Th   *inner   `yaml:"threshold"`
	List []inner  `yaml:"list"`
	Tags []string `yaml:"tags"`
}

func TestDecodeReportsEveryProblemWithPosition(t *testing.T) {
	src := "name: x\nwhne: y\nthreshold:\n  count: abc\n  within: 5 min\n  extra: 1\nlist:\n  - count: 2\n    bogus: 3\n"
	n, err := Parse("r.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var o outer
	err = Decode("r.yaml", n, &o)
	var got []string
	for _, e := range Sorted(err) {
		got = append(got, e.Error())
	}
	want := []string{
		`r.yaml:2:1: unknown field "whne"; did you mean "when"?`,
		`r.yaml:4:10: cannot unmarshal string ` + "`abc`" + ` into int`,
		`r.yaml:5:11: bad duration "5 min": write a number and a unit, e.g. 30s, 10m, 2h, 1d`,
		`r.yaml:6:3: unknown field "extra"`,
		`r.yaml:9:5: unknown field "bogus"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if o.Name != "x" || o.List[0].Count != 2 {
		t.Errorf("valid fields not decoded: %+v", o)
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse("bad.yaml", []byte("rules:\n  - name: a\n   when: b\n"))
	// yaml.v3 reports the line of the enclosing block for this mistake.
	if err == nil || !strings.HasPrefix(err.Error(), "bad.yaml:1:1: YAML syntax error: did not find expected '-' indicator") {
		t.Fatalf("got %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "2d": 48 * time.Hour, "1d12h": 36 * time.Hour, "1h30m": 90 * time.Minute} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s: got %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "5 min", "-1s", "xd"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
