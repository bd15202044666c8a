package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/reconcile"
)

// simRackSpec writes a flatcar rack.yaml whose nodes' BMCs are the rack's
// simulators.
func simRackSpec(t *testing.T, rack *simrack.Rack) string {
	t.Helper()
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
	for i, m := range rack.BMCs {
		fmt.Fprintf(&b, "  - {name: node-%d, role: node, mac: \"02:00:00:00:%02x:01\", bmcMac: %q, bmcAddress: %q}\n", i, i, m.MAC, m.Addr)
	}
	spec := filepath.Join(t.TempDir(), "rack.yaml")
	if err := os.WriteFile(spec, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestWatchKeepsBMCSessions runs the watch loop's plans (its drift checks)
// against ipmi_sim BMCs behind counting delay proxies: the first plan
// opens a session per BMC, the second reads each BMC in at most two
// exchanges, a BMC restarted in between (its session lost) is read again
// without an error and with its new power state, and Close ends every
// session with a Close Session.
func TestWatchKeepsBMCSessions(t *testing.T) {
	const password = "sim-keep-pass"
	rack := simrack.StartT(t, simrack.Options{N: 2, Password: password, Delay: 20 * time.Millisecond})
	t.Setenv(bmc.EnvUser, "admin")
	t.Setenv(bmc.EnvPassword, password)
	e, spec := newEngine(t, simRackSpec(t, rack), DriverConfig{DHCP: "none", DriftFix: "release", BMC: "auto", ProvisionerRun: "never", Verify: "none"})
	rec, err := e.Reconciler()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	drift := func(round string, want map[string]string) {
		t.Helper()
		p, err := rec.Plan(t.Context(), spec, "c0ffee")
		if err != nil {
			t.Fatalf("%s: %v", round, err)
		}
		for node, power := range want {
			if got := p.Observed[reconcile.NodeKey(reconcile.LayerBMC, node, reconcile.AspectPower)]; got != power {
				t.Errorf("%s: %s power observed %q, want %q", round, node, got, power)
			}
		}
	}
	drift("first check", map[string]string{"node-0": "off", "node-1": "off"})
	rack.ResetCounts()
	drift("second check", map[string]string{"node-0": "off", "node-1": "off"})
	for i, m := range rack.BMCs {
		if c := rack.Proxy(i).Counts(); c.Exchanges > 2 {
			t.Errorf("second check, %s: %d exchanges, want at most 2 (a kept session)", m.Name, c.Exchanges)
		}
	}

	// node-0's BMC reboots (its session with it) and the server is on now.
	if err := rack.Stop(0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rack.BMCs[0].StateDir, "chassis", "power"), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rack.StartAgain(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	drift("check after node-0's BMC restarted", map[string]string{"node-0": "on", "node-1": "off"})

	rack.ResetCounts()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rack.Counts().Datagrams < len(rack.BMCs) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for i, m := range rack.BMCs {
		if c := rack.Proxy(i).Counts(); c.Datagrams != 1 {
			t.Errorf("Close, %s: %d datagrams, want 1 (Close Session)", m.Name, c.Datagrams)
		}
	}
}
