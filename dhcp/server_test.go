package dhcp

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
)

// needTools fails the test when a program it runs is missing.
func needTools(t *testing.T, names ...string) {
	t.Helper()
	if err := testenv.NeedPrograms(names...); err != nil {
		t.Fatal(err)
	}
}

const goodConf = `port=0
interface=rackctl-nonexistent0
bind-interfaces
dhcp-range=172.24.213.128,172.24.213.254,255.255.255.0,2m
dhcp-authoritative
dhcp-option=3
dhcp-option=6
enable-tftp
tftp-root=/nonexistent/rackctl/tftpboot
log-dhcp
dhcp-host=aa:bb:cc:dd:ee:11,172.24.213.3,node-0,2m
`

// reloadMarker returns a reload command that appends a line to a marker
// file, and a function counting the reloads so far.
func reloadMarker(t *testing.T) ([]string, func() int) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "reload.sh")
	marker := filepath.Join(dir, "reloads")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho reload >> \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{script, marker}, func() int {
		b, err := os.ReadFile(marker)
		if errors.Is(err, os.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "reload\n")
	}
}

func TestCheck(t *testing.T) {
	needTools(t, "dnsmasq")
	s := New(Config{})
	tests := map[string]struct {
		conf    string
		wantMsg string // substring of dnsmasq's message; "" = valid
		line    int
	}{
		// Host-specific things dnsmasq --test does not look at.
		"valid, missing interface and tftp-root": {conf: goodConf},
		"bad MAC": {
			conf: goodConf + "dhcp-host=zz:bb,172.24.213.4\n", wantMsg: "bad hex constant", line: 12,
		},
		"bad range": {
			conf: "port=0\ndhcp-range=172.24.213.300,172.24.213.254,2m\n", wantMsg: "bad dhcp-range", line: 2,
		},
		"unknown option":   {conf: "port=0\nno-such-option\n", wantMsg: "bad option", line: 2},
		"missing conf-dir": {conf: "conf-dir=/nonexistent/rackctl\n", wantMsg: "cannot access directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := s.Check(t.Context(), []byte(tc.conf))
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("Check = %v, want a *CheckError", err)
			}
			if !strings.Contains(ce.Message, tc.wantMsg) || ce.Line != tc.line || ce.ExitCode == 0 {
				t.Errorf("CheckError = %+v, want message with %q, line %d", ce, tc.wantMsg, tc.line)
			}
			if strings.Contains(ce.Message, os.TempDir()+"/rackctl-dnsmasq-") {
				t.Errorf("message leaks the temp path: %q", ce.Message)
			}
		})
	}
}

func TestCheckMissingDnsmasq(t *testing.T) {
	s := New(Config{DnsmasqCmd: []string{"/nonexistent/dnsmasq"}})
	err := s.Check(t.Context(), []byte(goodConf))
	var ce *CheckError
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a non-CheckError error", err)
	}
}

func TestCheckTimeout(t *testing.T) {
	s := New(Config{DnsmasqCmd: []string{"sh", "-c", "exec sleep 10", "sh"}, Timeout: 100 * time.Millisecond})
	start := time.Now()
	err := s.Check(t.Context(), []byte(goodConf))
	var ce *CheckError
	if err == nil || errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Check = %v, want a deadline error, not a CheckError", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Check took %v", d)
	}
}

func TestInstall(t *testing.T) {
	needTools(t, "dnsmasq")
	ctx := t.Context()
	reload, reloads := reloadMarker(t)
	dir := t.TempDir()
	live := filepath.Join(dir, "dnsmasq", "dnsmasq.conf") // dir created by Install
	s := New(Config{ConfPath: live, ReloadCmd: reload})

	// First install: file created, one reload.
	changed, err := s.Install(ctx, []byte(goodConf))
	if err != nil || !changed {
		t.Fatalf("Install new = %v, %v; want true, nil", changed, err)
	}
	if n := reloads(); n != 1 {
		t.Fatalf("reloads = %d, want 1", n)
	}
	if err := os.Chmod(live, 0o640); err != nil {
		t.Fatal(err)
	}

	// Unchanged: no write, no reload.
	changed, err = s.Install(ctx, []byte(goodConf))
	if err != nil || changed {
		t.Fatalf("Install unchanged = %v, %v; want false, nil", changed, err)
	}
	if n := reloads(); n != 1 {
		t.Fatalf("reloads after unchanged install = %d, want 1", n)
	}

	// Changed: replaced atomically (new inode, mode kept, no temp left), one reload.
	before, _ := os.Stat(live)
	conf2 := strings.Replace(goodConf, "172.24.213.3", "172.24.213.5", 1)
	changed, err = s.Install(ctx, []byte(conf2))
	if err != nil || !changed {
		t.Fatalf("Install changed = %v, %v; want true, nil", changed, err)
	}
	if n := reloads(); n != 2 {
		t.Fatalf("reloads = %d, want 2", n)
	}
	after, _ := os.Stat(live)
	if os.SameFile(before, after) {
		t.Errorf("live file rewritten in place, want a rename")
	}
	if after.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640 kept", after.Mode().Perm())
	}
	assertFile(t, live, conf2)
	assertOnlyFile(t, filepath.Dir(live))

	// Failed check: live file untouched, no reload, dnsmasq's message returned.
	changed, err = s.Install(ctx, []byte(conf2+"dhcp-host=zz:bb,172.24.213.4\n"))
	var ce *CheckError
	if changed || !errors.As(err, &ce) || !strings.Contains(err.Error(), "bad hex constant at line 12") {
		t.Fatalf("Install bad = %v, %v; want false and a CheckError naming line 12", changed, err)
	}
	if n := reloads(); n != 2 {
		t.Fatalf("reloads after failed check = %d, want 2", n)
	}
	assertFile(t, live, conf2)
	assertOnlyFile(t, filepath.Dir(live))
	if again, _ := os.Stat(live); !os.SameFile(after, again) {
		t.Errorf("live file replaced by a failed install")
	}
}

func TestInstallReloadFails(t *testing.T) {
	needTools(t, "dnsmasq")
	live := filepath.Join(t.TempDir(), "dnsmasq.conf")
	s := New(Config{ConfPath: live, ReloadCmd: []string{"sh", "-c", "echo unit not found >&2; exit 5"}})
	changed, err := s.Install(t.Context(), []byte(goodConf))
	if !changed || err == nil || !strings.Contains(err.Error(), "unit not found") {
		t.Fatalf("Install = %v, %v; want true and the reload's message", changed, err)
	}
	assertFile(t, live, goodConf)
}

func TestLeasesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dnsmasq.leases")
	s := New(Config{LeasePath: path})
	if _, err := s.Leases(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Leases on missing file = %v, want ErrNotExist", err)
	}
	if err := os.WriteFile(path, []byte("0 aa:bb:cc:dd:ee:11 172.24.213.3 * *\nbad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Leases()
	var pe *ParseError
	if len(ls) != 1 || !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(err.Error(), path) {
		t.Fatalf("Leases = %v, %v; want 1 lease and a line-2 error naming the file", ls, err)
	}
}

func TestReleaseNeedsInterface(t *testing.T) {
	s := New(Config{})
	if err := s.Release(t.Context(), Lease{MAC: "aa:bb:cc:dd:ee:11"}); err == nil {
		t.Fatal("Release without interface succeeded")
	}
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("%s =\n%s\nwant\n%s", path, b, want)
	}
}

// assertOnlyFile checks no temp files were left beside the live one.
func assertOnlyFile(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want only the live file", dir, names)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
