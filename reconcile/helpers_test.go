package reconcile

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/rackctl/rackctl/render"
)

const hostsBlock = "# BEGIN rackctl managed block\n10.0.0.2 node-0\n# END rackctl managed block\n"

// writeFile writes root/p, creating parents.
func writeFile(t testing.TB, root, p, content string, mode fs.FileMode) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, root, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(root, p string) bool {
	_, err := os.Stat(filepath.Join(root, filepath.FromSlash(p)))
	return !errors.Is(err, fs.ErrNotExist)
}

func whole(p, content string) render.File {
	return render.File{Path: p, Content: []byte(content), Mode: 0o644, Kind: render.Whole}
}

func block(p, content string) render.File {
	return render.File{Path: p, Content: []byte(content), Mode: 0o644, Kind: render.Block}
}

// mustPlan makes a files plan the way Build does.
func mustPlan(t testing.TB, files []render.File, root, stateDir string) *Plan {
	t.Helper()
	p, err := filePlan(files, root, stateDir)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	p.RackName, p.SpecHash = "rack-a", "sha256:test"
	return p
}

func mustApply(t testing.TB, p *Plan, root, stateDir string, execs ...Executor) Result {
	t.Helper()
	res, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: stateDir, Executors: execs})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func addresses(cs []Change) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, string(c.Action)+" "+c.Address)
	}
	return out
}

// fakeExecutor records the changes it is given and fails with err.
type fakeExecutor struct {
	layer Layer
	err   error
	calls []string
}

func (f *fakeExecutor) Layer() Layer { return f.layer }

func (f *fakeExecutor) Apply(ctx context.Context, c Change) error {
	f.calls = append(f.calls, c.Address)
	return f.err
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
