package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/internal/termtext"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List past applies and the commits watch rejected, held or skipped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, err := g.engine(nil)
			if err != nil {
				return err
			}
			entries, err := eng.History(limit)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, newHistoryView(entries))
			}
			if len(entries) == 0 {
				fmt.Fprintf(g.stdout, "No applies recorded in %s.\n", g.stateDir)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tCOMMIT\tAUTHOR\tCHANGES\tOUTCOME\tDETAIL")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"),
					termtext.Cell(shortCommit(e.Commit)), termtext.Cell(orDash(e.Author)), termtext.Cell(orDash(e.Changes)), termtext.Cell(e.Outcome), termtext.Cell(firstLine(e.Detail)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many of the newest records (0 = all)")
	return cmd
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
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
