package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/internal/testenv"
)

// slotLine returns slot's line of `ipmitool user list 1` run as the old
// account: the BMC's own view, not parsed by package bmc.
func (f *fixture) slotLine(t *testing.T, i, slot int) []string {
	t.Helper()
	tg := f.targets[i]
	tg.Credentials = bmc.Credentials{User: "admin", Password: oldPassword}
	out, err := f.client.Exec(context.Background(), tg, "user", "list", "1")
	if err != nil {
		t.Fatalf("%s: ipmitool user list: %v", tg.Node, err)
	}
	for line := range strings.Lines(string(out)) {
		if fs := strings.Fields(line); len(fs) > 0 && fs[0] == fmt.Sprint(slot) {
			return fs
		}
	}
	t.Fatalf("%s: no slot %d in\n%s", tg.Node, slot, out)
	return nil
}

// checkRolledBack asserts what a phase-1 failure must leave: credential
// files untouched and not backed up, the old account logging in, and the
// new slot (named, from the write) disabled on every BMC in nodes.
func (f *fixture) checkRolledBack(t *testing.T, rep *Report, err error, wantUser string, nodes ...int) {
	t.Helper()
	var fe *FailedError
	if !errors.Is(err, ErrNotSwitched) || !errors.As(err, &fe) || len(fe.Nodes) != len(nodes) {
		t.Fatalf("apply: %v, want ErrNotSwitched naming %d BMCs", err, len(nodes))
	}
	if rep.Switched || rep.SwitchedNow {
		t.Errorf("report says switched: %+v", rep)
	}
	if got := readFile(t, f.files.UserFile) + readFile(t, f.files.PasswordFile); got != "admin\n"+oldPassword+"\n" {
		t.Errorf("credential files changed although the new login was refused: %q", got)
	}
	for _, p := range []string{f.files.UserFile, f.files.PasswordFile} {
		if _, err := os.Stat(p + BackupSuffix); err == nil {
			t.Errorf("%s written although nothing was switched", p+BackupSuffix)
		}
	}
	st, serr := LoadState(f.state)
	if serr != nil || st == nil || st.SwitchStarted || st.Switched {
		t.Fatalf("state: %+v %v", st, serr)
	}
	for _, i := range nodes {
		tg := f.targets[i]
		r := rep.Nodes[i]
		if r.Status != StatusFailed || !r.RolledBack || r.Phase != PhasePending {
			t.Errorf("%s: %+v, want failed and rolled back", tg.Node, r)
		}
		if n := st.Nodes[tg.Node]; n.Phase != PhasePending || n.Error == "" {
			t.Errorf("%s: state %+v, want pending with the error", tg.Node, n)
		}
		// ID Name Callin LinkAuth IPMIMsg Priv: ipmi_sim shows enable
		// through the IPMI messaging bit.
		if fs := f.slotLine(t, i, 3); len(fs) < 5 || fs[1] != wantUser || fs[4] != "false" {
			t.Errorf("%s: new slot 3 after the rollback: %q, want %s with IPMI messaging off", tg.Node, fs, wantUser)
		}
		if err := f.client.TestLogin(context.Background(), tg, bmc.Credentials{User: "admin", Password: oldPassword}); err != nil {
			t.Errorf("%s: old account no longer logs in: %v", tg.Node, err)
		}
	}
}

// TestRotateLoginRefusedSwitchesNothing: ipmi_sim accepts a 20-byte
// password (Set User Password and its test answer success) but keeps 16
// bytes, so the new account exists and refuses its login. Rotation must
// prove the login before switching: every credential file stays as it
// was, and the new slot is disabled again on every BMC.
func TestRotateLoginRefusedSwitchesNothing(t *testing.T) {
	f := newFixture(t, 2, bmc.Config{})
	req := f.request(t, false)
	req.New.Password = "0123456789abcdef#XYZ" // 20 bytes
	_, rep, lines, err := f.run(t, req)
	f.checkRolledBack(t, rep, err, "admin2", 0, 1)
	if !strings.Contains(err1(err), "2 of 2") || !strings.Contains(rep.Nodes[0].Error, "does not log in") || !strings.Contains(rep.Nodes[0].Error, "at most 16 bytes") {
		t.Errorf("error %v / %q does not say the new login was refused and what to do", err, rep.Nodes[0].Error)
	}
	if countPrefix(lines, "node-0", "roll back: disable new user 3") != 1 {
		t.Errorf("no rollback step in the progress:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range append(lines, err1(err), rep.Nodes[0].Error) {
		if strings.Contains(l, req.New.Password) {
			t.Fatalf("the new password is shown: %s", l)
		}
	}
}

// TestRotateFailureAfterWriteRollsBack: a failure after the name and
// password were written (here `channel setaccess` fails on node-1, through
// a wrapper around the real ipmitool) disables node-1's new slot; node-0
// keeps its proven account, waiting, and nothing is switched.
func TestRotateFailureAfterWriteRollsBack(t *testing.T) {
	real, err := exec.LookPath("ipmitool")
	if err != nil {
		t.Fatal("ipmitool not found (install the ipmitool package)")
	}
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "ipmitool")
	f0 := newFixture(t, 2, bmc.Config{})
	port1 := f0.targets[1].Address[strings.LastIndex(f0.targets[1].Address, ":")+1:]
	script := fmt.Sprintf(`#!/bin/sh
case "$*" in
*"-p %s "*"channel setaccess"*) echo "Set User Access (channel 1 id 3) failed: Unspecified error" >&2; exit 1;;
esac
exec '%s' "$@"
`, port1, real)
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := bmc.New(bmc.Config{Ipmitool: wrapper, Credentials: f0.client.Config().Credentials})
	if err != nil {
		t.Fatal(err)
	}
	f0.client = c
	_, rep, _, err := f0.run(t, f0.request(t, false))
	f0.checkRolledBack(t, rep, err, "admin2", 1)
	if r := rep.Nodes[0]; r.Status != StatusWaiting || r.RolledBack {
		t.Errorf("node-0: %+v, want its proven account kept, waiting", r)
	}
	if fs := f0.slotLine(t, 0, 3); len(fs) < 5 || fs[4] != "true" {
		t.Errorf("node-0's proven account: %q", fs)
	}
}

// TestRotateHostilePassword rotates to a password holding every class
// that a command parser would cut or change; the switched password file
// (0644 before, as Racker leaves /usr/share/oem files) is 0600 after.
func TestRotateHostilePassword(t *testing.T) {
	const hostile = "#a b;c$(x)`é%" // 15 bytes
	f := newFixture(t, 2, bmc.Config{})
	for _, p := range []string{f.files.UserFile, f.files.PasswordFile} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	req := f.request(t, false)
	req.New.Password = hostile
	_, rep, lines, err := f.run(t, req)
	if err != nil || !rep.Complete {
		t.Fatalf("apply: %v\n%s", err, strings.Join(lines, "\n"))
	}
	for _, p := range []string{f.files.PasswordFile, f.files.UserFile, f.files.PasswordFile + BackupSuffix, f.files.UserFile + BackupSuffix} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p, fi, err)
		}
	}
	got, err := bmc.ReadCredentials(f.files.UserFile, f.files.PasswordFile)
	if err != nil || got != req.New {
		t.Fatalf("switched files read back as %v (%v)", got, err)
	}
	for _, tg := range f.targets {
		if err := f.client.TestLogin(context.Background(), tg, req.New); err != nil {
			t.Errorf("%s: the hostile password does not log in: %v", tg.Node, err)
		}
		cut := bmc.Credentials{User: "admin2", Password: ""}
		if err := f.client.TestLogin(context.Background(), tg, cut); !errors.Is(err, bmc.ErrAuth) {
			t.Errorf("%s: the password cut at '#' (empty) logs in: %v", tg.Node, err)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, hostile) {
			t.Fatalf("the new password is in the progress: %s", l)
		}
	}
}

func TestReadPassword(t *testing.T) {
	tests := map[string]struct {
		content string
		want    string // "" = accepted, else the error's prefix after the path
		wantPW  string
	}{
		"hash and spaces":  {content: "#a b;c\n", wantPW: "#a b;c"},
		"crlf":             {content: "pw\r\n", wantPW: "pw"},
		"no newline":       {content: "pw", wantPW: "pw"},
		"20 bytes":         {content: strings.Repeat("x", 20) + "\n", wantPW: strings.Repeat("x", 20)},
		"21 bytes":         {content: strings.Repeat("x", 21) + "\n", want: ":1:21: the password is 21 bytes long"},
		"quote":            {content: "ab\"c\n", want: ":1:3: a quote"},
		"two lines":        {content: "abc\ndef\n", want: ":1:4: a control character"},
		"empty":            {content: "\n", want: ":1:1: the password is empty"},
		"trailing blanks":  {content: "abc\n\n", want: ":1:4: a control character"},
		"nul":              {content: "a\x00", want: ":1:2: a control character"},
		"non-ascii at end": {content: strings.Repeat("x", 19) + "ü", want: ":1:20: the password is 21 bytes long"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ipmi_password.new")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			pw, err := ReadPassword("", p)
			if tc.want == "" {
				if err != nil || pw != tc.wantPW {
					t.Fatalf("ReadPassword = %q, %v", pw, err)
				}
				return
			}
			var pe *bmc.PasswordError
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), p+tc.want) {
				t.Fatalf("ReadPassword error %v, want %s%s…", err, p, tc.want)
			}
			if s := strings.TrimSpace(tc.content); len(s) > 2 && strings.Contains(err.Error(), s) {
				t.Errorf("the password is in the error: %v", err)
			}
		})
	}
}

// TestCredentialFilesRefuseLinks: a link planted at a credential file (or
// on the way to it beneath --root) is neither read as the new password nor
// written through; its target keeps its content and mode.
func TestCredentialFilesRefuseLinks(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(outside, []byte("root-only\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	oem := filepath.Join(root, "usr/share/oem")
	if err := os.MkdirAll(oem, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ipmi_password.new", "ipmi_password"} {
		testenv.PlantLink(t, outside, filepath.Join(oem, name))
	}
	if err := os.WriteFile(filepath.Join(oem, "ipmi_user"), []byte("admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPassword(root, filepath.Join(oem, "ipmi_password.new")); !errors.Is(err, rootfs.ErrLink) {
		t.Errorf("ReadPassword through a link: %v, want a link refusal", err)
	}
	files := CredentialFiles{UserFile: filepath.Join(oem, "ipmi_user"), PasswordFile: filepath.Join(oem, "ipmi_password"), Root: root}
	if err := files.backup(); !errors.Is(err, rootfs.ErrLink) {
		t.Errorf("backup through a link: %v, want a link refusal", err)
	}
	if err := files.write("admin2", "new-password"); !errors.Is(err, rootfs.ErrLink) {
		t.Errorf("write through a link: %v, want a link refusal", err)
	}
	if b, _ := os.ReadFile(filepath.Join(oem, "ipmi_user")); string(b) != "admin\n" {
		t.Errorf("user file switched alone: %q", b)
	}
	b, _ := os.ReadFile(outside)
	fi, _ := os.Stat(outside)
	if string(b) != "root-only\n" || fi.Mode().Perm() != 0o640 {
		t.Errorf("link target changed: %q %v", b, fi.Mode())
	}
}
