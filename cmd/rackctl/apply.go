package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/reconcile"
)

func newApplyCmd(g *globals) *cobra.Command {
	var autoApprove, detailedExitcode bool
	var targets []string
	var df driverFlags
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Make the rack match rack.yaml (or carry out a saved plan)",
		Long: `apply builds the plan, shows it, asks for confirmation (unless
--auto-approve) and carries it out in phases: files, dhcp, flags,
provisioner, bmc, verify, credentials. A failed phase stops the later ones (a
BMC failing stops only its own node, but the credentials phase then runs for
none); a rerun converges. The credentials phase (bmc.rotate) runs last, so
everything before it uses the credentials in force; it rotates every BMC in
one go and switches the credential files only when every BMC has the new
account. Given a plan saved with 'rackctl
plan -out FILE', it applies exactly that plan, and refuses when anything the
plan was made from has changed since (files, leases, terraform plan, power
state, address source and user list of the BMCs it acts on, rotation state). The driver flags must match the plan's.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p *reconcile.Plan
			var drv *drivers
			var err error
			saved := len(args) == 1
			if saved {
				if p, err = readPlanFile(args[0]); err != nil {
					return err
				}
				// The drivers need the spec (BMC credential files).
				if !cmd.Flags().Changed("file") && p.SpecFile != "" {
					g.specFile = p.SpecFile
				}
				rack, err := g.loadSpec()
				if err != nil {
					return err
				}
				if rack.Name != p.RackName {
					return fmt.Errorf("plan %s is for rack %q, %s describes %q", args[0], p.RackName, g.specFile, rack.Name)
				}
				if drv, err = g.drivers(rack, &df); err != nil {
					return err
				}
			} else {
				rack, err := g.loadSpec()
				if err != nil {
					return err
				}
				if drv, err = g.drivers(rack, &df); err != nil {
					return err
				}
				if p, err = g.buildPlan(cmd.Context(), rack, targets, drv); err != nil {
					return err
				}
				if err := g.showPlan(p); err != nil {
					return err
				}
			}
			if !p.HasChanges() {
				if saved && g.output == "human" {
					fmt.Fprintln(g.stdout, "The saved plan has no changes.")
				}
				return nil
			}
			if saved {
				// A fresh plan was checked when it was made; a saved one
				// meets the programs of today (dnsmasq, the site's own
				// config). The files phase checks each file only as it
				// writes it, after the files before it: check all first.
				if err := checkPlanFiles(cmd.Context(), args[0], p, drv.validate); err != nil {
					return err
				}
			}
			if !saved && !autoApprove {
				if err := g.confirm(); err != nil {
					return err
				}
			}
			res, err := reconcile.Apply(cmd.Context(), p, reconcile.ApplyOptions{
				Root:        g.root,
				StateDir:    g.stateDir,
				Log:         g.log,
				Progress:    g.progress,
				Executors:   drv.executors,
				Validate:    drv.validate,
				BeforePhase: g.pauseHook(),
			})
			g.reportApply(res, err)
			if err != nil {
				return exitCodeError{exitError}
			}
			if detailedExitcode {
				return exitCodeError{exitChanges}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "skip the interactive confirmation")
	cmd.Flags().BoolVar(&detailedExitcode, "detailed-exitcode", false, "exit 2 when apply made changes, 0 when there was nothing to do")
	cmd.Flags().StringSliceVar(&targets, "target", nil, "limit the apply to these nodes; repeatable")
	df.register(cmd.Flags())
	return cmd
}

// checkPlanFiles runs the validators (dnsmasq --test) over the new content
// of the files a plan writes whole, before anything is written.
func checkPlanFiles(ctx context.Context, planFile string, p *reconcile.Plan, validate map[string]func(context.Context, []byte) error) error {
	for _, c := range p.Changes {
		if c.Layer != reconcile.LayerFiles || c.Block || (c.Action != reconcile.ActionCreate && c.Action != reconcile.ActionUpdate) {
			continue
		}
		path := strings.TrimPrefix(c.Address, "file:")
		v := validate[path]
		if v == nil {
			continue
		}
		if err := v(ctx, c.Content); err != nil {
			return fmt.Errorf("plan %s not applied, nothing written: %s: %w", planFile, path, err)
		}
	}
	return nil
}

func readPlanFile(path string) (*reconcile.Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	p, err := reconcile.ReadPlan(f)
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	return p, nil
}

// confirm asks as terraform does; without a terminal it refuses rather than
// guess.
func (g *globals) confirm() error {
	in, ok := g.stdin.(*os.File)
	if !ok || !isTerminal(in) {
		return errors.New("no terminal to confirm on: review with 'rackctl plan' and rerun with --auto-approve, or apply a saved plan")
	}
	fmt.Fprint(g.stdout, "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("read confirmation: %w", err)
	}
	if strings.TrimSpace(line) != "yes" {
		fmt.Fprintln(g.stdout, "\nApply cancelled.")
		return exitCodeError{exitError}
	}
	return nil
}

func (g *globals) progress(ev reconcile.Event) {
	if g.output == "json" {
		return
	}
	fmt.Fprintln(g.stdout, ev.String())
}

func (g *globals) reportApply(res reconcile.Result, err error) {
	if g.output == "json" {
		_ = writeJSON(g.stdout, struct {
			Result reconcile.Result `json:"result"`
			Error  string           `json:"error,omitempty"`
		}{res, errString(err)})
		return
	}
	fmt.Fprintln(g.stdout)
	fmt.Fprintln(g.stdout, res.Summary())
	if err != nil {
		fmt.Fprintln(g.stderr, "Error:", err)
	}
}
