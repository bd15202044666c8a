package render

import (
	"bytes"
	"net/netip"
	"testing"

	igntypes "github.com/flatcar/ignition/config/v2_3/types"
)

// renderBothWays renders in's Ignition with templates and directly, and
// says how many nodes the templates served. A node served by a template
// must get its installer from it too (MACs hold ':', so its values are
// escaped twice there).
func renderBothWays(t *testing.T, in Input) (templated, direct []nodeIgn, served int) {
	t.Helper()
	r, err := resolve(in)
	if err != nil {
		t.Fatal(err)
	}
	byPath, hashes := map[string][]byte{}, map[string]string{}
	for _, f := range clcFiles(r) {
		byPath[f.Path] = f.Content
		if f.ConfigHash != "" {
			hashes[f.Node] = f.ConfigHash
		}
	}
	for _, noTemplates := range []bool{false, true} {
		g := &ignitions{r: r, byPath: byPath, hashes: hashes, shared: map[string]igntypes.Config{}, noTemplates: noTemplates}
		out, err := renderIgnitions(g)
		if err != nil {
			t.Fatal(err)
		}
		if noTemplates {
			direct = out
			continue
		}
		templated = out
		for _, n := range r.active {
			if _, _, inst, ok := g.templated(n); ok {
				served++
				if inst == nil {
					t.Errorf("node %s: templated without its installer", n.Name)
				}
			}
		}
	}
	return templated, direct, served
}

// TestIgnitionTemplatesByteIdentical: whatever a node's CLC holds, the
// Ignition made from a template equals the one transpiled from the node's
// own CLC, byte for byte; nodes the template cannot serve exactly (a
// value in plain JSON text, the token prefix in a snippet, a public NIC)
// are rendered directly.
func TestIgnitionTemplatesByteIdentical(t *testing.T) {
	tests := map[string]struct {
		edit func(in *Input)
		// minServed: nodes the templates must serve (of 4, node-1 has a
		// public NIC).
		minServed, maxServed int
	}{
		"fixture (reprovision, extraCLC, public NIC)": {edit: func(*Input) {}, minServed: 3, maxServed: 3},
		"default route, a node's address a prefix of the gateway's and DNS": {edit: func(in *Input) {
			route := true
			in.Rack.Network.Internal.DefaultRoute = &route
			in.Rack.Network.Internal.Gateway = "172.24.213.25"
			in.Rack.Network.Internal.DNS = []string{"172.24.213.2", "172.24.213.25"}
			a := in.Addrs["node-0"]
			a.Primary = netip.MustParseAddr("172.24.213.2")
			in.Addrs["node-0"] = a
		}, minServed: 3, maxServed: 3},
		"address in plain JSON text (the install image)": {edit: func(in *Input) {
			in.Rack.Install.IPMIToolImage = in.Addrs["node-0"].Primary.String() + ":5000/racker:v1"
		}, minServed: 2, maxServed: 2},
		"token prefix in a snippet": {edit: func(in *Input) {
			in.Rack.Nodes[2].ExtraCLC = "storage:\n  files:\n    - path: /etc/motd.d/rack.conf\n      filesystem: root\n      mode: 0644\n      contents:\n        inline: |\n          " + tplPrefix + "HASHX\n"
		}, minServed: 2, maxServed: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := flatcarFixture()
			tc.edit(&in)
			templated, direct, served := renderBothWays(t, in)
			if served < tc.minServed || served > tc.maxServed {
				t.Errorf("templates served %d nodes, want %d..%d", served, tc.minServed, tc.maxServed)
			}
			if len(templated) != len(direct) {
				t.Fatalf("%d nodes templated, %d direct", len(templated), len(direct))
			}
			for i := range direct {
				if !bytes.Equal(templated[i].final, direct[i].final) {
					t.Errorf("node %d: final Ignition differs:\ntemplated %s\ndirect    %s", i, templated[i].final, direct[i].final)
				}
				if !bytes.Equal(templated[i].installer, direct[i].installer) {
					t.Errorf("node %d: installer Ignition differs", i)
				}
			}
		})
	}
}
