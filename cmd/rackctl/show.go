package main

import (
	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/engine"
)

func newShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show PLANFILE",
		Short: "Show a saved plan, as plan shows it",
		Long: `show reads a plan saved with 'rackctl plan -out FILE' and prints it: the
human view, or with -o json the documented JSON view (docs/json.md), the
same that 'plan -o json' prints. The saved file itself is rackctl's own
format, not meant for scripts. Nothing is read but the file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := engine.ReadPlanFile(args[0])
			if err != nil {
				return err
			}
			return g.showPlan(p)
		},
	}
}
