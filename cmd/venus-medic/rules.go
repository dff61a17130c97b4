package main

import (
	"fmt"
	"strings"

	venusmedic "github.com/venus-medic/venus-medic"
	"github.com/venus-medic/venus-medic/daemon"
	"github.com/venus-medic/venus-medic/event"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
	"github.com/venus-medic/venus-medic/rules"
)

// loadRules loads rule files and directories as given on the command line;
// `builtin` stands for the shipped rules built into the binary.
func loadRules(paths []string, opt rules.Options) (*rules.Set, error) {
	return daemon.LoadRules(&daemon.Config{Rules: paths}, venusmedic.BuiltinRules(), opt.ActionExists, opt.Host)
}

// unknownSources reports rules whose source is neither one of the
// configuration's sources nor a Venus component: such a rule never fires,
// and a misspelled name would otherwise go unnoticed.
func unknownSources(set *rules.Set, cfg *daemon.Config) []error {
	known := map[string]bool{daemon.OutcomeSource: true} // what actions did
	if cfg != nil {
		for _, s := range cfg.Sources {
			known[event.CanonicalSource(s.Name)] = true
		}
	}
	var errs []error
	for _, r := range set.Rules() {
		for _, s := range r.Sources {
			if known[event.CanonicalSource(s)] || event.IsComponent(s) {
				continue
			}
			errs = append(errs, &yamlconf.PosError{File: r.File, Line: r.Line, Col: 5,
				Msg: fmt.Sprintf("rule %q: source %q is neither a source of the configuration nor a Venus component (%s)", r.Name, s, strings.Join(event.Components, ", "))})
		}
	}
	return errs
}
