package provision

import (
	"slices"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

func TestRackerStateMoves(t *testing.T) {
	del := func(addr, name string) *tfjson.ResourceChange {
		c := rc(addr, "module.flatcar-provisioning[0]", nil, tfjson.ActionDelete)
		if name != "" {
			c.Change.Before = map[string]any{"name": name}
		} else {
			c.Change.Before = map[string]any{"id": "123"}
		}
		return c
	}
	tp, err := planFromJSON(&tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
		del(`module.flatcar-provisioning[0].matchbox_profile.node`, "node-node-0"),
		del(`module.flatcar-provisioning[0].matchbox_group.node`, "node-0"),
		del(`module.flatcar-provisioning[0].matchbox_group.install`, "install-node-0"),
		del(`module.flatcar-provisioning[0].matchbox_profile.cached-flatcar-linux-install`, "cached-flatcar-linux-install-node-0"),
		del(`module.flatcar-provisioning[0].null_resource.reprovision-node-when-ignition-changes`, ""),
		del(`module.flatcar-provisioning[1].matchbox_group.node`, "it's"),
		rc(`module.flatcar.matchbox_group.node["node-0"]`, "module.flatcar", "node-0", tfjson.ActionCreate),
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := RackerStateMoves(tp, "module.flatcar")
	want := []string{
		`terraform state mv 'module.flatcar-provisioning[0].matchbox_group.node' 'module.flatcar.matchbox_group.node["node-0"]'`,
		`terraform state mv 'module.flatcar-provisioning[0].matchbox_profile.node' 'module.flatcar.matchbox_profile.node["node-0"]'`,
		`terraform state rm 'module.flatcar-provisioning[0].null_resource.reprovision-node-when-ignition-changes'`,
		`terraform state mv 'module.flatcar-provisioning[1].matchbox_group.node' 'module.flatcar.matchbox_group.node["it'\''s"]'`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A rack rackctl set up, or one already migrated: nothing to do.
	tp.Changes = tp.Changes[len(tp.Changes)-1:]
	if got := RackerStateMoves(tp, "module.flatcar"); got != nil {
		t.Errorf("no Racker resources: got %v", got)
	}
}
