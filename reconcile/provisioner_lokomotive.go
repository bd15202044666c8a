package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// lokomotiveProvisioner is `lokoctl cluster apply` in the lokomotive dir:
// Lokomotive's bare-metal module installs the nodes without a flag file
// and re-runs Ignition, with a reboot, on installed nodes whose Ignition
// changed (see lokoreboots.go).
type lokomotiveProvisioner struct{}

func (lokomotiveProvisioner) Tool() string               { return "lokoctl" }
func (lokomotiveProvisioner) Dir(l render.Layout) string { return l.WithDefaults().LokomotiveDir }
func (lokomotiveProvisioner) Roles() []string {
	return []string{schema.RoleController, schema.RoleWorker}
}

func (lokomotiveProvisioner) FlagFile(l render.Layout, mac string) string {
	return path.Join(l.WithDefaults().LokomotiveDir, render.LokomotiveAssetDir, "cluster-assets", mac)
}

// BootsInstalls: with install.pxeCommands, lokoctl PXE-boots the nodes to
// install itself.
func (lokomotiveProvisioner) BootsInstalls(rack *schema.Rack) bool {
	return rack.Install.PXECommands != ""
}

// PlanRun finds the installed nodes lokoctl reboots: those whose cl/
// snippets or shared inputs change their Ignition, every one when the SSH
// keys change. lokoctl knows no targets: a shared input reaches every
// node, targeted or not.
func (lp lokomotiveProvisioner) PlanRun(pl *planner, run *provisionerRun) error {
	var clcNodes []string
	for node, files := range run.nodeFiles {
		if slices.ContainsFunc(files, func(rel string) bool { return strings.HasPrefix(rel, "cl/") }) {
			clcNodes = append(clcNodes, node)
		}
	}
	reboots, err := lokomotiveReboots(pl, clcNodes, run.installs, run.keysChanged)
	if err != nil {
		return err
	}
	installed := func(n *schema.Node) (bool, error) {
		if pl.isTarget(n.Name) && !pl.maintenance[n.Name] {
			return !installing(run.installs, n), nil
		}
		return pl.flagExists(n)
	}
	var causes []lokoRebootCause
	if !allInstalling(pl, run.installs) {
		if causes, err = pl.sharedInputReboots(run.shared, installed); err != nil {
			return err
		}
	}
	for _, c := range causes {
		run.notes = append(run.notes, fmt.Sprintf("%s: lokoctl re-runs Ignition with a reboot on %s", c.cause, summarize(c.nodes, 10)))
		reboots = append(reboots, c.nodes...)
	}
	run.reboots = pl.inSpecOrder(reboots)
	for _, n := range run.reboots {
		if pl.maintenance[n] {
			run.notes = append(run.notes, fmt.Sprintf("maintenance: %s: lokoctl's run reboots it too (a shared input changed): lokoctl cannot leave one node out; hold the commit until the node leaves maintenance", n))
		}
	}
	if len(run.reboots) > 0 {
		run.reason(fmt.Sprintf("lokoctl reboots %d node(s) to re-run Ignition", len(run.reboots)))
	}
	return nil
}

// allInstalling tells whether every active node is a target this run
// installs (a first apply): then no node is installed, a shared input
// reboots none, and sharedInputReboots, which parses lokocfg.vars and
// baremetal.lokocfg on disk and as rendered (a tenth of a 1000-node first
// apply), could name no node.
func allInstalling(pl *planner, installs []*nodeInfo) bool {
	inst := make(map[*schema.Node]bool, len(installs))
	for _, ni := range installs {
		inst[ni.n] = true
	}
	for _, n := range pl.rack.ActiveNodes() {
		if !pl.isTarget(n.Name) || !inst[n] {
			return false
		}
	}
	return true
}

// lokomotiveReboots are the installed, active nodes whose cl/ files change
// the Ignition their snippets merge into and, when the SSH keys change,
// every one — the keys are in each node's Ignition. Nodes being installed
// are interrupted by their install already.
func lokomotiveReboots(pl *planner, clcNodes []string, installs []*nodeInfo, keysChanged bool) ([]string, error) {
	var out []string
	for _, n := range pl.rack.ActiveNodes() {
		if !pl.isTarget(n.Name) || installing(installs, n) {
			continue
		}
		if !keysChanged && !slices.Contains(clcNodes, n.Name) {
			continue
		}
		if !keysChanged {
			same, err := sameIgnition(pl, n)
			if err != nil {
				return nil, err
			}
			if same {
				continue // content moved between the node's snippets
			}
		}
		out = append(out, n.Name)
	}
	return out, nil
}

// sameIgnition says whether node n's snippets on disk and as rendered merge
// into the same Ignition. A snippet that does not transpile counts as a
// change: lokoctl would fail or serve something else.
func sameIgnition(pl *planner, n *schema.Node) (bool, error) {
	var cur, want [][]byte
	for _, p := range render.NodeSnippets(pl.layout, pl.rack, n) {
		b, _, _, err := readCurrent(pl.opts.Root, p)
		if err != nil {
			return false, err
		}
		cur, want = append(cur, b), append(want, pl.desired(p))
	}
	a, err := render.SnippetsIgnition(cur...)
	if err != nil {
		return false, nil
	}
	b, err := render.SnippetsIgnition(want...)
	return err == nil && bytes.Equal(a, b), nil
}

// Review: lokoctl has no plan of its own to review.
func (lokomotiveProvisioner) Review(context.Context, *planner, *provisionerRun) error { return nil }

func (lokomotiveProvisioner) Observe(_ context.Context, _ *ProvisionerExecutor, k ObsKey) (string, error) {
	return "", fmt.Errorf("provisioner: no such observation %s", k)
}

// Apply runs lokoctl cluster apply.
func (lokomotiveProvisioner) Apply(ctx context.Context, e *ProvisionerExecutor, _ Change) error {
	if e.Lokoctl == nil {
		return errors.New("provisioner: no lokoctl driver")
	}
	if err := e.Lokoctl.Apply(ctx); err != nil {
		return fmt.Errorf("provisioner: lokoctl cluster apply: %w", err)
	}
	return nil
}

// settleAllowed: lokoctl has no plan to check changes against; settleRun
// re-runs it instead.
func (lokomotiveProvisioner) settleAllowed(provision.ResourceChange, []string) bool { return false }

// settleRun runs lokoctl cluster apply again once the installs are
// recorded. Its inputs are the ones the provisioner phase of this apply
// just ran it with, plus the recorded nodes' flag files, which make
// Lokomotive's bare-metal module move those nodes' matchbox groups from
// the install profile to the installed one; nothing else differs.
func (lokomotiveProvisioner) settleRun(ctx context.Context, px *ProvisionerExecutor) error {
	if px.Lokoctl == nil {
		return errors.New("settle: no lokoctl driver")
	}
	if err := px.Lokoctl.Apply(ctx); err != nil {
		return fmt.Errorf("settle: lokoctl cluster apply: %w", err)
	}
	return nil
}
