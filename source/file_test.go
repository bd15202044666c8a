package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const fileWait = 3 * time.Second

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFile(t *testing.T) {
	// Every case starts with rack.yaml holding "v1" and the initial
	// revision consumed; want is the content of the single event expected
	// (""=none), wantErr an error event expected before it.
	tests := map[string]struct {
		act     func(t *testing.T, dir, path string)
		wantErr error
		want    string
	}{
		"in-place write": {
			act:  func(t *testing.T, _, p string) { writeFile(t, p, "v2") },
			want: "v2",
		},
		"editor atomic save: write temp then rename over": {
			act: func(t *testing.T, dir, p string) {
				tmp := filepath.Join(dir, ".rack.yaml.tmp123")
				writeFile(t, tmp, "v2")
				if err := os.Rename(tmp, p); err != nil {
					t.Fatal(err)
				}
			},
			want: "v2",
		},
		"vim save: rename to backup, write new, remove backup": {
			act: func(t *testing.T, dir, p string) {
				bak := p + "~"
				if err := os.Rename(p, bak); err != nil {
					t.Fatal(err)
				}
				writeFile(t, p, "v2")
				if err := os.Remove(bak); err != nil {
					t.Fatal(err)
				}
			},
			want: "v2",
		},
		"touch without change": {
			act: func(t *testing.T, _, p string) {
				now := time.Now().Add(time.Second)
				if err := os.Chtimes(p, now, now); err != nil {
					t.Fatal(err)
				}
			},
		},
		"rewrite with the same content": {
			act: func(t *testing.T, _, p string) { writeFile(t, p, "v1") },
		},
		"burst of writes gives one event": {
			act: func(t *testing.T, _, p string) {
				for i := range 10 {
					writeFile(t, p, fmt.Sprintf("burst %d", i))
					time.Sleep(20 * time.Millisecond)
				}
			},
			want: "burst 9",
		},
		"delete": {
			act:     func(t *testing.T, _, p string) { os.Remove(p) },
			wantErr: ErrSpecNotFound,
		},
		"delete then recreate with the same content": {
			act: func(t *testing.T, _, p string) {
				os.Remove(p)
				time.Sleep(600 * time.Millisecond) // longer than the debounce: the deletion is seen
				writeFile(t, p, "v1")
			},
			wantErr: ErrSpecNotFound,
			want:    "v1",
		},
		"directory removed and recreated": {
			act: func(t *testing.T, dir, p string) {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				time.Sleep(600 * time.Millisecond)
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, p, "v3")
			},
			wantErr: ErrSpecNotFound,
			want:    "v3",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "work")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "rack.yaml")
			writeFile(t, p, "v1")
			src, err := NewFile(FileConfig{Path: p, Log: testLog(t)})
			if err != nil {
				t.Fatal(err)
			}
			ch := start(t, src)
			if rev := nextRevision(t, ch, fileWait); string(rev.Spec) != "v1" {
				t.Fatalf("initial spec %q, want v1", rev.Spec)
			}

			begin := time.Now()
			tc.act(t, dir, p)
			if tc.wantErr != nil {
				ev := next(t, ch, fileWait)
				if !errors.Is(ev.Err, tc.wantErr) {
					t.Fatalf("event %+v, want error %v", ev, tc.wantErr)
				}
			}
			if tc.want != "" {
				saved := time.Now()
				rev := nextRevision(t, ch, fileWait)
				if string(rev.Spec) != tc.want {
					t.Fatalf("spec %q, want %q", rev.Spec, tc.want)
				}
				if rev.Path != p || rev.Commit == "" {
					t.Errorf("revision path %q commit %q", rev.Path, rev.Commit)
				}
				t.Logf("LATENCY file %s: save→event %s (action took %s)", name, time.Since(saved).Round(time.Millisecond), saved.Sub(begin).Round(time.Millisecond))
			}
			none(t, ch, 3*DefaultDebounce)
		})
	}
}

func TestFileMissingAtStart(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rack.yaml")
	src, err := NewFile(FileConfig{Path: p, Debounce: 50 * time.Millisecond, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ch := start(t, src)
	if ev := next(t, ch, fileWait); !errors.Is(ev.Err, ErrSpecNotFound) {
		t.Fatalf("event %+v, want ErrSpecNotFound", ev)
	}
	writeFile(t, p, "hello")
	if rev := nextRevision(t, ch, fileWait); string(rev.Spec) != "hello" {
		t.Fatalf("spec %q", rev.Spec)
	}
}

// A Kubernetes ConfigMap volume: rack.yaml -> ..data/rack.yaml, and an
// update swaps the ..data symlink, never touching rack.yaml itself.
func TestFileSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	mk := func(ver, content string) {
		d := filepath.Join(dir, ver)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, "rack.yaml"), content)
	}
	mk("..v1", "one")
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "rack.yaml")
	if err := os.Symlink("..data/rack.yaml", p); err != nil {
		t.Fatal(err)
	}
	src, err := NewFile(FileConfig{Path: p, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ch := start(t, src)
	if rev := nextRevision(t, ch, fileWait); string(rev.Spec) != "one" {
		t.Fatalf("spec %q", rev.Spec)
	}
	mk("..v2", "two")
	if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if rev := nextRevision(t, ch, fileWait); string(rev.Spec) != "two" {
		t.Fatalf("spec %q", rev.Spec)
	}
}

func TestNewFileErrors(t *testing.T) {
	tests := map[string]FileConfig{
		"empty path":        {},
		"negative debounce": {Path: "x", Debounce: -time.Second},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := NewFile(cfg); err == nil {
				t.Fatal("want error")
			}
		})
	}
}
