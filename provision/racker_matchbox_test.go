package provision

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/render"
)

// rackerModule has the matchbox objects of Racker's flatcar module
// (lokomotive's matchbox-flatcar, which flatcar.tf called with count) under
// their addresses and IDs. Its reprovision null_resource is left out: the
// null provider cannot be installed offline (TestRackerStateMoves covers
// its state rm).
const rackerModule = `
terraform {
  required_providers {
    matchbox = { source = "poseidon/matchbox" }
  }
}
variable "node_name" { type = string }
variable "node_mac" { type = string }

resource "matchbox_profile" "flatcar-install" {
  name   = "flatcar-install-${var.node_name}"
  kernel = "/assets/racker-install.vmlinuz"
  args   = ["flatcar.first_boot=yes"]
}
resource "matchbox_profile" "node" {
  name         = "node-${var.node_name}"
  raw_ignition = "{\"ignition\":{\"version\":\"3.0.0\"}}"
}
resource "matchbox_group" "install" {
  name     = "install-${var.node_name}"
  profile  = matchbox_profile.flatcar-install.name
  selector = { mac = var.node_mac }
}
resource "matchbox_group" "node" {
  name     = var.node_name
  profile  = matchbox_profile.node.name
  selector = { mac = var.node_mac, os = "installed" }
}
`

// rackerFlatcarTF is Racker's flatcar.tf, its module local.
func rackerFlatcarTF(tlsDir, rpc string) string {
	return fmt.Sprintf(`
terraform {
  required_providers {
    matchbox = { source = "poseidon/matchbox" }
  }
}
module "flatcar-provisioning" {
  source    = "./racker-module"
  count     = length(var.node_names)
  node_name = var.node_names[count.index]
  node_mac  = var.node_macs[count.index]
}
provider "matchbox" {
  ca          = file(%q)
  client_cert = file(%q)
  client_key  = file(%q)
  endpoint    = %q
}
variable "node_names" { type = list(string) }
variable "node_macs" { type = list(string) }
`, filepath.Join(tlsDir, "ca.crt"), filepath.Join(tlsDir, "client.crt"), filepath.Join(tlsDir, "client.key"), rpc)
}

// TestRackerStateMigration takes over a flatcar directory Racker applied:
// real terraform, real matchbox. rackctl's config over Racker's state makes
// terraform destroy Racker's objects while creating rackctl's with the same
// IDs; RackerStateMoves' commands, run in a shell, leave one owner for each
// ID, and the apply that follows leaves matchbox with rackctl's groups only
// (Racker's install group, which selects the MAC alone, is gone).
func TestRackerStateMigration(t *testing.T) {
	tl := testenv.FindToolsT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	mb := testenv.StartMatchboxT(t)
	in := renderedRack(mb)
	dir := t.TempDir()
	var names, macs []string
	for _, n := range in.Rack.Nodes {
		names = append(names, in.Rack.FQDN(&n))
		macs = append(macs, n.MAC)
	}
	quoted := func(s []string) string { return `["` + strings.Join(s, `", "`) + `"]` }
	must(t, writeFile(filepath.Join(dir, "racker-module", "main.tf"), []byte(rackerModule)))
	must(t, writeFile(filepath.Join(dir, "flatcar.tf"), []byte(rackerFlatcarTF(mb.CertDir, mb.RPC))))
	must(t, writeFile(filepath.Join(dir, "terraform.tfvars"), []byte("node_names = "+quoted(names)+"\nnode_macs = "+quoted(macs)+"\n")))

	tf, _ := testTerraform(t, tl, dir)
	applyAll := func(stage string) *TerraformPlan {
		t.Helper()
		if err := tf.Init(ctx); err != nil {
			t.Fatalf("%s: init: %v", stage, err)
		}
		p, err := tf.Plan(ctx)
		if err != nil {
			t.Fatalf("%s: plan: %v", stage, err)
		}
		return p
	}
	p := applyAll("racker")
	if err := tf.Apply(ctx, p.PlanFile); err != nil {
		t.Fatalf("racker apply: %v", err)
	}

	// rackctl's files replace Racker's; every node is installed.
	must(t, os.Remove(filepath.Join(dir, "flatcar.tf")))
	files, err := render.Render(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if rel, ok := strings.CutPrefix(f.Path, in.Layout.FlatcarDir+"/"); ok {
			must(t, writeFile(filepath.Join(dir, filepath.FromSlash(rel)), f.Content))
		}
	}
	for _, m := range macs {
		must(t, writeFile(filepath.Join(dir, render.FlatcarAssetDir, m), nil))
	}
	p = applyAll("takeover")
	cmds := RackerStateMoves(p, render.FlatcarModule)
	if len(cmds) != 2*len(names) {
		t.Fatalf("moves = %q, want a profile and a group per node; plan: %v", cmds, p.Changes)
	}

	// The commands as an operator runs them: through a shell, in the dir.
	env := append(os.Environ(), "PATH="+filepath.Dir(tl.Terraform)+":"+os.Getenv("PATH"), "TF_CLI_CONFIG_FILE="+tl.Terraformrc)
	for _, c := range cmds {
		sh := exec.CommandContext(ctx, "sh", "-c", c)
		sh.Dir, sh.Env = dir, env
		if b, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c, err, b)
		}
	}
	p = applyAll("migrated")
	if cmds := RackerStateMoves(p, render.FlatcarModule); cmds != nil {
		t.Fatalf("after the moves: %q", cmds)
	}
	for _, c := range p.Changes {
		if strings.HasPrefix(c.Address, RackerModule) && !slices.Equal(c.Actions, []string{"delete"}) {
			t.Errorf("%s: %v, want Racker's leftover destroyed", c.Address, c.Actions)
		}
	}
	if err := tf.Apply(ctx, p.PlanFile); err != nil {
		t.Fatalf("apply after the moves: %v", err)
	}
	if p, err := tf.Plan(ctx); err != nil || p.HasChanges() {
		t.Fatalf("second plan: %v, changes %v", err, p)
	}

	// matchbox holds rackctl's objects only, and serves rackctl's Ignition.
	groups, err := filepath.Glob(filepath.Join(mb.DataDir, "groups", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range groups {
		got = append(got, strings.TrimSuffix(filepath.Base(g), ".json"))
	}
	var want []string
	for _, n := range names {
		want = append(want, n, "installed-"+n)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("matchbox groups = %v, want %v", got, want)
	}
	for i, n := range in.Rack.Nodes {
		fqdn := names[i]
		status, body := get(ctx, t, mb, "/ignition?mac="+n.MAC)
		rendered := files[indexOfPath(files, in.Layout.FlatcarDir+"/ignition/"+fqdn+".ign")].Content
		if status != 200 || !jsonContains(t, asServed(t, rendered), body) {
			t.Errorf("%s: /ignition?mac= served %d:\n%s\nwant rackctl's Ignition", n.Name, status, body)
		}
		if _, body := get(ctx, t, mb, "/ipxe?mac="+n.MAC); strings.Contains(body, "racker-install") {
			t.Errorf("%s: a PXE boot still gets Racker's install profile:\n%s", n.Name, body)
		}
	}
}

func indexOfPath(files []render.File, p string) int {
	for i, f := range files {
		if f.Path == p {
			return i
		}
	}
	return -1
}
