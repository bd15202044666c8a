package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/schema"
)

// The settle layer finishes an install in the apply that made it. Once the
// verify layer recorded a node's install (its flag file, written only after
// the node was seen running its config), what the provisioner serves the
// node changes — Flatcar's matchbox group switches from the install profile
// to the installed one — and its boot device goes back to disk. Without
// this layer a rack needed a second apply to settle.

const (
	LayerSettle Layer = "settle"
	// ActionSettle re-runs the provisioner for the installs just recorded.
	ActionSettle Action = "settle"
)

// settler is a Provisioner whose view of a node changes once its install
// is recorded, so that it must run again after the verify layer.
type settler interface {
	// settleAllowed tells whether a resource change of the settle run is
	// one the recorded installs of the nodes (by FQDN) explain; anything
	// else is refused.
	settleAllowed(rc provision.ResourceChange, fqdns []string) bool
}

// settleRunner is a settler whose tool has no plan to review (lokoctl):
// it is run again as the provisioner phase just ran it.
type settleRunner interface {
	settleRun(ctx context.Context, px *ProvisionerExecutor) error
}

type settleLayer struct{} // BeforePhase, AfterPhase: provisioner_inputs.go

func (settleLayer) Layer() Layer          { return LayerSettle }
func (settleLayer) Policy() FailurePolicy { return PerNode }

func (settleLayer) Plan(_ context.Context, pl *planner) error {
	if !pl.cfg.Enabled || !pl.cfg.Verify || !pl.cfg.Settle {
		return nil
	}
	var nodes, fqdns []string
	for _, ni := range pl.installs() {
		nodes = append(nodes, ni.n.Name)
		fqdns = append(fqdns, pl.rack.FQDN(ni.n))
	}
	if len(nodes) == 0 {
		return nil
	}
	if _, ok := pl.prov.(settler); ok && pl.cfg.Provisioner == ProvisionerAuto {
		pl.add(Change{
			Layer: LayerSettle, Action: ActionSettle, Address: "settle:" + pl.prov.Tool(),
			Reason: "once their installs are recorded, " + pl.prov.Tool() + " switches " + strings.Join(nodes, ", ") +
				" to the installed profile (nothing else may change in this run)",
			Detail: &Detail{Provisioner: pl.rack.Provisioner, Nodes: nodes, Hosts: fqdns, Dir: pl.prov.Dir(pl.layout)},
		})
	}
	if pl.cfg.BMC == nil || pl.prov.BootsInstalls(pl.rack) {
		return nil
	}
	for _, ni := range pl.installs() {
		d := pl.bmcDetail(ni.n, ni.n.MAC)
		d.FlagFile = ni.flag
		pl.add(Change{
			Layer: LayerSettle, Action: ActionSetBootDisk, Address: "settle:bmc:" + ni.n.Name, Node: ni.n.Name,
			Reason: "installed: boot from disk again (persistent, EFI)", Detail: d,
		})
		if pl.rack.InstallVia(ni.n) == schema.InstallViaVirtualMedia {
			d := *d
			d.MediaImage = pl.rack.Install.VirtualMediaImage
			pl.add(Change{
				Layer: LayerSettle, Action: ActionEjectMedia, Address: "settle:bmc:" + ni.n.Name + ":media", Node: ni.n.Name,
				Phrase: "will eject its virtual media (" + d.MediaImage + ")",
				Reason: "installed: the install image leaves the virtual CD", Detail: &d,
			})
		}
	}
	return nil
}

// SettleExecutor applies the settle layer: the provisioner's run through
// the provisioner layer's executor (its drivers), the boot device through
// the BMC.
type SettleExecutor struct {
	Root        string
	Provisioner *ProvisionerExecutor
	BMC         BMC
	Log         *slog.Logger
}

var _ Executor = (*SettleExecutor)(nil)

func (e *SettleExecutor) Layer() Layer { return LayerSettle }

func (e *SettleExecutor) Apply(ctx context.Context, c Change) error {
	switch {
	case c.Detail == nil:
		return fmt.Errorf("settle: %s: no detail", c.Address)
	case c.Action == ActionSettle:
		return e.rerun(ctx, c)
	case c.Action == ActionSetBootDisk:
		return e.bootDisk(ctx, c)
	case c.Action == ActionEjectMedia:
		return e.eject(ctx, c)
	}
	return fmt.Errorf("settle: %s: unsupported action %q", c.Address, c.Action)
}

// bootDisk sets the boot device of a node whose install was recorded; a
// node without its flag file (its verify failed) is left alone.
func (e *SettleExecutor) bootDisk(ctx context.Context, c Change) error {
	if err := e.recorded(c, "boot device"); err != nil {
		return err
	}
	return setBootDisk(ctx, e.BMC, c.Detail.BMCTarget(c.Node), e.Log)
}

// eject empties the virtual CD of a node whose install was recorded; a
// failed install keeps its media for the next try.
func (e *SettleExecutor) eject(ctx context.Context, c Change) error {
	if err := e.recorded(c, "virtual media"); err != nil {
		return err
	}
	return ejectMedia(ctx, e.BMC, c.Detail.BMCTarget(c.Node))
}

// recorded tells whether c's node has its flag file, and a BMC to settle.
func (e *SettleExecutor) recorded(c Change, what string) error {
	if e.BMC == nil {
		return errors.New("settle: no BMC driver")
	}
	root, err := rootfs.New(e.Root)
	if err != nil {
		return fmt.Errorf("settle %s: %w", c.Node, err)
	}
	if there, err := root.Exists(c.Detail.FlagFile); err != nil || !there {
		return fmt.Errorf("settle %s: install not recorded (%v): %s left as it is", c.Node, err, what)
	}
	return nil
}

// rerun plans the provisioner again now that the flag files exist, and
// applies that plan only when every change in it is one the recorded
// installs explain: this run was not reviewed resource by resource.
func (e *SettleExecutor) rerun(ctx context.Context, c Change) error {
	pr, err := ProvisionerFor(c.Detail.Provisioner)
	if err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	s, ok := pr.(settler)
	if !ok || e.Provisioner == nil {
		return fmt.Errorf("settle: %s: no provisioner driver to re-run", c.Address)
	}
	px := e.Provisioner
	px.runs.started()
	if r, ok := pr.(settleRunner); ok {
		return r.settleRun(ctx, px)
	}
	tp, err := px.planTerraform(ctx)
	if err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	for _, rc := range tp.Changes {
		if !s.settleAllowed(rc, c.Detail.Hosts) {
			return fmt.Errorf("settle: terraform would also %s %s, which the recorded installs do not explain: "+
				"nothing applied; review it with rackctl plan", strings.Join(rc.Actions, "+"), rc.Address)
		}
	}
	if !tp.HasChanges() {
		px.runs.converged(c.Detail.Dir)
		return nil
	}
	if err := px.Terraform.Apply(ctx, tp.PlanFile); err != nil {
		return fmt.Errorf("settle: terraform apply: %w", err)
	}
	px.runs.converged(c.Detail.Dir)
	discard(e.Log).Info("settled", "nodes", strings.Join(c.Detail.Nodes, ","), "changes", len(tp.Changes))
	return nil
}

// settleAllowed: a recorded install changes only the node's matchbox group
// (install profile → installed profile) and, with the install done, drops
// the node's install profile. The module's resources are keyed by FQDN.
func (flatcarProvisioner) settleAllowed(rc provision.ResourceChange, fqdns []string) bool {
	if !slices.Contains(fqdns, rc.Node) {
		return false
	}
	switch {
	case strings.Contains(rc.Address, "matchbox_group.node["):
		// The provider replaces a group whose profile changes.
		return slices.Equal(rc.Actions, []string{"update"}) || slices.Equal(rc.Actions, []string{"delete", "create"}) ||
			slices.Equal(rc.Actions, []string{"create", "delete"})
	case strings.Contains(rc.Address, "matchbox_profile.install[") && slices.Equal(rc.Actions, []string{"delete"}):
		return true
	}
	return false
}
