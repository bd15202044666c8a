package reconcile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// TestInputsDigest: every kind of change terraform could read under the
// directory changes the digest; .terraform/ (derived by terraform init)
// does not.
func TestInputsDigest(t *testing.T) {
	tests := map[string]struct {
		edit    func(t *testing.T, dir string)
		changed bool
	}{
		"nothing":             {edit: func(*testing.T, string) {}},
		"provider plugins":    {edit: func(t *testing.T, d string) { write(t, filepath.Join(d, ".terraform/providers/p"), "v2") }},
		"a file's content":    {edit: func(t *testing.T, d string) { write(t, filepath.Join(d, "flatcar.tf"), "x = 2\n") }, changed: true},
		"the state":           {edit: func(t *testing.T, d string) { write(t, filepath.Join(d, "terraform.tfstate"), "{}\n") }, changed: true},
		"a file added":        {edit: func(t *testing.T, d string) { write(t, filepath.Join(d, "override.tf"), "") }, changed: true},
		"a nested file added": {edit: func(t *testing.T, d string) { write(t, filepath.Join(d, "assets/aa:bb"), "") }, changed: true},
		"a file removed":      {edit: func(t *testing.T, d string) { must(t, os.Remove(filepath.Join(d, "ignition/n.ign"))) }, changed: true},
		"a mode":              {edit: func(t *testing.T, d string) { must(t, os.Chmod(filepath.Join(d, "flatcar.tf"), 0o600)) }, changed: true},
		"a file renamed": {edit: func(t *testing.T, d string) {
			must(t, os.Rename(filepath.Join(d, "ignition/n.ign"), filepath.Join(d, "ignition/m.ign")))
		}, changed: true},
		"a link's target":         {edit: func(t *testing.T, d string) { relink(t, filepath.Join(d, "link"), "elsewhere") }, changed: true},
		"a directory added":       {edit: func(t *testing.T, d string) { must(t, os.Mkdir(filepath.Join(d, "empty"), 0o755)) }, changed: true},
		".terraform removed":      {edit: func(t *testing.T, d string) { must(t, os.RemoveAll(filepath.Join(d, ".terraform"))) }, changed: true},
		".terraform beneath root": {edit: func(t *testing.T, d string) { write(t, filepath.Join(d, "ignition/.terraform/x"), "") }, changed: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			d := filepath.Join(root, "flatcar")
			write(t, filepath.Join(d, "flatcar.tf"), "x = 1\n")
			write(t, filepath.Join(d, "terraform.tfstate"), `{"version":4}`)
			write(t, filepath.Join(d, "ignition/n.ign"), "{}")
			write(t, filepath.Join(d, ".terraform/providers/p"), "v1")
			must(t, os.Symlink("target", filepath.Join(d, "link")))
			before, err := inputsDigest(root, "flatcar")
			must(t, err)
			tc.edit(t, d)
			after, err := inputsDigest(root, "flatcar")
			must(t, err)
			if (before != after) != tc.changed {
				t.Errorf("digest changed: %v, want %v", before != after, tc.changed)
			}
		})
	}
	if _, err := inputsDigest(t.TempDir(), "missing"); err == nil {
		t.Error("digest of a missing directory: no error")
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(s), 0o644))
}

func relink(t *testing.T, p, target string) {
	t.Helper()
	must(t, os.Remove(p))
	must(t, os.Symlink(target, p))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestProvisionerInputsRecord: the record that lets a plan skip terraform
// is written only by a run that left terraform nothing to do, is gone as
// soon as a run starts (so a failed run leaves none), and a plan uses it
// only while the directory is byte for byte what that run left.
func TestProvisionerInputsRecord(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.converge()
	st := state.New(e.st)
	rec, found, err := st.LoadProvisionerInputs()
	if err != nil || !found || rec.Provisioner != string(schema.Flatcar) || rec.At.IsZero() || !strings.HasPrefix(rec.Digest, "sha256:") {
		t.Fatalf("after a converged apply: record %+v found %v, %v", rec, found, err)
	}
	planned := func() (int, []string) {
		t.Helper()
		e.tf.plans = 0
		p := e.plan()
		return e.tf.plans, p.Notes
	}
	skipped := func(notes []string) bool {
		return slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "not re-planned, inputs unchanged since") })
	}
	if n, notes := planned(); n != 0 || !skipped(notes) {
		t.Fatalf("no-op plan with the record: %d terraform plans, notes %q; want 0 and the note", n, notes)
	}

	// Something terraform reads changed outside the files rackctl
	// renders: the next plan is a real one.
	tfstate := filepath.Join(e.root, render.DefaultLayout().FlatcarDir, "terraform.tfstate")
	must(t, os.WriteFile(tfstate, []byte(`{"serial":2}`), 0o644))
	if n, notes := planned(); n != 1 || skipped(notes) {
		t.Fatalf("plan after the state changed: %d terraform plans, notes %q; want 1, no skip", n, notes)
	}

	// A run that fails leaves no record, and the next plan is a real one
	// that finds terraform's work.
	e.tf.noChanges = false
	p := e.plan()
	if !slices.ContainsFunc(p.Changes, func(c Change) bool { return c.Layer == LayerProvisioner && c.Action == ActionRun }) {
		t.Fatalf("no provisioner run planned: %v", layerAddrs(p.Changes, ""))
	}
	e.tf.applyErr = errors.New("matchbox: connection refused")
	if _, err := e.apply(p); err == nil {
		t.Fatal("apply with a failing terraform: no error")
	}
	if _, found, err := st.LoadProvisionerInputs(); found || err != nil {
		t.Fatalf("after a failed run: record found %v (%v), want none", found, err)
	}
	e.tf.applyErr = nil
	if n, notes := planned(); n != 1 || skipped(notes) {
		t.Fatalf("plan after a failed run: %d terraform plans, notes %q; want 1, no skip", n, notes)
	}
	e.mustApply(e.plan())
	e.tf.noChanges = true
	if n, notes := planned(); n != 0 || !skipped(notes) {
		t.Fatalf("no-op plan after the run succeeded again: %d terraform plans, notes %q; want 0 and the note", n, notes)
	}

	// A record of another directory (a layout change) is not used.
	rec, _, err = st.LoadProvisionerInputs()
	must(t, err)
	rec.Dir = "elsewhere"
	must(t, st.SaveProvisionerInputs(rec))
	if n, _ := planned(); n != 1 {
		t.Fatalf("plan with another directory's record: %d terraform plans, want 1", n)
	}
}
