package render

import (
	"bytes"
	"strings"
	"testing"
)

// TestExtraCLCCacheKeyedByContent: nodes sharing an extraCLC (transpiled
// once) each get exactly what rendering them alone gives, and nodes whose
// extraCLC differs get their own, whatever their names: the cache is keyed
// by the CLC's content.
func TestExtraCLCCacheKeyedByContent(t *testing.T) {
	clcFor := func(word string) string {
		return "storage:\n  files:\n    - path: /etc/motd.d/rack.conf\n      filesystem: root\n      mode: 0644\n      contents:\n        inline: |\n          " + word + "\n"
	}
	in := flatcarFixture()
	for i := range in.Rack.Nodes {
		in.Rack.Nodes[i].ExtraCLC = clcFor("shared")
	}
	in.Rack.Nodes[1].ExtraCLC = clcFor("own")
	files := mustRender(t, in)

	ign := func(files []File, node string) []byte {
		for _, f := range files {
			if f.Node == node && strings.HasSuffix(f.Path, ".ign") && !strings.HasSuffix(f.Path, "-installer.ign") {
				return f.Content
			}
		}
		t.Fatalf("no ignition of %s", node)
		return nil
	}
	for i, n := range in.Rack.Nodes {
		if n.Exclude {
			continue
		}
		got := ign(files, n.Name)
		// The same node rendered with every other node's extraCLC unlike
		// its own: no cache entry of another node can serve it.
		alone := flatcarFixture()
		for j := range alone.Rack.Nodes {
			alone.Rack.Nodes[j].ExtraCLC = clcFor("other")
		}
		alone.Rack.Nodes[i].ExtraCLC = n.ExtraCLC
		if want := ign(mustRender(t, alone), n.Name); !bytes.Equal(got, want) {
			t.Errorf("%s: ignition differs from rendering it with no shared extraCLC", n.Name)
		}
		word := "shared"
		if i == 1 {
			word = "own"
		}
		if !bytes.Contains(got, []byte(word)) {
			t.Errorf("%s: ignition lacks its extraCLC's %q", n.Name, word)
		}
	}
}
