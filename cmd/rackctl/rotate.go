package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/rotate"
)

func newRotateCmd(g *globals) *cobra.Command {
	var dryRun, autoApprove bool
	cmd := &cobra.Command{
		Use:   "rotate-credentials",
		Short: "Rotate every BMC to the account named in bmc.rotate",
		Long: `rotate-credentials moves every node's BMC to the account bmc.rotate names
(user, passwordFile). It shows the plan per BMC (the slot the new account
takes), asks for confirmation (unless --auto-approve), then:

  1. on every BMC creates and enables the account with ADMINISTRATOR on
     channel 1 and proves it by logging in with it;
  2. only when every BMC passed, replaces bmc.userFile and bmc.passwordFile
     with the new account (the old content kept as <file>.old, 0600) and
     disables the old account (deleteOld: clears its name too).

A BMC that fails step 1 after its new account was written has that account
disabled again (rollback) and leaves everything on the old credentials;
rerun to resume (progress is kept in <state-dir>/rotation.json, no
secrets). When a run reports the rotation complete, drop bmc.rotate from
rack.yaml: the credential files already hold the new account.

The new password is 1 to 20 bytes (17 to 20 need BMCs with IPMI 2.0
20-byte passwords; others fail the login proof and switch nothing) without
control characters, quotes or backslashes; anything else, '#', spaces and
non-ASCII included, is set byte for byte over RMCP+. A refused password is
reported as file:line:col. Passwords are never in an argv, a log line or
the output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.runRotate(cmd.Context(), dryRun, autoApprove)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the plan only")
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "skip the interactive confirmation")
	return cmd
}

func (g *globals) runRotate(ctx context.Context, dryRun, autoApprove bool) error {
	eng, r, err := g.loadRack()
	if err != nil {
		return err
	}
	rot, err := eng.Rotation(r)
	if err != nil {
		return err
	}
	plan, err := rot.Plan(ctx)
	if err != nil {
		return err
	}
	if plan.Done() || dryRun {
		if g.output == "json" {
			return writeJSON(g.stdout, struct {
				Plan *rotate.Plan `json:"plan"`
			}{plan})
		}
		return plan.WriteHuman(g.stdout)
	}
	if g.output == "human" {
		if err := plan.WriteHuman(g.stdout); err != nil {
			return err
		}
	}
	if !autoApprove {
		if err := g.confirm(); err != nil {
			return err
		}
	}
	rep, err := rot.Apply(ctx, plan, g.rotateProgress)
	return g.reportRotation(plan, rep, err)
}

// rotateProgress shows each step of a rotation to a human reader.
func (g *globals) rotateProgress(node, msg string) {
	if g.output != "human" {
		return
	}
	if node == "" {
		fmt.Fprintf(g.stdout, "%s\n", msg)
		return
	}
	fmt.Fprintf(g.stdout, "%s: %s\n", node, msg)
}

func (g *globals) reportRotation(plan *rotate.Plan, rep *rotate.Report, err error) error {
	if g.output == "json" {
		if jerr := writeJSON(g.stdout, struct {
			Plan   *rotate.Plan   `json:"plan"`
			Report *rotate.Report `json:"report,omitempty"`
			Error  string         `json:"error,omitempty"`
		}{plan, rep, errString(err)}); jerr != nil {
			return jerr
		}
	} else if rep != nil {
		writeRotateReport(g, rep)
	}
	if err != nil {
		var fe *rotate.FailedError
		if errors.As(err, &fe) && g.output == "human" {
			fmt.Fprintf(g.stderr, "Error: %v\n", err)
			return exitCodeError{exitError}
		}
		return err
	}
	return nil
}

func writeRotateReport(g *globals, rep *rotate.Report) {
	fmt.Fprintln(g.stdout)
	for _, n := range rep.Nodes {
		mark := "✓"
		switch n.Status {
		case rotate.StatusFailed:
			mark = "×"
		case rotate.StatusWaiting:
			mark = "…"
		}
		line := fmt.Sprintf("  %s %s: user %d, %s (%s)", mark, n.Node, n.Slot, n.Phase, n.Status)
		if n.Resumed {
			line += ", resumed"
		}
		if n.Error != "" {
			line += ": " + n.Error
		} else if n.Note != "" {
			line += ": " + n.Note
		}
		fmt.Fprintln(g.stdout, line)
	}
	switch {
	case rep.Complete:
		fmt.Fprintf(g.stdout, "\nRotation to %q complete: the credential files hold the new account and the old one is disabled\non every BMC. You can now drop bmc.rotate from the spec.\n", rep.User)
	case rep.Switched:
		fmt.Fprintf(g.stdout, "\nCredential files switched to %q; the old account is not disabled everywhere yet: rerun to finish.\n", rep.User)
	default:
		fmt.Fprintf(g.stdout, "\nNothing switched: every BMC stays on %q. Fix the failed BMCs and rerun to resume.\n", rep.OldUser)
	}
}
