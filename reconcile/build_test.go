package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/schema"
)

func buildRack(p schema.Provisioner, n int) *schema.Rack {
	r := &schema.Rack{
		APIVersion: schema.APIVersion, Kind: schema.Kind, Name: "rack-a", Provisioner: p, Domain: "k8s.localdomain",
		Network: schema.Network{Internal: schema.InternalNetwork{
			Subnet: "172.24.213.0/24", Gateway: "172.24.213.1", DNS: []string{"172.24.213.1"},
			DynamicRange: schema.IPRange{Start: "172.24.213.128", End: "172.24.213.254"},
		}},
		Matchbox: schema.Matchbox{HTTPEndpoint: "http://172.24.213.1:8080", RPCEndpoint: "172.24.213.1:8081", ClientCertDir: "/opt/racker-state/matchbox-client"},
		BMC:      schema.BMC{UserFile: "/usr/share/oem/ipmi_user", PasswordFile: "/usr/share/oem/ipmi_password", CipherSuite: 3},
		Install:  schema.Install{KernelConsole: []string{"console=ttyS1,57600n8"}, InstallToSmallestDisk: true},
		Cluster: schema.Cluster{
			Name:       "lokomotive",
			SSHPubKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc1Ipu0vTYCbDfcg1pNb7s0R7Kd4MFJvq1dZs0Z2rk4 ops@example"},
			Updates:    schema.Updates{Strategy: "reboot"},
		},
	}
	if p == schema.Lokomotive {
		r.Cluster.APIServerName = "lokomotive.k8s.localdomain"
	}
	for i := range n {
		role := schema.RoleNode
		name := fmt.Sprintf("node-%d", i)
		if p == schema.Lokomotive {
			role = schema.RoleWorker
			name = fmt.Sprintf("lokomotive-worker-%d", i-1)
			if i == 0 {
				role, name = schema.RoleController, "lokomotive-controller-0"
			}
		}
		r.Nodes = append(r.Nodes, schema.Node{
			Name: name, Role: role,
			MAC: fmt.Sprintf("aa:bb:01:00:00:%02x", i), BMCMAC: fmt.Sprintf("aa:bb:02:00:00:%02x", i),
		})
	}
	return r
}

func TestBuildApplyRoundTrip(t *testing.T) {
	for _, prov := range []schema.Provisioner{schema.Lokomotive, schema.Flatcar} {
		t.Run(string(prov), func(t *testing.T) {
			root := t.TempDir()
			state := filepath.Join(root, "var/lib/rackctl")
			writeFile(t, root, "etc/hosts", "127.0.0.1 localhost\n", 0o644)
			rack := buildRack(prov, 3)
			opts := PlanOptions{Root: root, StateDir: state, Commit: "abc123", Now: func() time.Time { return time.Unix(0, 0) }}
			p, err := Build(context.Background(), rack, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Allocations) != 6 || !p.HasChanges() || p.Counts().Add == 0 {
				t.Fatalf("first plan: %d allocations, counts %+v", len(p.Allocations), p.Counts())
			}
			for _, k := range []ObsKey{StateKey("allocation.json"), StateKey("managed-files.json"), FileKey("etc/hosts")} {
				if _, ok := p.Observed[k]; !ok {
					t.Errorf("plan does not observe %s", k)
				}
			}
			if !strings.HasPrefix(p.SpecHash, "sha256:") || p.RackName != "rack-a" || p.Provisioner != string(prov) {
				t.Fatalf("plan header: %+v", p)
			}
			// Save and read back, as `plan -out` then `apply plan.json` do.
			var saved bytes.Buffer
			if err := WriteJSON(&saved, p); err != nil {
				t.Fatal(err)
			}
			p, err = ReadPlan(&saved)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state}); err != nil {
				t.Fatal(err)
			}
			hosts := readFile(t, root, "etc/hosts")
			if !strings.HasPrefix(hosts, "127.0.0.1 localhost\n") || !strings.Contains(hosts, "172.24.213.2 ") {
				t.Fatalf("hosts:\n%s", hosts)
			}

			p2, err := Build(context.Background(), rack, opts)
			if err != nil {
				t.Fatal(err)
			}
			if p2.HasChanges() {
				var b bytes.Buffer
				WriteHuman(&b, p2, false)
				t.Fatalf("second plan has changes:\n%s", b.String())
			}
			if p2.SpecHash != p.SpecHash {
				t.Fatal("spec hash not stable")
			}

			// Excluding a node deletes its files and keeps its addresses.
			rack.Nodes[2].Exclude = true
			p3, err := Build(context.Background(), rack, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(p3.Allocations) != 0 {
				t.Fatalf("excluding moved addresses: %v", p3.Allocations)
			}
			var deleted []string
			for _, c := range p3.Changes {
				if c.Action == ActionDelete {
					deleted = append(deleted, c.Address)
				}
			}
			if len(deleted) == 0 || !slices.ContainsFunc(deleted, func(a string) bool { return strings.Contains(a, "/cl/"+rack.Nodes[2].Name) }) {
				t.Fatalf("no cl/ deletes for the excluded node: %v", addresses(p3.Changes))
			}
			if _, err := Apply(context.Background(), p3, ApplyOptions{Root: root, StateDir: state}); err != nil {
				t.Fatal(err)
			}
			if p4, err := Build(context.Background(), rack, opts); err != nil || p4.HasChanges() {
				t.Fatalf("after exclude: %v, %v", err, addresses(p4.Changes))
			}
			h, err := readHistory(state)
			if err != nil || len(h) != 2 || h[0].Commit != "abc123" {
				t.Fatalf("history = %+v, %v", h, err)
			}
		})
	}
}

func TestBuildCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, buildRack(schema.Flatcar, 1), PlanOptions{Root: t.TempDir(), StateDir: t.TempDir()}); err == nil {
		t.Fatal("want an error")
	}
}

func TestBuildTargets(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "var/lib/rackctl")
	rack := buildRack(schema.Flatcar, 3)
	opts := PlanOptions{Root: root, StateDir: state}
	p, err := Build(context.Background(), rack, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state}); err != nil {
		t.Fatal(err)
	}
	// Exclude node-1 and node-2, target only node-2.
	rack.Nodes[1].Exclude, rack.Nodes[2].Exclude = true, true
	opts.Targets = []string{"node-2"}
	p, err = Build(context.Background(), rack, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Changes {
		if c.Node == "node-1" {
			t.Fatalf("untargeted change %s", c.Address)
		}
	}
	if !slices.ContainsFunc(p.Changes, func(c Change) bool { return c.Node == "node-2" && c.Action == ActionDelete }) {
		t.Fatalf("no deletes for node-2: %v", addresses(p.Changes))
	}
	var b bytes.Buffer
	WriteHuman(&b, p, false)
	if !strings.HasPrefix(b.String(), "Note: node-specific changes are limited to node-2") {
		t.Fatalf("no target note:\n%s", b.String())
	}
	if _, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state}); err != nil {
		t.Fatal(err)
	}
	// node-1's deletes are still pending, not forgotten.
	opts.Targets = nil
	p, err = Build(context.Background(), rack, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) == 0 || !slices.ContainsFunc(p.Changes, func(c Change) bool { return c.Node == "node-1" && c.Action == ActionDelete }) {
		t.Fatalf("node-1 deletes lost: %v", addresses(p.Changes))
	}
	for _, c := range p.Changes {
		if c.Node != "node-1" {
			t.Errorf("unexpected change %s %s", c.Action, c.Address)
		}
	}
	if _, err := Build(context.Background(), rack, PlanOptions{Root: root, StateDir: state, Targets: []string{"nope"}}); err == nil {
		t.Fatal("unknown target accepted")
	}
}
