package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

// pinRack is a git repo with two commits, A and B (the head), and a root
// whose watch clone was made by `watch --once` (B applied).
type pinRack struct {
	repo           *testenv.GitRepo
	a, b           string
	root, stateDir string
}

func labelled(t *testing.T, label string) string {
	t.Helper()
	spec, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(spec), "metadata.node-type: storage", "metadata.node-type: "+label, 1)
}

func newPinRack(t *testing.T) *pinRack {
	t.Helper()
	p := &pinRack{repo: testenv.NewGitRepo(t), root: t.TempDir()}
	p.stateDir = filepath.Join(p.root, "var/lib/rackctl")
	p.a = p.repo.Commit(labelled(t, "label-a"), "label a")
	p.b = p.repo.Commit(labelled(t, "label-b"), "label b")
	p.once(t, p.b, "applied")
	return p
}

// once runs `watch --once` and checks it applied (or otherwise handled)
// commit.
func (p *pinRack) once(t *testing.T, commit, outcome string) {
	t.Helper()
	r := cli(t, append([]string{"watch", "--once", "--repo", p.repo.Dir, "--root", p.root, "--listen", ""}, filesOnly...)...)
	if want := shortCommit(commit) + ": " + outcome; !strings.Contains(r.stdout, want) {
		t.Fatalf("watch --once: exit %d, want %q\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
}

func (p *pinRack) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	return cli(t, append(args, "--root", p.root, "--repo", p.repo.Dir)...)
}

func (p *pinRack) label(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.root, "home/core/lokomotive/lokocfg.vars"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"label-a", "label-b", "label-c"} {
		if strings.Contains(string(b), l) {
			return l
		}
	}
	return ""
}

// pin PREFIX → watch applies A instead of the head B and records B as
// pinned; history shows who pinned, when and why; unpin → B again.
func TestPinUnpinCLI(t *testing.T) {
	p := newPinRack(t)
	r := p.cli(t, "pin", p.a[:8], "--reason", "label b breaks storage")
	if r.code != 0 || !strings.Contains(r.stdout, "Pinned "+p.a) || !strings.Contains(r.stdout, "label a") {
		t.Fatalf("pin: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	pin, err := state.New(p.stateDir).LoadPin()
	if err != nil || pin == nil || pin.Commit != p.a || pin.By == "" || pin.Reason != "label b breaks storage" || pin.At.IsZero() {
		t.Fatalf("pin.json = %+v, %v: want a, who, when, why", pin, err)
	}

	p.once(t, p.a, "applied")
	if got := p.label(t); got != "label-a" {
		t.Errorf("after the pin lokocfg.vars has %q, want label-a", got)
	}
	r = cli(t, "history", "--root", p.root, "-o", "json")
	var h struct {
		Entries []struct {
			Commit, Author, Outcome, Detail string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &h); err != nil {
		t.Fatalf("history -o json: %v\n%s", err, r.stdout)
	}
	var pinRec, pinnedRec bool
	for _, e := range h.Entries {
		pinRec = pinRec || e.Outcome == "pin" && e.Commit == p.a && e.Author == pin.By && strings.Contains(e.Detail, "label b breaks storage")
		pinnedRec = pinnedRec || e.Outcome == "pinned" && e.Commit == p.b && strings.Contains(e.Detail, "not applied: pinned to "+p.a[:12])
	}
	if !pinRec || !pinnedRec {
		t.Errorf("history lacks the pin (%v) or b not applied: pinned (%v):\n%s", pinRec, pinnedRec, r.stdout)
	}
	r = cli(t, "history", "--root", p.root)
	if !strings.Contains(r.stdout, "pinned") || !strings.Contains(r.stdout, "not applied: pinned") {
		t.Errorf("history lacks the pinned commit:\n%s", r.stdout)
	}

	r = cli(t, "unpin", "--root", p.root, "--reason", "fixed")
	if r.code != 0 || !strings.Contains(r.stdout, "Unpinned") {
		t.Fatalf("unpin: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, "unpin", "--root", p.root); r.code != 0 || !strings.Contains(r.stdout, "Nothing was pinned") {
		t.Errorf("second unpin: exit %d\nstdout: %s", r.code, r.stdout)
	}
	p.once(t, p.b, "applied")
	if got := p.label(t); got != "label-b" {
		t.Errorf("after unpin lokocfg.vars has %q, want label-b", got)
	}
}

// pin refuses what watch would not apply, and says why.
func TestPinErrorsCLI(t *testing.T) {
	p := newPinRack(t)
	// X is fetched by watch, then the branch is reset past it: known to
	// the clone, no longer on the branch.
	x := p.repo.Commit(labelled(t, "label-c"), "label c")
	p.once(t, x, "applied")
	p.repo.Git("reset", "-q", "--hard", p.b)
	cli(t, append([]string{"watch", "--once", "--repo", p.repo.Dir, "--root", p.root, "--listen", ""}, filesOnly...)...)

	key := filepath.Join(t.TempDir(), "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen (needed for the allowed-signers file): %v\n%s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	signers := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(signers, []byte("ops@example.com "+string(pub)), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		args []string
		want string
	}{
		"no git source":     {args: []string{"pin", p.a, "--root", p.root}, want: "a pin needs the git source of rackctl watch"},
		"not a hash":        {args: []string{"pin", "HEAD~1"}, want: "not a commit hash"},
		"too short":         {args: []string{"pin", p.a[:5]}, want: "not a commit hash"},
		"unknown commit":    {args: []string{"pin", "0123456789abcdef"}, want: "no such commit in the fetched history"},
		"off the branch":    {args: []string{"pin", x}, want: "not on the branch"},
		"unsigned for keys": {args: []string{"pin", p.a, "--allowed-signers", signers}, want: "commit is not signed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := tc.args
			if name != "no git source" {
				args = append(args, "--root", p.root, "--repo", p.repo.Dir)
			}
			r := cli(t, args...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want 1 with %q\nstdout: %s\nstderr: %s", r.code, tc.want, r.stdout, r.stderr)
			}
			if pin, _ := state.New(p.stateDir).LoadPin(); pin != nil {
				t.Errorf("a refused pin wrote pin.json: %+v", pin)
			}
		})
	}
}

// rollback refuses when no apply verified its installs, and otherwise
// pins the newest commit whose apply succeeded and verified.
func TestRollbackCLI(t *testing.T) {
	p := newPinRack(t)
	// watch --once ran with --verify=none: B's apply verified nothing.
	r := p.cli(t, "rollback")
	if r.code != 1 || !strings.Contains(r.stderr, "no commit has an apply that succeeded and verified its installs") {
		t.Fatalf("rollback with nothing verified: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// The record a booting-rack apply writes for A (the watch tests derive
	// it from a real apply with a verify phase).
	now := time.Now().UTC()
	if err := state.New(p.stateDir).AppendHistory(state.HistoryRecord{Time: now, Finished: now, Commit: p.a,
		SpecHash: "sha256:x", Done: 3, Verified: 2, Outcome: state.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	r = p.cli(t, "rollback", "--reason", "b broke storage", "-o", "json")
	var pin state.Pin
	if err := json.Unmarshal([]byte(r.stdout), &pin); r.code != 0 || err != nil || pin.Commit != p.a || !pin.Rollback {
		t.Fatalf("rollback: exit %d, pin %+v (%v)\nstdout: %s\nstderr: %s", r.code, pin, err, r.stdout, r.stderr)
	}
	if ev := eventFor(t, p.stateDir, p.a, watch.OutcomePin); ev == nil || !strings.Contains(ev.Reason, "rolled back by") {
		t.Errorf("history record of the rollback: %+v", ev)
	}
	p.once(t, p.a, "applied")
	if got := p.label(t); got != "label-a" {
		t.Errorf("after rollback lokocfg.vars has %q, want label-a", got)
	}
}

// status shows the pin in its header and in -o json; an unreadable
// pin.json is shown as unknown, not as "not pinned".
func TestStatusShowsPin(t *testing.T) {
	at := time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC)
	pin := &state.Pin{Commit: strings.Repeat("ab", 20), By: "alice", At: at, Reason: "b broke storage"}
	tests := map[string]struct {
		st       engine.Status
		wantLine string
	}{
		"pinned":     {st: engine.Status{Pin: pin}, wantLine: "Pinned to abababababab by alice at " + at.Local().Format("2006-01-02 15:04") + ": b broke storage"},
		"unreadable": {st: engine.Status{PinError: "pin pin.json: bad json"}, wantLine: "Pinned: unknown (pin pin.json: bad json)"},
		"not pinned": {st: engine.Status{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out strings.Builder
			g := &globals{stdout: &out}
			if err := writeStatus(g, &tc.st, false); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(out.String(), "Pinned"); got != (tc.wantLine != "") || !strings.Contains(out.String(), tc.wantLine) {
				t.Errorf("status header:\n%s\nwant line %q", out.String(), tc.wantLine)
			}
			b, err := json.Marshal(newStatusView(&tc.st))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(b), `"pin":`); got != (tc.wantLine != "") {
				t.Errorf("status -o json %s: pin field present %v, want %v", b, got, tc.wantLine != "")
			}
		})
	}
}

// pin takes the watch loop's repository from the management node config,
// as watch does.
func TestPinFromConfig(t *testing.T) {
	p := newPinRack(t)
	writeConfig(t, p.root, "apiVersion: rackctl/v1alpha1\nkind: Config\nwatch:\n  repo: "+p.repo.Dir+"\n")
	r := cli(t, "pin", p.a[:10], "--root", p.root)
	if r.code != 0 || !strings.Contains(r.stdout, "Pinned "+p.a) {
		t.Fatalf("pin with watch.repo from the config: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// Before watch ever fetched there is no clone to check a commit in: pin
// says so instead of pinning blind.
func TestPinBeforeWatchRan(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	a := repo.Commit(labelled(t, "label-a"), "label a")
	root := t.TempDir()
	r := cli(t, "pin", a, "--root", root, "--repo", repo.Dir)
	if r.code != 1 || !strings.Contains(r.stderr, "rackctl watch makes it at its first fetch") {
		t.Errorf("pin before watch ran: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if pin, _ := state.New(filepath.Join(root, "var/lib/rackctl")).LoadPin(); pin != nil {
		t.Errorf("pin.json written: %+v", pin)
	}
}
