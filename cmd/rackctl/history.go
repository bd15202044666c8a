package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/reconcile"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List past applies recorded in the state directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			recs, err := reconcile.ReadHistory(g.stateDir)
			if err != nil {
				return err
			}
			if limit > 0 && len(recs) > limit {
				recs = recs[len(recs)-limit:]
			}
			if g.output == "json" {
				return writeJSON(g.stdout, recs)
			}
			if len(recs) == 0 {
				fmt.Fprintf(g.stdout, "No applies recorded in %s.\n", g.stateDir)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tCOMMIT\tCHANGES\tOUTCOME\tDETAIL")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Time.Format("2006-01-02 15:04:05"), shortCommit(r.Commit), r.ChangeSummary(), r.Outcome, r.Error)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many of the newest records (0 = all)")
	return cmd
}

func shortCommit(c string) string {
	if c == "" {
		return "-"
	}
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
