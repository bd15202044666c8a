package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/reconcile"
)

// editSpec replaces old with new in the spec file, once.
func editSpec(t *testing.T, spec, old, new string) {
	t.Helper()
	data, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), old, new, 1)
	if edited == string(data) {
		t.Fatalf("%q not in the spec", old)
	}
	if err := os.WriteFile(spec, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
}

// jsonPlan reads the JSON view `plan -o json` prints.
func jsonPlan(t *testing.T, out string) *reconcile.PlanView {
	t.Helper()
	var p reconcile.PlanView
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.FormatVersion != reconcile.ViewFormatVersion {
		t.Fatalf("plan -o json: %v\n%s", err, out)
	}
	return &p
}

func layerChanges(p *reconcile.PlanView, l reconcile.Layer) []reconcile.ChangeView {
	var out []reconcile.ChangeView
	for _, c := range p.Changes {
		if c.Layer == string(l) && c.Action != string(reconcile.ActionNoop) {
			out = append(out, c)
		}
	}
	return out
}

// TestPlanApplyRotation rotates three real ipmi_sim BMCs through plan and
// apply: the plan shows each BMC's slot, apply rotates and switches the
// credential files, status works with them, a second plan has nothing left.
func TestPlanApplyRotation(t *testing.T) {
	const (
		oldPW = "old-plan-s3cret"
		newPW = "new-plan-s3cret2"
	)
	rack := simrack.StartT(t, simrack.Options{N: 3, Password: oldPW})
	root := t.TempDir()
	spec := simSpec(t, root, "admin", oldPW, rack.BMCs)
	editSpec(t, spec, "passwordFile: /usr/share/oem/ipmi_password}",
		"passwordFile: /usr/share/oem/ipmi_password, rotate: {user: admin2, passwordFile: /etc/rackctl/ipmi_password.new}}")
	os.MkdirAll(filepath.Join(root, "etc/rackctl"), 0o700)
	os.WriteFile(filepath.Join(root, "etc/rackctl/ipmi_password.new"), []byte(newPW+"\n"), 0o600)
	var outputs []string
	run := func(args ...string) cliResult {
		if args[0] == "plan" || args[0] == "apply" {
			args = append(args, "--dhcp", "none", "--provisioner-run", "never")
		}
		r := cli(t, append([]string{"-f", spec, "--root", root, "--timeout", "5s"}, args...)...)
		outputs = append(outputs, r.stdout, r.stderr)
		return r
	}

	r := run("plan")
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"# credentials node-0 will get the new BMC account (bmc.rotate: user admin2 → slot 3 (new))",
		"# credentials node-2 will get the new BMC account (bmc.rotate: user admin2 → slot 3 (new))",
		`note: create user 3 "admin2": set name and password`,
		`note: disable old user 2 "admin" (after the credential files are switched)`,
		"# credentials files will be switched to the new BMC account",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	r = run("plan", "-o", "json", "-out", planFile)
	if got := layerChanges(jsonPlan(t, r.stdout), reconcile.LayerCredentials); len(got) != 4 {
		t.Fatalf("credentials changes: %+v", got)
	}
	p, err := engine.ReadPlanFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Observed[reconcile.NodeKey(reconcile.LayerCredentials, "node-1", reconcile.AspectUsers)]; !ok {
		t.Errorf("no observed user list for node-1: %v", p.Observed)
	}

	r = run("apply", planFile)
	if r.code != 0 {
		t.Fatalf("apply: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"credentials: rotate-credentials node-1: done", "credentials: switch-credentials files: done"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply output lacks %q:\n%s", want, r.stdout)
		}
	}
	if u, _ := os.ReadFile(filepath.Join(root, "usr/share/oem/ipmi_user")); string(u) != "admin2\n" {
		t.Errorf("user file holds %q after apply", u)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "usr/share/oem/ipmi_password")); string(b) != newPW+"\n" {
		t.Error("password file not switched to the new password")
	}

	checkBMCsReached(t, run("status", "-o", "json"))
	r = run("plan", "-o", "json")
	if got := layerChanges(jsonPlan(t, r.stdout), reconcile.LayerCredentials); r.code != 0 || len(got) != 0 {
		t.Errorf("second plan: exit %d, credentials changes %+v\n%s", r.code, got, r.stderr)
	}
	for _, o := range outputs {
		if strings.Contains(o, oldPW) || strings.Contains(o, newPW) {
			t.Fatalf("a password appears in the CLI output:\n%s", o)
		}
	}
	if b, _ := os.ReadFile(planFile); strings.Contains(string(b), oldPW) || strings.Contains(string(b), newPW) {
		t.Fatal("a password appears in the saved plan")
	}
}

// TestPlanApplyAddressSource moves real ipmi_sim BMCs on a static address
// to DHCP (bmc.addressSource: dhcp). ipmi_sim keeps what `lan set 1 ipsrc`
// sets and reports it in `lan print 1`, so the result is read back.
func TestPlanApplyAddressSource(t *testing.T) {
	const password = "s3cret-sim-pass"
	rack := simrack.StartT(t, simrack.Options{N: 3, Password: password})
	root := t.TempDir()
	spec := simSpec(t, root, "admin", password, rack.BMCs)
	base := []string{"-f", spec, "--root", root, "--timeout", "5s"}
	ipmi := func(args ...string) cliResult {
		r := cli(t, append(append([]string{"ipmi"}, base...), args...)...)
		if r.code != 0 {
			t.Fatalf("ipmi %v: exit %d\n%s", args, r.code, r.stderr)
		}
		return r
	}
	ipmi("node-0", "lan", "set", "1", "ipsrc", "static")
	ipmi("node-1", "lan", "set", "1", "ipsrc", "dhcp")
	ipmi("node-2", "lan", "set", "1", "ipsrc", "static")
	editSpec(t, spec, "passwordFile: /usr/share/oem/ipmi_password}", "passwordFile: /usr/share/oem/ipmi_password, addressSource: dhcp}")
	run := func(args ...string) cliResult {
		return cli(t, append(append(args, base...), "--dhcp", "none", "--provisioner-run", "never")...)
	}

	r := run("plan")
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"# bmc node-0:ipsrc will take its address from DHCP (bmc.addressSource: dhcp, LAN channel 1 address source is static",
		"# bmc node-2:ipsrc will take its address from DHCP",
		"the host is not interrupted, but the BMC moves to its reserved IP 172.24.213.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "node-1:ipsrc") {
		t.Errorf("plan renews node-1, which is on DHCP already:\n%s", r.stdout)
	}

	r = run("apply", "--auto-approve")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "bmc: bmc-dhcp-renew node-2:ipsrc: done") {
		t.Errorf("apply output lacks node-2's renew:\n%s", r.stdout)
	}
	out := ipmi("--all", "lan", "print", "1").stdout
	for _, n := range []string{"node-0", "node-1", "node-2"} {
		if !strings.Contains(out, n+": IP Address Source       : DHCP Address") {
			t.Errorf("%s not on DHCP after apply:\n%s", n, out)
		}
	}
	r = run("plan", "-o", "json")
	for _, c := range jsonPlan(t, r.stdout).Changes {
		if strings.HasSuffix(c.Resource, ":ipsrc") {
			t.Errorf("second plan still renews %s", c.Node)
		}
	}
}
