package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/rackctl/rackctl/internal/fanout"
	"github.com/rackctl/rackctl/schema"
)

// SpecName is the file of each rack: <dir>/<rack>/rack.yaml.
const SpecName = "rack.yaml"

// Rack is one rack of a fleet directory.
type Rack struct {
	Dir  string // its directory's name under the fleet directory
	File string // path of its rack.yaml
	// Spec is the validated spec with its positions; nil when invalid.
	Spec *schema.Located
}

// Fleet is every rack of a fleet directory, sorted by directory name.
type Fleet struct {
	Dir   string
	Racks []Rack
}

// Valid are the racks whose spec validated.
func (f *Fleet) Valid() []Rack {
	var out []Rack
	for _, r := range f.Racks {
		if r.Spec != nil {
			out = append(out, r)
		}
	}
	return out
}

// Load finds the racks of dir (every subdirectory holds a rack.yaml;
// files and hidden entries are ignored), validates each, then checks the
// rules between the valid ones. Every problem found is in the returned
// schema.Errors, sorted by file and position (a valid rack's warnings stay
// in its Spec); the error is for what stops the run itself (dir
// unreadable, no rack at all, a spec unreadable).
func Load(ctx context.Context, dir string) (*Fleet, schema.Errors, error) {
	names, err := rackDirs(dir)
	if err != nil {
		return nil, nil, err
	}
	f := &Fleet{Dir: dir, Racks: make([]Rack, len(names))}
	perRack := make([]schema.Errors, len(names))
	// Each spec is parsed on its own (CUE dominates): all cores at once.
	errs := fanout.Each(ctx, runtime.GOMAXPROCS(0), names, func(ctx context.Context, i int, name string) error {
		var err error
		f.Racks[i], perRack[i], err = loadRack(ctx, dir, name)
		return err
	})
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	var diags schema.Errors
	for _, d := range perRack {
		diags = append(diags, d...)
	}
	diags = append(diags, Check(f.Valid())...)
	slices.SortStableFunc(diags, compareDiagnostics)
	return f, diags, nil
}

// loadRack validates one rack; its problems are in the Errors, and the
// error is for a spec that could not be read.
func loadRack(ctx context.Context, dir, name string) (Rack, schema.Errors, error) {
	r := Rack{Dir: name, File: filepath.Join(dir, name, SpecName)}
	spec, err := schema.LoadLocated(ctx, r.File)
	var errs schema.Errors
	switch {
	case err == nil:
		r.Spec = spec
	case errors.As(err, &errs):
		return r, errs, nil
	case errors.Is(err, os.ErrNotExist):
		return r, schema.Errors{{File: r.File, Line: 1, Col: 1,
			Message: fmt.Sprintf("rack directory %s has no %s: every directory under %s is a rack", name, SpecName, dir)}}, nil
	default:
		return r, nil, fmt.Errorf("rack %s: %w", name, err)
	}
	return r, nil, nil
}

// rackDirs lists the subdirectories of dir that are racks.
func rackDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fleet directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("fleet directory %s holds no rack: want %s/<rack>/%s", dir, dir, SpecName)
	}
	return names, nil // os.ReadDir sorts by name
}

func compareDiagnostics(a, b schema.Diagnostic) int {
	switch {
	case a.File != b.File:
		return strings.Compare(a.File, b.File)
	case a.Line != b.Line:
		return a.Line - b.Line
	}
	return a.Col - b.Col
}
