package rules

import (
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/venus-medic/venus-medic/event"
)

// A cond is one conjunct of an expression's top-level && chain that can be
// checked in plain Go: a string field compared with string literals. Most
// rules start with such tests (`level == "ERROR" && msg contains "..."`),
// so most non-matching events are turned away without running the VM.
//
// A failing cond means the whole expression is false. The expression's
// result is the same either way; the only difference is that a runtime
// error the VM would have met in another conjunct is not counted.
type cond struct {
	field int
	op    int
	lit   string
	set   []string
}

const (
	fSource = iota
	fHost
	fLevel
	fLogger
	fCaller
	fMsg
	fLine
	fFile
)

var stringFields = map[string]int{
	"source": fSource, "host": fHost, "level": fLevel, "logger": fLogger,
	"caller": fCaller, "msg": fMsg, "line": fLine, "file": fFile,
}

const (
	opEq = iota
	opNe
	opContains
	opPrefix
	opSuffix
	opIn
)

var binaryOps = map[string]int{
	"==": opEq, "!=": opNe, "contains": opContains, "startsWith": opPrefix,
	"endsWith": opSuffix, "in": opIn,
}

// prefilter returns the conds of a compiled (so valid) expression.
func prefilter(src string) []cond {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	var out []cond
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		b, ok := n.(*ast.BinaryNode)
		if !ok {
			return
		}
		if b.Operator == "&&" || b.Operator == "and" {
			walk(b.Left)
			walk(b.Right)
			return
		}
		if c, ok := toCond(b); ok {
			out = append(out, c)
		}
	}
	walk(tree.Node)
	return out
}

func toCond(b *ast.BinaryNode) (cond, bool) {
	op, ok := binaryOps[b.Operator]
	if !ok {
		return cond{}, false
	}
	left, right := b.Left, b.Right
	if op == opEq || op == opNe {
		if _, ok := left.(*ast.StringNode); ok {
			left, right = right, left
		}
	}
	id, ok := left.(*ast.IdentifierNode)
	if !ok {
		return cond{}, false
	}
	f, ok := stringFields[id.Value]
	if !ok {
		return cond{}, false
	}
	if op == opIn {
		arr, ok := right.(*ast.ArrayNode)
		if !ok {
			return cond{}, false
		}
		c := cond{field: f, op: op}
		for _, n := range arr.Nodes {
			s, ok := n.(*ast.StringNode)
			if !ok {
				return cond{}, false
			}
			c.set = append(c.set, s.Value)
		}
		return c, true
	}
	s, ok := right.(*ast.StringNode)
	if !ok {
		return cond{}, false
	}
	return cond{field: f, op: op, lit: s.Value}, true
}

func (c *cond) ok(e *event.Event) bool {
	var v string
	switch c.field {
	case fSource:
		v = e.Source
	case fHost:
		v = e.Host
	case fLevel:
		v = e.Level
	case fLogger:
		v = e.Logger
	case fCaller:
		v = e.Caller
	case fMsg:
		v = e.Msg
	case fLine:
		v = e.Line
	case fFile:
		v = e.File
	}
	switch c.op {
	case opEq:
		return v == c.lit
	case opNe:
		return v != c.lit
	case opContains:
		return strings.Contains(v, c.lit)
	case opPrefix:
		return strings.HasPrefix(v, c.lit)
	case opSuffix:
		return strings.HasSuffix(v, c.lit)
	case opIn:
		for _, s := range c.set {
			if v == s {
				return true
			}
		}
		return false
	}
	return true
}

// pass reports whether every cond holds for e.
func pass(conds []cond, e *event.Event) bool {
	for i := range conds {
		if !conds[i].ok(e) {
			return false
		}
	}
	return true
}
