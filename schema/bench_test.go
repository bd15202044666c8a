package schema

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// genRack returns a valid lokomotive spec with n nodes (3 controllers, the
// rest workers), half of them with a pinned IP, a secondary MAC and a
// public IP, in a /16 so that a thousand pins fit.
func genRack(n int) []byte {
	var b strings.Builder
	b.WriteString(`apiVersion: rackctl/v1alpha1
kind: Rack
name: big
provisioner: lokomotive
domain: k8s.example.com
network:
  internal: {subnet: 10.20.0.0/16, gateway: 10.20.0.1, dns: [10.20.0.1]}
  public: {gateway: 198.18.0.1, dns: [1.1.1.1]}
bmc:
  userFile: /usr/share/oem/ipmi_user
  passwordFile: /usr/share/oem/ipmi_password
cluster:
  sshPubKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example"]
  components: {web-ui: {}}
nodes:
`)
	for i := range n {
		role := "worker"
		if i < 3 {
			role = "controller"
		}
		fmt.Fprintf(&b, "  - name: node-%d\n    role: %s\n    mac: 02:00:00:00:%02x:%02x\n    bmcMac: 06:00:00:00:%02x:%02x\n",
			i, role, i/256, i%256, i/256, i%256)
		if i%2 == 0 {
			fmt.Fprintf(&b, "    secondaryMac: 0a:00:00:00:%02x:%02x\n    publicIP: 198.18.%d.%d/16\n    ip: 10.20.%d.%d\n",
				i/256, i%256, 1+i/250, 1+i%250, 1+i/250, 1+i%250)
		}
		if i%10 == 0 {
			fmt.Fprintf(&b, "    labels: {rack-row: r%d}\n", i/100)
		}
	}
	return []byte(b.String())
}

func TestGenerated(t *testing.T) {
	for _, n := range []int{1, 10, 1000} {
		r, err := Parse("gen.yaml", genRack(n))
		if err != nil {
			t.Fatalf("%d nodes: %v", n, err)
		}
		if len(r.Nodes) != n {
			t.Fatalf("got %d nodes, want %d", len(r.Nodes), n)
		}
	}
}

// TestGeneratedErrors: errors in many nodes are all reported.
func TestGeneratedErrors(t *testing.T) {
	src := strings.ReplaceAll(string(genRack(100)), "role: worker", "role: wrker")
	_, err := Parse("gen.yaml", []byte(src))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 97 {
		t.Fatalf("want 97 diagnostics, got %d: %v", len(errs), err)
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "rack.yaml")
			if err := os.WriteFile(path, genRack(n), 0o644); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
