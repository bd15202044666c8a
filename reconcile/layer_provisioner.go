package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// ProvisionerRun says when the provisioner layer runs.
type ProvisionerRun string

const (
	// ProvisionerOff plans nothing for the provisioner, silently (the
	// zero value: files-only plans).
	ProvisionerOff ProvisionerRun = ""
	// ProvisionerAuto runs it when something it reads changed or a node
	// needs an install.
	ProvisionerAuto ProvisionerRun = "auto"
	// ProvisionerNever never runs it and says so in the plan.
	ProvisionerNever ProvisionerRun = "never"
)

// Provisioner is what installs the nodes and builds the cluster, chosen by
// the spec's `provisioner:` (ProvisionerFor). The provisioner layer plans
// and applies through it and knows no provisioner by name.
type Provisioner interface {
	// Tool is the program the layer runs; its change is "provisioner:"+Tool.
	Tool() string
	// Dir is the provisioner's working directory beneath the root.
	Dir(l render.Layout) string
	// FlagFile is the file that records the node of MAC mac as installed:
	// the provisioner installs a node that has none.
	FlagFile(l render.Layout, mac string) string
	// Roles are the node roles it knows (schema.Role*).
	Roles() []string
	// BootsInstalls tells whether the provisioner PXE-boots the nodes to
	// install itself, so the bmc layer must leave them alone.
	BootsInstalls(rack *schema.Rack) bool
	// PlanRun adds what the provisioner finds itself to a run being
	// planned: reasons, notes, the nodes it reboots.
	PlanRun(pl *planner, run *provisionerRun) error
	// Review, for a run that is not turned off, adds the provisioner's own
	// plan and observes what the run reads.
	Review(ctx context.Context, pl *planner, run *provisionerRun) error
	// Observe re-reads an observation of Review, with e's drivers.
	Observe(ctx context.Context, e *ProvisionerExecutor, k ObsKey) (string, error)
	// Apply runs the provisioner for c, with e's drivers.
	Apply(ctx context.Context, e *ProvisionerExecutor, c Change) error
}

// provisioners are the implementations, by the spec's `provisioner:`.
var provisioners = map[schema.Provisioner]Provisioner{
	schema.Flatcar:    flatcarProvisioner{},
	schema.Lokomotive: lokomotiveProvisioner{},
}

// ProvisionerFor is the Provisioner of the spec's `provisioner:` value.
func ProvisionerFor(p schema.Provisioner) (Provisioner, error) {
	if pr, ok := provisioners[p]; ok {
		return pr, nil
	}
	return nil, fmt.Errorf("provisioner %q: unknown (want flatcar or lokomotive)", p)
}

// provisionerRun is the provisioner change being planned.
type provisionerRun struct {
	reasons, nodes, notes []string
	seen                  map[string]bool
	// shared are the changed files under Dir that belong to no node,
	// nodeFiles the changed files of each node there (relative to Dir).
	shared    []string
	nodeFiles map[string][]string
	installs  []*nodeInfo
	// keysChanged: the cluster's SSH keys differ from the recorded ones.
	keysChanged bool
	reboots     []string
	change      Change
}

func (r *provisionerRun) addNode(n string) {
	if n != "" && !r.seen[n] {
		r.seen[n] = true
		r.nodes = append(r.nodes, n)
	}
}

func (r *provisionerRun) reason(s string) { r.reasons = append(r.reasons, s) }

// provisionerLayer plans one run of the rack's Provisioner when something
// it reads changed or a node needs an install. What it persists around its
// phase is in provisioner_inputs.go.
type provisionerLayer struct{}

func (provisionerLayer) Layer() Layer          { return LayerProvisioner }
func (provisionerLayer) Policy() FailurePolicy { return StopAll }

func (provisionerLayer) Plan(ctx context.Context, pl *planner) error {
	if !pl.cfg.Enabled || pl.cfg.Provisioner == ProvisionerOff {
		return nil
	}
	dir, tool := pl.prov.Dir(pl.layout), pl.prov.Tool()
	run := &provisionerRun{seen: map[string]bool{}, nodeFiles: map[string][]string{}, installs: pl.installs()}
	run.change = Change{Layer: LayerProvisioner, Action: ActionRun, Address: "provisioner:" + tool,
		Detail: &Detail{Dir: dir, Provisioner: pl.rack.Provisioner}}
	run.collect(pl, dir)
	if err := pl.prov.PlanRun(pl, run); err != nil {
		return err
	}
	if pl.cfg.Provisioner == ProvisionerNever {
		if len(run.reasons) > 0 {
			pl.note(fmt.Sprintf("provisioner not run (--provisioner-run=never): run %s in %s yourself (%s)", tool, dir, strings.Join(run.reasons, "; ")))
		}
		return nil
	}
	if err := pl.prov.Review(ctx, pl, run); err != nil {
		return err
	}
	if len(run.reasons) == 0 {
		return nil
	}
	c := run.change
	c.Reason = strings.Join(run.reasons, "; ")
	c.Notes = run.notes
	c.Detail.Nodes = run.nodes
	c.Detail.Reboots = run.reboots
	c.Disruptive = len(run.reboots) > 0
	pl.add(c)
	return nil
}

// collect finds what the run is for: the changes of files and flags under
// dir, the nodes to install, the SSH keys.
func (r *provisionerRun) collect(pl *planner, dir string) {
	for _, c := range pl.p.Changes {
		if c.Layer != LayerFiles && c.Layer != LayerFlags {
			continue
		}
		rel, ok := strings.CutPrefix(strings.TrimPrefix(c.Address, FilePrefix), dir+"/")
		if !ok {
			continue
		}
		switch {
		case c.Node != "":
			r.addNode(c.Node)
			if c.Layer == LayerFiles {
				r.nodeFiles[c.Node] = append(r.nodeFiles[c.Node], rel)
			}
		case c.Layer == LayerFiles:
			r.shared = append(r.shared, rel)
		}
	}
	if len(r.shared) > 0 {
		r.reason("shared inputs change: " + summarize(r.shared, 5))
	}
	for _, ni := range r.installs {
		r.addNode(ni.n.Name)
	}
	if len(r.installs) > 0 {
		r.reason(fmt.Sprintf("%d node(s) to install", len(r.installs)))
	}
	if len(r.nodes) > 0 {
		r.reason("nodes: " + summarize(r.nodes, 10))
	}
	r.keysChanged = pl.prev.Version != 0 && pl.prev.SSHKeys != sshKeysHash(pl.rack)
	if r.keysChanged {
		r.reason("cluster.sshPubKeys changed")
	}
}

// ProvisionerExecutor applies the provisioner layer through the change's
// Provisioner: terraform init, plan and apply of that plan in the flatcar
// dir, or lokoctl cluster apply.
type ProvisionerExecutor struct {
	Terraform Terraformer    // the flatcar provisioner
	Lokoctl   ClusterApplier // the lokomotive provisioner
	Log       *slog.Logger

	mu     sync.Mutex
	inited bool
	prov   Provisioner // the plan's, set by Prepare
	runs   convergence
}

var (
	_ Executor = (*ProvisionerExecutor)(nil)
	_ Observer = (*ProvisionerExecutor)(nil)
	_ Preparer = (*ProvisionerExecutor)(nil)
)

func (e *ProvisionerExecutor) Layer() Layer { return LayerProvisioner }

// Prepare learns the plan's provisioner, for Observe.
func (e *ProvisionerExecutor) Prepare(p *Plan) error {
	e.prov = nil
	if p.Provisioner == "" {
		return nil // a files-only plan made by hand: nothing to observe
	}
	pr, err := ProvisionerFor(schema.Provisioner(p.Provisioner))
	if err != nil {
		return err
	}
	e.prov = pr
	return nil
}

// Observe re-reads what the plan's provisioner observed.
func (e *ProvisionerExecutor) Observe(ctx context.Context, k ObsKey) (string, error) {
	if e.prov == nil {
		return "", fmt.Errorf("provisioner: the plan names no provisioner")
	}
	return e.prov.Observe(ctx, e, k)
}

func (e *ProvisionerExecutor) Apply(ctx context.Context, c Change) error {
	if c.Action != ActionRun {
		return fmt.Errorf("provisioner: %s: unsupported action %q", c.Address, c.Action)
	}
	if c.Detail == nil {
		return fmt.Errorf("provisioner: %s: no provisioner in the change", c.Address)
	}
	pr, err := ProvisionerFor(c.Detail.Provisioner)
	if err != nil {
		return fmt.Errorf("provisioner: %s: %w", c.Address, err)
	}
	return pr.Apply(ctx, e, c)
}
