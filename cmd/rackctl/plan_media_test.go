package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/simredfish"
)

// TestPlanVirtualMedia: through the CLI and the engine, a node with a
// (simulated) Redfish BMC and installVia: virtualMedia is planned as a
// virtual-media reinstall with its image, beside a PXE one; the same spec
// with the node's BMC on IPMI is refused, naming the node.
func TestPlanVirtualMedia(t *testing.T) {
	const password = "s3cret-sim-pass"
	const image = "http://172.24.213.1:8080/assets/ipxe/rackctl.iso"
	rf := simredfish.StartT(t, simredfish.Options{User: "admin", Password: password})
	root := t.TempDir()
	spec := simSpec(t, root, "admin", password, []simrack.BMC{{MAC: "02:00:5e:00:01:01", Addr: rf.Addr}, {MAC: "02:00:5e:00:01:02", Addr: rf.Addr}})
	src, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), "passwordFile: /usr/share/oem/ipmi_password}",
		fmt.Sprintf("passwordFile: /usr/share/oem/ipmi_password, protocol: redfish, redfish: {fingerprint: %q}}\ninstall: {virtualMediaImage: %q}", rf.Fingerprint, image), 1)
	s = strings.Replace(s, "name: node-1,", "name: node-1, installVia: virtualMedia,", 1)
	if err := os.WriteFile(spec, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"plan", "-f", spec, "--root", root, "--dhcp=none", "--provisioner-run=never", "--timeout", "5s"}
	r := cli(t, append(args, "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{`"address": "bmc/bmc:node-0"`, `"action": "pxe-reinstall"`, `"address": "bmc/bmc:node-1"`,
		`"action": "virtual-media-reinstall"`, `"media_image": "` + image + `"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan -o json lacks %s:\n%s", want, r.stdout)
		}
	}
	human := cli(t, args...)
	if human.code != 0 || !strings.Contains(human.stdout, "bmc node-1 will boot from virtual media ("+image+") and be power-cycled (reinstall)") {
		t.Errorf("human plan: exit %d\n%s%s", human.code, human.stdout, human.stderr)
	}
	if rf.Media() != "" {
		t.Errorf("plan inserted media %q", rf.Media())
	}

	ipmi := strings.Replace(s, "name: node-1, installVia: virtualMedia,", "name: node-1, installVia: virtualMedia, bmcProtocol: ipmi,", 1)
	if err := os.WriteFile(spec, []byte(ipmi), 0o644); err != nil {
		t.Fatal(err)
	}
	v := cli(t, "validate", "-f", spec)
	if v.code == 0 || !strings.Contains(v.stderr+v.stdout, "node node-1 installs via virtual media, but its BMC speaks ipmi") {
		t.Errorf("validate of an IPMI node installed via virtual media: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
}
