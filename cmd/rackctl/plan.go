package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
)

type planFlags struct {
	out              string
	detailedExitcode bool
	targets          []string
	drivers          driverFlags
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

Exit codes: 0 no changes (or changes without --detailed-exitcode), 1 error,
2 changes present with --detailed-exitcode.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rack, err := g.loadSpec()
			if err != nil {
				return err
			}
			drv, err := g.drivers(rack, &pf.drivers)
			if err != nil {
				return err
			}
			p, err := g.buildPlan(cmd.Context(), rack, pf.targets, drv)
			if err != nil {
				return err
			}
			if err := g.showPlan(p); err != nil {
				return err
			}
			if pf.out != "" {
				if err := savePlan(pf.out, p); err != nil {
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
		},
	}
	f := cmd.Flags()
	f.StringVar(&pf.out, "out", "", "save the plan to this file, for 'rackctl apply FILE'")
	f.BoolVar(&pf.detailedExitcode, "detailed-exitcode", false, "exit 2 when the plan has changes")
	f.StringSliceVar(&pf.targets, "target", nil, "limit the plan to these nodes (name, FQDN or MAC); repeatable")
	pf.drivers.register(f)
	return cmd
}

func (g *globals) buildPlan(ctx context.Context, rack *schema.Rack, targets []string, drv *drivers) (*reconcile.Plan, error) {
	for _, t := range targets {
		if rack.Node(t) == nil {
			return nil, fmt.Errorf("-target %q: no node of that name, FQDN or MAC in %s", t, g.specFile)
		}
	}
	return reconcile.Build(ctx, rack, reconcile.PlanOptions{
		SpecFile: g.specFile,
		Root:     g.root,
		StateDir: g.stateDir,
		Layout:   g.layout(),
		Targets:  targets,
		Layers:   drv.layers,
	})
}

func (g *globals) showPlan(p *reconcile.Plan) error {
	if g.output == "json" {
		return reconcile.WritePlanView(g.stdout, p)
	}
	return reconcile.WriteHuman(g.stdout, p, g.color())
}

// savePlan writes the plan 0600: it holds no secrets, but it does hold the
// full content of every file it will write.
func savePlan(path string, p *reconcile.Plan) error {
	var buf bytes.Buffer
	if err := reconcile.WriteJSON(&buf, p); err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	return atomicfile.Write(path, buf.Bytes(), 0o600)
}
