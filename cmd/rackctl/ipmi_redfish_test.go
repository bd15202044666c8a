package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/bmc/bmctest"
)

// TestIPMIRedfishNode: `rackctl ipmi` on a node whose BMC speaks Redfish
// (metal-operator's mock, pinned by fingerprint): power, bootdev and diag
// work; the serial console and raw ipmitool commands are refused with a
// message saying why.
func TestIPMIRedfishNode(t *testing.T) {
	m := bmctest.StartRedfishMock(t)
	spec, root := redfishSpec(t, m)

	tests := map[string]struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		"power status": {args: []string{"power", "status"}, stdout: "Chassis Power is on"},
		"bootdev pxe":  {args: []string{"bootdev", "pxe", "--efi"}, stdout: "Boot device: pxe (persistent false, EFI true)"},
		"diag":         {args: []string{"diag"}, stdout: "System Health        : OK"},
		"sol":          {args: nil, code: 1, stderr: "no serial console"},
		"raw":          {args: []string{"raw", "0x06", "0x01"}, code: 1, stderr: "raw ipmitool commands need an IPMI BMC"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := cli(t, append([]string{"ipmi", "-f", spec, "--root", root, "--timeout", "5s", "node-0"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, bmctest.AdminPassword+"\n") {
				t.Errorf("output shows the password")
			}
		})
	}
}

// redfishSpec is a one-node rack whose BMC is m (pinned by fingerprint),
// with the mock's credentials in files beneath a new root.
func redfishSpec(t *testing.T, m *bmctest.RedfishMock) (spec, root string) {
	t.Helper()
	sum := sha256.Sum256(m.Cert.Raw)
	root = t.TempDir()
	oem := filepath.Join(root, "usr/share/oem")
	os.MkdirAll(oem, 0o755)
	os.WriteFile(filepath.Join(oem, "ipmi_user"), []byte(bmctest.AdminUser+"\n"), 0o600)
	os.WriteFile(filepath.Join(oem, "ipmi_password"), []byte(bmctest.AdminPassword+"\n"), 0o600)
	spec = filepath.Join(t.TempDir(), "rack.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf(`apiVersion: rackctl/v1alpha1
kind: Rack
name: sim
provisioner: flatcar
domain: sim.localdomain
network:
  internal: {subnet: 172.24.213.0/24, gateway: 172.24.213.1, dns: [172.24.213.1]}
bmc:
  userFile: /usr/share/oem/ipmi_user
  passwordFile: /usr/share/oem/ipmi_password
  redfish: {fingerprint: "sha256:%s"}
cluster: {sshPubKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNpbS1yYWNrLWtleQ test@sim"]}
nodes:
  - {name: node-0, role: node, mac: "02:00:00:00:00:01", bmcMac: "02:00:00:00:00:02", bmcAddress: %q, bmcProtocol: redfish}
`, hex.EncodeToString(sum[:]), m.Addr)), 0o644)
	return spec, root
}

// TestValidateWarnsInsecureRedfish: turning Redfish certificate checks off
// is valid but warned, with the field's position.
func TestValidateWarnsInsecureRedfish(t *testing.T) {
	src, err := os.ReadFile("../../spec-examples/flatcar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), "bmc:\n", "bmc:\n  protocol: redfish\n  redfish: {insecureSkipVerify: true}\n", 1)
	if s == string(src) {
		t.Fatal("no bmc: block in the example")
	}
	spec := filepath.Join(t.TempDir(), "rack.yaml")
	os.WriteFile(spec, []byte(s), 0o644)
	r := cli(t, "validate", "-f", spec)
	if r.code != 0 || !strings.Contains(r.stderr, "warning: "+spec+":") || !strings.Contains(r.stderr, "bmc.redfish.insecureSkipVerify: Redfish BMC certificates are not checked") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
