// Package yamlconf decodes the YAML of configuration and rule files
// strictly and reports every problem with its position, the way `check`
// prints it: FILE:LINE:COL: message. It is a leaf package shared by every
// stage that reads configuration (rules, actions, sources, daemon).
package yamlconf

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// PosError is a problem at a place in a file.
type PosError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *PosError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// At returns a PosError at node n of file.
func At(file string, n *yaml.Node, format string, args ...any) *PosError {
	line, col := 1, 1
	if n != nil {
		line, col = n.Line, n.Column
	}
	return &PosError{File: file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// Flatten returns the leaf errors inside err (as built by errors.Join, at
// any depth), in order.
func Flatten(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		out = append(out, e)
	}
	walk(err)
	return out
}

// Sorted returns the errors inside err (see Flatten) with the PosErrors
// ordered by file and position first; other errors follow, so nothing is lost.
func Sorted(err error) []error {
	out := Flatten(err)
	sort.SliceStable(out, func(i, j int) bool {
		a, aok := out[i].(*PosError)
		b, bok := out[j].(*PosError)
		if !aok || !bok {
			return aok && !bok
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return out
}

// Pair returns the key and value nodes of key in mapping m (nil, nil when
// m is not a mapping or lacks the key).
func Pair(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseFile reads and parses a YAML file into its document node. A syntax
// error is returned as a PosError.
func ParseFile(path string) (*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse parses YAML text into its document node (nil content for an empty file).
func Parse(file string, b []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := err.Error()
		line := 1
		if m := syntaxLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		return nil, &PosError{File: file, Line: line, Col: 1, Msg: "YAML syntax error: " + msg}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

var (
	nodeType  = reflect.TypeOf(yaml.Node{})
	unmarshal = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// Decode decodes node n of file into v, a pointer to a struct, strictly:
// every key that v's `yaml` tags do not name is reported at its position
// (with a suggestion when a known key is close), a duplicate key too, and a
// value of the wrong type at the value's position. Fields of type yaml.Node
// receive the raw node. It reports all the problems it finds, joined.
func Decode(file string, n *yaml.Node, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("yamlconf.Decode: v must be a non-nil pointer")
	}
	var errs []error
	decodeValue(file, n, rv.Elem(), &errs)
	return errors.Join(errs...)
}

func decodeValue(file string, n *yaml.Node, rv reflect.Value, errs *[]error) {
	if n == nil {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	t := rv.Type()
	switch {
	case t == nodeType:
		rv.Set(reflect.ValueOf(*n))
		return
	case t.Kind() == reflect.Pointer && t.Elem() == nodeType:
		c := *n
		rv.Set(reflect.ValueOf(&c))
		return
	case reflect.PointerTo(t).Implements(unmarshal) || t.Implements(unmarshal):
		// the type decodes itself
	case t.Kind() == reflect.Struct:
		decodeStruct(file, n, rv, errs)
		return
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && !t.Implements(unmarshal):
		if isNull(n) {
			return
		}
		p := reflect.New(t.Elem())
		decodeValue(file, n, p.Elem(), errs)
		rv.Set(p)
		return
	case t.Kind() == reflect.Slice && needsWalk(t.Elem()):
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, At(file, n, "expected a list, got %s", kindName(n)))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			decodeValue(file, item, s.Index(i), errs)
		}
		rv.Set(s)
		return
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && needsWalk(t.Elem()):
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, At(file, n, "expected a mapping, got %s", kindName(n)))
			return
		}
		m := reflect.MakeMap(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if m.MapIndex(reflect.ValueOf(k.Value).Convert(t.Key())).IsValid() {
				*errs = append(*errs, At(file, k, "duplicate key %q", k.Value))
				continue
			}
			e := reflect.New(t.Elem()).Elem()
			decodeValue(file, val, e, errs)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), e)
		}
		rv.Set(m)
		return
	}
	if err := n.Decode(rv.Addr().Interface()); err != nil {
		*errs = append(*errs, At(file, n, "%s", cleanMsg(err)))
	}
}

func needsWalk(t reflect.Type) bool {
	if t == nodeType || reflect.PointerTo(t).Implements(unmarshal) || t.Implements(unmarshal) {
		return false
	}
	switch t.Kind() {
	case reflect.Struct:
		return true
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.Struct && t.Elem() != nodeType
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func decodeStruct(file string, n *yaml.Node, rv reflect.Value, errs *[]error) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		*errs = append(*errs, At(file, n, "expected a mapping, got %s", kindName(n)))
		return
	}
	fields := map[string][]int{}
	var names []string
	collectFields(rv.Type(), nil, fields, &names)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown field %q", k.Value)
			if s := Suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			*errs = append(*errs, At(file, k, "%s", msg))
			continue
		}
		if seen[k.Value] {
			*errs = append(*errs, At(file, k, "duplicate key %q", k.Value))
			continue
		}
		seen[k.Value] = true
		decodeValue(file, val, rv.FieldByIndex(idx), errs)
	}
}

func collectFields(t reflect.Type, prefix []int, fields map[string][]int, names *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), prefix...), i)
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			collectFields(f.Type, idx, fields, names)
			continue
		}
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = idx
		*names = append(*names, name)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

var unmarshalPrefix = regexp.MustCompile(`^(yaml: )?(unmarshal errors:\s*)?(line \d+: )?`)

func cleanMsg(err error) string {
	msg := unmarshalPrefix.ReplaceAllString(err.Error(), "")
	msg = strings.ReplaceAll(msg, "!!str", "string")
	msg = strings.ReplaceAll(msg, "!!int", "number")
	msg = strings.ReplaceAll(msg, "!!map", "mapping")
	msg = strings.ReplaceAll(msg, "!!seq", "list")
	return msg
}

// Suggest returns the candidate closest to s when it is close enough to be a
// likely misspelling, else "".
func Suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := distance(s, c); d < bestD && d < len(c) {
			best, bestD = c, d
		}
	}
	return best
}

func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Duration is a time.Duration written in YAML as Go writes durations
// ("30s", "10m", "1h30m") or in days ("2d", "1d12h").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("bad duration %q: write a number and a unit, e.g. 30s, 10m, 2h, 1d", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration parses a Go duration with an optional leading days part ("2d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return days + v, nil
}

// Secret is a string that never prints: its String and MarshalYAML return "<secret>".
type Secret string

func (s Secret) String() string { return "<secret>" }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return "<secret>", nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// ReadSecretFile reads a file named by a *_file key: the whole content with
// one trailing newline ("\n" or "\r\n") removed.
func ReadSecretFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return Secret(s), nil
}
