package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

// syncBuffer is a bytes.Buffer safe for the loop's and the test's
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Driver flags for the file layer only.
var filesOnly = []string{"--dhcp=none", "--bmc=none", "--provisioner-run=never", "--verify=none"}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func historyHas(t *testing.T, stateDir, commit string) bool {
	recs, err := state.New(stateDir).ReadHistory()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Commit == commit && r.Outcome == reconcile.OutcomeSuccess {
			return true
		}
	}
	return false
}

func eventFor(t *testing.T, stateDir, commit string, out watch.Outcome) *watch.EventRecord {
	evs, err := state.New(stateDir).ReadWatchEvents()
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if evs[i].Commit == commit && evs[i].Outcome == out {
			return &evs[i]
		}
	}
	return nil
}

// The real watch command, in-process, following a git repository: commits
// are applied (files under --root, history names the commit), an invalid
// commit is rejected with its position and changes nothing, cancelling
// (SIGTERM) stops cleanly, and a restart with --once converges.
func TestWatchGit(t *testing.T) {
	spec, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	repo := testenv.NewGitRepo(t)
	c1 := repo.Commit(string(spec), "spec")
	root := t.TempDir()
	stateDir := filepath.Join(root, "var/lib/rackctl")

	var out, errb syncBuffer
	g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := append([]string{"watch", "--repo", repo.Dir, "--root", root, "--interval", "100ms", "--listen", "127.0.0.1:0", "--approval-poll", "100ms"}, filesOnly...)
	done := make(chan int, 1)
	go func() { done <- execute(ctx, g, args) }()

	waitFor(t, "the first commit applied", func() bool { return historyHas(t, stateDir, c1) })
	if _, err := os.Stat(filepath.Join(root, "etc/hosts")); err != nil {
		t.Errorf("etc/hosts not written: %v", err)
	}
	// The loop records its event after the apply has written history.
	waitFor(t, "the first commit's event", func() bool { return eventFor(t, stateDir, c1, watch.OutcomeApplied) != nil })
	if ev := eventFor(t, stateDir, c1, watch.OutcomeApplied); ev == nil || ev.Author != "Alice Ops" {
		t.Errorf("watch event for %s: %+v", c1, ev)
	}

	// An invalid spec is rejected, positioned; the rack is left alone.
	vars := filepath.Join(root, "home/core/lokomotive/lokocfg.vars")
	before, _ := os.ReadFile(vars)
	bad := strings.Replace(string(spec), "mac: aa:bb:cc:dd:00:01", "mac: not-a-mac", 1)
	c2 := repo.Commit(bad, "spec")
	waitFor(t, "the bad commit rejected", func() bool { return eventFor(t, stateDir, c2, watch.OutcomeRejected) != nil })
	ev := eventFor(t, stateDir, c2, watch.OutcomeRejected)
	if len(ev.Diagnostics) == 0 || ev.Diagnostics[0].File != "rack.yaml" || ev.Diagnostics[0].Line == 0 {
		t.Errorf("rejected record %+v: want a rack.yaml position", ev)
	}

	// A good commit on top is applied.
	good := strings.Replace(string(spec), "metadata.node-type: storage", "metadata.node-type: gpu", 1)
	c3 := repo.Commit(good, "spec")
	waitFor(t, "the third commit applied", func() bool { return historyHas(t, stateDir, c3) })
	after, _ := os.ReadFile(vars)
	if bytes.Equal(before, after) || !strings.Contains(string(after), "gpu") {
		t.Errorf("lokocfg.vars did not take the third commit")
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("watch exit %d\nstderr: %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not stop after cancel")
	}
	if _, err := os.Stat(filepath.Join(stateDir, reconcile.LockFile)); err == nil {
		t.Error("apply lock left after stop")
	}
	if !strings.Contains(errb.String(), "commit="+c3) {
		t.Errorf("logs lack the commit field:\n%s", errb.String())
	}
	if last, _ := state.New(stateDir).LastApplied(); last != c3 {
		t.Errorf("last applied %q, want %s", last, c3)
	}

	// Drift: a managed file deleted behind the loop's back; --once on the
	// same revision converges.
	if err := os.Remove(vars); err != nil {
		t.Fatal(err)
	}
	r := cli(t, append([]string{"watch", "--once", "--repo", repo.Dir, "--root", root, "--listen", ""}, filesOnly...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "applied") {
		t.Fatalf("watch --once: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(vars); err != nil {
		t.Errorf("lokocfg.vars not restored: %v", err)
	}
	r = cli(t, append([]string{"watch", "--once", "--repo", repo.Dir, "--root", root, "--listen", ""}, filesOnly...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "unchanged") {
		t.Errorf("second watch --once: exit %d, want unchanged\nstdout: %s", r.code, r.stdout)
	}
}

// --once on an invalid file spec: exit 1 with the positioned error,
// nothing written under the root.
func TestWatchOnceInvalidFile(t *testing.T) {
	root := t.TempDir()
	r := cli(t, append([]string{"watch", "--once", "-f", "testdata/bad-mac.yaml", "--root", root, "--state-dir", filepath.Join(t.TempDir(), "state"), "--listen", ""}, filesOnly...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "bad-mac.yaml:14:5") {
		t.Errorf("exit %d, want 1 with bad-mac.yaml:14:5\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if files := treeFiles(t, root); len(files) != 0 {
		t.Errorf("files written for an invalid spec: %v", files)
	}
}

func TestApproveCmd(t *testing.T) {
	stateDir := t.TempDir()
	r := cli(t, "approve", "--state-dir", stateDir, "0123456789abcdef0123456789abcdef01234567")
	if r.code != 0 || !strings.Contains(r.stdout, "Approved 0123456789abcdef") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(stateDir, watch.ApprovalsDir, "0123456789abcdef0123456789abcdef01234567")); err != nil {
		t.Error(err)
	}
	if r := cli(t, "approve", "--state-dir", stateDir, "../x"); r.code != 1 {
		t.Errorf("approve ../x: exit %d, want 1", r.code)
	}
}

// The systemd unit is valid for systemd and starts watch with flags that
// exist.
func TestSystemdUnit(t *testing.T) {
	const unit = "../../deploy/rackctl-watch.service"
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"Restart=on-failure", "KillSignal=SIGTERM", "TimeoutStopSec=", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(text, "\n"+want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	cmd := newWatchCmd(&globals{})
	root := newRootCmd(&globals{})
	for _, line := range strings.Split(text, "\n") {
		start, ok := strings.CutPrefix(line, "ExecStart=")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(start) {
			name, ok := strings.CutPrefix(f, "--")
			if !ok {
				continue
			}
			name, _, _ = strings.Cut(name, "=")
			if cmd.Flags().Lookup(name) == nil && root.PersistentFlags().Lookup(name) == nil {
				t.Errorf("ExecStart uses --%s, which watch does not have", name)
			}
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is required to check the unit: install systemd")
	}
	out, _ := exec.Command(analyze, "verify", unit).CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// The binary is not installed where the unit expects it here.
		if l == "" || strings.Contains(l, "is not executable") {
			continue
		}
		t.Errorf("systemd-analyze verify: %s", l)
	}
}
