package schema

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/spec-examples/gen/rackgen"
)

// TestNodesValidatedInParts: a rack's nodes checked in parts, each in a
// context of its own, give exactly the rack and the diagnostics of one
// context, errors in any part included (a bad MAC, an unknown field, a
// missing field, a wrong role, a duplicate name across parts, the first
// node of a part).
func TestNodesValidatedInParts(t *testing.T) {
	src, err := rackgen.Bytes(40, "flatcar")
	if err != nil {
		t.Fatal(err)
	}
	good := string(src)
	bad := strings.NewReplacer(
		"  - name: node-3\n    role: node\n", "  - name: node-3\n    role: controller\n",
		"mac: 02:00:00:00:11:01", "mac: 02:00:00:00:11",
		"  - name: node-20\n    role: node\n", "  - name: node-20\n    role: worker\n",
		"  - name: node-25\n", "  - name: node-25\n    colour: blue\n",
		"  - name: node-38\n    role: node\n", "  - name: node-38\n",
		"  - name: node-39\n", "  - name: node-1\n",
	).Replace(good)
	if bad == good {
		t.Fatal("the edits did not apply")
	}
	old := nodesPerContext
	t.Cleanup(func() { nodesPerContext = old })
	for name, src := range map[string]string{"valid": good, "errors in every part": bad} {
		t.Run(name, func(t *testing.T) {
			nodesPerContext = 1 << 30
			oneRack, oneErr := Parse("rack.yaml", []byte(src))
			nodesPerContext = 8 // GOMAXPROCS parts (at most 5)
			rack, err := Parse("rack.yaml", []byte(src))
			if (err == nil) != (oneErr == nil) || (err != nil && err.Error() != oneErr.Error()) {
				t.Fatalf("in parts: %v\none context: %v", err, oneErr)
			}
			if name != "valid" {
				for _, want := range []string{"nodes[3]", "nodes[17]", "nodes[20]", "nodes[25]", "nodes[38]", "nodes[39]"} {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("diagnostics lack %s: %v", want, err)
					}
				}
				return
			}
			if err != nil || len(rack.Nodes) != 40 || !reflect.DeepEqual(rack, oneRack) {
				t.Fatalf("in parts: %v, %d nodes", err, len(rack.Nodes))
			}
		})
	}
}
