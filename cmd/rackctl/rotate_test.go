package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/simrack"
)

// TestRotateCredentialsCLI runs `rackctl rotate-credentials` in-process
// against 8 real ipmi_sim BMCs, one dead during the first apply.
func TestRotateCredentialsCLI(t *testing.T) {
	const (
		oldPW = "old-cli-s3cret"
		// '#' started a comment where the password once went (ipmitool's
		// exec file); spaces and ';' split commands.
		newPW = "new#cli s3c;ret"
		dead  = 3
	)
	rack := simrack.StartT(t, simrack.Options{N: 8, Password: oldPW})
	root := t.TempDir()
	spec := simSpec(t, root, "admin", oldPW, rack.BMCs)
	data, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	withRotate := strings.Replace(string(data), "passwordFile: /usr/share/oem/ipmi_password}",
		"passwordFile: /usr/share/oem/ipmi_password, rotate: {user: admin2, passwordFile: /etc/rackctl/ipmi_password.new}}", 1)
	if withRotate == string(data) {
		t.Fatal("could not add bmc.rotate to the spec")
	}
	os.WriteFile(spec, []byte(withRotate), 0o644)
	os.MkdirAll(filepath.Join(root, "etc/rackctl"), 0o700)
	os.WriteFile(filepath.Join(root, "etc/rackctl/ipmi_password.new"), []byte(newPW+"\n"), 0o600)
	userFile := filepath.Join(root, "usr/share/oem/ipmi_user")
	pwFile := filepath.Join(root, "usr/share/oem/ipmi_password")
	var outputs []string
	run := func(args ...string) cliResult {
		r := cli(t, append([]string{"-f", spec, "--root", root, "--timeout", "5s"}, args...)...)
		outputs = append(outputs, r.stdout, r.stderr)
		return r
	}

	// Racker leaves the credential files world-readable; the switch
	// writes them 0600.
	for _, p := range []string{userFile, pwFile} {
		must(t, os.Chmod(p, 0o644))
	}

	// A password the BMCs cannot carry is refused with its position
	// before any BMC or file is touched.
	newPWFile := filepath.Join(root, "etc/rackctl/ipmi_password.new")
	os.WriteFile(newPWFile, []byte("0123456789abcdefghijk\n"), 0o600) // 21 bytes
	for _, args := range [][]string{{"rotate-credentials", "--dry-run"}, {"rotate-credentials", "--auto-approve"}} {
		r := run(args...)
		if r.code != 1 || !strings.Contains(r.stderr, newPWFile+":1:21: the password is 21 bytes long, IPMI 2.0 allows at most 20") {
			t.Errorf("%v with a 21-byte password: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "0123456789abcdefghijk") {
			t.Errorf("the refused password is shown:\n%s%s", r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/rackctl/rotation.json")); err == nil {
		t.Error("a refused password started a rotation")
	}
	if r := run("ipmi", "--all", "user", "list", "1"); r.code != 0 || strings.Contains(r.stdout, "admin2") {
		t.Errorf("a refused password touched a BMC: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(newPWFile, []byte(newPW+"\n"), 0o600)

	if err := rack.Stop(dead); err != nil {
		t.Fatal(err)
	}
	r := run("rotate-credentials", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, `+ node-0: user 3 "admin2" (free slot), current user in slot 2`) || !strings.Contains(r.stdout, "× node-3") {
		t.Errorf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run("rotate-credentials"); r.code != 1 || !strings.Contains(r.stderr, "no terminal") {
		t.Errorf("without --auto-approve and no terminal: exit %d\n%s", r.code, r.stderr)
	}
	r = run("rotate-credentials", "--auto-approve")
	if r.code != 1 || !strings.Contains(r.stderr, "(node-3)") || !strings.Contains(r.stderr, "credentials not switched") || !strings.Contains(r.stdout, "Nothing switched") {
		t.Errorf("first apply with node-3 dead: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(pwFile); string(got) != oldPW+"\n" {
		t.Error("password file changed although a BMC failed")
	}
	var st statusView
	if r := run("status", "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || len(st.Nodes) != 8 {
		t.Fatalf("status on the old credentials after the failed rotation: exit %d, %d nodes\n%s", r.code, len(st.Nodes), r.stdout)
	}
	for i, n := range st.Nodes {
		if n.BMCReached != (i != dead) {
			t.Errorf("status on the old credentials after the failed rotation: %s reached %v (%s)", n.Name, n.BMCReached, n.BMCError)
		}
	}

	if err := rack.StartAgain(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	r = run("rotate-credentials", "--auto-approve")
	if r.code != 0 || !strings.Contains(r.stdout, "complete") {
		t.Fatalf("second apply: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(r.stdout, ": set user "); n != 1 || !strings.Contains(r.stdout, "node-3: set user 3") {
		t.Errorf("second apply wrote %d accounts, want only node-3's:\n%s", n, r.stdout)
	}
	if n := strings.Count(r.stdout, ", resumed"); n != 7 {
		t.Errorf("%d BMCs resumed, want 7:\n%s", n, r.stdout)
	}
	if u, _ := os.ReadFile(userFile); string(u) != "admin2\n" {
		t.Errorf("user file holds %q after the switch", u)
	}
	if b, _ := os.ReadFile(pwFile + ".old"); string(b) != oldPW+"\n" {
		t.Error("no backup of the old password file")
	}
	if b, _ := os.ReadFile(pwFile); string(b) != newPW+"\n" {
		t.Error("the password file does not hold the new password byte for byte")
	}
	for _, p := range []string{userFile, pwFile, userFile + ".old", pwFile + ".old"} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s after the switch: %v %v, want mode 0600", p, fi, err)
		}
	}

	// status and ipmi now work with the switched files.
	checkBMCsReached(t, run("status", "-o", "json"))
	r = run("ipmi", "--all", "user", "list")
	if r.code != 0 || strings.Count(r.stdout, "admin2") != 8 {
		t.Errorf("ipmi --all user list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The old account is disabled: with the backup's credentials nothing logs in.
	os.WriteFile(userFile, []byte("admin\n"), 0o600)
	os.WriteFile(pwFile, []byte(oldPW+"\n"), 0o600)
	checkOldLoginRefused(t, run("status", "-o", "json"), len(rack.BMCs))
	os.WriteFile(userFile, []byte("admin2\n"), 0o600)
	os.WriteFile(pwFile, []byte(newPW+"\n"), 0o600)

	// With bmc.rotate still in the spec, another run is a no-op.
	r = run("rotate-credentials", "--auto-approve")
	if r.code != 0 || !strings.Contains(r.stdout, "No changes") || strings.Contains(r.stdout, "set user") {
		t.Errorf("rerun after completion: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run("rotate-credentials", "--dry-run", "-o", "json")
	var out struct {
		Plan struct {
			Switched bool
			Steps    []struct{ Done bool }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || !out.Plan.Switched || len(out.Plan.Steps) != 8 {
		t.Errorf("json plan: %v\n%s", err, r.stdout)
	}
	for _, o := range outputs {
		if strings.Contains(o, oldPW) || strings.Contains(o, newPW) {
			t.Fatalf("a password appears in the CLI output:\n%s", o)
		}
	}
	if r := cli(t, "rotate-credentials", "-f", simSpec(t, t.TempDir(), "admin", oldPW, rack.BMCs[:1]), "--root", root); r.code != 1 || !strings.Contains(r.stderr, "no bmc.rotate") {
		t.Errorf("without bmc.rotate: exit %d %s", r.code, r.stderr)
	}
}

// checkBMCsReached: `status -o json` after a rotation reaches every BMC with
// the new credentials.
func checkBMCsReached(t *testing.T, r cliResult) {
	t.Helper()
	var st statusView
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil {
		t.Fatalf("status after the rotation: exit %d %v\n%s", r.code, err, r.stderr)
	}
	for _, n := range st.Nodes {
		if !n.BMCReached {
			t.Errorf("%s: BMC not reached with the new credentials: %s", n.Name, n.BMCError)
		}
	}
}

// checkOldLoginRefused: `status -o json` run with the old account's
// credentials succeeds (exit 0), lists every node, and reaches none of
// their BMCs, each refusing the session (not unreachable).
func checkOldLoginRefused(t *testing.T, r cliResult, nodes int) {
	t.Helper()
	var st statusView
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil {
		t.Fatalf("status with the old account: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(st.Nodes) != nodes {
		t.Fatalf("status with the old account lists %d nodes, want %d", len(st.Nodes), nodes)
	}
	for _, n := range st.Nodes {
		if n.BMCReached || !strings.Contains(n.BMCError, "authentication failed") {
			t.Errorf("%s: old account: reached %v (%q), want refused", n.Name, n.BMCReached, n.BMCError)
		}
	}
}
