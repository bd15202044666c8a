package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/state"
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
			rack, err := g.loadSpec()
			if err != nil {
				return err
			}
			prev, err := state.New(g.stateDir).LoadAllocation()
			if err != nil {
				return err
			}
			_, addrs, _, err := ipam.Allocate(rack, prev)
			if err != nil {
				return err
			}
			files, err := render.Render(render.Input{Rack: rack, Addrs: addrs, Layout: g.layout()})
			if err != nil {
				return err
			}
			out, err := rootfs.New(outDir)
			if err != nil {
				return fmt.Errorf("render: %w", err)
			}
			// Refuse a link anywhere in the tree before writing anything, so
			// a refused render leaves no half-written tree either.
			for _, f := range files {
				if _, err := out.Stat(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("render: %w", err)
				}
			}
			for _, f := range files {
				content := f.Content
				if f.Kind == render.Block {
					content = render.MergeBlock(nil, f.Content)
				}
				if err := writeRendered(out, f.Path, content, f.Mode); err != nil {
					return err
				}
			}
			fmt.Fprintf(g.stdout, "Rendered %d files under %s.\n", len(files), outDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&outDir, "out", "", "directory to write the rendered tree into")
	return cmd
}

// writeRendered writes rel beneath out (--out) without following links:
// a link planted in the output tree is refused, named, and its target is
// neither read nor replaced.
func writeRendered(out *rootfs.Root, rel string, content []byte, mode os.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	if err := out.WriteFile(rel, content, mode); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}
