package schema

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, and returns either a Rack or Errors whose
// every diagnostic has a position.
func FuzzParse(f *testing.F) {
	for _, pat := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml"} {
		files, err := filepath.Glob(pat)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := Parse("rack.yaml", src)
		if err == nil {
			if r == nil {
				t.Fatal("nil Rack without error")
			}
			return
		}
		if r != nil {
			t.Fatal("Rack and error both returned")
		}
		var errs Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error is %T, want Errors: %v", err, err)
		}
		if len(errs) == 0 {
			t.Fatal("empty Errors")
		}
		for _, d := range errs {
			if d.Line < 1 || d.Col < 1 || d.File != "rack.yaml" || d.Message == "" {
				t.Fatalf("bad diagnostic %+v", d)
			}
		}
	})
}
