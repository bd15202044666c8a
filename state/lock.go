package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrLocked is returned (wrapped in a *LockError) when another apply holds
// the state dir's lock.
var ErrLocked = errors.New("another apply holds the lock")

// LockInfo is the content of apply.lock. A PID alone does not name a
// process: after a reboot, or once PIDs wrap, another process may hold it.
// BootID and ProcStart pin the holder to one boot and one process; locks
// written before they existed lack them (zero) and are judged on what
// they have (see stale).
type LockInfo struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
	// BootID is /proc/sys/kernel/random/boot_id of the holder's boot.
	BootID string `json:"bootID,omitempty"`
	// ProcStart is the holder's start time, field 22 of /proc/PID/stat
	// (clock ticks after boot).
	ProcStart uint64 `json:"procStart,omitempty"`
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

// Lock is a held apply lock.
type Lock struct {
	path string
	info LockInfo
}

// Lock takes apply.lock, the one-apply-at-a-time lock of the state dir.
// The lock file is made complete in a temp file and hard-linked into place,
// so it is never seen half written. A stale lock (see stale) is taken over
// with a warning; a lock of another host is never taken over: its process
// cannot be checked from here.
func (d Dir) Lock(now time.Time, log *slog.Logger) (lk *Lock, tookOver bool, err error) {
	lk, err = acquireLockFile(d.path, now, log, &tookOver)
	return lk, tookOver, err
}

func acquireLockFile(stateDir string, now time.Time, log *slog.Logger, tookOver *bool) (*Lock, error) {
	path := filepath.Join(stateDir, LockFile)
	self := currentProcess()
	info := LockInfo{PID: self.PID, Host: self.Host, Started: now.UTC(), BootID: self.BootID, ProcStart: self.ProcStart}
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
			return &Lock{path: path, info: info}, nil
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
		why := stale(holder, self, procInfo)
		if attempt >= 3 || why == "" {
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
		log.Warn("took over stale apply lock", "path", path, "pid", holder.PID, "host", holder.Host, "started", holder.Started, "reason", why)
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

// Release removes the lock if it is still ours.
func (l *Lock) Release() error {
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

// procReader tells what the kernel says about a live pid: its start time
// (field 22 of /proc/PID/stat) and whether it exists. Tests replace it.
type procReader func(pid int) (start uint64, alive bool, err error)

// stale says why holder's lock is left over from a process that is gone,
// or "" when it may still be held. self is this process on this host.
//
// Only a lock of this host is judged: a PID, boot ID or start time of
// another machine means nothing here. On this host the lock is stale when
// it was written in another boot, when its PID is gone, or when the PID now
// names a process started at another time (the PID was reused). A lock
// without boot ID and start time (written by an older rackctl) is stale when
// its PID is gone or it was written before this boot began; anything the
// kernel cannot answer counts as held.
func stale(holder, self LockInfo, proc procReader) string {
	if holder.Host != self.Host {
		return ""
	}
	if holder.BootID != "" && self.BootID != "" && holder.BootID != self.BootID {
		return "written in another boot (boot ID " + holder.BootID + ")"
	}
	start, alive, err := proc(holder.PID)
	if err != nil {
		return ""
	}
	if !alive {
		return "pid " + strconv.Itoa(holder.PID) + " is gone"
	}
	if holder.ProcStart != 0 {
		if start != holder.ProcStart {
			return fmt.Sprintf("pid %d was reused (started at tick %d, the holder at %d)", holder.PID, start, holder.ProcStart)
		}
		return ""
	}
	if holder.BootID == "" {
		if boot, err := bootTime(); err == nil && holder.Started.Before(boot.Add(-bootSlack)) {
			return "written before this boot (" + boot.UTC().Format(time.RFC3339) + ")"
		}
	}
	return ""
}

// bootSlack keeps a clock stepped at boot from making a live legacy lock
// look older than the boot.
const bootSlack = time.Minute

// currentProcess describes this process for its lock.
func currentProcess() LockInfo {
	host, _ := os.Hostname()
	self := LockInfo{PID: os.Getpid(), Host: host, BootID: bootID()}
	if start, alive, err := procInfo(self.PID); err == nil && alive {
		self.ProcStart = start
	}
	return self
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// bootTime is when this boot began ("btime" of /proc/stat).
func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("/proc/stat btime: %w", err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, errors.New("/proc/stat: no btime")
}

// procInfo reads pid's start time from /proc/PID/stat. A pid that
// signal 0 cannot reach and /proc does not list is gone.
func procInfo(pid int) (uint64, bool, error) {
	if pid <= 0 {
		return 0, false, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		if processAlive(pid) {
			return 0, true, fmt.Errorf("pid %d: no /proc entry", pid)
		}
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	start, err := parseStatStart(string(b))
	if err != nil {
		return 0, false, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	// A zombie has exited: it holds nothing.
	return start, !isZombie(string(b)), nil
}

// parseStatStart returns field 22 (starttime) of a /proc/PID/stat line.
// Field 2 (comm) is in parentheses and may hold spaces and ')', so the
// fields are counted after the last ')'.
func parseStatStart(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command field")
	}
	f := strings.Fields(stat[i+1:])
	const idx = 22 - 3 // f[0] is field 3 (state)
	if len(f) <= idx {
		return 0, fmt.Errorf("%d fields after the command, want more than %d", len(f), idx)
	}
	v, err := strconv.ParseUint(f[idx], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("starttime: %w", err)
	}
	return v, nil
}

func isZombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	f := strings.Fields(stat[i+1:])
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
