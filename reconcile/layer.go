package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// Plugin is one layer of the rack: how it plans its changes and how Apply
// treats its phase. Applying one change and re-reading what the layer
// observed are its Executor's (with the live drivers the caller supplies);
// both halves of a layer live in one file, layer_NAME.go.
//
// Build and Apply loop over Plugins in order and never look at a layer's
// name: whatever a layer needs beyond the loop is one of these methods.
type Plugin interface {
	// Layer names the layer; its place in Plugins is its order.
	Layer() Layer
	// Plan adds the layer's changes, notes and observations to the plan
	// from the desired state (pl.files, pl.rack) and what it reads.
	Plan(ctx context.Context, pl *planner) error
	// Policy says what a failed change of the layer stops.
	Policy() FailurePolicy
	// BeforePhase persists what must be on disk before the phase runs any
	// change; it is called only for a phase with changes to run.
	BeforePhase(a *Applier, p *Plan) error
	// AfterPhase persists what the phase leaves behind: ok is false when
	// a change of this phase or an earlier one failed.
	AfterPhase(a *Applier, p *Plan, ok bool) error
}

// FailurePolicy is what a failed change of a layer stops.
type FailurePolicy int

const (
	// StopAll: a failed change stops every later phase.
	StopAll FailurePolicy = iota
	// PerNode: when every failed change of the phase belongs to a node,
	// only those nodes' later changes are stopped; the other nodes carry
	// on. A failed change of no node stops every later phase.
	PerNode
	// AllOrNothing: the layer does not run at all once a node failed in an
	// earlier phase (it acts on every node at once), and its own failure
	// stops every later phase.
	AllOrNothing
)

// persistNothing is the Plugin part of layers that save no state.
type persistNothing struct{}

func (persistNothing) BeforePhase(*Applier, *Plan) error      { return nil }
func (persistNothing) AfterPhase(*Applier, *Plan, bool) error { return nil }

// Plugins are the layers in the order Apply runs their phases. bmc comes
// after provisioner: a node power-cycled into PXE must find its install
// profile in matchbox already, or it boots into nothing and falls back to
// its old disk (see the package documentation). settle follows verify: it
// acts on the installs verify recorded. reignite comes after the
// provisioner (matchbox serves the new config before a node re-fetches
// it) and the installs. credentials comes last:
// the BMC actions before it use the old credentials, which it retires.
var Plugins = []Plugin{
	filesLayer{}, dhcpLayer{}, flagsLayer{}, provisionerLayer{}, bmcLayer{}, verifyLayer{}, settleLayer{}, reigniteLayer{}, credentialsLayer{},
}

// Layers are the names of Plugins, in order.
var Layers = layerNames(Plugins)

func layerNames(ps []Plugin) []Layer {
	out := make([]Layer, len(ps))
	for i, p := range ps {
		out[i] = p.Layer()
	}
	return out
}

// nodeInfo is what the later layers know about one node.
type nodeInfo struct {
	n        *schema.Node
	index    int
	flag     string // flag file path, relative to the root
	install  string // why it must be (re)installed, "" when it need not
	deleting bool   // its flag file is being deleted
}

// planner is what the layers plan from and into: the plan being made
// (its files changes made and targeted), the desired state and the
// drivers of LayerConfig.
type planner struct {
	ctx      context.Context
	p        *Plan
	rack     *schema.Rack
	prov     Provisioner
	addrs    map[string]ipam.Addrs
	files    []render.File
	opts     PlanOptions
	cfg      LayerConfig
	layout   render.Layout
	prev     NodeState
	targeted map[string]bool // nil: every node
	// maintenance names the nodes with maintenance: true: no layer acts
	// on them (they are not in nodes), their changes become notes.
	maintenance map[string]bool
	nodes       []*nodeInfo // the targeted nodes not in maintenance, set by the flags layer
}

// planLayers runs the Plan of every layer over p, whose files changes are
// made (and targeted).
func planLayers(ctx context.Context, p *Plan, rack *schema.Rack, addrs map[string]ipam.Addrs, files []render.File, opts PlanOptions) error {
	prev, err := state.New(opts.StateDir).LoadNodes()
	if err != nil {
		return err
	}
	h, err := stateDigest(opts.StateDir, NodesFile)
	if err != nil {
		return fmt.Errorf("state %s: %w", NodesFile, err)
	}
	p.Observed[StateKey(NodesFile)] = h
	prov, err := ProvisionerFor(rack.Provisioner)
	if err != nil {
		return err
	}
	pl := &planner{ctx: ctx, p: p, rack: rack, prov: prov, addrs: addrs, files: files, opts: opts, cfg: opts.Layers,
		layout: opts.Layout.WithDefaults(), prev: prev, maintenance: maintenanceNodes(rack)}
	if len(p.Targets) > 0 {
		pl.targeted = map[string]bool{}
		for _, t := range p.Targets {
			pl.targeted[t] = true
		}
	}
	pl.nextNodes()
	for _, l := range Plugins {
		if err := l.Plan(ctx, pl); err != nil {
			return err
		}
	}
	pl.planRollout()
	return nil
}

func (pl *planner) isTarget(name string) bool { return pl.targeted == nil || pl.targeted[name] }

func (pl *planner) add(c Change)               { pl.p.Changes = append(pl.p.Changes, c) }
func (pl *planner) note(n string)              { pl.p.Notes = append(pl.p.Notes, n) }
func (pl *planner) observe(k ObsKey, v string) { pl.p.Observed[k] = v }

// nextNodes is the record saved after the flags phase: the spec's, except
// for nodes not targeted, which keep what was recorded, and nodes in
// maintenance, which keep it too (none when there was none): a reinstall
// their spec asks for is planned once they leave maintenance.
func (pl *planner) nextNodes() {
	next := NodeStateOf(pl.rack)
	if pl.prev.Version != 0 {
		if pl.targeted != nil {
			next.SSHKeys = pl.prev.SSHKeys
		}
		for name := range next.Nodes {
			if pl.targeted != nil && !pl.targeted[name] || pl.maintenance[name] {
				if rec, ok := pl.prev.Nodes[name]; ok {
					next.Nodes[name] = rec
				} else if pl.maintenance[name] {
					delete(next.Nodes, name)
				}
			}
		}
	}
	pl.p.NextNodes = next
}

func (pl *planner) fileChange(p string) *Change {
	addr := FilePrefix + p
	for i := range pl.p.Changes {
		if c := &pl.p.Changes[i]; c.Layer == LayerFiles && c.Address == addr {
			return c
		}
	}
	return nil
}

func (pl *planner) desired(p string) []byte {
	for _, f := range pl.files {
		if f.Path == p {
			return f.Content
		}
	}
	return nil
}

// bmcTarget is n's BMC: its endpoint (protocol, address and port) as
// bmc.EndpointFor derives it from the spec.
func (pl *planner) bmcTarget(n *schema.Node) bmc.Target {
	return bmc.EndpointFor(pl.rack, n, pl.addrs[n.Name].BMC).Target(n.Name)
}

// bmcDetail is the Detail of a change acting on n's BMC.
func (pl *planner) bmcDetail(n *schema.Node, mac string) *Detail {
	t := pl.bmcTarget(n)
	return &Detail{BMCAddress: t.Address, BMCProtocol: t.Protocol, MAC: mac}
}

// observeFile records a file beneath the root in Observed and tells
// whether it exists.
func (pl *planner) observeFile(p string) (bool, error) {
	cur, _, exists, err := readCurrent(pl.opts.Root, p)
	if err != nil {
		return false, err
	}
	pl.observe(FileKey(p), hashOf(cur, exists))
	return exists, nil
}

// flagExists tells whether node n's flag file is on disk (recorded as
// observed, like every flag file the plan relies on).
func (pl *planner) flagExists(n *schema.Node) (bool, error) {
	return pl.observeFile(pl.prov.FlagFile(pl.layout, n.MAC))
}

func (pl *planner) installs() []*nodeInfo {
	var out []*nodeInfo
	for _, ni := range pl.nodes {
		if ni.install != "" {
			out = append(out, ni)
		}
	}
	return out
}

// inSpecOrder is names without duplicates, in the spec's node order.
func (pl *planner) inSpecOrder(names []string) []string {
	var out []string
	for i := range pl.rack.Nodes {
		if n := pl.rack.Nodes[i].Name; slices.Contains(names, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func installing(installs []*nodeInfo, n *schema.Node) bool {
	return slices.ContainsFunc(installs, func(ni *nodeInfo) bool { return ni.n == n })
}

func summarize(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:max], ", ") + fmt.Sprintf(" and %d more", len(items)-max)
}

// Executor carries out the changes of one layer. Apply is called once per
// change, in plan order, and must be idempotent.
type Executor interface {
	Layer() Layer
	Apply(ctx context.Context, c Change) error
}

// Observer is implemented by executors that re-read what their layer
// observed at plan time: Apply hands each key to the executor of the
// key's layer.
type Observer interface {
	Observe(ctx context.Context, key ObsKey) (value string, err error)
}

// Preparer is implemented by executors that need to see the whole plan
// before Apply checks it (for example to learn the BMC addresses their
// Observe calls need).
type Preparer interface {
	Prepare(p *Plan) error
}

// Concurrent is implemented by executors whose changes of one phase may
// run at once, at most Concurrency() at a time. Their Apply must be safe
// for concurrent use.
type Concurrent interface {
	Concurrency() int
}

// defaulter is a Plugin with an executor of its own, used when the caller
// supplies none for its layer.
type defaulter interface {
	defaultExecutor(a *Applier, backupDir string) Executor
}

// preChecker is an executor that checks a plan before the state dir or the
// lock is touched, so that a refusal leaves no trace.
type preChecker interface {
	precheck(p *Plan) error
}

// recoverer is an executor that cleans up after an apply that was killed
// (Apply took over its stale lock).
type recoverer interface {
	afterKilledApply()
}

func discard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
