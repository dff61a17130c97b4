package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v3"

	venusmedic "github.com/venus-medic/venus-medic"
	"github.com/venus-medic/venus-medic/daemon"
)

var runCmd = &cli.Command{
	Name:  "run",
	Usage: "run the daemon (SIGHUP reloads rules and actions, SIGTERM stops gracefully)",
	Description: "Without --config, runs /etc/venus-medic/venus-medic.yaml if it exists,\n" +
		"else the embedded default configuration with the shipped rules.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "configuration `FILE`", Sources: cli.EnvVars("VENUS_MEDIC_CONFIG")},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "trace, debug, info, warn or error", Sources: cli.EnvVars("VENUS_MEDIC_LOG_LEVEL")},
	},
	Action: func(ctx context.Context, cmd *cli.Command) error {
		// Signals first: a SIGHUP during start-up (logrotate's postrotate)
		// must not kill the daemon; it is taken as a reload once running.
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		log, err := newLogger(cmd.String("log-format"), cmd.String("log-level"))
		if err != nil {
			return cli.Exit(err.Error(), 2)
		}
		cfg, err := loadConfig(cmd.String("config"))
		if err != nil {
			printProblems(os.Stderr, err)
			return cli.Exit("", 1)
		}
		usableStateDir(cfg, log)
		d, err := daemon.New(cfg, daemon.Options{Builtin: venusmedic.BuiltinRules(), Logger: log})
		if err != nil {
			printProblems(os.Stderr, err)
			return cli.Exit("", 1)
		}
		return d.Run(ctx, hup)
	},
}

func newLogger(format, level string) (hclog.Logger, error) {
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		return nil, fmt.Errorf("unknown log level %q", level)
	}
	var json bool
	switch format {
	case "text":
	case "json":
		json = true
	default:
		return nil, fmt.Errorf("unknown log format %q: use text or json", format)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "venus-medic",
		Level:      lvl,
		JSONFormat: json,
		Output:     os.Stderr,
		Color:      hclog.AutoColor,
		TimeFormat: "2006-01-02T15:04:05.000Z07:00",
	}), nil
}
