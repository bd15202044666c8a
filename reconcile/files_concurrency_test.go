package reconcile

import (
	"testing"
)

// TestFileExecutorConcurrency: file changes at paths that do not nest run
// concurrently; a plan where one change's path is a directory of
// another's (a file replaced by a directory of files, or the reverse)
// depends on plan order and runs one change at a time.
func TestFileExecutorConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paths []string
		want  int
	}{
		{"siblings", []string{"a/b", "a/c", "d"}, fileConcurrency},
		{"similar names", []string{"x/y", "x/y-z", "x/y.d/z"}, fileConcurrency},
		{"file under a file", []string{"x/y", "x/y/z"}, 1},
		{"deep", []string{"x", "x/y/z/w"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Plan{}
			for _, rel := range tc.paths {
				p.Changes = append(p.Changes, Change{Layer: LayerFiles, Action: ActionCreate, Address: FilePrefix + rel})
			}
			e := NewFileExecutor(FileConfig{Root: t.TempDir()})
			if err := e.Prepare(p); err != nil {
				t.Fatal(err)
			}
			if got := e.Concurrency(); got != tc.want {
				t.Fatalf("Concurrency() = %d, want %d", got, tc.want)
			}
		})
	}
}
