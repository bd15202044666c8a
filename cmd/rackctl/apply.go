package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/reconcile"
)

type applyFlags struct {
	autoApprove      bool
	detailedExitcode bool
	targets          []string
	drivers          engine.DriverConfig
}

func newApplyCmd(g *globals) *cobra.Command {
	var af applyFlags
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Make the rack match rack.yaml (or carry out a saved plan)",
		Long: `apply builds the plan, shows it, asks for confirmation (unless
--auto-approve) and carries it out in phases: files, dhcp, flags,
provisioner, bmc, verify, credentials. When a plan disrupts more than one
installed node (reinstalls, re-Ignitions, DHCP drift power cycles), their
per-node phases run in waves (see 'rackctl plan'): rack.yaml's rollout
section, or without one a canary of one node, controllers one at a time, then
waves of at most --max-disruptive-*-percent of a role. Each wave waits until
its nodes are healthy; a wave that is not stops the rollout, leaving the
later waves' nodes untouched (--wave N, --no-waves override). A failed phase stops the later ones (a
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
			if len(args) == 1 {
				return g.applySaved(cmd, args[0], &af)
			}
			return g.applyFresh(cmd.Context(), &af)
		},
	}
	cmd.Flags().BoolVar(&af.autoApprove, "auto-approve", false, "skip the interactive confirmation")
	cmd.Flags().BoolVar(&af.detailedExitcode, "detailed-exitcode", false, "exit 2 when apply made changes, 0 when there was nothing to do")
	cmd.Flags().StringSliceVar(&af.targets, "target", nil, "limit the apply to these nodes; repeatable")
	registerDriverFlags(cmd.Flags(), &af.drivers)
	cmd.Flags().IntVar(&af.drivers.Rollout.OnlyWave, "wave", 0, "apply the changes before the waves and wave N alone")
	cmd.Flags().BoolVar(&af.drivers.Rollout.NoWaves, "no-waves", false, "apply the plan in one step, without waves or health gates")
	return cmd
}

func (g *globals) applyFresh(ctx context.Context, af *applyFlags) error {
	s, p, err := g.freshPlan(ctx, &af.drivers, af.targets)
	if err != nil {
		return err
	}
	if err := g.showPlan(p); err != nil {
		return err
	}
	if !p.HasChanges() {
		// No apply follows to remove the overrides rack.yaml now says too.
		return s.RemoveSpentMaintenance()
	}
	if !af.autoApprove {
		if err := g.confirm(); err != nil {
			return err
		}
	}
	return g.apply(ctx, s, p, af)
}

// applySaved applies exactly the plan saved in planFile.
func (g *globals) applySaved(cmd *cobra.Command, planFile string, af *applyFlags) error {
	p, err := engine.ReadPlanFile(planFile)
	if err != nil {
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
		return fmt.Errorf("plan %s is for rack %q, %s describes %q", planFile, p.RackName, g.specFile, rack.Name)
	}
	eng, err := g.engine(&af.drivers)
	if err != nil {
		return err
	}
	s, err := eng.Open(rack)
	if err != nil {
		return err
	}
	if !p.HasChanges() {
		if g.output == "human" {
			fmt.Fprintln(g.stdout, "The saved plan has no changes.")
		}
		return nil
	}
	if err := s.CheckSaved(cmd.Context(), planFile, p); err != nil {
		return err
	}
	return g.apply(cmd.Context(), s, p, af)
}

func (g *globals) apply(ctx context.Context, s *engine.Session, p *reconcile.Plan, af *applyFlags) error {
	res, err := s.Apply(ctx, p, g.progress)
	g.reportApply(res, err)
	if err != nil {
		return exitCodeError{exitError}
	}
	if af.detailedExitcode {
		return exitCodeError{exitChanges}
	}
	return nil
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
