package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/watch"
)

func newApproveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "approve COMMIT",
		Short: "Let 'rackctl watch' apply a held commit over the disruption limit",
		Long: `approve records in the state directory that COMMIT may reinstall or
power-cycle more nodes than the watch loop's limits allow. The loop notices
within its --approval-poll interval, plans the commit again against the current
state and applies it. Allowed windows (--disruptive-window) still apply. A
prefix of at least 7 characters of a held commit is enough. The approval is
used up by the apply.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			full, err := watch.Approve(g.stateDir, args[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, map[string]string{"approved": full})
			}
			fmt.Fprintf(g.stdout, "Approved %s; the watch loop applies it at its next poll.\n", full)
			return nil
		},
	}
}
