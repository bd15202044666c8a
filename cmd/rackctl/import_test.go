package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportRackerThenPlan is issue 9's proof through the CLI: import a
// Racker management node (the lokomotive fixture), then plan against the
// same tree — dnsmasq.conf, /etc/hosts, the vars file and the cl/ files
// stay as they are, and no node is installed (each has its flag file).
func TestImportRackerThenPlan(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../racker/testdata/lokomotive")); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(root, "rack.yaml")
	importArgs := []string{"import", "racker", "--root", root, "-o", spec, "--management-mac", "00:25:90:00:00:01"}
	r := cli(t, importArgs...)
	if r.code != 0 || !strings.Contains(r.stdout, "Wrote "+spec) {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/rackctl/allocation.json")); err != nil {
		t.Fatalf("allocation not written: %v", err)
	}
	// A second import neither overwrites rack.yaml nor the allocation.
	if r := cli(t, importArgs...); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("second import: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := cli(t, append(importArgs, "--force", "--report-format", "json")...); r.code != 0 || !json.Valid([]byte(r.stdout)) {
		t.Fatalf("import --report-format json: exit %d\n%s", r.code, r.stdout)
	}

	r = cli(t, "plan", "-f", spec, "--root", root, "--dhcp=none", "--bmc=none", "-o", "json")
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	var plan struct {
		Allocations []any
		Changes     []struct{ Layer, Action, Address, Node string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, r.stdout)
	}
	if len(plan.Allocations) != 0 {
		t.Errorf("the first plan changes addresses: %v", plan.Allocations)
	}
	migrated := false // Racker's baremetal.lokocfg, rewritten in rackctl's form (reported)
	for _, c := range plan.Changes {
		migrated = migrated || strings.HasSuffix(c.Address, "/baremetal.lokocfg")
		if c.Action == "noop" {
			continue
		}
		switch {
		case strings.HasSuffix(c.Address, "dnsmasq.conf"), strings.HasSuffix(c.Address, "etc/hosts"),
			strings.HasSuffix(c.Address, ".vars"), strings.Contains(c.Address, "/cl/"):
			t.Errorf("the first plan changes %s (%s)", c.Address, c.Action)
		case c.Layer == "verify" || c.Layer == "bmc" || c.Node != "":
			t.Errorf("the first plan acts on a node: %+v", c)
		}
	}
	if !migrated {
		t.Errorf("no change to baremetal.lokocfg: was the JSON plan read? %s", r.stdout)
	}

	// The first apply (lokoctl left out) converges, and Racker's files
	// whose meaning rackctl keeps are still byte for byte Racker's.
	racker := []string{
		"opt/racker-state/dnsmasq/dnsmasq.conf", "etc/hosts", "home/core/lokomotive/lokocfg.vars",
		"home/core/lokomotive/cl/lokomotive-worker-1.k8s.localdomain-custom.yaml",
		"home/core/lokomotive/lokoctl-assets/cluster-assets/00:25:90:00:00:05",
	}
	before := map[string]string{}
	for _, f := range racker {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		before[f] = string(b)
	}
	flags := []string{"--root", root, "-f", spec, "--dhcp=none", "--bmc=none", "--provisioner-run=never"}
	if r := cli(t, append([]string{"apply", "--auto-approve"}, flags...)...); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, append([]string{"plan", "--detailed-exitcode"}, flags...)...); r.code != 0 || !strings.Contains(r.stdout, "No changes") {
		t.Fatalf("plan after the first apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, f := range racker {
		if b, _ := os.ReadFile(filepath.Join(root, f)); string(b) != before[f] {
			t.Errorf("%s rewritten by the first apply:\n%s\n→\n%s", f, before[f], b)
		}
	}
}

// TestImportRackerInconsistent: inputs that don't add up are reported with
// file and line; the spec and allocation are still written, exit 1.
func TestImportRackerInconsistent(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../racker/testdata/lokomotive")); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(root, "home/core/lokomotive/lokocfg.vars")
	b, err := os.ReadFile(vars)
	if err != nil {
		t.Fatal(err)
	}
	misaligned := strings.Replace(string(b), `"lokomotive-worker-3.k8s.localdomain", ]`, `]`, 1)
	if misaligned == string(b) {
		t.Fatal("fixture changed: worker_names entry not found")
	}
	if err := os.WriteFile(vars, []byte(misaligned), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(root, "rack.yaml")
	r := cli(t, "import", "racker", "--root", root, "-o", spec, "--management-mac", "00:25:90:00:00:01")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := "home/core/lokomotive/lokocfg.vars:5: error: worker_macs has 3 entries but worker_names (line 7) has 2"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("report lacks %q:\n%s", want, r.stdout)
	}
	for _, f := range []string{spec, filepath.Join(root, "var/lib/rackctl/allocation.json")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("not written despite the errors: %v", err)
		}
	}
}
