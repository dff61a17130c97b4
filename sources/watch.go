package sources

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// newWatcher creates the process-wide watcher; tests replace it to check
// that the sources keep working (by polling) when inotify is unavailable.
var newWatcher = fsnotify.NewWatcher

// hub is the one fsnotify watcher of the process. Every inotify watcher
// is an inotify instance, and hosts allow few of them per user
// (fs.inotify.max_user_instances, often 128, shared with everything else
// the user runs), so all File sources share one and watch directories,
// not files: one watch per directory whatever the number of files, and
// files that do not exist yet are seen when they are created.
var hub = &watchHub{subs: map[*watchSub]struct{}{}, refs: map[string]int{}}

// watchHub fans the watcher's events out to the subscriptions that watch
// the directory an event is in. The watcher exists while at least one
// subscription does.
type watchHub struct {
	mu   sync.Mutex
	w    *fsnotify.Watcher      // nil when no subscription, or when it cannot be created
	subs map[*watchSub]struct{} // guarded by mu
	refs map[string]int         // directory → number of subscriptions watching it; guarded by mu
}

// watchSub is one File source's view of the hub: a wake-up channel that
// holds at most one pending signal (wake-ups coalesce), and a flag saying
// that some name was created, removed or renamed, or events were lost,
// so the file list must be globbed again.
type watchSub struct {
	h          *watchHub
	log        hclog.Logger
	wake       chan struct{}
	structural atomic.Bool
	dirs       map[string]bool // guarded by h.mu
	warned     map[string]bool // directories whose watch failed, logged once; guarded by h.mu
	noWatcher  bool            // guarded by h.mu
}

func (h *watchHub) subscribe(log hclog.Logger) *watchSub {
	s := &watchSub{h: h, log: log, wake: make(chan struct{}, 1), dirs: map[string]bool{}, warned: map[string]bool{}}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.ensureWatcher(s)
	h.mu.Unlock()
	return s
}

// ensureWatcher creates the watcher if there is none. On failure (the
// inotify instance limit, usually) the subscription polls; the failure is
// logged once per subscription. Called with h.mu held.
func (h *watchHub) ensureWatcher(s *watchSub) {
	if h.w != nil {
		return
	}
	w, err := newWatcher()
	if err != nil {
		if !s.noWatcher {
			s.log.Warn("cannot watch files for changes, polling instead (raise fs.inotify.max_user_instances?)", "error", err)
		}
		s.noWatcher = true
		return
	}
	if s.noWatcher {
		s.log.Info("watching files for changes again")
		s.noWatcher = false
	}
	h.w = w
	for d := range h.refs {
		_ = w.Add(d)
	}
	go h.loop(w)
}

// loop reads the watcher until it is closed. Events and Errors are read
// in one select: Errors is unbuffered, and leaving it unread would stall
// the watcher.
func (h *watchHub) loop(w *fsnotify.Watcher) {
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			h.dispatch(ev)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			h.mu.Lock()
			for s := range h.subs {
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					s.log.Debug("file events overflowed, rescanning")
				} else {
					s.log.Warn("file watch error", "error", err)
				}
				s.notify(true)
			}
			h.mu.Unlock()
		}
	}
}

func (h *watchHub) dispatch(ev fsnotify.Event) {
	dir := filepath.Dir(ev.Name)
	structural := ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0
	h.mu.Lock()
	for s := range h.subs {
		if s.dirs[dir] {
			s.notify(structural)
		} else if s.dirs[ev.Name] {
			// The watched directory itself went away or was replaced.
			s.notify(true)
		}
	}
	h.mu.Unlock()
}

func (s *watchSub) notify(structural bool) {
	if structural {
		s.structural.Store(true)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// watch makes the set of directories the subscription watches dirs, and
// adds again the watches the kernel dropped (a directory deleted and
// created again). A directory that does not exist yet is retried at the
// next call; meanwhile the poll covers it.
func (s *watchSub) watch(dirs []string) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	want := map[string]bool{}
	for _, d := range dirs {
		want[d] = true
	}
	for d := range s.dirs {
		if !want[d] {
			delete(s.dirs, d)
			h.release(d)
		}
	}
	for d := range want {
		if !s.dirs[d] {
			s.dirs[d] = true
			h.refs[d]++
		}
	}
	h.ensureWatcher(s)
	if h.w == nil {
		return
	}
	have := map[string]bool{}
	for _, d := range h.w.WatchList() {
		have[d] = true
	}
	for d := range s.dirs {
		if have[d] {
			continue
		}
		err := h.w.Add(d)
		switch {
		case err == nil:
			delete(s.warned, d)
		case errors.Is(err, os.ErrNotExist):
		case !s.warned[d]:
			s.warned[d] = true
			s.log.Warn("cannot watch directory, polling it", "dir", d, "error", err)
		}
	}
}

// release drops one reference to directory d. Called with h.mu held.
func (h *watchHub) release(d string) {
	h.refs[d]--
	if h.refs[d] > 0 {
		return
	}
	delete(h.refs, d)
	if h.w != nil {
		_ = h.w.Remove(d)
	}
}

// close ends the subscription; the last one closes the watcher.
func (s *watchSub) close() {
	h := s.h
	h.mu.Lock()
	for d := range s.dirs {
		h.release(d)
	}
	delete(h.subs, s)
	var w *fsnotify.Watcher
	if len(h.subs) == 0 {
		w, h.w = h.w, nil
	}
	h.mu.Unlock()
	if w != nil {
		_ = w.Close()
	}
}
