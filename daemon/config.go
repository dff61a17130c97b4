package daemon

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
	"go.yaml.in/yaml/v3"

	"github.com/venus-medic/venus-medic/actions"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
	"github.com/venus-medic/venus-medic/parsers"
	"github.com/venus-medic/venus-medic/sources"
)

// DefaultConfigPath is where `run` and `check` look for a configuration
// when none is given.
const DefaultConfigPath = "/etc/venus-medic/venus-medic.yaml"

// Builtin is the name that stands for the shipped rules embedded in the
// binary, in a configuration's `rules` list.
const Builtin = "builtin"

// Config is the daemon's configuration file (SPEC §3).
type Config struct {
	// File is the path the configuration was read from ("" for the embedded one).
	File string `yaml:"-"`

	StateDir string         `yaml:"state_dir"`
	Rules    []string       `yaml:"rules"`
	Listen   string         `yaml:"listen"`
	Host     string         `yaml:"host"`
	Sources  []SourceConfig `yaml:"sources"`
	// ActionNodes are the raw entries of `actions:`, built by BuildActions.
	ActionNodes map[string]yaml.Node `yaml:"actions"`

	// RulesNode is the position of the rules key, for messages.
	positions map[string]*yaml.Node
}

// SourceConfig is one entry of `sources:`.
type SourceConfig struct {
	Name    string     `yaml:"name"`
	File    StringList `yaml:"file"`
	Command []string   `yaml:"command"`
	Journal yaml.Node  `yaml:"journal"`
	Probe   *ProbeSpec `yaml:"probe"`
	Tap     yaml.Node  `yaml:"tap"`
	Parser  string     `yaml:"parser"`
	Pattern string     `yaml:"pattern"`
	From    string     `yaml:"from"`
	Env     []string   `yaml:"env"`
	// Stderr says what a command source does with its command's stderr:
	// "log" (default: logged as warnings) or "lines" (read like stdout, as
	// `docker logs` needs: it writes the container's stderr to its own).
	Stderr string `yaml:"stderr"`

	node *yaml.Node
}

// ProbeSpec is a probe source: a command run every interval whose result
// becomes an event (see sources.Probe).
type ProbeSpec struct {
	Every   yamlconf.Duration `yaml:"every"`
	Command []string          `yaml:"command"`
	// HTTP is a URL fetched with GET (a component's /healthcheck).
	HTTP string `yaml:"http"`
	// RPC is a JSON-RPC call (e.g. Filecoin.LockState on venus-wallet).
	RPC     *RPCSpec          `yaml:"rpc"`
	Timeout yamlconf.Duration `yaml:"timeout"`
	Parse   string            `yaml:"parse"`
	Env     []string          `yaml:"env"`
}

// RPCSpec is a probe's JSON-RPC call.
type RPCSpec struct {
	URL    string `yaml:"url"`
	Method string `yaml:"method"`
	Params []any  `yaml:"params"`
	// TokenFile holds the bearer token, as is or hex-encoded (venus-wallet's
	// config.toml keeps its admin JWT hex-encoded).
	TokenFile string `yaml:"token_file"`
}

// probeConfig turns a probe source's configuration into the source's.
func (sc *SourceConfig) probeConfig() (sources.ProbeConfig, error) {
	p := sc.Probe
	pc := sources.ProbeConfig{Name: sc.Name, Every: p.Every.D(), Command: p.Command, URL: p.HTTP,
		Timeout: p.Timeout.D(), Parse: p.Parse, Env: p.Env}
	if r := p.RPC; r != nil {
		params, err := json.Marshal(r.Params)
		if err != nil || r.Params == nil {
			params = []byte("[]")
		}
		call := &sources.RPCCall{URL: r.URL, Method: r.Method, Params: params}
		if r.TokenFile != "" {
			tok, err := yamlconf.ReadSecretFile(r.TokenFile)
			if err != nil {
				return pc, fmt.Errorf("rpc token_file: %w", err)
			}
			call.Token = decodeToken(tok.Reveal())
		}
		pc.RPC = call
	}
	return pc, nil
}

// decodeToken returns a JWT given as is or hex-encoded.
func decodeToken(s string) string {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && strings.Count(string(b), ".") == 2 {
		return string(b)
	}
	return s
}

// StringList is a YAML string or list of strings.
type StringList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("expected a path or a list of paths")
}

// LoadConfig reads and validates a configuration file. Problems are
// *yamlconf.PosError values joined together.
func LoadConfig(path string) (*Config, error) {
	if err := yamlconf.CheckPerm(path, "configuration file"); err != nil {
		return nil, &yamlconf.PosError{File: path, Line: 1, Col: 1, Msg: err.Error()}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, b)
}

// ParseConfig parses and validates configuration text; name is used in
// positions. Relative paths in `rules` are resolved against the
// configuration file's directory.
func ParseConfig(name string, b []byte) (*Config, error) {
	root, err := yamlconf.Parse(name, b)
	if err != nil {
		return nil, err
	}
	cfg := &Config{File: name}
	if root.Kind == yaml.DocumentNode || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
		return nil, &yamlconf.PosError{File: name, Line: 1, Col: 1, Msg: "empty configuration"}
	}
	var errs []error
	if err := yamlconf.Decode(name, root, cfg); err != nil {
		errs = append(errs, err)
	}
	cfg.positions = map[string]*yaml.Node{}
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			cfg.positions[root.Content[i].Value] = root.Content[i+1]
			if root.Content[i].Value == "sources" && root.Content[i+1].Kind == yaml.SequenceNode {
				for j, sn := range root.Content[i+1].Content {
					if j < len(cfg.Sources) {
						cfg.Sources[j].node = sn
					}
				}
			}
		}
	}
	if cfg.File != "" && !strings.HasPrefix(cfg.File, "(embedded)") {
		for _, sc := range cfg.Sources {
			if sc.Probe != nil && sc.Probe.RPC != nil && sc.Probe.RPC.TokenFile != "" && !filepath.IsAbs(sc.Probe.RPC.TokenFile) {
				sc.Probe.RPC.TokenFile = filepath.Join(filepath.Dir(cfg.File), sc.Probe.RPC.TokenFile)
			}
		}
	}
	if err := cfg.validate(); err != nil {
		errs = append(errs, err)
	}
	// Build the actions once to report their problems too (no network I/O
	// happens in a constructor); the daemon builds them again to use them.
	if _, err := cfg.BuildActions(hclog.NewNullLogger()); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.File != "" {
		dir := filepath.Dir(cfg.File)
		for i, r := range cfg.Rules {
			if r != Builtin && !filepath.IsAbs(r) {
				cfg.Rules[i] = filepath.Join(dir, r)
			}
		}
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	return cfg, nil
}

func (c *Config) at(key string, format string, args ...any) error {
	return yamlconf.At(c.File, c.positions[key], format, args...)
}

func (c *Config) validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, &yamlconf.PosError{File: c.File, Line: 1, Col: 1, Msg: "state_dir is required"})
	}
	seen := map[string]bool{}
	for i := range c.Sources {
		s := &c.Sources[i]
		at := func(format string, args ...any) {
			errs = append(errs, yamlconf.At(c.File, s.node, format, args...))
		}
		if s.Name == "" {
			at("source without a name")
		} else if seen[s.Name] {
			at("duplicate source name %q", s.Name)
		}
		seen[s.Name] = true
		kinds := 0
		if len(s.File) > 0 {
			kinds++
		}
		if len(s.Command) > 0 {
			kinds++
		}
		if s.Probe != nil {
			kinds++
			n := 0
			for _, set := range []bool{len(s.Probe.Command) > 0, s.Probe.HTTP != "", s.Probe.RPC != nil} {
				if set {
					n++
				}
			}
			if n != 1 || s.Probe.Every <= 0 {
				at("source %q: a probe needs every (an interval) and one of command (an argv list), http (a URL), rpc (url, method)", s.Name)
			} else if _, err := s.probeConfig(); err != nil {
				at("source %q: %v", s.Name, err)
			} else if s.Probe.RPC != nil && (s.Probe.RPC.URL == "" || s.Probe.RPC.Method == "") {
				at("source %q: a probe's rpc needs url and method", s.Name)
			}
			if s.Probe.Parse != "" && !slices.Contains(sources.ProbeParsers, s.Probe.Parse) {
				at("source %q: unknown probe parse %q (known: %s)", s.Name, s.Probe.Parse, strings.Join(sources.ProbeParsers, ", "))
			}
			if s.Parser == "" {
				s.Parser = "json" // a probe's result is a JSON object
			}
		}
		for _, k := range []struct {
			n    yaml.Node
			name string
		}{{s.Journal, "journal"}, {s.Tap, "tap"}} {
			if k.n.Kind != 0 {
				kinds++
				hint := ""
				if k.name == "journal" {
					hint = `; follow the unit with a command source meanwhile: command: [journalctl, -f, -n, "0", -o, cat, -u, UNIT]`
				}
				errs = append(errs, yamlconf.At(c.File, &k.n, "source %q: %s sources are not supported by this version%s", s.Name, k.name, hint))
			}
		}
		if kinds == 0 {
			at("source %q needs one of file, command, journal, probe, tap", s.Name)
		} else if kinds > 1 {
			at("source %q has more than one of file, command, journal, probe, tap", s.Name)
		}
		if s.Parser == "" {
			s.Parser = "auto"
		}
		if _, err := parsers.New(s.Parser, parsers.Options{Pattern: s.Pattern}); err != nil {
			at("source %q: %v", s.Name, err)
		}
		switch s.Stderr {
		case "", "log":
		case "lines":
			if len(s.Command) == 0 {
				at("source %q: stderr applies to command sources only", s.Name)
			}
		default:
			at("source %q: stderr must be log or lines, not %q", s.Name, s.Stderr)
		}
		switch s.From {
		case "", "end", "beginning":
		default:
			at("source %q: from must be end or beginning, not %q", s.Name, s.From)
		}
	}
	return errors.Join(errs...)
}

// BuildActions builds the configuration's actions. Problems are joined
// *yamlconf.PosError values.
func (c *Config) BuildActions(log hclog.Logger) (map[string]*actions.Configured, error) {
	out := map[string]*actions.Configured{}
	var errs []error
	names := make([]string, 0, len(c.ActionNodes))
	for n := range c.ActionNodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		node := c.ActionNodes[name]
		a, err := actions.Build(c.File, name, &node, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range a.Then {
			if _, ok := c.ActionNodes[t]; !ok {
				_, v := yamlconf.Pair(&node, "then")
				errs = append(errs, yamlconf.At(c.File, v, "action %q: then names %q, which is not a configured action", name, t))
			}
		}
		out[name] = a
	}
	return out, errors.Join(errs...)
}

// ActionNames returns the names of the configured actions, sorted.
func (c *Config) ActionNames() []string {
	names := make([]string, 0, len(c.ActionNodes))
	for n := range c.ActionNodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UsesBuiltinRules reports whether the configuration runs the embedded rules.
func (c *Config) UsesBuiltinRules() bool {
	if len(c.Rules) == 0 {
		return true
	}
	for _, r := range c.Rules {
		if r == Builtin {
			return true
		}
	}
	return false
}

// RulePaths returns the configured rule paths other than the builtin set.
func (c *Config) RulePaths() []string {
	var out []string
	for _, r := range c.Rules {
		if r != Builtin {
			out = append(out, r)
		}
	}
	return out
}

// describe names the configuration for messages.
func (c *Config) describe() string {
	if c.File == "" || strings.HasPrefix(c.File, "(embedded)") {
		return "the embedded default configuration"
	}
	return c.File
}
