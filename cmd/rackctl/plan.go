package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/reconcile"
)

type planFlags struct {
	out              string
	detailedExitcode bool
	targets          []string
	drivers          engine.DriverConfig
	all, roots       string // plan --all DIR [--roots DIR]
}

func newPlanCmd(g *globals) *cobra.Command {
	var pf planFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show every change apply would make, without making it",
		Long: `plan compares rack.yaml with the live state under --root and the state
directory and shows every change, terraform-style, layer by layer: files,
dhcp (dnsmasq check and reload, stale leases), flags (flag files removed to
force a reinstall), provisioner (terraform or lokoctl), bmc (PXE boot and
power cycle of nodes to install, boot device back to disk; with
bmc.addressSource: dhcp, BMCs on a static address moved to DHCP), verify and
credentials (bmc.rotate: per BMC the slot the new account takes and its
steps, then the switch of the credential files; never a password).
Nothing is written, except the plan itself with -out. With --bmc=auto the BMCs
are read (power state, boot device, LAN address source, users) when their
credentials are readable.

With --all DIR every rack of a fleet directory is validated (as validate
--all) and planned by its file layer alone, against ROOTS/<rack>/ with
--roots or else an empty state: one line per rack with its counts per
layer. No BMC, DHCP server, provisioner or node is contacted.

Exit codes: 0 no changes (or changes without --detailed-exitcode), 1 error,
2 changes present with --detailed-exitcode.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pf.all != "" {
				return g.planAll(cmd.Context(), &pf)
			}
			return g.runPlan(cmd.Context(), &pf)
		},
	}
	f := cmd.Flags()
	f.StringVar(&pf.out, "out", "", "save the plan to this file, for 'rackctl apply FILE'")
	f.BoolVar(&pf.detailedExitcode, "detailed-exitcode", false, "exit 2 when the plan has changes")
	f.StringSliceVar(&pf.targets, "target", nil, "limit the plan to these nodes (name, FQDN or MAC); repeatable")
	f.StringVar(&pf.all, "all", "", "plan every rack of this fleet directory (DIR/<rack>/rack.yaml) by the file layer alone, one summary line per rack (docs/fleet.md); no BMC, DHCP or provisioner is contacted")
	f.StringVar(&pf.roots, "roots", "", "with --all: a directory holding a root per rack (ROOTS/<rack>/, as --root); a rack without one is planned against an empty state")
	registerDriverFlags(f, &pf.drivers)
	return cmd
}

func (g *globals) runPlan(ctx context.Context, pf *planFlags) error {
	_, p, err := g.freshPlan(ctx, &pf.drivers, pf.targets)
	if err != nil {
		return err
	}
	if err := g.showPlan(p); err != nil {
		return err
	}
	if pf.out != "" {
		if err := engine.SavePlan(pf.out, p); err != nil {
			return err
		}
		if g.output == "human" {
			fmt.Fprintf(g.stdout, "\nSaved the plan to %s. To perform exactly these actions, run:\n    rackctl apply %s\n", pf.out, pf.out)
		}
	}
	if pf.detailedExitcode && p.HasChanges() {
		return exitCodeError{exitChanges}
	}
	return nil
}

// freshPlan loads the spec and plans it with the drivers d selects.
func (g *globals) freshPlan(ctx context.Context, d *engine.DriverConfig, targets []string) (*engine.Session, *reconcile.Plan, error) {
	rack, err := g.loadSpec()
	if err != nil {
		return nil, nil, err
	}
	eng, err := g.engine(d)
	if err != nil {
		return nil, nil, err
	}
	s, err := eng.Open(rack)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.Plan(ctx, targets, "")
	if err != nil {
		return nil, nil, err
	}
	return s, p, nil
}

func (g *globals) showPlan(p *reconcile.Plan) error {
	if g.output == "json" {
		return reconcile.WritePlanView(g.stdout, p)
	}
	return reconcile.WriteHuman(g.stdout, p, g.color())
}
