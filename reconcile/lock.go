package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ErrLocked is returned (wrapped in a *LockError) when another apply holds
// the state dir's lock.
var ErrLocked = errors.New("another apply holds the lock")

// LockInfo is the content of apply.lock.
type LockInfo struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
}

// LockError names the holder of the lock.
type LockError struct {
	Path   string
	Holder LockInfo
	// Reason is set when the holder cannot be told (an unreadable lock).
	Reason string
}

func (e *LockError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("apply lock %s: %s: %v (remove it if no apply is running)", e.Path, e.Reason, ErrLocked)
	}
	return fmt.Sprintf("apply lock %s held by pid %d on host %s since %s: %v", e.Path, e.Holder.PID, e.Holder.Host, e.Holder.Started.Format(time.RFC3339), ErrLocked)
}

func (e *LockError) Unwrap() error { return ErrLocked }

// lock is a held apply lock.
type lock struct {
	path string
	info LockInfo
}

// acquireLock takes <stateDir>/apply.lock. The lock file is made complete
// in a temp file and hard-linked into place, so it is never seen half
// written. A lock of this host whose pid is gone is stale and taken over
// with a warning.
func acquireLock(stateDir string, now time.Time, log *slog.Logger) (lk *lock, tookOver bool, err error) {
	lk, err = acquireLockFile(stateDir, now, log, &tookOver)
	return lk, tookOver, err
}

func acquireLockFile(stateDir string, now time.Time, log *slog.Logger, tookOver *bool) (*lock, error) {
	path := filepath.Join(stateDir, LockFile)
	host, _ := os.Hostname()
	info := LockInfo{PID: os.Getpid(), Host: host, Started: now.UTC()}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("apply lock: %w", err)
	}
	tmp, err := os.CreateTemp(stateDir, ".apply.lock.tmp-*")
	if err != nil {
		return nil, fmt.Errorf("apply lock: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("apply lock: %w", werr)
	}
	for attempt := 0; ; attempt++ {
		err := os.Link(tmp.Name(), path)
		if err == nil {
			return &lock{path: path, info: info}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("apply lock %s: %w", path, err)
		}
		holder, rerr := readLock(path)
		if errors.Is(rerr, fs.ErrNotExist) && attempt < 3 {
			continue // released meanwhile
		}
		if rerr != nil {
			return nil, &LockError{Path: path, Reason: rerr.Error()}
		}
		if attempt >= 3 || holder.Host != host || processAlive(holder.PID) {
			return nil, &LockError{Path: path, Holder: holder}
		}
		// Stale: move it aside under a name of our own, and make sure
		// what was moved is the stale lock and not a fresh one.
		aside := path + ".stale-" + strconv.Itoa(os.Getpid())
		if err := os.Rename(path, aside); err != nil {
			continue
		}
		moved, merr := readLock(aside)
		if merr == nil && moved != holder {
			// Someone else took over first: put theirs back.
			if err := os.Link(aside, path); err != nil {
				os.Remove(aside)
				return nil, &LockError{Path: path, Holder: moved}
			}
			os.Remove(aside)
			return nil, &LockError{Path: path, Holder: moved}
		}
		os.Remove(aside)
		*tookOver = true
		log.Warn("took over stale apply lock", "path", path, "pid", holder.PID, "host", holder.Host, "started", holder.Started)
	}
}

func readLock(path string) (LockInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return LockInfo{}, err
	}
	var info LockInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return LockInfo{}, fmt.Errorf("unreadable lock: %w", err)
	}
	info.Started = info.Started.UTC()
	return info, nil
}

// release removes the lock if it is still ours.
func (l *lock) release() error {
	cur, err := readLock(l.path)
	if err != nil {
		return fmt.Errorf("release apply lock: %w", err)
	}
	if cur != l.info {
		return fmt.Errorf("release apply lock %s: held by pid %d now, leaving it", l.path, cur.PID)
	}
	if err := os.Remove(l.path); err != nil {
		return fmt.Errorf("release apply lock: %w", err)
	}
	return nil
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
