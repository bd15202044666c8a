package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/bmc/bmctest"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/view"
)

// The fleet page's flags through the CLI: a bad endpoints file or
// timeout stops serve and watch before they listen, naming the flag and
// the config setting.
func TestFleetFlagsRefused(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(bad, []byte("racks:\n  - {name: a, url: \"http://127.0.0.1:1\"}\n  - {name: a, url: \"http://127.0.0.1:2\"}\n"), 0o644)
	good := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(good, []byte("racks:\n  - {name: a, url: \"http://127.0.0.1:1\"}\n"), 0o644)
	root := t.TempDir()
	for name, c := range map[string]struct {
		args []string
		want []string
	}{
		"serve, duplicate rack": {[]string{"serve", "--fleet-endpoints", bad}, []string{"--fleet-endpoints (web.fleetEndpoints)", "duplicate rack \"a\"", "fleet.yaml:3"}},
		"serve, no file":        {[]string{"serve", "--fleet-endpoints", bad + ".missing"}, []string{"--fleet-endpoints (web.fleetEndpoints)", "no such file"}},
		"serve, zero timeout":   {[]string{"serve", "--fleet-endpoints", good, "--fleet-timeout", "0s"}, []string{"--fleet-timeout 0s: want a positive duration"}},
		"watch, duplicate rack": {[]string{"watch", "--once", "--fleet-endpoints", bad}, []string{"--fleet-endpoints (web.fleetEndpoints)", "duplicate rack \"a\""}},
	} {
		t.Run(name, func(t *testing.T) {
			args := append(c.args, "-f", example, "--root", root, "--listen", freePort(t), "--dhcp=none", "--bmc=none", "--verify=none")
			r := cli(t, args...)
			for _, w := range c.want {
				if r.code != 1 || !strings.Contains(r.stderr, w) {
					t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, w)
				}
			}
		})
	}
}

// web.fleetEndpoints in the config turns the fleet page on; without it,
// GET /api/fleet answers 404 naming the setting.
func TestFleetFromConfig(t *testing.T) {
	root := t.TempDir()
	eps := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(eps, []byte("racks:\n  - {name: gone, url: \"http://127.0.0.1:1\"}\n"), 0o644)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(cfg, []byte("apiVersion: rackctl/v1alpha1\nkind: Config\nweb:\n  fleetEndpoints: "+eps+"\n  fleetTimeout: 3s\n"), 0o644)
	on, off := freePort(t), freePort(t)
	common := []string{"-f", example, "--root", root, "--status-interval", "1h", "--dhcp=none", "--bmc=none", "--verify=none", "--provisioner-run=never"}
	startRackctl(t, append([]string{"serve", "--config", cfg, "--listen", on}, common...)...)
	startRackctl(t, append([]string{"serve", "--listen", off}, common...)...)
	waitFor(t, "both serving", func() bool { _, a := tryAPIStatus(on); _, b := tryAPIStatus(off); return a && b })

	var doc api.FleetDoc
	if err := json.Unmarshal([]byte(getBody(t, "http://"+on+"/api/fleet")), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Timeout != "3s" || len(doc.Racks) != 1 || doc.Racks[0].Name != "gone" || doc.Racks[0].Reachable ||
		!strings.Contains(doc.Racks[0].Error, "connection refused") {
		t.Errorf("/api/fleet from the config: %+v, want rack gone unreachable (refused), timeout 3s", doc)
	}
	if page := getBody(t, "http://"+on+"/"); !strings.Contains(page, `href="/fleet"`) {
		t.Error("the page does not link the fleet page")
	}
	resp, err := http.Get("http://" + off + "/api/fleet")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "web.fleetEndpoints") {
		t.Errorf("/api/fleet without a fleet: %d %q, want 404 naming web.fleetEndpoints", resp.StatusCode, body)
	}
}

// status -o json reads the lease file of --dnsmasq-leases beneath --root
// (the DHCP layer's), and says why not with --dhcp=none; with --full the
// boot device comes from the real ipmi_sim BMCs.
func TestStatusLeaseAndBoot(t *testing.T) {
	const password = "lease-sim-pass"
	sims := simrack.StartT(t, simrack.Options{N: 2, Password: password})
	root := t.TempDir()
	spec := simSpec(t, root, "admin", password, sims.BMCs)
	leases := filepath.Join(root, "srv/dnsmasq.leases")
	os.MkdirAll(filepath.Dir(leases), 0o755)
	// node-0 (02:00:00:00:00:01) holds 172.24.213.50 forever.
	os.WriteFile(leases, []byte("0 02:00:00:00:00:01 172.24.213.50 node-0 *\n"), 0o644)
	if r := cli(t, "ipmi", "-f", spec, "--root", root, "node-1", "chassis", "bootdev", "pxe"); r.code != 0 {
		t.Fatalf("bootdev pxe: exit %d\n%s", r.code, r.stderr)
	}
	status := func(args ...string) []view.NodeStatus {
		t.Helper()
		r := cli(t, append([]string{"status", "-f", spec, "--root", root, "--timeout", "5s", "--verify=none", "-o", "json"}, args...)...)
		var st view.Status
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || len(st.Nodes) != 2 {
			t.Fatalf("status %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return st.Nodes
	}
	nodes := status("--dnsmasq-leases", "/srv/dnsmasq.leases", "--full")
	if l := nodes[0].DHCPLease; l.State != "leased" || l.IP != "172.24.213.50" || l.MAC != "02:00:00:00:00:01" || l.Expires != nil {
		t.Errorf("node-0 lease %+v, want 172.24.213.50, never expiring", l)
	}
	if l := nodes[1].DHCPLease; l.State != "none" || l.IP != "" {
		t.Errorf("node-1 lease %+v, want none", l)
	}
	if b := nodes[1].BootDevice; b.State != "read" || b.Device != "pxe" {
		t.Errorf("node-1 boot device %+v, want pxe (set through the BMC)", b)
	}
	// Without --full the boot device is not read (one BMC call per node).
	for _, n := range status("--dhcp=none", "--dnsmasq-leases", "/srv/dnsmasq.leases") {
		if l := n.DHCPLease; l.State != "unknown" || l.IP != "" || !strings.Contains(l.Reason, "--dhcp=none") {
			t.Errorf("%s with --dhcp=none: lease %+v, want unknown saying why", n.Name, l)
		}
		if b := n.BootDevice; b.State != "unknown" || b.Device != "" || !strings.Contains(b.Reason, "not read") {
			t.Errorf("%s without --full: boot device %+v, want unknown: not read", n.Name, b)
		}
	}
}

// A Redfish BMC's boot device is its BootSourceOverrideTarget, read by
// status --full (metal-operator's mock, set through `rackctl ipmi`).
func TestStatusBootDeviceRedfish(t *testing.T) {
	spec, root := redfishSpec(t, bmctest.StartRedfishMock(t))
	if r := cli(t, "ipmi", "-f", spec, "--root", root, "--timeout", "5s", "node-0", "bootdev", "pxe", "--efi"); r.code != 0 {
		t.Fatalf("bootdev pxe --efi: exit %d\n%s", r.code, r.stderr)
	}
	r := cli(t, "status", "-f", spec, "--root", root, "--timeout", "5s", "--verify=none", "--full", "-o", "json")
	var st view.Status
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || len(st.Nodes) != 1 {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b := st.Nodes[0].BootDevice; b != (view.BootDevice{State: "read", Device: "pxe", EFI: true}) {
		t.Errorf("boot device %+v, want pxe, EFI, next boot only (as set)", b)
	}
}
