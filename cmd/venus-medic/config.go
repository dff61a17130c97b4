package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	venusmedic "github.com/venus-medic/venus-medic"
	"github.com/venus-medic/venus-medic/daemon"
	"github.com/venus-medic/venus-medic/internal/yamlconf"
)

// loadConfig returns the configuration named by --config, else the one in
// /etc/venus-medic if it exists, else the embedded default.
func loadConfig(path string) (*daemon.Config, error) {
	if path == "" {
		if _, err := os.Stat(daemon.DefaultConfigPath); err == nil {
			path = daemon.DefaultConfigPath
		}
	}
	if path != "" {
		return daemon.LoadConfig(path)
	}
	return daemon.ParseConfig(venusmedic.DefaultConfigName, venusmedic.DefaultConfig)
}

// usableStateDir keeps the embedded configuration usable by a user who
// cannot write /var/lib: the state then goes to $XDG_STATE_HOME/venus-medic
// (or ~/.local/state/venus-medic).
func usableStateDir(cfg *daemon.Config, log hclog.Logger) {
	if cfg.File != venusmedic.DefaultConfigName {
		return
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err == nil {
		probe := filepath.Join(cfg.StateDir, ".write-test")
		if os.WriteFile(probe, nil, 0o600) == nil {
			os.Remove(probe)
			return
		}
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".local", "state")
	}
	dir := filepath.Join(base, "venus-medic")
	log.Info("state_dir not writable, using the user's state directory", "configured", cfg.StateDir, "state_dir", dir)
	cfg.StateDir = dir
}

// printProblems prints every problem in err on its own line, in file and
// position order (FILE:LINE:COL: message), and returns how many there were.
func printProblems(w io.Writer, err error) int {
	n := 0
	for _, e := range yamlconf.Sorted(err) {
		var pe *yamlconf.PosError
		if errors.As(e, &pe) {
			fmt.Fprintln(w, pe.Error())
		} else {
			fmt.Fprintln(w, e.Error())
		}
		n++
	}
	return n
}
