// Package actions is the last stage of the pipeline: it carries out what a
// rule decided, for every action a firing names (SPEC §1, §3).
//
// The contract of the stage:
//
//   - An Action does one attempt of its work and reports whether a failure
//     is worth retrying. It owns no retries, backoff, timeouts, rate limits
//     or audit: the Dispatcher does all of that once for every type, so a
//     new type contains only the work it does.
//   - Build turns one entry of the configuration's `actions:` map into a
//     Configured action. Every problem is a *yamlconf.PosError
//     (FILE:LINE:COL: message), all of them joined. Constructors read the
//     files their keys name (url_file, secret_file) and parse templates,
//     and never touch the network.
//   - Log content is untrusted. It is rendered only through templates into
//     single values (an exec argument, a JSON string, a chat message with
//     its markup neutralised), never into a shell or into more arguments
//     than the template has.
//   - Secrets (webhook URLs with their tokens, signing keys) never appear
//     in an error, a log line or an audit Record: URLs are shown through
//     redactURL.
//   - The Dispatcher never blocks its caller. Each action has one worker
//     and a bounded queue, so its firings run in order; a full queue drops
//     the firing. Every firing and action gets exactly one audit Record
//     with the final outcome: ok, failed or dropped.
//
// Relative paths in the configuration (*_file keys, exec's dir) are taken
// relative to the configuration file's folder.
//
// Types are registered in one table, types, below. Adding one is a file
// with its constructor and one line in the table, and a testdata/<type>/
// folder with a valid and an invalid configuration.
package actions

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.yaml.in/yaml/v3"

	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// Action is one configured action. Do makes one attempt at it for firing
// f, within ctx (which carries the attempt's timeout); it reports whether
// a failure is worth retrying.
type Action interface {
	Do(ctx context.Context, f event.Firing) (retry bool, err error)
}

// Outputter is implemented by actions whose runs produce output worth
// keeping (exec: the command's stdout and stderr). The Dispatcher calls
// DoOutput instead of Do and puts the output of the last attempt in the
// audit Record.
type Outputter interface {
	DoOutput(ctx context.Context, f event.Firing) (output string, retry bool, err error)
}

// Defaults for the keys common to every type.
const (
	DefaultTimeout = 30 * time.Second
	DefaultRetries = 3
)

// Common holds the keys every action type accepts (SPEC §3).
type Common struct {
	Type string `yaml:"type"`
	// Timeout bounds one attempt; DefaultTimeout when not set.
	Timeout yamlconf.Duration `yaml:"timeout"`
	// Retries is how many times a failed attempt is retried when the
	// failure is worth it; DefaultRetries when not set (so up to 4 attempts).
	Retries *int `yaml:"retries"`
	// Rate limits how often the action runs; firings beyond it wait in
	// the queue, they are never dropped. Chat webhooks default to their
	// platform's own limit, other types to none.
	Rate *Rate `yaml:"rate"`
	// Then names actions to run once this one has finished, with its
	// outcome appended to the summary and its result data in the firing's
	// Results (e.g. a proving check, then a notification listing the bad
	// sectors).
	Then []string `yaml:"then"`
}

func (c *Common) common() *Common { return c }

// Rate is at most Count runs in any window of Per.
type Rate struct {
	Count int               `yaml:"count"`
	Per   yamlconf.Duration `yaml:"per"`
}

func (r Rate) String() string { return fmt.Sprintf("%d per %s", r.Count, r.Per.D()) }

// Configured is an action as the configuration defines it, with the
// common keys' defaults filled in.
type Configured struct {
	// Name is the action's key in the configuration's `actions:` map.
	Name string
	Common
	// Action does the work.
	Action Action
	// Format is the webhook's format ("generic", "dingtalk", ...); "" for
	// other types.
	Format string
}

// spec is what a type's constructor gets: the entry to decode, where it
// is (for positions and relative paths) and the daemon's logger.
type spec struct {
	file string
	name string
	node *yaml.Node
	log  hclog.Logger
	// common is filled by decode from the type's own struct.
	common Common
}

// types is the table of action types: a type's name and its constructor.
// Each constructor decodes its own struct (which embeds Common, so the
// common keys are accepted), validates it, and returns the Action.
var types = map[string]func(s *spec) (Action, error){
	"webhook":         newWebhook,
	"exec":            newExec,
	"log":             newLog,
	"alertmanager":    newAlertmanager,
	"systemd-restart": newSystemdRestart,
	"wallet-setpwd":   newWalletSetpwd,
	"wallet-unlock":   newWalletUnlock,
	"proving-check":   newProvingCheck,
}

// Types returns the names of the known action types, sorted.
func Types() []string {
	out := make([]string, 0, len(types))
	for t := range types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Build builds one entry of the configuration's `actions:` map: name is
// its key and node its value. file is the configuration file's name, used
// in positions and to resolve relative paths in *_file keys. Every problem
// is a *yamlconf.PosError; several are joined with errors.Join.
func Build(file, name string, node *yaml.Node, log hclog.Logger) (*Configured, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if node != nil && node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	s := &spec{file: file, name: name, node: node, log: log}
	if node == nil || node.Kind != yaml.MappingNode {
		return nil, s.errAt(node, "action %q must be a mapping with a type (one of %s)", name, strings.Join(Types(), ", "))
	}
	tk, tv := s.pair("type")
	if tk == nil {
		return nil, s.errAt(node, "action %q needs a type (one of %s)", name, strings.Join(Types(), ", "))
	}
	newType, ok := types[tv.Value]
	if !ok || tv.Kind != yaml.ScalarNode {
		msg := fmt.Sprintf("unknown action type %q; known types: %s", tv.Value, strings.Join(Types(), ", "))
		if sg := yamlconf.Suggest(tv.Value, Types()); sg != "" {
			msg += fmt.Sprintf("; did you mean %q?", sg)
		}
		return nil, s.errAt(tv, "%s", msg)
	}
	a, err := newType(s)
	errs := []error{err}
	c := &Configured{Name: name, Common: s.common, Action: a}
	errs = append(errs, s.validateCommon(&c.Common)...)
	if err := errors.Join(onePerPlace(errs)...); err != nil {
		return nil, err
	}
	if f, ok := a.(interface{ format() string }); ok {
		c.Format = f.format()
	}
	if c.Timeout == 0 {
		c.Timeout = yamlconf.Duration(DefaultTimeout)
	}
	if c.Retries == nil {
		n := DefaultRetries
		c.Retries = &n
	}
	if c.Rate == nil {
		if d, ok := a.(interface{ defaultRate() *Rate }); ok {
			c.Rate = d.defaultRate()
		}
	}
	return c, nil
}

// onePerPlace flattens joined errors and keeps the first problem found at
// each position: a value that did not decode is not also reported as
// out of range.
func onePerPlace(errs []error) []error {
	var out []error
	seen := map[[2]int]bool{}
	for _, e := range yamlconf.Flatten(errors.Join(errs...)) {
		if pe, ok := e.(*yamlconf.PosError); ok {
			at := [2]int{pe.Line, pe.Col}
			if seen[at] {
				continue
			}
			seen[at] = true
		}
		out = append(out, e)
	}
	return out
}

// validateCommon checks the common keys' values.
func (s *spec) validateCommon(c *Common) []error {
	var errs []error
	if c.Retries != nil && *c.Retries < 0 {
		errs = append(errs, s.errAt(s.value("retries"), "retries must be 0 or more, got %d", *c.Retries))
	}
	if _, v := s.pair("timeout"); v != nil && c.Timeout <= 0 {
		errs = append(errs, s.errAt(v, "timeout must be longer than 0"))
	}
	if r := c.Rate; r != nil {
		rn := s.value("rate")
		if r.Count < 1 {
			errs = append(errs, s.errAt(valueIn(rn, "count"), "rate count must be at least 1, got %d", r.Count))
		}
		if r.Per <= 0 {
			errs = append(errs, s.errAt(valueIn(rn, "per"), "rate per must be a duration longer than 0, e.g. 1m"))
		}
	}
	return errs
}

// decode decodes the entry strictly into v, a pointer to the type's
// struct, which embeds Common; the common keys are kept in s.common.
func (s *spec) decode(v interface{ common() *Common }) error {
	err := yamlconf.Decode(s.file, s.node, v)
	s.common = *v.common()
	return err
}

// pair returns the key and value nodes of key in the entry (nil, nil when absent).
func (s *spec) pair(key string) (k, v *yaml.Node) {
	return yamlconf.Pair(s.node, key)
}

// value returns the value node of key, or the entry's node when the key
// is absent, for positions.
func (s *spec) value(key string) *yaml.Node { return valueIn(s.node, key) }

// keyNode returns the key node of key, or the entry's node when absent.
func (s *spec) keyNode(key string) *yaml.Node {
	if k, _ := s.pair(key); k != nil {
		return k
	}
	return s.node
}

func valueIn(m *yaml.Node, key string) *yaml.Node {
	if _, v := yamlconf.Pair(m, key); v != nil {
		return v
	}
	return m
}

// errAt returns a problem at node n.
func (s *spec) errAt(n *yaml.Node, format string, args ...any) error {
	return yamlconf.At(s.file, n, format, args...)
}

// path resolves a path from the configuration: relative paths are taken
// relative to the configuration file's directory.
func (s *spec) path(p string) string {
	if p == "" || filepath.IsAbs(p) || s.file == "" || strings.HasPrefix(s.file, "embedded:") {
		return p
	}
	return filepath.Join(filepath.Dir(s.file), p)
}

// readSecret reads the file named by key (a *_file key) with value p.
// The error names the key and the file, never the content.
func (s *spec) readSecret(key, p string) (yamlconf.Secret, error) {
	path := s.path(p)
	sec, err := yamlconf.ReadSecretFile(path)
	if err != nil {
		// err reads "open PATH: no such file or directory".
		return "", s.errAt(s.keyNode(key), "%s %q: %v", key, p, err)
	}
	if sec.Reveal() == "" {
		return "", s.errAt(s.keyNode(key), "%s %q: the file is empty", key, path)
	}
	return sec, nil
}

// template parses the template src found at node n; what names it in a
// message ("template", "command[1] template"). A problem is reported at n.
func (s *spec) template(what string, n *yaml.Node, src string) (*event.Template, error) {
	t, err := event.ParseTemplate("t", src)
	if err != nil {
		return nil, s.errAt(n, "bad %s: %s", what, templateMsg(err, strings.Contains(src, "\n")))
	}
	return t, nil
}

// templateMsg strips text/template's "template: NAME:LINE:" prefix,
// keeping the template's own line number when it has more than one line.
func templateMsg(err error, multiline bool) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	// NAME:LINE: rest  or  NAME:LINE:COL: rest
	parts := strings.SplitN(msg, ":", 4)
	var line, rest string
	switch {
	case len(parts) == 4 && isDigits(parts[1]) && isDigits(parts[2]):
		line, rest = parts[1], parts[3]
	case len(parts) >= 3 && isDigits(parts[1]):
		line, rest = parts[1], strings.Join(parts[2:], ":")
	default:
		return msg
	}
	rest = strings.TrimSpace(rest)
	if multiline {
		return "line " + line + ": " + rest
	}
	return rest
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
