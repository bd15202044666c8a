package render

import (
	"strings"
	"testing"
)

// nodeHashes renders in and returns each node's ConfigHash, checking that
// the node's CLC carries the markers with that very hash.
func nodeHashes(t *testing.T, in Input) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range mustRender(t, in) {
		if f.ConfigHash == "" {
			continue
		}
		if !strings.HasPrefix(f.ConfigHash, "sha256:") || len(f.ConfigHash) != len("sha256:")+64 {
			t.Fatalf("%s: ConfigHash %q is not a sha256", f.Path, f.ConfigHash)
		}
		for _, want := range []string{"- path: " + IgnitionRanPath + "\n", "- path: " + ConfigHashPath + "\n", f.ConfigHash + "\n"} {
			if !strings.Contains(string(f.Content), want) {
				t.Fatalf("%s lacks %q", f.Path, want)
			}
		}
		if _, dup := out[f.Node]; dup {
			t.Fatalf("node %s has two files with a ConfigHash", f.Node)
		}
		out[f.Node] = f.ConfigHash
	}
	return out
}

// TestNoMarkersForLokomotive: lokoctl owns a Lokomotive node's Ignition and
// its module writes /ignition_ran; markers rackctl added would make lokoctl
// re-run Ignition, with a reboot, on every installed node.
func TestNoMarkersForLokomotive(t *testing.T) {
	for _, f := range mustRender(t, lokomotiveFixture()) {
		if f.ConfigHash != "" || strings.Contains(string(f.Content), ConfigHashPath) || strings.Contains(string(f.Content), IgnitionRanPath) {
			t.Errorf("%s carries a marker (hash %q)", f.Path, f.ConfigHash)
		}
	}
}

// TestConfigHash: every node's config names its own hash, and the hash
// moves exactly when that node's config (its CLC or a snippet merged after
// it) changes — an SSH key for every node, an extraCLC for one.
func TestConfigHash(t *testing.T) {
	for _, fx := range []struct {
		name string
		in   func() Input
	}{{"flatcar", flatcarFixture}, {"racker-flatcar", rackerFlatcarFixture}} {
		t.Run(fx.name, func(t *testing.T) {
			base := nodeHashes(t, fx.in())
			if len(base) == 0 {
				t.Fatal("no node has a ConfigHash")
			}
			again := nodeHashes(t, fx.in())
			for n, h := range base {
				if again[n] != h {
					t.Errorf("node %s: hash not stable across renders: %s then %s", n, h, again[n])
				}
			}

			in := fx.in()
			in.Rack.Nodes[0].ExtraCLC = "storage:\n  files:\n    - path: /etc/motd\n      filesystem: root\n      mode: 0644\n      contents:\n        inline: hi\n"
			changed := nodeHashes(t, in)
			for n, h := range base {
				if moved := changed[n] != h; moved != (n == in.Rack.Nodes[0].Name) {
					t.Errorf("extraCLC on %s: node %s hash moved=%v", in.Rack.Nodes[0].Name, n, moved)
				}
			}

			in = fx.in()
			in.Rack.Cluster.SSHPubKeys = append(in.Rack.Cluster.SSHPubKeys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDKM7Z3o7g5Y0y8P6aE0Y2Q2m8T2m8T2m8T2m8T2m8T2 new@example")
			keyed := nodeHashes(t, in)
			for n, h := range base {
				if keyed[n] == h {
					t.Errorf("new SSH key: node %s hash did not move", n)
				}
			}
		})
	}
}
