package state

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatalf("run true: %v", err)
	}
	return cmd.Process.Pid
}

// TestAcquireLockStaleness runs Dir.Lock against lock files as a killed,
// a live, a rebooted and a foreign holder leave them, with the real /proc.
func TestAcquireLockStaleness(t *testing.T) {
	self := currentProcess()
	if self.BootID == "" || self.ProcStart == 0 {
		t.Fatalf("this process has no boot ID or start time (is /proc mounted?): %+v", self)
	}
	dead := deadPID(t)
	now := time.Now().UTC().Truncate(time.Second)
	boot, err := bootTime()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		holder   LockInfo
		raw      string // lock file content instead of holder
		takeOver bool
		reason   string // in the take-over warning
	}{
		"this process, same boot and start": {
			holder: LockInfo{PID: self.PID, Host: self.Host, Started: now, BootID: self.BootID, ProcStart: self.ProcStart},
		},
		"pid reused: live pid, other start time": {
			holder:   LockInfo{PID: self.PID, Host: self.Host, Started: now, BootID: self.BootID, ProcStart: self.ProcStart + 1},
			takeOver: true, reason: "was reused",
		},
		"pid reused after a reboot: live pid, other boot": {
			holder:   LockInfo{PID: self.PID, Host: self.Host, Started: now, BootID: "00000000-0000-0000-0000-000000000000", ProcStart: self.ProcStart},
			takeOver: true, reason: "another boot",
		},
		"pid gone": {
			holder:   LockInfo{PID: dead, Host: self.Host, Started: now, BootID: self.BootID, ProcStart: 12345},
			takeOver: true, reason: "is gone",
		},
		// Every check that could run here says stale: only the host
		// check keeps this lock held.
		"other host, dead pid, other boot, other start": {
			holder: LockInfo{PID: dead, Host: self.Host + "-elsewhere", Started: now.Add(-48 * time.Hour), BootID: "00000000-0000-0000-0000-000000000000", ProcStart: 1},
		},
		"other host, live pid": {
			holder: LockInfo{PID: self.PID, Host: "elsewhere", Started: now},
		},
		"legacy lock, live pid": {
			raw: `{"pid":` + itoa(self.PID) + `,"host":"` + self.Host + `","started":"` + now.Format(time.RFC3339) + `"}`,
		},
		"legacy lock, pid gone": {
			raw:      `{"pid":` + itoa(dead) + `,"host":"` + self.Host + `","started":"` + now.Format(time.RFC3339) + `"}`,
			takeOver: true, reason: "is gone",
		},
		"legacy lock written before this boot, pid reused": {
			raw:      `{"pid":` + itoa(self.PID) + `,"host":"` + self.Host + `","started":"` + boot.Add(-time.Hour).UTC().Format(time.RFC3339) + `"}`,
			takeOver: true, reason: "before this boot",
		},
		"legacy lock of another host written before this boot": {
			raw: `{"pid":` + itoa(dead) + `,"host":"elsewhere","started":"` + boot.Add(-time.Hour).UTC().Format(time.RFC3339) + `"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			state := t.TempDir()
			path := filepath.Join(state, LockFile)
			raw := []byte(tc.raw)
			if tc.raw == "" {
				raw, _ = json.Marshal(tc.holder)
			}
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			lk, tookOver, err := New(state).Lock(now, slog.New(slog.NewTextHandler(&logs, nil)))
			if !tc.takeOver {
				if !errors.Is(err, ErrLocked) || tookOver {
					t.Fatalf("acquireLock = %v, took over %v; want the lock held", err, tookOver)
				}
				if got, _ := os.ReadFile(path); string(got) != string(raw) {
					t.Fatalf("a held lock was rewritten: %s", got)
				}
				return
			}
			if err != nil || !tookOver {
				t.Fatalf("acquireLock = %v, took over %v; want the stale lock taken over", err, tookOver)
			}
			if !strings.Contains(logs.String(), "took over stale apply lock") || !strings.Contains(logs.String(), tc.reason) {
				t.Errorf("warning lacks %q: %s", tc.reason, logs.String())
			}
			got, err := readLock(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.PID != self.PID || got.BootID != self.BootID || got.ProcStart != self.ProcStart || got.Host != self.Host {
				t.Errorf("new lock = %+v, want this process %+v", got, self)
			}
			if err := lk.Release(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStale(t *testing.T) {
	self := LockInfo{PID: 100, Host: "mgmt", BootID: "boot-a", ProcStart: 500}
	proc := func(start uint64, alive bool, err error) procReader {
		return func(int) (uint64, bool, error) { return start, alive, err }
	}
	tests := map[string]struct {
		holder LockInfo
		proc   procReader
		stale  bool
	}{
		"live, same start":        {LockInfo{PID: 7, Host: "mgmt", BootID: "boot-a", ProcStart: 42}, proc(42, true, nil), false},
		"live, other start":       {LockInfo{PID: 7, Host: "mgmt", BootID: "boot-a", ProcStart: 42}, proc(43, true, nil), true},
		"gone":                    {LockInfo{PID: 7, Host: "mgmt", BootID: "boot-a", ProcStart: 42}, proc(0, false, nil), true},
		"other boot":              {LockInfo{PID: 7, Host: "mgmt", BootID: "boot-b", ProcStart: 42}, proc(42, true, nil), true},
		"other host, all stale":   {LockInfo{PID: 7, Host: "other", BootID: "boot-b", ProcStart: 1}, proc(0, false, nil), false},
		"/proc unreadable":        {LockInfo{PID: 7, Host: "mgmt", BootID: "boot-a", ProcStart: 42}, proc(0, false, errors.New("permission denied")), false},
		"legacy, live":            {LockInfo{PID: 7, Host: "mgmt", Started: time.Now()}, proc(42, true, nil), false},
		"legacy, gone":            {LockInfo{PID: 7, Host: "mgmt", Started: time.Now()}, proc(0, false, nil), true},
		"legacy, before the boot": {LockInfo{PID: 7, Host: "mgmt", Started: time.Unix(0, 0)}, proc(42, true, nil), true},
		"own boot unknown":        {LockInfo{PID: 7, Host: "mgmt", BootID: "boot-b", ProcStart: 42}, proc(42, true, nil), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := self
			if name == "own boot unknown" {
				s.BootID = ""
			}
			why := stale(tc.holder, s, tc.proc)
			if (why != "") != tc.stale {
				t.Fatalf("stale = %q, want stale %v", why, tc.stale)
			}
		})
	}
}

func TestParseStatStart(t *testing.T) {
	tests := map[string]struct {
		stat    string
		want    uint64
		wantErr bool
	}{
		"plain": {stat: "1234 (rackctl) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 9 0 777 1000 200", want: 777},
		// comm is the program's own choice: it may hold ") " and spaces.
		"hostile comm": {stat: "1234 (a) S 1 2 3) R 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 9 0 888 1000 200", want: 888},
		"truncated":    {stat: "1234 (x) S 1 2", wantErr: true},
		"no comm":      {stat: "1234 x S", wantErr: true},
		"not a number": {stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 abc 0 0", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseStatStart(tc.stat)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseStatStart = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
