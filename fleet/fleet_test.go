package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rackSpec is a valid spec; its lines are fixed so that the positions
// below are known: name at 3:1, the subnet at 7:14, node i's name at
// (11+i):6, its mac at (11+i):29 and its bmcMac at (11+i):55.
func rackSpec(name, subnet string, nodes ...[3]string) string {
	var b strings.Builder
	gw := strings.TrimSuffix(subnet[:strings.LastIndex(subnet, "/")], "0") + "1"
	fmt.Fprintf(&b, `apiVersion: rackctl/v1alpha1
kind: Rack
name: %s
provisioner: flatcar
domain: %s.localdomain
network:
  internal: {subnet: %s, gateway: %s, dns: [%s]}
bmc: {userFile: /usr/share/oem/ipmi_user, passwordFile: /usr/share/oem/ipmi_password}
cluster: {sshPubKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNpbS1yYWNrLWtleQ test@sim"]}
nodes:
`, name, name, subnet, gw, gw)
	for _, n := range nodes {
		fmt.Fprintf(&b, "  - {name: %s, role: node, mac: %q, bmcMac: %q}\n", n[0], n[1], n[2])
	}
	return b.String()
}

// writeFleet writes racks (directory → spec; "" for a directory without
// rack.yaml) under a new fleet directory.
func writeFleet(t testing.TB, racks map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "racks")
	for name, spec := range racks {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if spec == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name, SpecName), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadRules(t *testing.T) {
	a := rackSpec("a", "10.0.0.0/24", [3]string{"a-0", "02:00:00:00:00:01", "02:00:00:00:01:01"}, [3]string{"a-1", "02:00:00:00:00:02", "02:00:00:00:01:02"})
	b := rackSpec("b", "10.0.1.0/24", [3]string{"b-0", "02:00:00:01:00:01", "02:00:00:01:01:01"}, [3]string{"b-1", "02:00:00:01:00:02", "02:00:00:01:01:02"})
	tests := map[string]struct {
		racks map[string]string
		want  []string // diagnostics, RACKS standing for the fleet directory
	}{
		"apart": {racks: map[string]string{"a": a, "b": b}},
		"rack name": {
			racks: map[string]string{"a": a, "b": strings.Replace(b, "name: b\n", "name: a\n", 1)},
			want:  []string{`RACKS/b/rack.yaml:3:1: name: rack name "a" is also the name of the rack at RACKS/a/rack.yaml:3:1; a rack name is unique across the fleet`},
		},
		"node name": {
			racks: map[string]string{"a": a, "b": strings.Replace(b, "name: b-1,", "name: a-0,", 1)},
			want:  []string{`RACKS/b/rack.yaml:12:6: nodes[1].name: rack "b": node name "a-0" is also nodes[0].name of rack "a" at RACKS/a/rack.yaml:11:6; a node name is unique across the fleet`},
		},
		"mac and bmc mac, in another spelling": {
			racks: map[string]string{"a": a, "b": strings.NewReplacer(`"02:00:00:01:00:02"`, `"02-00-00-00-01-02"`, `"02:00:00:01:01:01"`, `"02:00:00:00:00:01"`).Replace(b)},
			want: []string{
				`RACKS/b/rack.yaml:11:55: nodes[0].bmcMac: rack "b": MAC "02:00:00:00:00:01" is also nodes[0].mac of rack "a" at RACKS/a/rack.yaml:11:29; a MAC is unique across the fleet`,
				`RACKS/b/rack.yaml:12:29: nodes[1].mac: rack "b": MAC "02:00:00:00:01:02" is also nodes[1].bmcMac of rack "a" at RACKS/a/rack.yaml:12:55; a MAC is unique across the fleet`,
			},
		},
		"overlapping subnets, each earlier rack named": {
			racks: map[string]string{"a": a, "b": b, "c": rackSpec("c", "10.0.0.0/16", [3]string{"c-0", "02:00:00:02:00:01", "02:00:00:02:01:01"})},
			want: []string{
				`RACKS/c/rack.yaml:7:14: network.internal.subnet: rack "c": internal subnet 10.0.0.0/16 overlaps 10.0.0.0/24 of rack "a" at RACKS/a/rack.yaml:7:14; the internal subnets of a fleet do not overlap`,
				`RACKS/c/rack.yaml:7:14: network.internal.subnet: rack "c": internal subnet 10.0.0.0/16 overlaps 10.0.1.0/24 of rack "b" at RACKS/b/rack.yaml:7:14; the internal subnets of a fleet do not overlap`,
			},
		},
		"an invalid rack is reported and left out of the rules": {
			racks: map[string]string{"a": a, "b": strings.Replace(b, "name: b-0,", "name: a-0, extra: 1,", 1), "c": ""},
			want: []string{
				`RACKS/b/rack.yaml:11:17: nodes[0].extra: unknown field`,
				`RACKS/c/rack.yaml:1:1: rack directory c has no rack.yaml: every directory under RACKS is a rack`,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeFleet(t, tc.racks)
			f, diags, err := Load(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Racks) != len(tc.racks) {
				t.Errorf("%d racks, want %d", len(f.Racks), len(tc.racks))
			}
			var got []string
			for _, d := range diags {
				got = append(got, strings.ReplaceAll(d.String(), dir, "RACKS"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestLoadNoRack(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "holds no rack") {
		t.Errorf("empty directory: %v, want an error saying it holds no rack", err)
	}
	if _, _, err := Load(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory: no error")
	}
}
