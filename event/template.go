package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// MaxRendered caps the size of one rendered template; the rest is cut and
// marked, so a huge log line cannot make a huge notification or argument.
const MaxRendered = 64 << 10

// Template is a text/template rendered over a firing and its event. The
// data has the event's contract names (.source, .host, .time, .level,
// .logger, .caller, .msg, .fields, .captures, .line, .file, .offset,
// .lineno) and the firing's (.rule, .severity, .summary, .group, .count,
// .results: what earlier actions of a `then` chain produced, by action).
// Functions: field NAME and capture NAME (the value as text, "" when
// absent), json, upper, lower, trunc N, default DEF VALUE, quote.
type Template struct {
	src string
	t   *template.Template
}

var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"trunc": func(n int, s string) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"default": func(def string, v any) string {
		if s := text(v); s != "" {
			return s
		}
		return def
	},
	"quote": func(v any) string { return fmt.Sprintf("%q", text(v)) },
	// field and capture are replaced per render (they need the data).
	"field":   func(string) string { return "" },
	"capture": func(string) string { return "" },
}

// ParseTemplate parses a template; its errors are returned as is (their
// text starts with "template: NAME:LINE:COL:" when the parser knows it).
func ParseTemplate(name, src string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=zero").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, err
	}
	return &Template{src: src, t: t}, nil
}

// String returns the template's source text.
func (t *Template) String() string { return t.src }

// Data returns the values a template sees for firing f.
func Data(f *Firing) map[string]any {
	ev := &f.Event
	fields := ev.Fields
	if fields == nil {
		fields = map[string]any{}
	}
	caps := ev.Captures
	if caps == nil {
		caps = map[string]string{}
	}
	return map[string]any{
		"source": ev.Source, "host": ev.Host, "time": ev.Time, "level": ev.Level,
		"logger": ev.Logger, "caller": ev.Caller, "msg": ev.Msg, "fields": fields,
		"captures": caps, "line": ev.Line, "file": ev.File, "offset": ev.Offset,
		"lineno": ev.LineNo,
		"rule":   f.Rule, "severity": f.Severity, "summary": f.Summary,
		"group": f.Group, "count": f.Count, "results": f.Results,
	}
}

// Render renders the template for firing f. The result is capped at MaxRendered bytes.
func (t *Template) Render(f *Firing) (string, error) {
	ev := &f.Event
	tt, err := t.t.Clone()
	if err != nil {
		return "", err
	}
	tt.Funcs(template.FuncMap{
		"field":   func(k string) string { return text(ev.Fields[k]) },
		"capture": func(k string) string { return ev.Captures[k] },
	})
	var b bytes.Buffer
	w := &capped{buf: &b, left: MaxRendered}
	if err := tt.Execute(w, Data(f)); err != nil && err != errCapped {
		return "", err
	}
	s := strings.ReplaceAll(b.String(), "<no value>", "")
	if w.cut {
		s += "…[cut]"
	}
	return s, nil
}

// text renders a field value as plain text.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case float64:
		// JSON numbers arrive as float64: print 1234567, not 1.234567e+06.
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

var errCapped = fmt.Errorf("template output cap reached")

type capped struct {
	buf  *bytes.Buffer
	left int
	cut  bool
}

func (c *capped) Write(p []byte) (int, error) {
	if len(p) > c.left {
		c.buf.Write(p[:c.left])
		c.left = 0
		c.cut = true
		return 0, errCapped
	}
	c.left -= len(p)
	return c.buf.Write(p)
}
