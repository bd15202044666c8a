package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/reconcile"
)

// maintRack is three real ipmi_sim BMCs (loopback) behind a flatcar spec;
// plan and apply run the files, flags, bmc and verify layers (--verify
// flag: no servers boot behind these BMCs) without dnsmasq or terraform.
type maintRack struct {
	t          *testing.T
	bmcs       *simrack.Rack
	root, spec string
}

func (m *maintRack) run(args ...string) cliResult {
	m.t.Helper()
	switch args[0] {
	case "plan", "apply":
		args = append(args, "--dhcp", "none", "--provisioner-run", "never", "--verify", "flag")
	case "status":
		args = append(args, "--verify", "none") // the nodes' IPs are no test's to reach
	}
	return cli(m.t, append([]string{"-f", m.spec, "--root", m.root, "--timeout", "5s"}, args...)...)
}

// converge applies until the plan is empty (a fresh rack installs every
// node, then sets their boot devices back to disk).
func (m *maintRack) converge() {
	m.t.Helper()
	for range 3 {
		if r := m.run("plan", "--detailed-exitcode"); r.code == 0 {
			return
		} else if r.code != 2 {
			m.t.Fatalf("plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r := m.run("apply", "--auto-approve"); r.code != 0 {
			m.t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	r := m.run("plan")
	m.t.Fatalf("the rack did not converge in three applies:\n%s%s", r.stdout, r.stderr)
}

// newMaintRack starts three BMCs (recording their chassis calls), writes
// the spec, marks every node installed and converges.
func newMaintRack(t *testing.T) *maintRack {
	const pw = "maint-s3cret"
	m := &maintRack{t: t, bmcs: simrack.StartT(t, simrack.Options{N: 3, Password: pw}), root: t.TempDir()}
	for _, b := range m.bmcs.BMCs {
		recordChassis(t, b)
	}
	m.spec = simSpec(t, m.root, "admin", pw, m.bmcs.BMCs)
	// The nodes are installed (flag file = installed, the provisioner's
	// record): without --provisioner-run nothing would write them.
	for i := range 3 {
		flag := filepath.Join(m.root, "home/core/flatcar-container-linux/assets", fmt.Sprintf("02:00:00:00:%02x:01", i))
		if err := os.MkdirAll(filepath.Dir(flag), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(flag, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m.converge()
	return m
}

func (m *maintRack) readFiles(paths ...string) map[string]string {
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(m.root, p))
		if err != nil {
			m.t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}

// A node in maintenance keeps its IP, reservation, hosts entry and place
// in terraform's lists (setting the flag changes nothing at all), is not
// power-cycled by a reinstall of every node, and is reinstalled by the
// first plan after it leaves maintenance.
func TestMaintenanceLeavesNodeAlone(t *testing.T) {
	m := newMaintRack(t)
	shared := []string{"etc/hosts", "opt/racker-state/dnsmasq/dnsmasq.conf", "home/core/flatcar-container-linux/terraform.tfvars"}
	before := m.readFiles(shared...)

	editSpec(t, m.spec, "{name: node-1,", "{name: node-1, maintenance: true,")
	if r := m.run("plan", "--detailed-exitcode"); r.code != 0 {
		t.Fatalf("plan after setting maintenance: exit %d, want 0 (nothing to do)\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := m.run("status", "-o", "json")
	var st statusView
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	for _, n := range st.Nodes {
		if n.Maintenance != (n.Name == "node-1") || n.IP == "" {
			t.Errorf("status of %s: maintenance %v ip %q, want maintenance only on node-1", n.Name, n.Maintenance, n.IP)
		}
	}
	if r := m.run("status"); !strings.Contains(r.stdout, "node-1 (maintenance)") {
		t.Errorf("status lacks the maintenance mark:\n%s", r.stdout)
	}

	// Reinstall every node: node-1 is left out, and the plan says so.
	for i := range 3 {
		name := "{name: node-" + string(rune('0'+i)) + ","
		editSpec(t, m.spec, name, name+" reprovision: r2,")
	}
	calls := [][]string{chassisSets(m.bmcs.BMCs[0]), chassisSets(m.bmcs.BMCs[1]), chassisSets(m.bmcs.BMCs[2])}
	r = m.run("plan", "-o", "json")
	p := jsonPlan(t, r.stdout)
	for _, c := range p.Changes {
		if c.Node == "node-1" {
			t.Errorf("plan has a change for node-1 in maintenance: %+v", c)
		}
	}
	if !slices.ContainsFunc(p.Notes, func(n string) bool {
		return strings.Contains(n, "maintenance: node-1") && strings.Contains(n, "skipped:") && strings.Contains(n, "reprovision changed")
	}) {
		t.Errorf("plan notes do not say the reinstall of node-1 was skipped: %q", p.Notes)
	}
	r = m.run("apply", "--auto-approve")
	if r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i := range 3 {
		got := chassisSets(m.bmcs.BMCs[i])[len(calls[i]):]
		if i == 1 {
			if len(got) != 0 {
				t.Errorf("node-1 in maintenance: its BMC got %q, want nothing", got)
			}
			continue
		}
		if len(got) < 2 || got[0] != "set boot pxe" || !strings.HasPrefix(got[1], "set power") {
			t.Errorf("node-%d: its BMC got %q, want next boot PXE and a power cycle", i, got)
		}
	}
	if after := m.readFiles(shared...); !mapsEqual(before, after) {
		t.Errorf("shared files changed while node-1 was in maintenance:\nbefore %v\nafter %v", before, after)
	}

	// Out of maintenance: the reinstall its spec asked for is planned now.
	editSpec(t, m.spec, " maintenance: true,", "")
	r = m.run("plan", "-o", "json")
	var node1 []string
	for _, c := range jsonPlan(t, r.stdout).Changes {
		if c.Node == "node-1" {
			node1 = append(node1, c.Layer+":"+c.Action)
		}
	}
	for _, want := range []string{string(reconcile.LayerFlags) + ":" + string(reconcile.ActionDelete), string(reconcile.LayerBMC) + ":" + string(reconcile.ActionPXEReinstall)} {
		if !slices.Contains(node1, want) {
			t.Errorf("plan after leaving maintenance: node-1's changes %q lack %s", node1, want)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
