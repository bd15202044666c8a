package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/simrack"
)

// simSpec writes a flatcar rack.yaml whose nodes' BMCs are the given
// simulators, and the credential files under root.
func simSpec(t *testing.T, root string, user, password string, bmcs []simrack.BMC) string {
	t.Helper()
	oem := filepath.Join(root, "usr/share/oem")
	os.MkdirAll(oem, 0o755)
	os.WriteFile(filepath.Join(oem, "ipmi_user"), []byte(user+"\n"), 0o600)
	os.WriteFile(filepath.Join(oem, "ipmi_password"), []byte(password+"\n"), 0o600)
	var b strings.Builder
	b.WriteString(`apiVersion: rackctl/v1alpha1
kind: Rack
name: sim
provisioner: flatcar
domain: sim.localdomain
network:
  internal: {subnet: 172.24.213.0/24, gateway: 172.24.213.1, dns: [172.24.213.1]}
bmc: {userFile: /usr/share/oem/ipmi_user, passwordFile: /usr/share/oem/ipmi_password}
cluster: {sshPubKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNpbS1yYWNrLWtleQ test@sim"]}
nodes:
`)
	for i, bm := range bmcs {
		fmt.Fprintf(&b, "  - {name: node-%d, role: node, mac: \"02:00:00:00:%02x:01\", bmcMac: %q, bmcAddress: %q}\n", i, i, bm.MAC, bm.Addr)
	}
	spec := filepath.Join(t.TempDir(), "rack.yaml")
	os.WriteFile(spec, []byte(b.String()), 0o644)
	return spec
}

// TestStatusMixedRack runs status against real ipmi_sim BMCs: two healthy,
// one stopped, one with other credentials than the spec's files.
func TestStatusMixedRack(t *testing.T) {
	const password = "s3cret-sim-pass"
	good := simrack.StartT(t, simrack.Options{N: 3, Password: password})
	other := simrack.StartT(t, simrack.Options{N: 1, Password: "another-password"})
	if err := good.Stop(2); err != nil {
		t.Fatal(err)
	}
	bmcs := append(append([]simrack.BMC{}, good.BMCs...), other.BMCs[0])
	bmcs[3].MAC = "02:00:5e:00:00:99" // distinct from the first rack's MACs
	root := t.TempDir()
	spec := simSpec(t, root, "admin", password, bmcs)

	r := cli(t, "status", "-f", spec, "--root", root, "--timeout", "2s", "-o", "json")
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	var st statusView
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	want := []struct {
		reached bool
		errPart string
	}{{true, ""}, {true, ""}, {false, "unreachable"}, {false, "auth"}}
	for i, w := range want {
		n := st.Nodes[i]
		if n.BMCReached != w.reached || !strings.Contains(n.BMCError, w.errPart) {
			t.Errorf("%s: reached=%v error=%q, want reached=%v error containing %q", n.Name, n.BMCReached, n.BMCError, w.reached, w.errPart)
		}
		if w.reached && n.Power != "off" {
			t.Errorf("%s: power %q, want off", n.Name, n.Power)
		}
	}

	human := cli(t, "status", "-f", spec, "--root", root, "--timeout", "2s")
	if !strings.Contains(human.stdout, "BMCs not reached") || !strings.Contains(human.stdout, "×") {
		t.Errorf("human status lacks the unreached BMCs:\n%s", human.stdout)
	}
	for _, out := range []string{r.stdout, r.stderr, human.stdout, human.stderr} {
		if strings.Contains(out, password) || strings.Contains(out, "another-password") {
			t.Fatal("a BMC password appears in the output")
		}
	}
}

// TestIPMIAll runs ipmitool commands through `rackctl ipmi` on real
// simulators: power changes read back, --all prefixes lines with the node
// and fails when one BMC fails.
func TestIPMIAll(t *testing.T) {
	const password = "s3cret-sim-pass"
	rack := simrack.StartT(t, simrack.Options{N: 3, Password: password})
	root := t.TempDir()
	spec := simSpec(t, root, "admin", password, rack.BMCs)

	if r := cli(t, "ipmi", "-f", spec, "--root", root, "node-1", "power", "on"); r.code != 0 {
		t.Fatalf("power on: exit %d\n%s", r.code, r.stderr)
	}
	if got, _ := rack.BMCs[1].PowerFile(); got != "1" {
		t.Errorf("simulator power after 'power on': %q, want 1", got)
	}
	r := cli(t, "ipmi", "-f", spec, "--root", root, "--all", "power", "status")
	if r.code != 0 {
		t.Fatalf("--all power status: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"node-0: Chassis Power is off", "node-1: Chassis Power is on", "node-2: Chassis Power is off"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// Passthrough to ipmitool by MAC target.
	if r := cli(t, "ipmi", "-f", spec, "--root", root, rack.BMCs[0].MAC, "chassis", "bootdev", "pxe"); r.code != 0 {
		t.Fatalf("passthrough: exit %d\n%s", r.code, r.stderr)
	}
	if r := cli(t, "ipmi", "-f", spec, "--root", root, "node-0", "diag"); r.code != 0 || !strings.Contains(r.stdout, "Force PXE") || !strings.Contains(r.stdout, "172.24.213.") {
		t.Errorf("diag: exit %d\n%s", r.code, r.stdout)
	}
	if r := cli(t, "ipmi", "-f", spec, "--root", root, "node-0", "-P", "x", "chassis", "status"); r.code != 1 {
		t.Errorf("a -P passthrough was not refused: exit %d", r.code)
	}

	rack.Stop(2)
	r = cli(t, "ipmi", "-f", spec, "--root", root, "--timeout", "2s", "--all", "power", "status")
	if r.code != 1 || !strings.Contains(r.stderr, "node-2: error:") || !strings.Contains(r.stdout, "node-0: Chassis Power") {
		t.Errorf("with one BMC down: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, "ipmi", "-f", spec, "--root", root, "--all"); r.code != 1 || !strings.Contains(r.stderr, "serial console") {
		t.Errorf("sol with --all: exit %d, %q", r.code, r.stderr)
	}
}
