package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// fileDoc is the shape of a rule file.
type fileDoc struct {
	Rules yaml.Node `yaml:"rules"`
}

// ruleDoc is the shape of one rule (SPEC §4). Expressions and lists are
// kept as nodes so that their problems can be reported where they are.
type ruleDoc struct {
	Name        yaml.Node         `yaml:"name"`
	Description string            `yaml:"description"`
	Source      yaml.Node         `yaml:"source"`
	When        yaml.Node         `yaml:"when"`
	Severity    yaml.Node         `yaml:"severity"`
	Summary     yaml.Node         `yaml:"summary"`
	Cooldown    yamlconf.Duration `yaml:"cooldown"`
	Threshold   *thresholdDoc     `yaml:"threshold"`
	Actions     yaml.Node         `yaml:"actions"`
	Resolve     yaml.Node         `yaml:"resolve"`
	Verify      *verifyDoc        `yaml:"verify"`
	Absent      *absentDoc        `yaml:"absent"`
	Sequence    *sequenceDoc      `yaml:"sequence"`
	Budget      *budgetDoc        `yaml:"budget"`
	Escalate    yaml.Node         `yaml:"escalate"`
}

type thresholdDoc struct {
	Count  yaml.Node `yaml:"count"`
	Within yaml.Node `yaml:"within"`
	By     yaml.Node `yaml:"by"`
}

type absentDoc struct {
	Within yaml.Node `yaml:"within"`
	By     yaml.Node `yaml:"by"`
}

type sequenceDoc struct {
	Then   yaml.Node `yaml:"then"`
	Within yaml.Node `yaml:"within"`
	By     yaml.Node `yaml:"by"`
}

type budgetDoc struct {
	Count  yaml.Node `yaml:"count"`
	Within yaml.Node `yaml:"within"`
}

type verifyDoc struct {
	Within    yaml.Node `yaml:"within"`
	Absent    yaml.Node `yaml:"absent"`
	Present   yaml.Node `yaml:"present"`
	OnFailure yaml.Node `yaml:"on_failure"`
	OnSuccess yaml.Node `yaml:"on_success"`
}

// compiler turns rule files into rules, collecting every problem.
type compiler struct {
	opt   Options
	rules []*rule
	names map[string]*rule // rule name → where it was first defined
	errs  []error

	// per file
	fname string
	lines []string
}

func (c *compiler) errAt(n *yaml.Node, format string, args ...any) {
	c.errs = append(c.errs, yamlconf.At(c.fname, n, format, args...))
}

func (c *compiler) errPos(line, col int, format string, args ...any) {
	c.errs = append(c.errs, &yamlconf.PosError{File: c.fname, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// file compiles one rule file.
func (c *compiler) file(name string, b []byte) {
	c.fname = name
	c.lines = strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	root, err := yamlconf.Parse(name, b)
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	if root == nil || root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) ||
		(root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
		return // an empty file (or only comments)
	}
	var doc fileDoc
	if err := yamlconf.Decode(name, root, &doc); err != nil {
		c.errs = append(c.errs, err)
	}
	switch {
	case doc.Rules.Kind == yaml.SequenceNode:
		for _, n := range doc.Rules.Content {
			c.rule(n)
		}
	case doc.Rules.Kind == 0 || (doc.Rules.Kind == yaml.ScalarNode && doc.Rules.Tag == "!!null"):
	default:
		c.errAt(&doc.Rules, "rules must be a list of rules (each starting with \"- name:\")")
	}
}

// rule compiles one entry of `rules:`.
func (c *compiler) rule(n *yaml.Node) {
	var d ruleDoc
	before := len(c.errs)
	if err := yamlconf.Decode(c.fname, n, &d); err != nil {
		c.errs = append(c.errs, err)
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	r := &rule{file: c.fname, line: n.Line, desc: d.Description, severity: SeverityWarning, cooldown: d.Cooldown.D()}

	// name
	switch {
	case d.Name.Kind == 0:
		c.errAt(n, "rule has no name")
	case d.Name.Kind != yaml.ScalarNode || strings.TrimSpace(d.Name.Value) == "":
		c.errAt(&d.Name, "name must be a non-empty string")
	default:
		r.name = d.Name.Value
		r.line, r.col = d.Name.Line, d.Name.Column
		if first, dup := c.names[r.name]; dup {
			c.errAt(&d.Name, "duplicate rule name %q, first defined at %s:%d:%d", r.name, first.file, first.line, first.col)
		} else {
			c.names[r.name] = r
		}
	}

	// source
	if d.Source.Kind != 0 {
		r.srcNames = c.nameList(&d.Source, "source")
		seen := map[string]bool{}
		for _, s := range r.srcNames {
			cs := event.CanonicalSource(s)
			if !seen[cs] {
				seen[cs] = true
				r.sources = append(r.sources, cs)
			}
		}
	}

	// when
	if d.When.Kind == 0 {
		if r.name == "" {
			c.errAt(n, "rule has no when")
		} else {
			c.errAt(n, "rule %q has no when", r.name)
		}
	} else {
		r.when, r.pre = c.expr(n, "when", &d.When, true)
		r.whenSrc = d.When.Value
	}

	// severity
	if d.Severity.Kind != 0 {
		switch v := d.Severity.Value; {
		case d.Severity.Kind != yaml.ScalarNode:
			c.errAt(&d.Severity, "severity must be info, warning or critical")
		case v == SeverityInfo || v == SeverityWarning || v == SeverityCritical:
			r.severity = v
		default:
			msg := fmt.Sprintf("bad severity %q: use info, warning or critical", v)
			if s := yamlconf.Suggest(strings.ToLower(v), []string{SeverityInfo, SeverityWarning, SeverityCritical}); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			c.errAt(&d.Severity, "%s", msg)
		}
	}

	// summary
	if d.Summary.Kind != 0 {
		if d.Summary.Kind != yaml.ScalarNode {
			c.errAt(&d.Summary, "summary must be a template string")
		} else if t, err := event.ParseTemplate(r.name, d.Summary.Value); err != nil {
			c.templateErr(n, "summary", &d.Summary, err)
		} else {
			r.summary = t
		}
	}

	// threshold
	if tn := valueOf(n, "threshold"); d.Threshold != nil && tn.Kind == yaml.MappingNode {
		r.count = c.count(tn, "threshold", &d.Threshold.Count)
		r.within = c.window(tn, "threshold", &d.Threshold.Within)
		if d.Threshold.By.Kind != 0 {
			r.by, _ = c.expr(tn, "by", &d.Threshold.By, false)
			r.bySrc = d.Threshold.By.Value
		}
	}

	// absent, sequence: at most one of them, and neither with a threshold
	c.exclusive(n, "threshold", "absent", "sequence")
	if an := valueOf(n, "absent"); d.Absent != nil && an.Kind == yaml.MappingNode {
		r.absent = &absentSpec{within: c.window(an, "absent", &d.Absent.Within)}
		if d.Absent.By.Kind != 0 {
			r.by, _ = c.expr(an, "by", &d.Absent.By, false)
			r.bySrc = d.Absent.By.Value
		}
	}
	if sn := valueOf(n, "sequence"); d.Sequence != nil && sn.Kind == yaml.MappingNode {
		q := &sequenceSpec{}
		if d.Sequence.Then.Kind == 0 {
			c.errAt(sn, "sequence needs then (what must follow an event matching when)")
		} else {
			q.then, q.pre = c.expr(sn, "then", &d.Sequence.Then, true)
			q.thenSrc = d.Sequence.Then.Value
		}
		q.within = c.window(sn, "sequence", &d.Sequence.Within)
		if d.Sequence.By.Kind != 0 {
			r.by, _ = c.expr(sn, "by", &d.Sequence.By, false)
			r.bySrc = d.Sequence.By.Value
		}
		r.seq = q
	}

	// budget, escalate
	if bn := valueOf(n, "budget"); d.Budget != nil && bn.Kind == yaml.MappingNode {
		r.budget = &budgetSpec{
			count:  c.count(bn, "budget", &d.Budget.Count),
			within: c.window(bn, "budget", &d.Budget.Within),
		}
	}
	if d.Escalate.Kind != 0 {
		r.escalate = c.actions(&d.Escalate, "escalate")
		if d.Budget == nil {
			k, _ := yamlconf.Pair(n, "escalate")
			c.errAt(k, "escalate needs a budget: it lists the actions run instead of the rule's actions once the budget is used up")
		}
	}

	// actions
	if d.Actions.Kind != 0 {
		r.actions = c.actions(&d.Actions, "actions")
	}

	// resolve
	if d.Resolve.Kind != 0 {
		r.resolve, r.resolvePre = c.expr(n, "resolve", &d.Resolve, true)
	}

	// verify
	if vn := valueOf(n, "verify"); d.Verify != nil && vn.Kind == yaml.MappingNode {
		v := &verifySpec{}
		if d.Verify.Within.Kind == 0 {
			c.errAt(vn, "verify needs within (a duration)")
		} else if w, ok := c.duration(&d.Verify.Within); ok {
			if w <= 0 {
				c.errAt(&d.Verify.Within, "verify within must be longer than 0")
			}
			v.within = w
		}
		switch {
		case d.Verify.Absent.Kind != 0 && d.Verify.Present.Kind != 0:
			second := &d.Verify.Present
			if d.Verify.Absent.Line > second.Line || (d.Verify.Absent.Line == second.Line && d.Verify.Absent.Column > second.Column) {
				second = &d.Verify.Absent
			}
			c.errAt(second, "verify takes either absent or present, not both")
		case d.Verify.Absent.Kind != 0:
			v.absent = true
			v.cond, v.pre = c.expr(vn, "absent", &d.Verify.Absent, true)
		case d.Verify.Present.Kind != 0:
			v.cond, v.pre = c.expr(vn, "present", &d.Verify.Present, true)
		default:
			c.errAt(vn, "verify needs absent (what must not be seen again) or present (what must be seen)")
		}
		if d.Verify.OnFailure.Kind != 0 {
			v.onFailure = c.actions(&d.Verify.OnFailure, "on_failure")
		}
		if d.Verify.OnSuccess.Kind != 0 {
			v.onSuccess = c.actions(&d.Verify.OnSuccess, "on_success")
		}
		r.verify = v
	}

	if len(c.errs) == before {
		c.rules = append(c.rules, r)
	}
}

// count reads the count of a threshold or a budget (what), a whole
// number of at least 1, in mapping m.
func (c *compiler) count(m *yaml.Node, what string, n *yaml.Node) int {
	if n.Kind == 0 {
		c.errAt(m, "%s needs a count", what)
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	switch {
	case err != nil || n.Kind != yaml.ScalarNode:
		c.errAt(n, "%s count must be a whole number, got %q", what, n.Value)
		return 0
	case v < 1:
		c.errAt(n, "%s count must be at least 1, got %d", what, v)
		return 0
	}
	return v
}

// window reads the `within` of a threshold, absent, sequence or budget
// (what), a duration longer than 0, in mapping m.
func (c *compiler) window(m *yaml.Node, what string, n *yaml.Node) time.Duration {
	if n.Kind == 0 {
		c.errAt(m, "%s needs within (a duration)", what)
		return 0
	}
	v, ok := c.duration(n)
	if ok && v <= 0 {
		c.errAt(n, "%s within must be longer than 0", what)
	}
	return v
}

// exclusive reports every key of rule mapping m that comes after another
// of keys: those rule kinds do not combine.
func (c *compiler) exclusive(m *yaml.Node, keys ...string) {
	var first string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if !slices.Contains(keys, k.Value) {
			continue
		}
		if first == "" || first == k.Value {
			first = k.Value
			continue
		}
		c.errAt(k, "%s cannot be combined with %s in one rule", k.Value, first)
	}
}

// names reads a name or a list of names.
func (c *compiler) nameList(n *yaml.Node, what string) []string {
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		c.errAt(n, "%s must be a name or a list of names", what)
		return nil
	}
	var out []string
	for _, it := range items {
		if it.Kind != yaml.ScalarNode || strings.TrimSpace(it.Value) == "" {
			c.errAt(it, "%s must be a name or a list of names", what)
			continue
		}
		out = append(out, it.Value)
	}
	return out
}

// actions reads a list of action names and checks that they exist.
func (c *compiler) actions(n *yaml.Node, what string) []string {
	names := c.nameList(n, what)
	items := n.Content
	if n.Kind == yaml.ScalarNode {
		items = []*yaml.Node{n}
	}
	if c.opt.ActionExists != nil {
		for _, it := range items {
			if it.Kind == yaml.ScalarNode && it.Value != "" && !c.opt.ActionExists(it.Value) {
				c.errAt(it, "unknown action %q: no action of that name is configured", it.Value)
			}
		}
	}
	return names
}

// duration reads a duration value the way yamlconf.Duration does.
func (c *compiler) duration(n *yaml.Node) (time.Duration, bool) {
	var d yamlconf.Duration
	if err := d.UnmarshalYAML(n); err != nil {
		c.errAt(n, "%s", err.Error())
		return 0, false
	}
	return d.D(), true
}

// valueOf returns the value node of key in mapping m (m itself when absent).
func valueOf(m *yaml.Node, key string) *yaml.Node {
	if k, v := yamlconf.Pair(m, key); k != nil {
		return v
	}
	return m
}

// fieldNames are the event's names in expressions (the expr tags).
var fieldNames = func() []string {
	var out []string
	t := reflect.TypeOf(event.Event{})
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("expr"); tag != "" {
			out = append(out, tag)
		}
	}
	return out
}()

// exprOptions are the options every expression is compiled with. Builtins
// that read the wall clock (now) would break event-time semantics, and
// repeat can build huge strings before the memory budget notices.
func exprOptions(asBool bool) []expr.Option {
	opts := []expr.Option{
		expr.Env(event.Event{}),
		expr.DisableBuiltin("repeat"),
		expr.DisableBuiltin("now"),
		expr.MaxNodes(1000),
	}
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	return opts
}

// fieldSynonyms are names people write for the event's fields.
var fieldSynonyms = map[string]string{
	"message": "msg", "timestamp": "time", "ts": "time", "component": "source",
	"lvl": "level", "hostname": "host", "text": "line", "raw": "line",
}

// suggestField returns the event field name closest to name: a near
// spelling, a common synonym, or a field whose letters name keeps in order
// (mesage → msg).
func suggestField(name string) string {
	l := strings.ToLower(name)
	if s := yamlconf.Suggest(l, fieldNames); s != "" {
		return s
	}
	if s, ok := fieldSynonyms[l]; ok {
		return s
	}
	for _, f := range fieldNames {
		if l[0] == f[0] && len(l) <= 2*len(f)+1 && subsequence(f, l) {
			return f
		}
	}
	return ""
}

// subsequence reports whether the letters of a appear in b in order.
func subsequence(a, b string) bool {
	i := 0
	for j := 0; j < len(b) && i < len(a); j++ {
		if a[i] == b[j] {
			i++
		}
	}
	return i == len(a)
}

var unknownName = regexp.MustCompile(`^unknown name (\w+)$`)

// expr compiles the expression in val (the value of key in mapping m) and
// reports its problems at their place in the file.
func (c *compiler) expr(m *yaml.Node, key string, val *yaml.Node, asBool bool) (p *vm.Program, pre []cond) {
	if val.Kind != yaml.ScalarNode || strings.TrimSpace(val.Value) == "" {
		c.errAt(val, "%s must be an expression", key)
		return nil, nil
	}
	k, _ := yamlconf.Pair(m, key)
	src := val.Value
	p, err := compileExpr(src, asBool)
	if err == nil {
		return p, prefilter(src)
	}
	var fe *file.Error
	if !errors.As(err, &fe) {
		msg := err.Error()
		if got, ok := strings.CutPrefix(msg, "expected bool, but got "); ok {
			msg = fmt.Sprintf("%s must be a boolean expression, but this one gives %s", key, got)
		}
		c.errAt(val, "%s", msg)
		return nil, nil
	}
	msg := fe.Message
	if mm := unknownName.FindStringSubmatch(msg); mm != nil {
		switch name := mm[1]; name {
		case "now":
			msg = "now() is not available in rules: they run on the event's own time (use time)"
		case "repeat":
			msg = "repeat() is not available in rules"
		default:
			msg = fmt.Sprintf("unknown field %q", name)
			if s := suggestField(name); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
		}
	}
	if msg == "unexpected token EOF" {
		msg = "unexpected end of the expression"
	}
	line, col := scalarPos(c.lines, k, val, fe.From)
	c.errPos(line, col, "%s", msg)
	return nil, nil
}

// compileExpr compiles an expression, turning a panic in the compiler into an error.
func compileExpr(src string, asBool bool) (p *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("cannot compile expression: %v", r)
		}
	}()
	return expr.Compile(src, exprOptions(asBool)...)
}

var templateLine = regexp.MustCompile(`^template: [^:]*:(\d+):(?:(\d+):)? ?(.*)$`)

// templateErr reports a template parse error at its line in the value.
func (c *compiler) templateErr(m *yaml.Node, key string, val *yaml.Node, err error) {
	k, _ := yamlconf.Pair(m, key)
	msg := err.Error()
	off := 0
	if mm := templateLine.FindStringSubmatch(msg); mm != nil {
		ln, _ := strconv.Atoi(mm[1])
		msg = mm[3]
		rs := []rune(val.Value)
		for i, l := 0, 1; i < len(rs) && l < ln; i++ {
			if rs[i] == '\n' {
				l++
				off = i + 1
			}
		}
	}
	line, col := scalarPos(c.lines, k, val, off)
	c.errPos(line, col, "bad %s template: %s", key, msg)
}
