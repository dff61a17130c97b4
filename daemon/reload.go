package daemon

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// readRuleFiles adds the rule files at path (a file, or the *.yaml and
// *.yml files directly inside a directory) to files.
func readRuleFiles(path string, files map[string][]byte) error {
	for _, f := range RuleFiles(path) {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		files[f] = b
	}
	if _, err := os.Stat(path); err != nil {
		return err
	}
	return nil
}

// RuleFiles lists the rule files a path stands for, as rules.Load reads them.
func RuleFiles(path string) []string {
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if !st.IsDir() {
		return []string{path}
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || e.IsDir() {
			continue
		}
		if strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") {
			out = append(out, filepath.Join(path, n))
		}
	}
	sort.Strings(out)
	return out
}

// watchedHash hashes the names and contents of the configuration file and
// every rule file, so a reload happens only when something really changed.
func watchedHash(cfg *Config) [32]byte {
	h := sha256.New()
	var paths []string
	if cfg.File != "" && !strings.HasPrefix(cfg.File, "(embedded)") {
		paths = append(paths, cfg.File)
	}
	for _, p := range cfg.RulePaths() {
		paths = append(paths, RuleFiles(p)...)
	}
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		h.Write([]byte(p))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// watchRules reloads when the configuration or a rule file changes. It
// watches the rule directories and their parents (so a save by rename, an
// editor's backup dance and a directory symlink swap are all seen), waits
// for the changes to settle, and compares content hashes; a rescan every
// minute covers missed events (network filesystems, watch limits). setup
// is closed once the watches are in place and the starting state is known.
func (d *Daemon) watchRules(ctx context.Context, setup chan<- struct{}) {
	const settle = 300 * time.Millisecond
	w, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Warn("cannot watch rule files; reload with SIGHUP", "error", err)
	}
	dirs := map[string]bool{}
	addWatches := func() {
		if w == nil {
			return
		}
		cfg := d.config()
		want := map[string]bool{}
		if cfg.File != "" && !strings.HasPrefix(cfg.File, "(embedded)") {
			want[filepath.Dir(cfg.File)] = true
		}
		for _, p := range cfg.RulePaths() {
			want[filepath.Dir(filepath.Clean(p))] = true
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				want[p] = true
				if r, err := filepath.EvalSymlinks(p); err == nil {
					want[r] = true
				}
			}
		}
		for dir := range dirs {
			if !want[dir] {
				_ = w.Remove(dir)
				delete(dirs, dir)
			}
		}
		for dir := range want {
			if !dirs[dir] {
				if err := w.Add(dir); err == nil {
					dirs[dir] = true
				}
			}
		}
	}
	addWatches()
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}
	current := watchedHash(d.config())
	close(setup)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	rescan := time.NewTicker(time.Minute)
	defer rescan.Stop()
	check := func() {
		h := watchedHash(d.config())
		if h == current {
			return
		}
		current = h
		if err := d.Reload(ctx, "rule files changed"); err == nil {
			addWatches()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if ev.Op == fsnotify.Chmod {
				continue
			}
			timer.Reset(settle)
		case err := <-errs:
			d.log.Warn("rule watch error; rescanning", "error", err)
			timer.Reset(settle)
		case <-timer.C:
			check()
		case <-rescan.C:
			check()
		}
	}
}
