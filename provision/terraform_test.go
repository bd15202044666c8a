package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/terraform"
)

type testNode struct {
	name, mac string
	installed bool // flag file assets/<mac> present
}

var testNodes = []testNode{
	{"node-a.rack.example", "52:54:00:00:00:0a", false},
	{"node-b.rack.example", "52:54:00:00:00:0b", false},
	{"node-c.rack.example", "52:54:00:00:00:0c", true},
}

const flatcarTestVersion = "4152.2.3"

// writeRootModule writes a root module like the one render produces for the
// flatcar directory: flatcar.tf calling ./modules/flatcar-baremetal (copied
// from the embedded module), versions.tf, variables.tf, terraform.tfvars,
// the nodes' Ignition files and the flag file of installed nodes.
func writeRootModule(t *testing.T, dir string, m *testenv.Matchbox) {
	t.Helper()
	err := fs.WalkDir(terraform.Modules, "flatcar-baremetal", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(terraform.Modules, p)
		if err != nil {
			return err
		}
		return writeFile(filepath.Join(dir, "modules", filepath.FromSlash(p)), b)
	})
	if err != nil {
		t.Fatalf("copy module: %v", err)
	}
	must(t, m.TLS.CopyClientCerts(filepath.Join(dir, "matchbox-client")))

	var names, macs, ign, inst []string
	for _, n := range testNodes {
		names = append(names, fmt.Sprintf("%q", n.name))
		macs = append(macs, fmt.Sprintf("%q", n.mac))
		ign = append(ign, fmt.Sprintf("    %q = \"ignition/%s.ign\"", n.name, n.name))
		inst = append(inst, fmt.Sprintf("    %q = \"ignition/%s-installer.ign\"", n.name, n.name))
		must(t, writeFile(filepath.Join(dir, "ignition", n.name+".ign"), finalIgnition(n.name, "v1")))
		must(t, writeFile(filepath.Join(dir, "ignition", n.name+"-installer.ign"), installerIgnition(m, n)))
		if n.installed {
			must(t, writeFile(filepath.Join(dir, "assets", n.mac), nil))
		}
	}
	must(t, writeFile(filepath.Join(dir, "assets", ".keep"), nil))

	must(t, writeFile(filepath.Join(dir, "versions.tf"), []byte(`terraform {
  required_providers {
    matchbox = {
      source  = "poseidon/matchbox"
      version = "0.5.4"
    }
  }
}
`)))
	must(t, writeFile(filepath.Join(dir, "variables.tf"), []byte(`variable "asset_dir" { type = string }
variable "node_macs" { type = list(string) }
variable "node_names" { type = list(string) }
variable "matchbox_addr" { type = string }
variable "matchbox_http_endpoint" { type = string }
variable "kernel_console" { type = list(string) }
`)))
	must(t, writeFile(filepath.Join(dir, "flatcar.tf"), []byte(`module "flatcar" {
  source = "./modules/flatcar-baremetal"

  matchbox_http_endpoint = var.matchbox_http_endpoint
  asset_dir              = var.asset_dir
  node_names             = var.node_names
  node_macs              = var.node_macs
  ignition = {
`+strings.Join(ign, "\n")+`
  }
  installer_ignition = {
`+strings.Join(inst, "\n")+`
  }
  kernel_console           = var.kernel_console
  install_to_smallest_disk = true
  cached_install           = true
  flatcar_version          = "`+flatcarTestVersion+`"
}

provider "matchbox" {
  endpoint    = var.matchbox_addr
  client_cert = file("matchbox-client/client.crt")
  client_key  = file("matchbox-client/client.key")
  ca          = file("matchbox-client/ca.crt")
}

output "profile_kinds" {
  value = module.flatcar.profile_kinds
}
`)))
	must(t, writeFile(filepath.Join(dir, "terraform.tfvars"), []byte(fmt.Sprintf(`asset_dir              = "assets"
node_macs              = [%s]
node_names             = [%s]
matchbox_addr          = %q
matchbox_http_endpoint = "http://%s"
kernel_console         = ["console=ttyS1,57600n8"]
`, strings.Join(macs, ", "), strings.Join(names, ", "), m.RPC, m.HTTP))))
}

// finalIgnition is a node's final-OS Ignition (spec 3.4: matchbox v0.11
// serves raw Ignition only in the 3.x versions).
func finalIgnition(name, rev string) []byte {
	return []byte(fmt.Sprintf(`{
  "ignition": {"version": "3.4.0"},
  "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ops@%[1]s"]}]},
  "storage": {"files": [{"path": "/etc/hostname", "mode": 420, "contents": {"source": "data:,%[1]s"}},
                        {"path": "/etc/rackctl-rev", "mode": 420, "contents": {"source": "data:,%[2]s"}}]}
}
`, name, rev))
}

// installerIgnition runs flatcar-install with the final Ignition fetched
// from the module's "installed" group.
func installerIgnition(m *testenv.Matchbox, n testNode) []byte {
	unit := fmt.Sprintf("[Service]\nType=oneshot\nExecStart=/usr/bin/sh -c 'curl --retry 10 -o /tmp/ignition.json \"http://%s/ignition?mac=%s&os=installed\" && flatcar-install -s -i /tmp/ignition.json && systemctl reboot'\n[Install]\nWantedBy=multi-user.target\n", m.HTTP, n.mac)
	b, _ := json.Marshal(map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"systemd": map[string]any{"units": []any{
			map[string]any{"name": "installer.service", "enabled": true, "contents": unit},
		}},
	})
	return b
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

// get fetches path from matchbox's HTTP API; it fails the test on a
// transport error and returns the status and body.
func get(ctx context.Context, t *testing.T, mb *testenv.Matchbox, path string) (int, string) {
	t.Helper()
	status, body, err := mb.Get(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTerraformMatchbox runs the flatcar-baremetal module through the
// Terraform executor against a real matchbox, with the provider served from
// the filesystem mirror of scripts/build-tools.sh (no network).
func TestTerraformMatchbox(t *testing.T) {
	tl := testenv.FindToolsT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	mb := testenv.StartMatchboxT(t)
	dir := t.TempDir()
	writeRootModule(t, dir, mb)

	tf, out := testTerraform(t, tl, dir)

	timed := func(what string, f func() error) {
		t.Helper()
		start := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("timing: %s took %v", what, time.Since(start).Round(time.Millisecond))
	}
	var plan *TerraformPlan
	planNow := func(what string) {
		t.Helper()
		timed(what, func() (err error) { plan, err = tf.Plan(ctx); return err })
	}

	timed("init", func() error { return tf.Init(ctx) })

	// First plan: every node gets its resources, keyed by node name.
	planNow("plan 1")
	if strings.Contains(out.String(), `"format_version"`) {
		t.Error("terraform show -json was copied to the output; it is read, not shown")
	}
	wantSummary := PlanSummary{Add: 2 + 3 + 3 + 3} // install profiles (2 not installed), node profiles, 2 groups each
	if plan.Summary != wantSummary {
		t.Fatalf("plan 1 summary = %+v, want %+v; changes: %v", plan.Summary, wantSummary, plan.Changes)
	}
	byNode := map[string][]string{}
	for _, c := range plan.Changes {
		if !slices.Equal(c.Actions, []string{"create"}) {
			t.Errorf("plan 1: %s actions = %v, want [create]", c.Address, c.Actions)
		}
		if c.Node == "" {
			t.Errorf("plan 1: %s has no node", c.Address)
		}
		res, _, _ := strings.Cut(strings.TrimPrefix(c.Address, "module.flatcar."), "[")
		byNode[c.Node] = append(byNode[c.Node], res)
	}
	for _, n := range testNodes {
		want := []string{"matchbox_group.installed", "matchbox_group.node", "matchbox_profile.install", "matchbox_profile.node"}
		if n.installed {
			want = []string{"matchbox_group.installed", "matchbox_group.node", "matchbox_profile.node"}
		}
		got := byNode[n.name]
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("plan 1: node %s resources = %v, want %v", n.name, got, want)
		}
	}
	if got, want := plan.Nodes(), []string{testNodes[0].name, testNodes[1].name, testNodes[2].name}; !slices.Equal(got, want) {
		t.Errorf("plan 1 nodes = %v, want %v", got, want)
	}
	if err := plan.Verify(); err != nil {
		t.Fatalf("verify fresh plan: %v", err)
	}
	first := plan
	timed("apply 1", func() error { return tf.Apply(ctx, plan.PlanFile) })

	// matchbox now serves each node by its behaviour.
	checkServed(ctx, t, mb, map[string]string{
		testNodes[0].name: "v1", testNodes[1].name: "v1", testNodes[2].name: "v1",
	})

	// A saved plan is not applied twice: terraform finds it stale.
	if err := tf.Apply(ctx, first.PlanFile); err == nil {
		t.Fatal("applying a stale saved plan succeeded")
	}

	// Converged: nothing to do.
	planNow("plan 2 (converged)")
	if plan.HasChanges() {
		t.Fatalf("plan 2 has changes: %+v", plan.Changes)
	}

	// Change one node's Ignition: only that node's final profile changes
	// (matchbox resources cannot update in place, so it is replaced).
	b := testNodes[1]
	must(t, writeFile(filepath.Join(dir, "ignition", b.name+".ign"), finalIgnition(b.name, "v2")))
	planNow("plan 3 (one node changed)")
	if plan.Summary != (PlanSummary{Add: 1, Destroy: 1}) || len(plan.Changes) != 1 {
		t.Fatalf("plan 3 = %+v %+v, want only node %s's profile replaced", plan.Summary, plan.Changes, b.name)
	}
	c := plan.Changes[0]
	if want := fmt.Sprintf("module.flatcar.matchbox_profile.node[%q]", b.name); c.Address != want || c.Node != b.name ||
		!slices.Equal(c.Actions, []string{"delete", "create"}) {
		t.Fatalf("plan 3 change = %+v, want %s replaced for node %s", c, want, b.name)
	}
	timed("apply 3", func() error { return tf.Apply(ctx, plan.PlanFile) })
	checkServed(ctx, t, mb, map[string]string{
		testNodes[0].name: "v1", testNodes[1].name: "v2", testNodes[2].name: "v1",
	})

	// A failing apply, mid-way: matchbox cannot store Ignition any more
	// (its ignition dir is replaced by a file), so the replace deletes the
	// old profile and then fails to create the new one. The error comes
	// back; once matchbox is repaired (and restarted) a new plan and apply
	// converge.
	a := testNodes[0]
	must(t, writeFile(filepath.Join(dir, "ignition", a.name+".ign"), finalIgnition(a.name, "v3")))
	planNow("plan 4")
	if len(plan.Changes) != 1 || plan.Changes[0].Node != a.name {
		t.Fatalf("plan 4 changes = %+v, want one for node %s", plan.Changes, a.name)
	}
	ignDir := filepath.Join(mb.DataDir, "ignition")
	must(t, os.Rename(ignDir, ignDir+".moved"))
	must(t, os.WriteFile(ignDir, nil, 0o644))
	start := time.Now()
	err := tf.Apply(ctx, plan.PlanFile)
	t.Logf("timing: failing apply took %v", time.Since(start).Round(time.Millisecond))
	if err == nil {
		t.Fatal("apply with a broken matchbox store succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "terraform apply") || !strings.Contains(msg, "rpc error") {
		t.Errorf("apply error does not say what failed:\n%s", msg)
	}
	t.Logf("apply error (matchbox store broken):\n%v", err)
	must(t, os.Remove(ignDir))
	must(t, os.Rename(ignDir+".moved", ignDir))
	mb.Stop()
	must(t, mb.Start(ctx))
	planNow("plan 5 (after failure)")
	if !plan.HasChanges() {
		t.Fatal("plan 5 has no changes after a failed apply")
	}
	for _, c := range plan.Changes {
		if c.Node != a.name {
			t.Errorf("plan 5 change %s belongs to %q, want %s", c.Address, c.Node, a.name)
		}
	}
	timed("apply 5", func() error { return tf.Apply(ctx, plan.PlanFile) })
	planNow("plan 6 (converged)")
	if plan.HasChanges() {
		t.Fatalf("plan 6 has changes: %+v", plan.Changes)
	}
	checkServed(ctx, t, mb, map[string]string{
		testNodes[0].name: "v3", testNodes[1].name: "v2", testNodes[2].name: "v1",
	})

	// The flag file appears once a node is installed: its MAC group moves to
	// the Ignition-only profile, its install profile goes away, and nothing
	// else changes (for_each keys, not positions).
	must(t, writeFile(filepath.Join(dir, "assets", a.mac), nil))
	planNow("plan 7 (node installed)")
	var got []string
	for _, c := range plan.Changes {
		if c.Node != a.name {
			t.Errorf("plan 7 change %s belongs to %q, want %s", c.Address, c.Node, a.name)
		}
		got = append(got, strings.Join(c.Actions, ",")+" "+c.Address)
	}
	want := []string{
		fmt.Sprintf("delete,create module.flatcar.matchbox_group.node[%q]", a.name),
		fmt.Sprintf("delete module.flatcar.matchbox_profile.install[%q]", a.name),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("plan 7 changes = %q, want %q", got, want)
	}
	timed("apply 7", func() error { return tf.Apply(ctx, plan.PlanFile) })
	status, body := get(ctx, t, mb, "/ipxe?mac="+a.mac)
	if status == 200 && strings.Contains(body, "vmlinuz") {
		t.Errorf("installed node %s still gets a PXE kernel:\n%s", a.name, body)
	}

	// Ignition 2.x (what ct produces) would be served empty by matchbox
	// v0.11; the module refuses it at plan time instead.
	must(t, writeFile(filepath.Join(dir, "ignition", b.name+".ign"), []byte(`{"ignition":{"version":"2.3.0"}}`)))
	if _, err := tf.Plan(ctx); err == nil || !strings.Contains(err.Error(), "spec 3.x") {
		t.Fatalf("plan with Ignition 2.3: err = %v, want the module's spec 3.x precondition", err)
	}
}

// checkServed asserts what matchbox serves each test node: install nodes
// get the PXE kernel and their installer Ignition by MAC; installed nodes
// get no kernel and their final Ignition by MAC; every node gets its final
// Ignition (at revision rev) with os=installed.
func checkServed(ctx context.Context, t *testing.T, mb *testenv.Matchbox, rev map[string]string) {
	t.Helper()
	for _, n := range testNodes {
		hyphen := strings.ReplaceAll(n.mac, ":", "-") // iPXE's ${mac:hexhyp}
		status, ipxe := get(ctx, t, mb, "/ipxe?mac="+hyphen)
		status2, byMAC := get(ctx, t, mb, "/ignition?mac="+n.mac)
		if status2 != 200 {
			t.Errorf("node %s: GET /ignition?mac: status %d", n.name, status2)
			continue
		}
		if !n.installed {
			if status != 200 {
				t.Errorf("node %s: GET /ipxe: status %d", n.name, status)
				continue
			}
			base := "/assets/flatcar/" + flatcarTestVersion + "/"
			for _, want := range []string{
				"kernel " + base + "flatcar_production_pxe.vmlinuz",
				"initrd " + base + "flatcar_production_pxe_image.cpio.gz",
				" initrd=flatcar_production_pxe_image.cpio.gz",
				" flatcar.config.url=" + mb.HTTPEndpoint() + "/ignition?uuid=${uuid}&mac=${mac:hexhyp}",
				" flatcar.first_boot=yes",
				" console=ttyS1,57600n8",
			} {
				if !strings.Contains(ipxe, want) {
					t.Errorf("node %s: iPXE script lacks %q:\n%s", n.name, want, ipxe)
				}
			}
			if want := installerIgnition(mb, n); !jsonContains(t, want, byMAC) {
				t.Errorf("node %s: /ignition?mac served\n%s\nwant the installer Ignition\n%s", n.name, byMAC, want)
			}
		} else {
			if strings.Contains(ipxe, "vmlinuz") {
				t.Errorf("installed node %s: iPXE script boots a kernel:\n%s", n.name, ipxe)
			}
			if want := finalIgnition(n.name, rev[n.name]); !jsonContains(t, want, byMAC) {
				t.Errorf("installed node %s: /ignition?mac served\n%s\nwant\n%s", n.name, byMAC, want)
			}
		}
		status, final := get(ctx, t, mb, "/ignition?mac="+hyphen+"&os=installed")
		if want := finalIgnition(n.name, rev[n.name]); status != 200 || !jsonContains(t, want, final) {
			t.Errorf("node %s: /ignition?os=installed served (%d)\n%s\nwant\n%s", n.name, status, final, want)
		}
	}
}

// jsonContains reports whether got (JSON) holds everything in want (JSON):
// matchbox re-encodes Ignition with every field of its Go type, so the
// served document is a superset of the file.
func jsonContains(t *testing.T, want []byte, got string) bool {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("bad want JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return false
	}
	return contains(w, g)
}

func contains(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !contains(v, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(w[i], g[i]) {
				return false
			}
		}
		return true
	default:
		return want == got
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testTerraform runs terraform in dir with the provider mirror, logging at
// info level to the test; terraform's output goes to out, printed if the
// test failed.
func testTerraform(t *testing.T, tl testenv.Tools, dir string) (tf *Terraform, out *bytes.Buffer) {
	t.Helper()
	out = new(bytes.Buffer)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("terraform output:\n%s", out.String())
		}
	})
	tf, err := NewTerraform(TerraformConfig{
		WorkDir:       dir,
		ExecPath:      tl.Terraform,
		CLIConfigFile: tl.Terraformrc,
		Stdout:        out,
		Stderr:        out,
		Log:           slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tf, out
}
