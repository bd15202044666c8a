package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// PlanOptions configures Build.
type PlanOptions struct {
	Root     string        // host root the rendered paths are relative to
	StateDir string        // allocation, manifest, lock, history
	Layout   render.Layout // zero fields take render's defaults
	Commit   string        // the spec's git commit, if known
	SpecFile string        // recorded in the plan
	// LocalMaintenance names the nodes whose nodes[].maintenance a local
	// override set (rackctl maintenance), not rack.yaml: notes say so.
	LocalMaintenance map[string]bool
	// Targets limits the changes of node-specific files to these nodes
	// (name, FQDN or MAC). Shared files (dnsmasq, hosts, cluster config)
	// are always planned: they must match the allocation.
	Targets []string
	Now     func() time.Time
	// Layers enables and drives the layers after files; the zero value
	// plans the files layer only.
	Layers LayerConfig
	// Waves: how a disruptive plan is split into waves (waves.go).
	Waves WavePlanning
}

// Build makes the plan: it loads the allocation, assigns addresses,
// renders the desired files and compares them with root, then plans the
// layers opts.Layers enables (dhcp, flags, provisioner, bmc, verify).
func Build(ctx context.Context, rack *schema.Rack, opts PlanOptions) (*Plan, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	prev, err := state.New(opts.StateDir).LoadAllocation()
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	next, addrs, allocs, err := ipam.Allocate(rack, prev)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	files, err := render.Render(render.Input{Rack: rack, Addrs: addrs, Layout: opts.Layout})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	p, err := filePlan(files, opts.Root, opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	hash, err := SpecHash(rack)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if len(opts.Targets) > 0 {
		if err := target(p, rack, opts.Targets); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
	}
	holdMaintenanceFiles(p, rack)
	if opts.Layers.Enabled {
		if err := planLayers(ctx, p, rack, addrs, files, opts); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
	}
	p.SpecFile = opts.SpecFile
	p.RackName = rack.Name
	p.Provisioner = string(rack.Provisioner)
	p.SpecHash = hash
	p.Commit = opts.Commit
	p.CreatedAt = opts.Now().UTC()
	p.Allocations = allocs
	p.NextState = next
	return p, nil
}

// target drops the changes of nodes not targeted. Files of other nodes
// that were to be deleted stay in the manifest, so a later plan still
// deletes them.
func target(p *Plan, rack *schema.Rack, targets []string) error {
	names := map[string]bool{}
	for _, t := range targets {
		n := rack.Node(t)
		if n == nil {
			return fmt.Errorf("target %q: no node of that name, FQDN or MAC", t)
		}
		names[n.Name] = true
		p.Targets = append(p.Targets, n.Name)
	}
	dropNodeChanges(p, func(node string) bool { return !names[node] })
	return nil
}

// holdMaintenanceFiles drops the changes of the files of nodes in
// maintenance (their own snippets, Ignition, matchbox groups): a changed
// file is a provisioner change to the node. Shared files (dnsmasq, hosts,
// the cluster config with its ordered lists) keep the node as it is. The
// plan notes each file held back.
func holdMaintenanceFiles(p *Plan, rack *schema.Rack) {
	maint := maintenanceNodes(rack)
	if len(maint) == 0 {
		return
	}
	for _, c := range dropNodeChanges(p, func(node string) bool { return maint[node] }) {
		p.Notes = append(p.Notes, fmt.Sprintf("maintenance: %s: skipped: %s %s", c.Node, c.Action, c.Address))
	}
}

// maintenanceNodes are the names of the nodes with maintenance: true.
func maintenanceNodes(rack *schema.Rack) map[string]bool {
	var out map[string]bool
	for i := range rack.Nodes {
		if rack.Nodes[i].Maintenance {
			if out == nil {
				out = map[string]bool{}
			}
			out[rack.Nodes[i].Name] = true
		}
	}
	return out
}

// dropNodeChanges removes the changes of the nodes drop names (shared
// changes, of no node, stay) and returns them, ActionNoop ones left out.
// Files of those nodes that were to be deleted stay in the manifest, so a
// later plan still deletes them.
func dropNodeChanges(p *Plan, drop func(node string) bool) []Change {
	var kept, dropped []Change
	for _, c := range p.Changes {
		if c.Node == "" || !drop(c.Node) {
			kept = append(kept, c)
			continue
		}
		if c.Action == ActionDelete {
			p.Managed.Files = append(p.Managed.Files, ManagedFile{Path: strings.TrimPrefix(c.Address, FilePrefix), Node: c.Node})
		}
		if c.Action != ActionNoop {
			dropped = append(dropped, c)
		}
	}
	if kept == nil {
		kept = []Change{}
	}
	p.Changes = kept
	p.Managed.Normalize()
	return dropped
}

// filePlan is the files part of a plan: the changes, what they were made
// from (the files and the state dir's files) and the next manifest.
func filePlan(files []render.File, root, stateDir string) (*Plan, error) {
	m, err := state.New(stateDir).LoadManifest()
	if err != nil {
		return nil, err
	}
	changes, observed, err := PlanFiles(files, root, m)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{AllocationFile, ManifestFile} {
		h, err := stateDigest(stateDir, name)
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", name, err)
		}
		observed[StateKey(name)] = h
	}
	if changes == nil {
		changes = []Change{}
	}
	return &Plan{
		FormatVersion: FormatVersion,
		Changes:       changes,
		Observed:      observed,
		Managed:       ManifestOf(files),
	}, nil
}

// SpecHash is "sha256:" + the SHA-256 of the rack's canonical JSON (struct
// field order, sorted map keys).
func SpecHash(rack *schema.Rack) (string, error) {
	b, err := json.Marshal(rack)
	if err != nil {
		return "", fmt.Errorf("spec hash: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// LayerConfig enables and drives the layers after files. The zero value
// plans the files layer only.
type LayerConfig struct {
	// Enabled turns on the flags layer and the per-node record
	// (nodes.json); the other layers need their driver too.
	Enabled bool
	// DHCP checks the rendered dnsmasq.conf (a rejected config fails the
	// plan), plans its reload and reads the leases; nil turns the dhcp
	// layer off, with DHCPOff as the plan's note when set.
	DHCP     DHCPServer
	DHCPOff  string
	DriftFix DriftFix // empty means DriftRelease
	// BMC reads power states and boot devices at plan time; nil turns the
	// bmc layer off, with BMCOff as the plan's note when set.
	BMC         BMC
	BMCOff      string
	BMCParallel int // BMCs read at once; bmc.DefaultParallel when zero
	// Addressing reads the BMCs' LAN address source when the spec sets
	// bmc.addressSource (with the bmc layer on); nil leaves it unchecked.
	Addressing BMCAddressing
	// Rotation plans the spec's bmc.rotate (the credentials layer); nil
	// turns the layer off, with a note when the spec has bmc.rotate.
	Rotation CredentialRotator
	// Provisioner says whether the provisioner layer runs.
	Provisioner ProvisionerRun
	// Terraform, for a flatcar rack, makes a real terraform plan at plan
	// time when the flatcar dir already matches the rendered one (and is
	// initialized); nil skips it.
	Terraform Terraformer
	// Verify plans the verify layer for every node being installed.
	Verify bool
	// Settle plans the settle layer (its executor needs the provisioner's
	// and the BMC's drivers).
	Settle bool
	// VerifyAssumed: the verify layer records installs without observing
	// them (--verify flag); the plan says so in its notes.
	VerifyAssumed bool
	// NodeConfigs reads the configs installed nodes run (the reignite
	// layer); nil leaves them unobserved, NodeConfigsOff saying why.
	NodeConfigs    NodeConfigObserver
	NodeConfigsOff string
}

func (c LayerConfig) driftFix() DriftFix {
	if c.DriftFix == "" {
		return DriftRelease
	}
	return c.DriftFix
}
