package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/state"
)

// flagsLayer deletes the flag files of nodes to reinstall (reprovision
// changed), of excluded nodes and of replaced MACs, and finds every node
// to install. A flag file is the provisioner's record that a node is
// installed (Provisioner.FlagFile). Its phase saves the per-node record
// (nodes.json) the next plan compares the spec with.
type flagsLayer struct{}

func (flagsLayer) Layer() Layer                      { return LayerFlags }
func (flagsLayer) Policy() FailurePolicy             { return StopAll }
func (flagsLayer) BeforePhase(*Applier, *Plan) error { return nil }

// AfterPhase saves the node record once the phase (and every one before)
// succeeded: a failed delete must be planned again, from the old record.
func (flagsLayer) AfterPhase(a *Applier, p *Plan, ok bool) error {
	if !ok || p.NextNodes.Version == 0 {
		return nil
	}
	if err := state.New(a.opts.StateDir).SaveNodes(p.NextNodes); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

func (flagsLayer) Plan(_ context.Context, pl *planner) error {
	if !pl.cfg.Enabled {
		return nil
	}
	for i := range pl.rack.Nodes {
		n := &pl.rack.Nodes[i]
		var err error
		switch {
		case !pl.isTarget(n.Name):
		case pl.maintenance[n.Name]:
			err = planMaintenanceFlag(pl, i)
		default:
			err = planNodeFlag(pl, i)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// planMaintenanceFlag plans node i as any other, then takes its changes
// and its install back: the plan notes what was skipped, and no later
// layer sees the node (it is not in pl.nodes), so its BMC is neither read
// nor changed and nothing verifies, settles or reignites it.
func planMaintenanceFlag(pl *planner, i int) error {
	n := &pl.rack.Nodes[i]
	mark, nodes := len(pl.p.Changes), len(pl.nodes)
	if err := planNodeFlag(pl, i); err != nil {
		return err
	}
	var skipped []string
	for _, c := range pl.p.Changes[mark:] {
		skipped = append(skipped, fmt.Sprintf("%s %s (%s)", c.Action, c.Address, c.Reason))
	}
	if ni := pl.nodes[nodes]; ni.install != "" {
		skipped = append(skipped, "install: PXE boot, power cycle and verify ("+ni.install+")")
	}
	pl.p.Changes, pl.nodes = pl.p.Changes[:mark], pl.nodes[:nodes]
	why := fmt.Sprintf("nodes[%d].maintenance: true", i)
	if pl.opts.LocalMaintenance[n.Name] {
		why = "local override: rackctl maintenance"
	}
	note := fmt.Sprintf("maintenance: %s (%s): no BMC, provisioner or drift change", n.Name, why)
	if len(skipped) > 0 {
		note += "; skipped: " + strings.Join(skipped, "; ")
	}
	pl.note(note)
	return nil
}

// planNodeFlag plans the flag files of node i and why it is installed.
func planNodeFlag(pl *planner, i int) error {
	n := &pl.rack.Nodes[i]
	ni := &nodeInfo{n: n, index: i, flag: pl.prov.FlagFile(pl.layout, n.MAC)}
	pl.nodes = append(pl.nodes, ni)
	exists, err := pl.observeFile(ni.flag)
	if err != nil {
		return err
	}
	rec, had := pl.prev.Nodes[n.Name]
	field := fmt.Sprintf("nodes[%d]", i)
	del := func(p, reason string) {
		pl.add(Change{
			Layer: LayerFlags, Action: ActionDelete, Address: FilePrefix + p, Node: n.Name, Disruptive: !n.Exclude,
			Reason: reason, Detail: &Detail{FlagFile: p, MAC: n.MAC},
		})
	}
	if had && rec.MAC != n.MAC {
		old := pl.prov.FlagFile(pl.layout, rec.MAC)
		oldExists, err := pl.observeFile(old)
		if err != nil {
			return err
		}
		if oldExists {
			del(old, fmt.Sprintf("%s.mac changed (%s -> %s): the old server's flag file", field, rec.MAC, n.MAC))
		}
	}
	switch {
	case n.Exclude:
		if exists {
			del(ni.flag, field+".exclude: true")
		}
	case had && rec.Reprovision != n.Reprovision && exists:
		reason := fmt.Sprintf("%s.reprovision changed (%q -> %q): full PXE reinstall", field, rec.Reprovision, n.Reprovision)
		del(ni.flag, reason)
		ni.deleting, ni.install = true, reason
	case !exists:
		switch {
		case had && rec.Exclude:
			ni.install = field + ".exclude: false (added back)"
		case had && rec.MAC != n.MAC:
			ni.install = fmt.Sprintf("%s.mac changed (%s -> %s): new server", field, rec.MAC, n.MAC)
		case !had && pl.prev.Version != 0:
			ni.install = field + ": new node"
		default:
			ni.install = "flag file " + ni.flag + " missing: not installed"
		}
	}
	return nil
}

// FlagExecutor applies the flags layer: it deletes flag files.
type FlagExecutor struct {
	Root string
	Log  *slog.Logger
}

var _ Executor = (*FlagExecutor)(nil)

func (e *FlagExecutor) Layer() Layer { return LayerFlags }

func (e *FlagExecutor) Apply(ctx context.Context, c Change) error {
	p, ok := strings.CutPrefix(c.Address, FilePrefix)
	if !ok || c.Action != ActionDelete {
		return fmt.Errorf("flags: %s: unsupported %s", c.Address, c.Action)
	}
	if err := checkPath(p); err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	root, err := rootfs.New(e.Root)
	if err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	// A link at the flag path is removed itself; a linked directory on the
	// way is refused (rootfs), so nothing outside the root is deleted.
	if err := root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("flags: delete: %w", err)
	}
	discard(e.Log).Info("flag file deleted", "path", p, "node", c.Node)
	return nil
}
