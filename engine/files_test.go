package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/racker"
)

// TestWriteImport: an import with an error among its findings writes
// neither the spec nor the allocation; a clean one writes both, and a
// second import is refused unless forced.
func TestWriteImport(t *testing.T) {
	e, err := New(Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(t.TempDir(), "rack.yaml")
	bad := &racker.Result{Spec: []byte("name: x\n"), Findings: []racker.Finding{{Severity: racker.SeverityError, Message: "MAC twice"}}}
	if err := e.WriteImport(spec, bad); err == nil {
		t.Error("an import with errors was written")
	}
	for _, p := range []string{spec, e.AllocationPath()} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after a refused import: %v, want none", p, err)
		}
	}

	good := &racker.Result{Spec: []byte("name: x\n"), State: ipam.State{}}
	if err := e.CheckImportTargets(spec, false); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteImport(spec, good); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{spec, e.AllocationPath()} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s not written: %v", p, err)
		}
	}
	if err := e.CheckImportTargets(spec, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second import: %v, want a refusal pointing at --force", err)
	}
	if err := os.Remove(spec); err != nil {
		t.Fatal(err)
	}
	if err := e.CheckImportTargets(spec, false); err == nil || !strings.Contains(err.Error(), "allocation") {
		t.Errorf("import over an existing allocation: %v, want a refusal naming it", err)
	}
	if err := e.CheckImportTargets(spec, true); err != nil {
		t.Errorf("forced import refused: %v", err)
	}
}

// TestWriteConfigKeepsExisting: init's config is written once; an
// existing file, beneath Root or named, is kept unless forced.
func TestWriteConfigKeepsExisting(t *testing.T) {
	e, err := New(Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	named := filepath.Join(t.TempDir(), "config.yaml")
	for _, path := range []string{"", named} {
		target, err := e.WriteConfig(path, []byte("a: 1\n"), false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.WriteConfig(path, []byte("a: 2\n"), false); err == nil || !strings.Contains(err.Error(), "--force") {
			t.Errorf("overwrite of %s: %v, want a refusal pointing at --force", target, err)
		}
		if b, _ := os.ReadFile(target); string(b) != "a: 1\n" {
			t.Errorf("%s = %q after a refused overwrite", target, b)
		}
		if _, err := e.WriteConfig(path, []byte("a: 3\n"), true); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(target); string(b) != "a: 3\n" {
			t.Errorf("%s = %q after a forced overwrite", target, b)
		}
	}
}
