package main

import (
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/internal/termtext"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/view"
	"github.com/rackctl/rackctl/watch"
)

func newMaintenanceCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "maintenance [list | NODE... on|off]",
		Short: "Take nodes out of automation (or back) locally, without a commit; list the local overrides",
		Long: `maintenance NODE... on takes the nodes out of automation as if rack.yaml set
nodes[].maintenance: true (docs/spec.md "Maintenance mode"): no BMC,
provisioner or drift change, DHCP reservation, hosts entry and IP kept.
maintenance NODE... off puts them back, also when rack.yaml says
maintenance: true. Nothing is written to git: the override lives in the
state directory (maintenance.json) with who, when and --reason, and plan,
apply, watch (a running watch sees the change at its next --approval-poll
and checks drift at once), status and the API apply it. Until rack.yaml says the same it is drift from git:
plan notes it, status marks the node "(maintenance, local)" and
rackctl_maintenance_local_overrides counts it. Once rack.yaml says the
same the override is spent and the next apply (or watch's next plan)
removes it. Each change is recorded in the history (rackctl history).

With no argument, or list, the overrides are listed with their state
against rack.yaml: active, spent, unknown-node (the node left rack.yaml:
remove the override with 'maintenance NODE off'), excluded.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || len(args) == 1 && args[0] == "list" {
				return g.listMaintenance()
			}
			on, err := onOff(args[len(args)-1])
			if err != nil || len(args) < 2 {
				return fmt.Errorf("maintenance %q: want 'maintenance NODE... on|off' or 'maintenance list'", args)
			}
			return g.setMaintenance(args[:len(args)-1], on, reason)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with who and when (at most 1024 bytes kept)")
	return cmd
}

func onOff(s string) (bool, error) {
	switch s {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, errors.New("want on or off")
}

// maintenanceChange is what `maintenance NODE on|off` does to one node:
// write an override, or remove one (nil) because rack.yaml says the same
// or the node left it.
type maintenanceChange struct {
	node     string
	override *state.MaintenanceOverride
	message  string
}

func (g *globals) setMaintenance(targets []string, on bool, reason string) error {
	spec, err := g.loadSpec()
	if err != nil {
		return err
	}
	m, err := state.New(g.stateDir).LoadMaintenance()
	if err != nil {
		return err
	}
	by, now := operatorName(), time.Now().UTC()
	var changes []maintenanceChange
	for _, t := range targets {
		c, err := g.maintenanceChangeOf(spec, m, t, on)
		if err != nil {
			return err
		}
		if c.override != nil {
			c.override.By, c.override.At, c.override.Reason = by, now, reason
		}
		changes = append(changes, c)
	}
	for _, c := range changes {
		if err := watch.SetMaintenance(g.stateDir, c.node, c.override, by, reason, now); err != nil {
			return fmt.Errorf("maintenance %s: %w", c.node, err)
		}
		if g.output == "human" {
			fmt.Fprintln(g.stdout, termtext.Escape(c.message))
		}
	}
	if g.output == "json" {
		return g.writeMaintenanceList(spec)
	}
	return nil
}

// maintenanceChangeOf checks target against the spec (all targets are
// checked before anything is written) and says what on/off does to it.
func (g *globals) maintenanceChangeOf(spec *schema.Rack, m state.Maintenance, target string, on bool) (maintenanceChange, error) {
	n := spec.Node(target)
	if n == nil {
		if _, had := m.Nodes[target]; had && !on {
			return maintenanceChange{node: target, message: fmt.Sprintf("%s: local override removed (the node is not in %s).", target, g.specFile)}, nil
		}
		return maintenanceChange{}, fmt.Errorf("maintenance: node %q: no node of that name, FQDN or MAC in %s", target, g.specFile)
	}
	i := slices.IndexFunc(spec.Nodes, func(x schema.Node) bool { return x.Name == n.Name })
	if on && n.Exclude {
		return maintenanceChange{}, fmt.Errorf("maintenance: node %s: excluded in %s (nodes[%d].exclude: true); maintenance and exclude cannot both hold: set one in the spec", n.Name, g.specFile, i)
	}
	word := map[bool]string{true: "on", false: "off"}[on]
	if n.Maintenance == on {
		msg := fmt.Sprintf("%s: %s already says maintenance %s (nodes[%d].maintenance); no local override needed.", n.Name, g.specFile, word, i)
		if _, had := m.Nodes[n.Name]; had {
			msg = fmt.Sprintf("%s: %s says maintenance %s (nodes[%d].maintenance): local override removed.", n.Name, g.specFile, word, i)
		}
		return maintenanceChange{node: n.Name, message: msg}, nil
	}
	msg := fmt.Sprintf("%s: maintenance on locally; not in %s: commit nodes[%d].maintenance: true, or undo with 'rackctl maintenance %s off'.",
		n.Name, g.specFile, i, n.Name)
	if !on {
		msg = fmt.Sprintf("%s: maintenance off locally although %s says nodes[%d].maintenance: true: commit its removal, or undo with 'rackctl maintenance %s on'.",
			n.Name, g.specFile, i, n.Name)
	}
	return maintenanceChange{node: n.Name, override: &state.MaintenanceOverride{Maintenance: on}, message: msg}, nil
}

func (g *globals) listMaintenance() error {
	spec, err := g.loadSpec()
	if err != nil {
		return err
	}
	if g.output == "json" {
		return g.writeMaintenanceList(spec)
	}
	list, err := g.maintenanceList(spec)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(g.stdout, "No local maintenance override: rack.yaml decides for every node.")
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tMAINTENANCE\tSTATE\tSINCE\tBY\tREASON")
	for _, o := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", termtext.Cell(o.Node), map[bool]string{true: "on", false: "off"}[o.Maintenance], o.State,
			o.At.Local().Format("2006-01-02 15:04"), termtext.Cell(o.By), termtext.Cell(orDash(o.Reason)))
	}
	return tw.Flush()
}

// maintenanceList is the overrides as status -o json shows them.
func (g *globals) maintenanceList(spec *schema.Rack) ([]view.MaintenanceOverride, error) {
	eng, err := g.engine(nil)
	if err != nil {
		return nil, err
	}
	local, err := eng.LocalMaintenance(spec)
	if err != nil {
		return nil, err
	}
	return view.NewStatus(&engine.Status{LocalMaintenance: local}).MaintenanceOverrides, nil
}

func (g *globals) writeMaintenanceList(spec *schema.Rack) error {
	list, err := g.maintenanceList(spec)
	if err != nil {
		return err
	}
	if list == nil {
		list = []view.MaintenanceOverride{}
	}
	return writeJSON(g.stdout, map[string]any{"maintenance_overrides": list})
}
