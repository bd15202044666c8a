package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a/b/state.json")
	if err := Write(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(got) != "two" || fi.Mode().Perm() != 0o644 {
		t.Errorf("content %q mode %v, want two 0644", got, fi.Mode().Perm())
	}
	if left := Leftovers(path); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestWriteFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	os.WriteFile(target, []byte("old"), 0o644)
	os.Symlink(target, link)
	if err := Write(link, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the symlink was replaced by a file")
	}
	if got, _ := os.ReadFile(target); string(got) != "new" {
		t.Errorf("target holds %q, want new", got)
	}
}

func TestLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hosts")
	stray := filepath.Join(dir, ".hosts.rackctl-123")
	os.WriteFile(stray, nil, 0o600)
	os.WriteFile(filepath.Join(dir, ".other.rackctl-1"), nil, 0o600)
	if left := Leftovers(path); len(left) != 1 || left[0] != stray {
		t.Errorf("Leftovers = %v, want [%s]", left, stray)
	}
}

func TestWriteErrorNamesPath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o644)
	err := Write(filepath.Join(blocker, "sub/x"), []byte("x"), 0o644)
	if err == nil || !filepath.IsAbs(blocker) {
		t.Fatalf("want an error, got %v", err)
	}
}

func TestReadJSON(t *testing.T) {
	dir := t.TempDir()
	var v struct{ A int }
	if found, err := ReadJSON(filepath.Join(dir, "missing.json"), &v); found || err != nil {
		t.Errorf("missing file: found %v, err %v; want false, nil", found, err)
	}
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"A": 3}`), 0o644)
	if found, err := ReadJSON(good, &v); !found || err != nil || v.A != 3 {
		t.Errorf("good file: found %v, err %v, v %+v", found, err, v)
	}
	unknown := filepath.Join(dir, "newer.json")
	os.WriteFile(unknown, []byte(`{"A": 1, "B": 2}`), 0o644)
	if found, err := ReadJSON(unknown, &v); !found || err == nil {
		t.Errorf("unknown field: found %v, err %v; want true and an error", found, err)
	}
}
