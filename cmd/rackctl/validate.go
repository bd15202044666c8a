package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/schema"
)

func newValidateCmd(g *globals) *cobra.Command {
	var all string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check rack.yaml against the schema; exit 1 with positioned errors",
		Long: `validate checks rack.yaml (-f) against the schema and the rules between its
nodes; every problem is printed as file:line:col. With --all DIR it checks
every rack of a fleet directory (DIR/<rack>/rack.yaml, docs/fleet.md) in one
run, and the rules between racks: rack names, node names and MACs unique
across the fleet, internal subnets not overlapping. Exit 1 on any problem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all != "" {
				return g.validateAll(all)
			}
			if g.output == "json" {
				return validateJSON(cmd.Context(), g)
			}
			// The spec must be a regular file of at most
			// schema.MaxSpecSize bytes (see schema.LoadContext): a device
			// or FIFO is refused before a byte is read, so no read can
			// outlast a signal.
			rack, err := g.loadSpec()
			if err != nil {
				return err
			}
			for _, w := range rack.Warnings {
				fmt.Fprintf(g.stderr, "warning: %s\n", w)
			}
			active := len(rack.ActiveNodes())
			fmt.Fprintf(g.stdout, "%s is valid: rack %q, %s, %d nodes (%d excluded).\n",
				g.specFile, rack.Name, rack.Provisioner, len(rack.Nodes), len(rack.Nodes)-active)
			return nil
		},
	}
	cmd.Flags().StringVar(&all, "all", "", "check every rack of this fleet directory (DIR/<rack>/rack.yaml) and the rules between them, instead of -f")
	return cmd
}

// validateJSON prints {"valid": bool, "errors": [...]} for scripts and editors.
func validateJSON(ctx context.Context, g *globals) error {
	_, err := schema.LoadContext(ctx, g.specFile)
	out := struct {
		Valid  bool                `json:"valid"`
		File   string              `json:"file"`
		Errors []schema.Diagnostic `json:"errors"`
	}{Valid: err == nil, File: g.specFile, Errors: []schema.Diagnostic{}}
	var diags schema.Errors
	switch {
	case err == nil:
	case errors.As(err, &diags):
		out.Errors = diags
	default:
		return err
	}
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(out); encErr != nil {
		return encErr
	}
	if !out.Valid {
		return exitCodeError{exitError}
	}
	return nil
}
