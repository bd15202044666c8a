package reconcile

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/render"
)

func TestPlanFilesDetection(t *testing.T) {
	tests := map[string]struct {
		existing map[string]string // path -> content, mode 0644
		manifest []ManagedFile
		desired  []render.File
		want     []string // "action address"
		reasons  []string
	}{
		"create": {
			desired: []render.File{whole("a/b.conf", "x\n")},
			want:    []string{"create file:a/b.conf"},
			reasons: []string{"not present"},
		},
		"unchanged": {
			existing: map[string]string{"a.conf": "x\n"},
			desired:  []render.File{whole("a.conf", "x\n")},
			want:     []string{},
		},
		"update": {
			existing: map[string]string{"a.conf": "x\n"},
			desired:  []render.File{whole("a.conf", "y\n")},
			want:     []string{"update file:a.conf"},
			reasons:  []string{"content differs"},
		},
		"delete no longer desired": {
			existing: map[string]string{"cl/node-1.yaml": "x\n", "cl/node-0.yaml": "x\n"},
			manifest: []ManagedFile{{Path: "cl/node-0.yaml"}, {Path: "cl/node-1.yaml"}},
			desired:  []render.File{whole("cl/node-0.yaml", "x\n")},
			want:     []string{"delete file:cl/node-1.yaml"},
			reasons:  []string{"no longer in rack.yaml"},
		},
		"already deleted by the user": {
			manifest: []ManagedFile{{Path: "cl/node-1.yaml"}},
			want:     []string{},
		},
		"block created": {
			desired: []render.File{block("etc/hosts", hostsBlock)},
			want:    []string{"create file:etc/hosts"},
		},
		"block merged into existing": {
			existing: map[string]string{"etc/hosts": "127.0.0.1 localhost\n"},
			desired:  []render.File{block("etc/hosts", hostsBlock)},
			want:     []string{"update file:etc/hosts"},
			reasons:  []string{"managed block differs"},
		},
		"block unchanged": {
			existing: map[string]string{"etc/hosts": "127.0.0.1 localhost\n" + hostsBlock + "# mine\n"},
			desired:  []render.File{block("etc/hosts", hostsBlock)},
			want:     []string{},
		},
		"block no longer desired": {
			existing: map[string]string{"etc/hosts": "127.0.0.1 localhost\n" + hostsBlock},
			manifest: []ManagedFile{{Path: "etc/hosts", Block: true}},
			want:     []string{"update file:etc/hosts"},
			reasons:  []string{"managed block no longer desired"},
		},
		"same meaning, other layout": {
			existing: map[string]string{"lokocfg.vars": "macs = [\"a\",  \"b\", ]\n", "cl/n-custom.yaml": ""},
			desired:  []render.File{whole("lokocfg.vars", "# Managed\n\nmacs = [\n  \"a\",\n  \"b\",\n]\n"), whole("cl/n-custom.yaml", "{}\n")},
			want:     []string{},
		},
		"other meaning": {
			existing: map[string]string{"lokocfg.vars": "macs = [\"a\",  \"b\", ]\n"},
			desired:  []render.File{whole("lokocfg.vars", "macs = [\"a\"]\n")},
			want:     []string{"update file:lokocfg.vars"},
			reasons:  []string{"content differs"},
		},
		"sorted by address": {
			desired: []render.File{whole("z", "1"), whole("a", "1"), whole("m", "1")},
			want:    []string{"create file:a", "create file:m", "create file:z"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			for p, c := range tc.existing {
				writeFile(t, root, p, c, 0o644)
			}
			changes, observed, err := PlanFiles(tc.desired, root, Manifest{Version: 1, Files: tc.manifest})
			if err != nil {
				t.Fatal(err)
			}
			if got := addresses(changes); !slices.Equal(got, tc.want) {
				t.Fatalf("changes = %v, want %v", got, tc.want)
			}
			for i, r := range tc.reasons {
				if changes[i].Reason != r {
					t.Errorf("reason %d = %q, want %q", i, changes[i].Reason, r)
				}
			}
			for _, f := range tc.desired {
				v, ok := observed[FileKey(f.Path)]
				if !ok {
					t.Errorf("%s not observed", f.Path)
				}
				if _, there := tc.existing[f.Path]; there == (v == Absent) {
					t.Errorf("%s observed as %q", f.Path, v)
				}
			}
		})
	}
}

func TestPlanFilesModeChange(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "secret.conf", "x\n", 0o644)
	f := whole("secret.conf", "x\n")
	f.Mode = 0o600
	changes, _, err := PlanFiles([]render.File{f}, root, Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Action != ActionUpdate || changes[0].Reason != "mode 0644 -> 0600" || changes[0].Diff != "" {
		t.Fatalf("changes = %+v", changes)
	}
	mustApply(t, &Plan{FormatVersion: FormatVersion, Changes: changes}, root, t.TempDir())
	changes, _, _ = PlanFiles([]render.File{f}, root, Manifest{})
	if len(changes) != 0 {
		t.Fatalf("mode not applied: %+v", changes)
	}
}

func TestPlanFilesBadInput(t *testing.T) {
	tests := map[string][]render.File{
		"absolute":    {whole("/etc/hosts", "x")},
		"dotdot":      {whole("../etc/hosts", "x")},
		"unclean":     {whole("a//b", "x")},
		"empty":       {whole("", "x")},
		"twice":       {whole("a", "x"), whole("a", "y")},
		"a directory": {whole("dir", "x")},
	}
	for name, files := range tests {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, root, "dir/inner", "", 0o644)
			if _, _, err := PlanFiles(files, root, Manifest{}); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestDiffs(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/hosts", "127.0.0.1 localhost\n::1 localhost\n", 0o644)
	changes, _, err := PlanFiles([]render.File{block("etc/hosts", hostsBlock)}, root, Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	want := "--- a/etc/hosts\n+++ b/etc/hosts\n@@ -1,2 +1,5 @@\n 127.0.0.1 localhost\n ::1 localhost\n+# BEGIN rackctl managed block\n+10.0.0.2 node-0\n+# END rackctl managed block\n"
	if changes[0].Diff != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", changes[0].Diff, want)
	}

	var long strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&long, "line %d\n", i)
	}
	d := unifiedDiff("big", nil, []byte(long.String()), false, true)
	if n := strings.Count(d, "\n"); n != maxDiffLines+1 || !strings.HasSuffix(d, "... 803 more diff lines not shown\n") {
		t.Fatalf("long diff not cut: %d lines, ends %q", n, d[len(d)-60:])
	}
	if !strings.HasPrefix(d, "--- /dev/null\n+++ b/big\n") {
		t.Fatalf("create diff header: %q", d[:40])
	}
	bin := unifiedDiff("blob", []byte{0, 1, 2}, []byte{0xff, 0xfe}, true, true)
	if bin != "Binary file blob differs (3 -> 2 bytes)\n" {
		t.Fatalf("binary diff = %q", bin)
	}
	huge := bytes.Repeat([]byte("a\n"), maxDiffInput)
	if d := unifiedDiff("huge", huge, nil, true, false); !strings.Contains(d, "file too large") {
		t.Fatalf("huge diff = %q", d)
	}
}

// BenchmarkPlanFiles plans 1000 nodes' worth of files (3000), all on disk
// and unchanged — the steady state of a watch loop.
func BenchmarkPlanFiles(b *testing.B) {
	root := b.TempDir()
	var desired []render.File
	for i := range 1000 {
		for _, p := range []string{"cl/node-%d.yaml", "cl/node-%d-custom.yaml", "assets/node-%d.json"} {
			content := strings.Repeat(fmt.Sprintf("node %d line of configuration\n", i), 40)
			f := whole("home/core/flatcar-container-linux/"+fmt.Sprintf(p, i), content)
			writeFile(b, root, f.Path, content, 0o644)
			desired = append(desired, f)
		}
	}
	m := ManifestOf(desired)
	b.ResetTimer()
	for b.Loop() {
		changes, _, err := PlanFiles(desired, root, m)
		if err != nil || len(changes) != 0 {
			b.Fatal(err, len(changes))
		}
	}
}
