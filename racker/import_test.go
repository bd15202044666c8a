package racker

import (
	"context"
	"flag"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
	rackstate "github.com/rackctl/rackctl/state"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// The fixture trees are written the way Racker's bootstrap (prepare.sh),
// exclude.sh and the guide's manual workaround leave a management node.
var fixtures = map[string]struct {
	mgmt     string
	excluded []string // primary MACs of excluded nodes
	// installs are the nodes without a flag file, which the first apply
	// installs; every other node has one, as Racker leaves an installed node.
	installs []string
	// extraCLC: a node's hand edits become an extra snippet, which its
	// clc_snippets entry gains (the one vars change the import may make).
	extraCLC bool
}{
	// 3 controllers (two hosts entries each), 4 workers, public IPs on
	// four nodes, worker-2 excluded with exclude.sh, one server in
	// nodes.csv that was never provisioned, infinite leases.
	"lokomotive": {mgmt: "00:25:90:00:00:01", excluded: []string{"00:25:90:00:00:07"}},
	// node-0..3, node-2 excluded, 2m leases, no public IPs.
	"flatcar": {mgmt: "0c:c4:7a:00:00:01", excluded: []string{"0c:c4:7a:00:00:04"}},
	// worker-1 replaced by hand (new MACs keep .4/.8, so the address order
	// no longer follows nodes.csv), worker-3 added at the end with .20/.21,
	// worker-0 with a custom unit and file, worker-2 with the guide's
	// Description edit and its flag file deleted (a reprovision pending).
	"replaced": {mgmt: "3c:ec:ef:00:00:01", installs: []string{"lokomotive-worker-2"}, extraCLC: true},
}

func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (run go test -update and review the diff):\n%s", p, got)
	}
}

func findingsText(fs []Finding) []byte {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + "\n")
	}
	return []byte(b.String())
}

func reported(fs []Finding, file string, sev ...Severity) bool {
	for _, f := range fs {
		if f.File != file {
			continue
		}
		if len(sev) == 0 {
			return true
		}
		for _, s := range sev {
			if f.Severity == s {
				return true
			}
		}
	}
	return false
}

// TestImportThenPlan imports each fixture, saves the allocation, runs the
// real planner against the same tree, and checks that the plan keeps every
// address, reservation, hosts name, vars array and networkd unit — and that
// every file the plan changes is named in the import report.
func TestImportThenPlan(t *testing.T) {
	for name, fx := range fixtures {
		t.Run(name, func(t *testing.T) {
			root := copyTree(t, filepath.Join("testdata", name))
			res, err := Import(Options{Root: root, ManagementMACs: []string{fx.mgmt}})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".rack.yaml", res.Spec)
			golden(t, name+".findings.txt", findingsText(res.Findings))
			if res.HasErrors() {
				t.Fatalf("consistent fixture gave errors:\n%s", findingsText(res.Findings))
			}
			rack, err := schema.Parse("rack.yaml", res.Spec)
			if err != nil {
				t.Fatalf("spec does not parse: %v", err)
			}
			if res.Rack == nil || len(rack.Nodes) != len(res.Rack.Nodes) {
				t.Fatalf("Result.Rack does not match the spec")
			}
			for _, m := range fx.excluded {
				n := rack.Node(m)
				if n == nil || !n.Exclude {
					t.Errorf("%s: want an excluded node, got %+v", m, n)
				}
			}

			stateDir := filepath.Join(root, "var/lib/rackctl")
			if err := rackstate.New(stateDir).SaveAllocation(res.State); err != nil {
				t.Fatal(err)
			}
			plan, err := reconcile.Build(context.Background(), rack, reconcile.PlanOptions{
				Root: root, StateDir: stateDir,
				Layers: reconcile.LayerConfig{Enabled: true, Provisioner: reconcile.ProvisionerAuto, Verify: true},
			})
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			// Every address is kept: the allocation does not change.
			if len(plan.Allocations) != 0 {
				t.Errorf("the first plan changes the allocation: %v", plan.Allocations)
			}

			layout := render.DefaultLayout()
			var installs []string
			for _, c := range plan.Changes {
				if c.Action == reconcile.ActionNoop {
					continue
				}
				if c.Action == reconcile.ActionVerify || c.Action == reconcile.ActionPXEReinstall {
					installs = append(installs, c.Node)
				}
				// No installed node is rebooted: hand edits moved into an
				// extra snippet merge into the same Ignition.
				if c.Layer == reconcile.LayerProvisioner && (c.Disruptive || c.Detail != nil && len(c.Detail.Reboots) > 0) {
					t.Errorf("the first plan reboots %v: %v", c.Detail.Reboots, c.Notes)
				}
				if !strings.HasPrefix(c.Address, reconcile.FilePrefix) {
					t.Logf("%s %s %s: %s", c.Layer, c.Action, c.Address, c.Reason)
					continue
				}
				file := strings.TrimPrefix(c.Address, reconcile.FilePrefix)
				if !reported(res.Findings, file) {
					t.Errorf("%s %s is not in the import report", c.Action, file)
				}
				old, _ := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
				after := c.Content
				if c.Block {
					after = render.MergeBlock(old, c.Content)
				}
				switch {
				case file == layout.DnsmasqConf, file == layout.Hosts:
					// Issue 9: Racker's dnsmasq.conf and /etc/hosts lines stay
					// byte for byte.
					t.Errorf("the first plan changes %s (%s):\n%s", file, c.Reason, c.Diff)
				case strings.HasSuffix(file, ".vars") || strings.HasSuffix(file, ".tfvars"):
					if !fx.extraCLC {
						t.Errorf("the first plan changes %s (%s):\n%s", file, c.Reason, c.Diff)
					}
					checkVars(t, res, file, old, after)
				case strings.Contains(file, "/cl/"):
					checkCLC(t, res, root, file, after)
				}
			}
			// Installed nodes (flag file present) are left alone.
			if !slices.Equal(installs, fx.installs) {
				t.Errorf("the first plan installs %v, want %v (the nodes without a flag file)", installs, fx.installs)
			}
			for _, n := range fx.installs {
				if !hasMessage(res.Findings, SeverityWarning, "node "+n+" has no flag file") {
					t.Errorf("%s: the report does not warn that the first apply installs it", n)
				}
			}
			if name == "replaced" {
				want := map[string]string{
					"3c:ec:ef:00:00:f3": "172.24.213.4", "3c:ec:ef:00:01:f3": "172.24.213.8",
					"3c:ec:ef:00:00:05": "172.24.213.20", "3c:ec:ef:00:01:05": "172.24.213.21",
				}
				for _, e := range plan.NextState.Entries {
					if w, ok := want[e.MAC]; ok && e.IP.String() != w {
						t.Errorf("%s: %s, want %s (the hand-made reservation)", e.MAC, e.IP, w)
					}
					delete(want, e.MAC)
				}
				if len(want) > 0 {
					t.Errorf("not in the allocation: %v", want)
				}
				if !strings.Contains(rack.Node("lokomotive-worker-0").ExtraCLC, "node-exporter.service") {
					t.Errorf("worker-0's custom unit is not in its extraCLC")
				}
			}
		})
	}
}

func hasMessage(fs []Finding, sev Severity, sub string) bool {
	for _, f := range fs {
		if f.Severity == sev && strings.Contains(f.Message, sub) {
			return true
		}
	}
	return false
}

// checkVars: the first plan may rewrite the vars file's layout, but every
// variable Racker had keeps its value and none is added or removed. The
// one exception is a node's extraCLC (Racker's hand edits carried over):
// its -extra.yaml joins the node's clc_snippets, and the report says so.
func checkVars(t *testing.T, res *Result, file string, old, after []byte) {
	t.Helper()
	o, n := varsValues(file, old), varsValues(file, after)
	for v, ov := range o {
		nv, ok := n[v]
		switch {
		case !ok:
			t.Errorf("%s: %s is removed", file, v)
		case v == "clc_snippets":
			om, _ := stringListMap(ov)
			nm, _ := stringListMap(nv)
			for name, paths := range nm {
				var added []string
				for _, p := range paths {
					if !slices.Contains(om[name], p) {
						added = append(added, p)
					}
				}
				for _, p := range added {
					if !strings.HasSuffix(p, "-extra.yaml") || !hasMessage(res.Findings, SeverityInfo, p) {
						t.Errorf("%s: clc_snippets[%s] gains %s unreported", file, name, p)
					}
				}
				if len(paths)-len(added) != len(om[name]) {
					t.Errorf("%s: clc_snippets[%s] = %v, was %v", file, name, paths, om[name])
				}
			}
			if len(nm) != len(om) {
				t.Errorf("%s: clc_snippets has %d nodes, was %d", file, len(nm), len(om))
			}
		case !sameValue(ov, nv):
			t.Errorf("%s: %s = %s, was %s", file, v, short(nv), short(ov))
		}
	}
	for v := range n {
		if _, ok := o[v]; !ok {
			t.Errorf("%s: %s is added", file, v)
		}
	}
}

// checkCLC: the node's internal and public addresses and MACs stay; any
// other networkd change is a warning of the report.
func checkCLC(t *testing.T, res *Result, root, file string, after []byte) {
	t.Helper()
	if strings.HasSuffix(file, "-extra.yaml") {
		return
	}
	n, err := parseCLC(after)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	fqdn := strings.TrimSuffix(strings.TrimSuffix(path.Base(file), ".yaml"), "-custom")
	node := res.Rack.Node(fqdn)
	if node == nil {
		t.Fatalf("%s: no node %s", file, fqdn)
	}
	var ip netip.Addr
	for _, e := range res.State.Entries {
		if e.Node == node.Name && e.NIC == ipam.Primary {
			ip = e.IP
		}
	}
	if u, ok := n.networkd["10-priv-stable.network"]; ok {
		if u.first("Match", "MACAddress") != node.MAC || u.first("Address", "Address") != ip.String()+"/24" {
			t.Errorf("%s: 10-priv-stable.network: %q", file, u.content)
		}
	}
	if u, ok := n.networkd["10-public-stable.network"]; ok {
		if u.first("Match", "MACAddress") != node.SecondaryMAC || u.first("Address", "Address") != node.PublicIP {
			t.Errorf("%s: 10-public-stable.network: %q", file, u.content)
		}
	}
	old, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
	if err != nil {
		return // a renamed file: compared and reported under the new name
	}
	o, err := parseCLC(old)
	if err != nil {
		t.Fatal(err)
	}
	// Issue 9: the networkd units stay as Racker wrote them.
	for _, name := range unionKeys(o.networkd, n.networkd) {
		if strings.TrimSpace(o.networkd[name].content) != strings.TrimSpace(n.networkd[name].content) {
			t.Errorf("%s: networkd unit %s changes:\n%s\n→\n%s", file, name, o.networkd[name].content, n.networkd[name].content)
		}
	}
}

// TestImportInconsistent: inputs that do not add up are errors with file
// and line, and the import still produces a valid spec.
func TestImportInconsistent(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "lokomotive"))
	edit := func(rel string, f func(string) string) {
		p := filepath.Join(root, rel)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// worker-1's primary reservation is gone.
	edit("opt/racker-state/dnsmasq/dnsmasq.conf", func(s string) string {
		return strings.Replace(s, "dhcp-host=00:25:90:00:00:06,172.24.213.6,infinite\n", "", 1)
	})
	// worker_names lost its last entry.
	edit("home/core/lokomotive/lokocfg.vars", func(s string) string {
		return strings.Replace(s, `"lokomotive-worker-3.k8s.localdomain", ]`, `]`, 1)
	})
	// worker-0's address has a second name.
	edit("etc/hosts", func(s string) string { return s + "172.24.213.5 intruder.example\n" })

	res, err := Import(Options{Root: root, ManagementMACs: []string{"00:25:90:00:00:01"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasErrors() {
		t.Fatalf("want errors:\n%s", findingsText(res.Findings))
	}
	for _, want := range []struct {
		file string
		line int
		sub  string
	}{
		{NodesCSV, 7, "00:25:90:00:00:06 (lokomotive-worker-1.k8s.localdomain) has no dnsmasq reservation"},
		{"home/core/lokomotive/lokocfg.vars", 5, "worker_macs has 3 entries but worker_names (line 7) has 2"},
		{"etc/hosts", 14, "address 172.24.213.5 has two names"},
	} {
		found := false
		for _, f := range res.Findings {
			if f.Severity == SeverityError && f.File == want.file && f.Line == want.line && strings.Contains(f.Message, want.sub) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error %s:%d %q in:\n%s", want.file, want.line, want.sub, findingsText(res.Findings))
		}
	}
	if res.Rack == nil {
		t.Fatalf("the spec written despite the errors does not validate:\n%s", findingsText(res.Findings))
	}
	// worker-1 keeps the address its CLC gives it.
	for _, e := range res.State.Entries {
		if e.Node == "lokomotive-worker-1" && e.NIC == ipam.Primary && e.IP.String() != "172.24.213.6" {
			t.Errorf("worker-1 primary %s, want 172.24.213.6 from its CLC", e.IP)
		}
	}
}

func TestImportMissingInputs(t *testing.T) {
	for name, setup := range map[string]func(root string){
		"empty root": func(string) {},
		"no cluster dir": func(root string) {
			os.MkdirAll(filepath.Join(root, "usr/share/oem"), 0o755)
			os.WriteFile(filepath.Join(root, NodesCSV), []byte("h\n"), 0o644)
			os.MkdirAll(filepath.Join(root, "opt/racker-state/dnsmasq"), 0o755)
			os.WriteFile(filepath.Join(root, "opt/racker-state/dnsmasq/dnsmasq.conf"), nil, 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			setup(root)
			if _, err := Import(Options{Root: root}); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

// TestImportFlagContent: a flag file that does not hold the node's name
// (lokomotive's module then PXE-installs the node) is warned of.
func TestImportFlagContent(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "lokomotive"))
	flag := "home/core/lokomotive/lokoctl-assets/cluster-assets/00:25:90:00:00:05"
	if err := os.WriteFile(filepath.Join(root, flag), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Import(Options{Root: root, ManagementMACs: []string{fixtures["lokomotive"].mgmt}})
	if err != nil {
		t.Fatal(err)
	}
	if !hasMessage(res.Findings, SeverityWarning, `lokomotive-worker-0's flag file holds "", not its name lokomotive-worker-0.k8s.localdomain`) {
		t.Errorf("no warning for the empty flag file:\n%s", findingsText(res.Findings))
	}
}
