package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJSONLines(t *testing.T) {
	type rec struct{ N int }
	path := filepath.Join(t.TempDir(), "state", "log.jsonl")
	if got, err := ReadJSONLines[rec](path); err != nil || got != nil {
		t.Fatalf("missing file: %v, %v; want no records", got, err)
	}
	for i := 1; i <= 3; i++ {
		if err := AppendJSONLine(path, rec{i}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadJSONLines[rec](path)
	if err != nil || len(got) != 3 || got[0].N != 1 || got[2].N != 3 {
		t.Fatalf("got %v, %v; want 1..3 in order", got, err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n{broken\n")
	f.Close()
	if _, err := ReadJSONLines[rec](path); err == nil || !strings.Contains(err.Error(), path+":5:") {
		t.Errorf("bad line: err = %v, want it to name %s:5", err, path)
	}
}
