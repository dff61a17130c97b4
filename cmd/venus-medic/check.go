package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	venusmedic "github.com/venus-medic/venus-medic"
	"github.com/venus-medic/venus-medic/daemon"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
	"github.com/venus-medic/venus-medic/rules"
)

var checkCmd = &cli.Command{
	Name:      "check",
	Usage:     "validate a configuration and rule files (exit 0 when valid, 1 with FILE:LINE:COL: message per problem)",
	ArgsUsage: "[PATH...]",
	Description: "Checks the configuration (--config, else /etc/venus-medic/venus-medic.yaml if it exists,\n" +
		"else the embedded one) and the rule files or directories given as arguments\n" +
		"(else the rules that configuration runs). A rule naming an action the\n" +
		"configuration does not define is an error.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "configuration `FILE`", Sources: cli.EnvVars("VENUS_MEDIC_CONFIG")},
	},
	Action: func(ctx context.Context, cmd *cli.Command) error {
		out := cmd.Root().Writer
		var problems []error
		cfg, err := loadConfig(cmd.String("config"))
		if err != nil {
			problems = append(problems, err)
		}
		var exists func(string) bool
		nActions := 0
		if cfg != nil {
			defined := map[string]bool{}
			for _, n := range cfg.ActionNames() {
				defined[n] = true
			}
			nActions = len(defined)
			exists = func(n string) bool { return defined[n] }
		}
		var set *rules.Set
		err = nil
		if paths := cmd.Args().Slice(); len(paths) > 0 {
			for _, p := range paths {
				if p != daemon.Builtin && len(daemon.RuleFiles(p)) == 0 {
					if _, serr := os.Stat(p); serr == nil {
						problems = append(problems, &yamlconf.PosError{File: p, Line: 1, Col: 1, Msg: "no rule files (*.yaml, *.yml) here"})
					}
				}
			}
			set, err = loadRules(paths, rules.Options{ActionExists: exists})
		} else if cfg != nil {
			set, err = daemon.LoadRules(cfg, venusmedic.BuiltinRules(), exists, "")
		}
		if err != nil {
			problems = append(problems, err)
		} else if set != nil {
			problems = append(problems, unknownSources(set, cfg)...)
		}
		if n := printProblems(out, errors.Join(problems...)); n > 0 {
			return cli.Exit("", 1)
		}
		what := "the embedded configuration"
		if cfg.File != venusmedic.DefaultConfigName {
			what = cfg.File
		}
		fmt.Fprintf(out, "SUCCESS: %d rules in %d files, %d actions, %d sources (%s)\n",
			len(set.Rules()), len(set.Files()), nActions, len(cfg.Sources), what)
		return nil
	},
}
