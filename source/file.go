package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is the quiet time FileConfig.Debounce defaults to.
const DefaultDebounce = 200 * time.Millisecond

// FileConfig configures a local-file source.
type FileConfig struct {
	// Path of the spec file (rack.yaml), e.g. in a working copy.
	Path string
	// Debounce is the quiet time after the last file-system event before the
	// file is read; a burst of writes gives one read. Default DefaultDebounce.
	// A continuous stream of events is still read at least every 10×Debounce.
	Debounce time.Duration
	// Log receives debug and warning messages; nil discards them.
	Log *slog.Logger
}

// File watches one spec file with fsnotify and sends a Revision whenever its
// content changes.
type File struct {
	path     string // as configured, for messages
	abs      string
	dir      string
	base     string
	debounce time.Duration
	maxWait  time.Duration
	retry    time.Duration // how often to try re-watching a vanished directory
	log      *slog.Logger
}

// NewFile returns a source for cfg.Path. The file need not exist yet.
func NewFile(cfg FileConfig) (*File, error) {
	if cfg.Path == "" {
		return nil, errors.New("file source: path is empty")
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("file source %s: %w", cfg.Path, err)
	}
	if cfg.Debounce < 0 {
		return nil, fmt.Errorf("file source %s: negative debounce %s", cfg.Path, cfg.Debounce)
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &File{
		path:     cfg.Path,
		abs:      abs,
		dir:      filepath.Dir(abs),
		base:     filepath.Base(abs),
		debounce: cfg.Debounce,
		maxWait:  10 * cfg.Debounce,
		retry:    250 * time.Millisecond,
		log:      log.With("source", "file", "path", cfg.Path),
	}, nil
}

// fileState is what Run remembers between reads.
type fileState struct {
	ok      bool   // last read succeeded and was sent
	hash    string // digest of the last sent content
	lastErr string // last error sent, to not repeat it
}

// Run sends the current content at once (or an error event if the file is
// missing), then a Revision for each change of content. Writes that leave the
// content unchanged send nothing. After an error event the next successful
// read is sent even if the content equals the last Revision, so a consumer
// learns that the source recovered.
func (f *File) Run(ctx context.Context, out chan<- Event) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file source %s: new watcher: %w", f.path, err)
	}
	defer w.Close()
	l := f.newWatchLoop(w)
	defer l.stop()
	if !f.load(ctx, out, l.st) {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("file source %s: watcher closed", f.path)
			}
			l.event(ev)
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("file source %s: watcher closed", f.path)
			}
			f.log.Warn("watch error", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				l.schedule() // events were lost: look at the file
			}
		case <-l.retryC:
			l.rewatch()
		case <-l.timerC:
			l.timerC = nil
			// An editor may have replaced the file: watch the new inode.
			_ = w.Add(f.abs)
			if !f.load(ctx, out, l.st) {
				return nil
			}
		}
	}
}

// watchLoop is Run's state: the watcher, the timer that retries watching
// a directory that is gone (retryC is nil while it is watched), and the
// debounce timer (timerC is nil while no load is pending).
type watchLoop struct {
	f      *File
	w      *fsnotify.Watcher
	st     *fileState
	retry  *time.Timer
	retryC <-chan time.Time
	timer  *time.Timer
	timerC <-chan time.Time
	first  time.Time // first event of the pending load
}

// newWatchLoop watches the file's directory, or starts retrying until it
// exists.
func (f *File) newWatchLoop(w *fsnotify.Watcher) *watchLoop {
	l := &watchLoop{f: f, w: w, st: &fileState{}, retry: time.NewTimer(f.retry), timer: time.NewTimer(time.Hour)}
	l.timer.Stop()
	if f.addWatches(w) {
		l.retry.Stop()
	} else {
		l.retryC = l.retry.C
	}
	return l
}

func (l *watchLoop) stop() {
	l.retry.Stop()
	l.timer.Stop()
}

// schedule (re)starts the debounce: a load debounce after the last event,
// but no later than maxWait after the first.
func (l *watchLoop) schedule() {
	now := time.Now()
	if l.timerC == nil {
		l.first = now
	}
	d := l.f.debounce
	if deadline := l.first.Add(l.f.maxWait); now.Add(d).After(deadline) {
		d = max(deadline.Sub(now), 0)
	}
	l.timer.Reset(d)
	l.timerC = l.timer.C
}

// event handles one fsnotify event.
func (l *watchLoop) event(ev fsnotify.Event) {
	f := l.f
	if ev.Name == f.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		// The directory itself went away (or moved: the inotify watch
		// would follow the inode to the wrong place). Drop the
		// watches and poll until it is back.
		f.log.Debug("directory gone, waiting for it to reappear", "dir", f.dir)
		_ = l.w.Remove(f.dir)
		_ = l.w.Remove(f.abs)
		l.retry.Reset(f.retry)
		l.retryC = l.retry.C
		l.schedule()
		return
	}
	if f.relevant(ev) {
		l.schedule()
	}
}

// rewatch tries again to watch a directory that was gone.
func (l *watchLoop) rewatch() {
	if l.f.addWatches(l.w) {
		l.retryC = nil
		l.schedule()
	} else {
		l.retry.Reset(l.f.retry)
	}
}

// addWatches watches the directory and, when it exists, the file itself (a
// file watch is what reports writes on kqueue systems; on Linux the directory
// watch already does). It reports whether the directory is watched.
func (f *File) addWatches(w *fsnotify.Watcher) bool {
	if err := w.Add(f.dir); err != nil {
		f.log.Debug("cannot watch directory yet", "dir", f.dir, "err", err)
		return false
	}
	_ = w.Add(f.abs) // may not exist yet; the directory watch reports its creation
	return true
}

// relevant reports whether ev may have changed the spec: an event for its
// base name (write, create, rename over it, remove, chmod), or any event in
// the directory when the spec is a symlink (Kubernetes ConfigMap volumes
// swap a "..data" symlink, never touching the spec's own name).
func (f *File) relevant(ev fsnotify.Event) bool {
	if filepath.Base(ev.Name) == f.base {
		return true
	}
	fi, err := os.Lstat(f.abs)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// load reads the file and sends what changed. It returns false when ctx ended.
func (f *File) load(ctx context.Context, out chan<- Event, st *fileState) bool {
	rev, err := f.read()
	if err != nil {
		if st.lastErr == err.Error() {
			return true
		}
		st.ok, st.lastErr = false, err.Error()
		f.log.Warn("cannot read spec", "err", err)
		return send(ctx, out, Event{Err: err})
	}
	if st.ok && st.hash == rev.Commit {
		f.log.Debug("content unchanged", "digest", rev.Commit)
		return true
	}
	st.ok, st.hash, st.lastErr = true, rev.Commit, ""
	f.log.Debug("spec changed", "digest", rev.Commit)
	return send(ctx, out, Event{Revision: rev})
}

func (f *File) read() (*Revision, error) {
	b, err := os.ReadFile(f.abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file source: %s: %w", f.path, ErrSpecNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("file source: read %s: %w", f.path, err)
	}
	var mod time.Time
	if fi, err := os.Stat(f.abs); err == nil {
		mod = fi.ModTime()
	}
	sum := sha256.Sum256(b)
	return &Revision{
		Commit: "sha256:" + hex.EncodeToString(sum[:]),
		Time:   mod,
		Spec:   b,
		Path:   f.path,
	}, nil
}
