package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rackctl/rackctl/config"
	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/racker"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/state"
)

// RenderTree writes every file apply would manage for r beneath outDir,
// with the paths apply uses beneath Root (the hosts file holds only the
// managed block), and returns how many it wrote. A link anywhere in the
// tree is refused before anything is written, so a refused render leaves
// no half-written tree either; no link is followed.
func (e *Engine) RenderTree(r *Rack, outDir string) (int, error) {
	files, err := render.Render(render.Input{Rack: r.Spec, Addrs: r.addrs, Layout: e.Layout()})
	if err != nil {
		return 0, err
	}
	out, err := rootfs.New(outDir)
	if err != nil {
		return 0, fmt.Errorf("render: %w", err)
	}
	for _, f := range files {
		if _, err := out.Stat(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("render: %w", err)
		}
	}
	for _, f := range files {
		content, mode := f.Content, f.Mode
		if f.Kind == render.Block {
			content = render.MergeBlock(nil, f.Content)
		}
		if mode == 0 {
			mode = 0o644
		}
		if err := out.WriteFile(f.Path, content, mode); err != nil {
			return 0, fmt.Errorf("render: %w", err)
		}
	}
	return len(files), nil
}

// AllocationPath is the state dir's IP allocation.
func (e *Engine) AllocationPath() string {
	return state.New(e.cfg.StateDir).File(state.AllocationFile)
}

// CheckImportTargets refuses to overwrite an existing spec or allocation
// unless force.
func (e *Engine) CheckImportTargets(specOut string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Stat(specOut); err == nil {
		return fmt.Errorf("%s exists; move it away or pass --force", specOut)
	}
	if _, err := os.Stat(e.AllocationPath()); err == nil {
		return fmt.Errorf("%s exists: this host already has a rackctl allocation; pass --force to replace it", e.AllocationPath())
	}
	return nil
}

// WriteImport writes an import's rack.yaml to specOut and its allocation
// to the state dir. It refuses a result with errors among its findings:
// a spec made from inputs that do not add up would be committed and
// applied as if they did.
func (e *Engine) WriteImport(specOut string, res *racker.Result) error {
	if res.HasErrors() {
		return errors.New("import has errors: nothing written")
	}
	if err := atomicfile.Write(specOut, res.Spec, 0o644); err != nil {
		return err
	}
	st := state.New(e.cfg.StateDir)
	if err := st.Ensure(); err != nil {
		return err
	}
	return st.SaveAllocation(res.State)
}

// ImportRacker reads what a Racker management node holds beneath Root
// (see racker.Import); nothing is written.
func (e *Engine) ImportRacker(managementMACs []string, domain string) (*racker.Result, error) {
	return racker.Import(racker.Options{Root: e.cfg.Root, Layout: e.Layout(), ManagementMACs: managementMACs, Domain: domain})
}

// WriteConfig writes the management node config src to path, or with
// path empty to its default place beneath Root, and returns where it
// wrote it. An existing file is kept unless force; beneath Root no link
// is followed.
func (e *Engine) WriteConfig(path string, src []byte, force bool) (string, error) {
	if path != "" {
		if _, err := os.Lstat(path); err == nil && !force {
			return "", fmt.Errorf("%s exists: keep it, or pass --force to overwrite it", path)
		}
		if err := os.WriteFile(path, src, 0o644); err != nil {
			return "", fmt.Errorf("write config: %w", err)
		}
		return path, nil
	}
	root, err := rootfs.New(e.cfg.Root)
	if err != nil {
		return "", err
	}
	target := root.HostPath(config.DefaultPath)
	if _, err := root.Stat(config.DefaultPath); err == nil && !force {
		return "", fmt.Errorf("%s exists: keep it, or pass --force to overwrite it", target)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("config %s: %w", target, err)
	}
	if err := root.MkdirAll(filepath.ToSlash(filepath.Dir(config.DefaultPath)), 0o755); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	if err := root.WriteFile(config.DefaultPath, src, 0o644); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return target, nil
}
