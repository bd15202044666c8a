package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/simredfish"
)

// TestE2EVirtualMediaBoots: a server behind a simulated Redfish BMC,
// installed via virtual media. One apply inserts the image (an iPXE
// script chaining to matchbox, standing in for an iPXE ISO), boots the CD
// once, observes the install over SSH, records it and settles it: the
// image is ejected again. The plan after it is a no-op.
func TestE2EVirtualMediaBoots(t *testing.T) {
	const password = "media-secret-pw"
	e := newE2ERack(t, filepath.Join(t.TempDir(), "rack.yaml"), 1, password, "media")
	b := &bootRack{e2eRack: e, keyFile: filepath.Join(t.TempDir(), "id_ed25519")}
	e.sshPub = writeOpsKey(t, b.keyFile, "ops@media")

	// The Redfish BMC drives the same chassis the ipmi_sim one would.
	bm := e.bmcs.BMCs[0]
	rf := simredfish.StartT(t, simredfish.Options{User: bm.User, Password: password, ChassisDir: filepath.Join(bm.StateDir, "chassis")})
	image := e.mb.HTTPEndpoint() + "/assets/rackctl-cd.ipxe"
	// matchbox serves /assets/ from the assets directory beside its data.
	must(t, os.WriteFile(filepath.Join(filepath.Dir(e.mb.DataDir), "assets", "rackctl-cd.ipxe"),
		[]byte("#!ipxe\ndhcp\nchain "+e.mb.HTTPEndpoint()+"/boot.ipxe\n"), 0o644))

	e.writeSpec(map[int]string{})
	src, err := os.ReadFile(e.spec)
	must(t, err)
	s := string(src)
	for _, r := range [][2]string{
		{"  passwordFile: /usr/share/oem/ipmi_password\n", fmt.Sprintf("  passwordFile: /usr/share/oem/ipmi_password\n  redfish: {fingerprint: %q}\n", rf.Fingerprint)},
		{"install:\n", fmt.Sprintf("install:\n  via: virtualMedia\n  virtualMediaImage: %q\n", image)},
		{"    bmcAddress: " + bm.Addr + "\n", "    bmcAddress: " + rf.Addr + "\n    bmcProtocol: redfish\n"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("spec lacks %q:\n%s", r[0], s)
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	must(t, os.WriteFile(e.spec, []byte(s), 0o644))

	b.nodes, err = simnode.StartMachines([]simnode.Machine{{Name: "node-0", ChassisDir: filepath.Join(bm.StateDir, "chassis"),
		Firmware: simnode.RedfishFirmware{BMC: rf}}}, e.dhcp, simnode.RackOptions{
		Dir: t.TempDir(), MAC: func(i int) string { return e.macs[i] }, Log: testLog{t},
	})
	must(t, err)
	t.Cleanup(func() { b.nodes.Close() })

	p := b.run("plan (virtual media)", 2, "plan", append([]string{"--detailed-exitcode"}, b.sshArgs("120s")...)...)
	if !strings.Contains(p.stdout, "bmc node-0 will boot from virtual media ("+image+")") {
		t.Errorf("plan does not show the virtual-media boot:\n%s", p.stdout)
	}
	r := b.run("apply (virtual media)", 0, "apply", append([]string{"--auto-approve"}, b.sshArgs("120s")...)...)
	flag, err := os.ReadFile(filepath.Join(b.root, e2eFlagDir, b.macs[0]))
	if err != nil || strings.TrimSpace(string(flag)) != "node-0.e2e.localdomain" {
		t.Errorf("flag file %q, %v; want the FQDN once the install was observed", flag, err)
	}
	if !strings.Contains(r.stdout, "verify: node-0: ran its config") {
		t.Errorf("apply did not report node-0 running its config:\n%s", r.stdout)
	}
	log := strings.Join(b.nodes.Nodes[0].Log(), "\n")
	if !strings.Contains(log, "CD: virtual media "+image) || strings.Contains(log, "firmware: boot device pxe") {
		t.Errorf("node-0 did not install from the virtual CD:\n%s", log)
	}
	if got := rf.Media(); got != "" {
		t.Errorf("media %q after the apply: settle must eject it", got)
	}
	b.run("plan after one apply", 0, "plan", append([]string{"--detailed-exitcode"}, b.sshArgs("120s")...)...)
}
