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
		newPW = "new-cli-s3cret2"
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
	if r := run("status", "-o", "json"); r.code != 0 || strings.Count(r.stdout, `"bmcReached": true`) != 7 {
		t.Errorf("status on the old credentials after the failed rotation: exit %d\n%s", r.code, r.stdout)
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

	// status and ipmi now work with the switched files.
	checkBMCsReached(t, run("status", "-o", "json"))
	r = run("ipmi", "--all", "user", "list")
	if r.code != 0 || strings.Count(r.stdout, "admin2") != 8 {
		t.Errorf("ipmi --all user list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The old account is disabled: with the backup's credentials nothing logs in.
	os.WriteFile(userFile, []byte("admin\n"), 0o600)
	os.WriteFile(pwFile, []byte(oldPW+"\n"), 0o600)
	if r := run("status", "-o", "json"); strings.Count(r.stdout, `"bmcReached": true`) != 0 {
		t.Errorf("the old account still logs in somewhere:\n%s", r.stdout)
	}
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
	var st rackStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil {
		t.Fatalf("status after the rotation: exit %d %v\n%s", r.code, err, r.stderr)
	}
	for _, n := range st.Nodes {
		if !n.BMCReached {
			t.Errorf("%s: BMC not reached with the new credentials: %s", n.Name, n.BMCError)
		}
	}
}
