package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/simredfish"
)

// TestStatusFullInventory: status --full of a rack mixing an ipmi_sim BMC
// and a simulated Redfish BMC shows each server's inventory as its
// protocol reports it: the Redfish BMC's model, serial, BIOS and firmware
// versions and health; for IPMI the firmware revision ipmi_sim gives and
// nothing invented (no BIOS version, no health: "n/a", absent in JSON).
func TestStatusFullInventory(t *testing.T) {
	const password = "s3cret-sim-pass"
	ipmi := simrack.StartT(t, simrack.Options{N: 1, Password: password})
	rf := simredfish.StartT(t, simredfish.Options{User: "admin", Password: password, Serial: "SIMSERIAL42"})
	root := t.TempDir()
	spec := simSpec(t, root, "admin", password, []simrack.BMC{ipmi.BMCs[0], {MAC: "02:00:5e:00:01:02", Addr: rf.Addr}})
	src, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(src), "passwordFile: /usr/share/oem/ipmi_password}",
		fmt.Sprintf("passwordFile: /usr/share/oem/ipmi_password, redfish: {fingerprint: %q}}", rf.Fingerprint), 1)
	s = strings.Replace(s, fmt.Sprintf("bmcAddress: %q}", rf.Addr), fmt.Sprintf("bmcAddress: %q, bmcProtocol: redfish}", rf.Addr), 1)
	if !strings.Contains(s, "bmcProtocol: redfish") || !strings.Contains(s, "fingerprint") {
		t.Fatalf("spec not rewritten:\n%s", s)
	}
	if err := os.WriteFile(spec, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}

	r := cli(t, "status", "--full", "-f", spec, "--root", root, "--timeout", "5s", "-o", "json")
	if r.code != 0 {
		t.Fatalf("status --full: exit %d\n%s", r.code, r.stderr)
	}
	checkDocumented(t, "status --full -o json", []byte(r.stdout))
	var st statusView
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	if len(st.Nodes) != 2 || st.Nodes[0].Diag == nil || st.Nodes[1].Diag == nil {
		t.Fatalf("want two nodes with diagnostics:\n%s", r.stdout)
	}
	ipmiInv, rfInv := st.Nodes[0].Diag.Inventory, st.Nodes[1].Diag.Inventory
	if st.Nodes[0].Diag.Error != "" || ipmiInv.BMCFirmware == "" || ipmiInv.BIOSVersion != "" || ipmiInv.SystemHealth != "" || ipmiInv.ChassisHealth != "" {
		t.Errorf("IPMI node inventory %+v (error %q): want the firmware revision and no BIOS version or health", ipmiInv, st.Nodes[0].Diag.Error)
	}
	want := inventoryView{Manufacturer: "rackctl", Model: "SimServer 1U", Serial: "SIMSERIAL42", BIOSVersion: "SIM.1.4.2",
		BMCFirmware: "2.3.4-sim", SystemHealth: "OK", ChassisHealth: "OK"}
	if st.Nodes[1].Diag.Error != "" || rfInv != want {
		t.Errorf("Redfish node inventory %+v (error %q), want %+v", rfInv, st.Nodes[1].Diag.Error, want)
	}
	if !strings.Contains(r.stdout, `"bmc_firmware_version": "2.3.4-sim"`) || strings.Contains(r.stdout, `"bios_version": ""`) {
		t.Errorf("JSON names: want bmc_firmware_version, no empty fields:\n%s", r.stdout)
	}

	human := cli(t, "status", "--full", "-f", spec, "--root", root, "--timeout", "5s")
	if human.code != 0 {
		t.Fatalf("status --full: exit %d\n%s", human.code, human.stderr)
	}
	sections := strings.Split(human.stdout, "\n=== ")
	if len(sections) != 3 {
		t.Fatalf("want a section per node:\n%s", human.stdout)
	}
	for i, wantLines := range [][]string{
		{"BIOS version         : n/a", "System Health        : n/a", "BMC firmware         : " + ipmiInv.BMCFirmware, "System Power         : off"},
		{"Model                : SimServer 1U", "Serial               : SIMSERIAL42", "BIOS version         : SIM.1.4.2",
			"BMC firmware         : 2.3.4-sim", "System Health        : OK", "Chassis Health       : OK", "Boot override"},
	} {
		for _, l := range wantLines {
			if !strings.Contains(sections[i+1], l) {
				t.Errorf("node-%d section lacks %q:\n%s", i, l, sections[i+1])
			}
		}
	}
	for _, out := range []string{r.stdout, r.stderr, human.stdout, human.stderr} {
		if strings.Contains(out, password) {
			t.Fatal("the BMC password appears in the output")
		}
	}
}
