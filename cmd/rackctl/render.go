package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newRenderCmd(g *globals) *cobra.Command {
	var outDir string
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Write every rendered file under a directory, touching nothing else",
		Long: `render writes the files apply would manage under --out, with the same
relative paths apply uses under --root. IP addresses come from the state
directory's allocation when it exists (it is only read), otherwise they are
allocated afresh in memory. /etc/hosts holds only rackctl's managed block.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if outDir == "" {
				return errors.New("--out is required: the directory to write the rendered tree into")
			}
			eng, r, err := g.loadRack()
			if err != nil {
				return err
			}
			n, err := eng.RenderTree(r, outDir)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Rendered %d files under %s.\n", n, outDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&outDir, "out", "", "directory to write the rendered tree into")
	return cmd
}
