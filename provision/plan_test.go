package provision

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

func rc(addr, module string, index any, actions ...tfjson.Action) *tfjson.ResourceChange {
	return &tfjson.ResourceChange{
		Address:       addr,
		ModuleAddress: module,
		Index:         index,
		Change:        &tfjson.Change{Actions: actions},
	}
}

func TestPlanFromJSON(t *testing.T) {
	names := &tfjson.PlanVariable{Value: []any{"node-0", "node-1"}}
	tests := map[string]struct {
		plan        *tfjson.Plan
		wantChanges []ResourceChange
		wantSummary PlanSummary
	}{
		"for_each keys name nodes": {
			plan: &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
				rc(`module.flatcar.matchbox_profile.node["b.example"]`, "module.flatcar", "b.example", tfjson.ActionDelete, tfjson.ActionCreate),
				rc(`module.flatcar.matchbox_group.node["a.example"]`, "module.flatcar", "a.example", tfjson.ActionCreate),
				rc(`module.flatcar.matchbox_group.installed["a.example"]`, "module.flatcar", "a.example", tfjson.ActionNoop),
				rc(`module.flatcar.matchbox_profile.install["c.example"]`, "module.flatcar", "c.example", tfjson.ActionDelete),
			}},
			wantChanges: []ResourceChange{
				{Address: `module.flatcar.matchbox_group.node["a.example"]`, Actions: []string{"create"}, Node: "a.example"},
				{Address: `module.flatcar.matchbox_profile.install["c.example"]`, Actions: []string{"delete"}, Node: "c.example"},
				{Address: `module.flatcar.matchbox_profile.node["b.example"]`, Actions: []string{"delete", "create"}, Node: "b.example"},
			},
			wantSummary: PlanSummary{Add: 2, Destroy: 2},
		},
		"racker count module uses node_names": {
			plan: &tfjson.Plan{
				Variables: map[string]*tfjson.PlanVariable{"node_names": names},
				ResourceChanges: []*tfjson.ResourceChange{
					rc(`module.node[1].matchbox_profile.node`, "module.node[1]", nil, tfjson.ActionUpdate),
					rc(`matchbox_profile.node[0]`, "", float64(0), tfjson.ActionCreate),
					rc(`module.node[7].matchbox_group.node`, "module.node[7]", nil, tfjson.ActionCreate),
				},
			},
			wantChanges: []ResourceChange{
				{Address: `matchbox_profile.node[0]`, Actions: []string{"create"}, Node: "node-0"},
				{Address: `module.node[1].matchbox_profile.node`, Actions: []string{"update"}, Node: "node-1"},
				{Address: `module.node[7].matchbox_group.node`, Actions: []string{"create"}},
			},
			wantSummary: PlanSummary{Add: 2, Change: 1},
		},
		"module key": {
			plan: &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
				rc(`module.n["x.example"].matchbox_group.g`, `module.n["x.example"]`, nil, tfjson.ActionCreate, tfjson.ActionDelete),
				rc(`terraform_data.rack`, "", nil, tfjson.ActionCreate),
			}},
			wantChanges: []ResourceChange{
				{Address: `module.n["x.example"].matchbox_group.g`, Actions: []string{"create", "delete"}, Node: "x.example"},
				{Address: `terraform_data.rack`, Actions: []string{"create"}},
			},
			wantSummary: PlanSummary{Add: 2, Destroy: 1},
		},
		"nothing to do": {
			plan: &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
				rc(`module.flatcar.matchbox_group.node["a"]`, "module.flatcar", "a", tfjson.ActionNoop),
			}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := planFromJSON(tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Changes, tc.wantChanges) {
				t.Errorf("changes =\n%+v\nwant\n%+v", p.Changes, tc.wantChanges)
			}
			if p.Summary != tc.wantSummary {
				t.Errorf("summary = %+v, want %+v", p.Summary, tc.wantSummary)
			}
			if p.HasChanges() != (tc.wantSummary != PlanSummary{}) {
				t.Errorf("HasChanges = %v", p.HasChanges())
			}
		})
	}
	if _, err := planFromJSON(nil); err == nil {
		t.Error("planFromJSON(nil) succeeded")
	}
}

func TestPlanVerify(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.tfplan")
	must(t, os.WriteFile(f, []byte("plan"), 0o600))
	h, err := hashFile(f)
	if err != nil {
		t.Fatal(err)
	}
	p := &TerraformPlan{PlanFile: f, Hash: h}
	if err := p.Verify(); err != nil {
		t.Fatalf("Verify unchanged: %v", err)
	}
	must(t, os.WriteFile(f, []byte("other plan"), 0o600))
	if err := p.Verify(); !errors.Is(err, ErrPlanChanged) {
		t.Fatalf("Verify changed = %v, want ErrPlanChanged", err)
	}
	must(t, os.Remove(f))
	if err := p.Verify(); !errors.Is(err, ErrPlanChanged) {
		t.Fatalf("Verify missing = %v, want ErrPlanChanged", err)
	}
}

func TestNewTerraformErrors(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]TerraformConfig{
		"no work dir":         {},
		"missing work dir":    {WorkDir: filepath.Join(dir, "nope")},
		"negative parallel":   {WorkDir: dir, ExecPath: "/bin/true", Parallelism: -1},
		"no such terraform":   {WorkDir: dir, ExecPath: "terraform-does-not-exist-here"},
		"managed env refused": {WorkDir: dir, ExecPath: "/bin/true", Env: map[string]string{"TF_LOG": "trace"}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := NewTerraform(cfg); err == nil {
				t.Fatal("NewTerraform succeeded")
			}
		})
	}
}
