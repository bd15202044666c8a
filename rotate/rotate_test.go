package rotate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

const (
	oldPassword = "old-s3cret-pw"
	newPassword = "new-s3cret-pw2"
)

type fixture struct {
	rack    *simrack.Rack
	targets []bmc.Target
	files   CredentialFiles
	state   string
	client  *bmc.Client
}

func newFixture(t *testing.T, n int, cfg bmc.Config) *fixture {
	t.Helper()
	rack := simrack.StartT(t, simrack.Options{N: n, Password: oldPassword})
	dir := t.TempDir()
	f := &fixture{rack: rack, state: filepath.Join(dir, "state"), files: CredentialFiles{
		UserFile: filepath.Join(dir, "oem/ipmi_user"), PasswordFile: filepath.Join(dir, "oem/ipmi_password"),
	}}
	os.MkdirAll(filepath.Dir(f.files.UserFile), 0o755)
	os.WriteFile(f.files.UserFile, []byte("admin\n"), 0o600)
	os.WriteFile(f.files.PasswordFile, []byte(oldPassword+"\n"), 0o600)
	for i, b := range rack.BMCs {
		f.targets = append(f.targets, bmc.Target{Node: fmt.Sprintf("node-%d", i), Address: b.Addr})
	}
	cfg.Credentials = bmc.Credentials{User: "admin", Password: oldPassword}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := bmc.New(cfg)
	if err != nil {
		t.Fatalf("bmc client (ipmitool missing?): %v", err)
	}
	f.client = c
	return f
}

// request builds the request as the CLI does: old credentials from the
// files, new ones from the rotation.
func (f *fixture) request(t *testing.T, del bool) Request {
	t.Helper()
	old, err := bmc.ReadCredentials(f.files.UserFile, f.files.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	return Request{Targets: f.targets, Old: old, New: bmc.Credentials{User: "admin2", Password: newPassword}, DeleteOld: del}
}

// run plans and applies once, returning the plan, the report, the progress
// lines and the error.
func (f *fixture) run(t *testing.T, req Request) (*Plan, *Report, []string, error) {
	t.Helper()
	ctx := context.Background()
	st, err := LoadState(f.state)
	if err != nil {
		t.Fatal(err)
	}
	p, err := MakePlan(ctx, f.client, req, st)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var mu sync.Mutex
	var lines []string
	rep, err := Apply(ctx, f.client, p, req, Options{Files: f.files, StateDir: f.state, Progress: func(node, msg string) {
		mu.Lock()
		lines = append(lines, node+": "+msg)
		mu.Unlock()
	}})
	if rep == nil {
		t.Fatalf("apply returned no report: %v", err)
	}
	return p, rep, lines, err
}

func countPrefix(lines []string, node, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, node+": "+prefix) {
			n++
		}
	}
	return n
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func noSecrets(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, oldPassword) || strings.Contains(s, newPassword) {
			t.Fatalf("a password appears in %s:\n%s", what, s)
		}
	}
}

// TestRotateEightWithOneDead rotates 8 real ipmi_sim BMCs, one of them dead
// during the first apply: nothing is switched; after it comes back, a
// second apply resumes and finishes.
func TestRotateEightWithOneDead(t *testing.T) {
	f := newFixture(t, 8, bmc.Config{})
	ctx := context.Background()
	const dead = 5
	if err := f.rack.Stop(dead); err != nil {
		t.Fatal(err)
	}
	oldCreds := bmc.Credentials{User: "admin", Password: oldPassword}
	newCreds := bmc.Credentials{User: "admin2", Password: newPassword}

	// First apply: phase 1 fails on node-5, nothing switched.
	p1, rep1, lines1, err := f.run(t, f.request(t, false))
	var fe *FailedError
	if !errors.Is(err, ErrNotSwitched) || !errors.As(err, &fe) || len(fe.Nodes) != 1 || fe.Nodes[0] != "node-5" {
		t.Fatalf("first apply: err %v, want ErrNotSwitched naming node-5 only", err)
	}
	if !strings.Contains(err.Error(), "node-5") || !strings.Contains(err.Error(), "1 of 8") {
		t.Errorf("error does not name the dead BMC clearly: %v", err)
	}
	for i, s := range p1.Steps {
		switch {
		case i == dead && !strings.Contains(s.Error, "unreachable") && !strings.Contains(s.Error, "timed out"):
			t.Errorf("plan step of the dead BMC: %+v, want an unreachable/timeout error", s)
		case i != dead && (s.Error != "" || s.Slot != 3 || s.OldSlot != 2 || s.Reuse):
			t.Errorf("plan step %s: %+v, want slot 3, old slot 2", s.Node, s)
		}
	}
	if rep1.Switched || rep1.Complete {
		t.Errorf("report after a failed phase 1: %+v", rep1)
	}
	for i, r := range rep1.Nodes {
		want := StatusWaiting
		if i == dead {
			want = StatusFailed
		}
		if r.Status != want {
			t.Errorf("%s: status %s, want %s (%s)", r.Node, r.Status, want, r.Error)
		}
	}
	if got := readFile(t, f.files.UserFile) + readFile(t, f.files.PasswordFile); got != "admin\n"+oldPassword+"\n" {
		t.Errorf("credential files changed after a failed phase 1: %q", got)
	}
	if _, err := os.Stat(f.files.UserFile + BackupSuffix); err == nil {
		t.Error("backup written although nothing was switched")
	}
	for i, tg := range f.targets {
		if i == dead {
			continue
		}
		if err := f.client.TestLogin(ctx, tg, oldCreds); err != nil {
			t.Errorf("%s: old credentials no longer log in after a failed rotation: %v", tg.Node, err)
		}
		if n := countPrefix(lines1, tg.Node, "set user 3"); n != 1 {
			t.Errorf("%s: %d set user calls in the first apply, want 1", tg.Node, n)
		}
	}
	st, err := LoadState(f.state)
	if err != nil || st == nil {
		t.Fatalf("state after first apply: %v %v", st, err)
	}
	if st.Switched || st.Nodes["node-0"].Phase != PhaseVerified || st.Nodes["node-5"].Phase != PhasePending || st.Nodes["node-5"].Error == "" {
		t.Errorf("state after first apply: %+v", st)
	}

	// The dead BMC comes back; the second apply resumes.
	if err := f.rack.StartAgain(ctx, dead); err != nil {
		t.Fatal(err)
	}
	p2, rep2, lines2, err := f.run(t, f.request(t, false))
	if err != nil {
		t.Fatalf("second apply: %v\n%s", err, strings.Join(lines2, "\n"))
	}
	for i, s := range p2.Steps {
		want := PhaseVerified
		if i == dead {
			want = PhasePending
		}
		if s.From != want {
			t.Errorf("second plan %s: from %s, want %s", s.Node, s.From, want)
		}
	}
	for i, r := range rep2.Nodes {
		if r.Status != StatusDone || r.Phase != PhaseOldDisabled {
			t.Errorf("%s: %s/%s after the second apply (%s)", r.Node, r.Status, r.Phase, r.Error)
		}
		wantSet := 0
		if i == dead {
			wantSet = 1
		}
		if n := countPrefix(lines2, r.Node, "set user"); n != wantSet || r.Created != (i == dead) || r.Resumed == (i == dead) {
			t.Errorf("%s: %d set user calls, created %v, resumed %v in the second apply; want %d", r.Node, n, r.Created, r.Resumed, wantSet)
		}
	}
	if !rep2.Switched || !rep2.SwitchedNow || !rep2.Complete {
		t.Errorf("report after the second apply: %+v", rep2)
	}
	if got := readFile(t, f.files.UserFile) + readFile(t, f.files.PasswordFile); got != "admin2\n"+newPassword+"\n" {
		t.Errorf("credential files not switched")
	}
	for _, p := range []string{f.files.UserFile, f.files.PasswordFile} {
		fi, err := os.Stat(p + BackupSuffix)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("backup %s: %v %v, want mode 0600", p+BackupSuffix, fi, err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode())
		}
	}
	if got := readFile(t, f.files.PasswordFile+BackupSuffix); got != oldPassword+"\n" {
		t.Error("backup of the password file does not hold the old password")
	}
	for _, tg := range f.targets {
		if err := f.client.TestLogin(ctx, tg, oldCreds); !errors.Is(err, bmc.ErrAuth) {
			t.Errorf("%s: old credentials: %v, want ErrAuth", tg.Node, err)
		}
		if err := f.client.TestLogin(ctx, tg, newCreds); err != nil {
			t.Errorf("%s: new credentials: %v", tg.Node, err)
		}
	}

	// A third plan (rotate still in the spec, files switched) is a no-op.
	p3, rep3, lines3, err := f.run(t, f.request(t, false))
	if err != nil || !p3.Done() || !rep3.Complete || len(lines3) != 0 {
		var b strings.Builder
		p3.WriteHuman(&b)
		t.Errorf("third run: err %v, done %v, progress %q\n%s", err, p3.Done(), lines3, b.String())
	}
	var human strings.Builder
	p3.WriteHuman(&human)
	if !strings.Contains(human.String(), "No changes") {
		t.Errorf("human view of the done plan:\n%s", human.String())
	}

	// Nothing saved or shown carries a password.
	var shown []string
	for _, v := range []any{p1, p2, p3, rep1, rep2, rep3} {
		data, _ := json.Marshal(v)
		shown = append(shown, string(data))
	}
	shown = append(shown, readFile(t, filepath.Join(f.state, StateFile)), strings.Join(lines1, "\n"), strings.Join(lines2, "\n"), err1(err))
	noSecrets(t, "plans, reports, progress or the state file", shown...)
	if fi, _ := os.Stat(filepath.Join(f.state, StateFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v", fi.Mode())
	}
}

func err1(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestRotateDeleteOldAndReuse: an existing account with the new name is
// reused; deleteOld clears the old account's name.
func TestRotateDeleteOldAndReuse(t *testing.T) {
	f := newFixture(t, 2, bmc.Config{})
	ctx := context.Background()
	// node-1 already has an (unusable) admin2 in slot 7.
	if err := f.client.SetUser(ctx, f.targets[1], 7, bmc.Credentials{User: "admin2", Password: "something-else"}); err != nil {
		t.Fatal(err)
	}
	p, rep, _, err := f.run(t, f.request(t, true))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if s := p.Steps[1]; s.Slot != 7 || !s.Reuse {
		t.Errorf("node-1 step: %+v, want slot 7 reused", s)
	}
	if s := p.Steps[0]; s.Slot != 3 || s.Reuse {
		t.Errorf("node-0 step: %+v, want free slot 3", s)
	}
	if !rep.Complete {
		t.Errorf("report: %+v", rep)
	}
	for _, tg := range f.targets {
		users, err := f.client.Users(ctx, bmc.Target{Node: tg.Node, Address: tg.Address, Credentials: bmc.Credentials{User: "admin2", Password: newPassword}})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if u.Name == "admin" {
				t.Errorf("%s: old account still named: %+v", tg.Node, u)
			}
		}
	}
	p2, _, _, err := f.run(t, f.request(t, true))
	if err != nil || !p2.Done() {
		t.Errorf("second run: %v, done %v", err, p2.Done())
	}
}

// TestNoPasswordInArgv runs a rotation with ipmitool wrapped by a script
// that records every argv: neither password may appear.
func TestNoPasswordInArgv(t *testing.T) {
	real, err := exec.LookPath("ipmitool")
	if err != nil {
		t.Fatal("ipmitool not found (install the ipmitool package)")
	}
	dir := t.TempDir()
	logf := filepath.Join(dir, "argv.log")
	wrapper := filepath.Join(dir, "ipmitool")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$0 $*\" >> '%s'\nexec '%s' \"$@\"\n", logf, real)
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 2, bmc.Config{Ipmitool: wrapper})
	if _, _, _, err := f.run(t, f.request(t, true)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	argv := readFile(t, logf)
	for _, want := range []string{"user enable", "channel setaccess", "user disable", "raw 0x06 0x45"} {
		if !strings.Contains(argv, want) {
			t.Errorf("no %q among the recorded ipmitool calls:\n%s", want, argv)
		}
	}
	// Names and passwords go over RMCP+ as bytes, never through ipmitool.
	for _, never := range []string{"user set", " exec ", "0x47"} {
		if strings.Contains(argv, never) {
			t.Errorf("%q among the recorded ipmitool calls:\n%s", never, argv)
		}
	}
	noSecrets(t, "an ipmitool argv", argv)
}

func TestRequestChecks(t *testing.T) {
	old := bmc.Credentials{User: "admin", Password: "a"}
	tests := map[string]struct {
		req     Request
		wantErr string
	}{
		"same user, new password": {Request{Old: old, New: bmc.Credentials{User: "admin", Password: "b"}}, "current BMC user"},
		"password too long":       {Request{Old: old, New: bmc.Credentials{User: "x", Password: strings.Repeat("p", 21)}}, "new credentials"},
		"switched (same creds)":   {Request{Old: old, New: old}, ""},
		"fresh":                   {Request{Old: old, New: bmc.Credentials{User: "admin2", Password: "b"}}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.req.check()
			if (err != nil) != (tc.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("check: %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestFreeSlot(t *testing.T) {
	tests := map[string]struct {
		summary string
		named   map[int]string
		want    int
	}{
		"ipmi_sim":        {"Maximum IDs\t    : 63\nEnabled User Count  : 1\nFixed Name Count    : 0\n", map[int]string{2: "admin"}, 3},
		"fixed names":     {"Maximum IDs : 10\nFixed Name Count : 2\n", map[int]string{1: "", 2: "ADMIN"}, 3},
		"gap":             {"Maximum IDs : 10\nFixed Name Count : 0\n", map[int]string{2: "root", 3: "x", 5: "y"}, 4},
		"full":            {"Maximum IDs : 3\nFixed Name Count : 0\n", map[int]string{2: "root", 3: "x"}, 0},
		"slot 1 not used": {"Maximum IDs : 4\nFixed Name Count : 0\n", map[int]string{}, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			maxID, fixed, err := bmc.ParseUserSummary(tc.summary)
			if err != nil {
				t.Fatal(err)
			}
			if got := freeSlot(tc.named, max(2, fixed+1), maxID); got != tc.want {
				t.Errorf("free slot %d, want %d", got, tc.want)
			}
		})
	}
	if _, _, err := bmc.ParseUserSummary("garbage"); err == nil {
		t.Error("a summary without Maximum IDs parsed")
	}
}
