package rootfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// setup makes a root with a managed tree and, outside it, a secret file that
// links planted under the root point at.
func setup(t *testing.T) (root *Root, secret string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	secret = filepath.Join(base, "shadow")
	mustWrite(t, secret, "root-only secret\n", 0o600)
	mustWrite(t, filepath.Join(dir, "etc/hosts"), "127.0.0.1 localhost\n", 0o644)
	mustWrite(t, filepath.Join(dir, "home/core/lokomotive/lokocfg.vars"), "x = 1\n", 0o644)
	r, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r, secret
}

func mustWrite(t *testing.T, p, s string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
}

func TestLinksRefused(t *testing.T) {
	tests := map[string]struct {
		plant func(t *testing.T, r *Root, secret string) // makes the link
		rel   string                                     // the managed path used
		link  string                                     // the link the error must name
	}{
		"link at the file": {
			plant: func(t *testing.T, r *Root, secret string) {
				os.Remove(r.HostPath("etc/hosts"))
				must(t, os.Symlink(secret, r.HostPath("etc/hosts")))
			},
			rel: "etc/hosts", link: "etc/hosts",
		},
		"linked managed directory": {
			plant: func(t *testing.T, r *Root, secret string) {
				must(t, os.RemoveAll(r.HostPath("home/core/lokomotive")))
				must(t, os.Symlink(filepath.Dir(secret), r.HostPath("home/core/lokomotive")))
			},
			rel: "home/core/lokomotive/shadow", link: "home/core/lokomotive",
		},
		"link inside the root to another root file": {
			plant: func(t *testing.T, r *Root, secret string) {
				os.Remove(r.HostPath("home/core/lokomotive/lokocfg.vars"))
				must(t, os.Symlink("../../../etc/hosts", r.HostPath("home/core/lokomotive/lokocfg.vars")))
			},
			rel: "home/core/lokomotive/lokocfg.vars", link: "home/core/lokomotive/lokocfg.vars",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, secret := setup(t)
			tc.plant(t, r, secret)
			want := r.HostPath(tc.link)
			check := func(op string, err error) {
				t.Helper()
				var le *LinkError
				if !errors.As(err, &le) || !errors.Is(err, ErrLink) {
					t.Fatalf("%s: err = %v, want a LinkError", op, err)
				}
				if le.Path != want || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %q does not name the link %s", op, err, want)
				}
			}
			_, _, err := r.ReadFile(tc.rel, 0)
			check("read", err)
			_, err = r.Stat(tc.rel)
			check("stat", err)
			check("write", r.WriteFile(tc.rel, []byte("overwritten\n"), 0o644))
			b, err := os.ReadFile(secret)
			if err != nil || string(b) != "root-only secret\n" {
				t.Errorf("secret changed: %q %v", b, err)
			}
			fi, _ := os.Stat(secret)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("secret mode changed to %v", fi.Mode())
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPathsLeavingTheRootRefused(t *testing.T) {
	r, _ := setup(t)
	for _, rel := range []string{"../shadow", "/etc/hosts", "etc/../../shadow", "etc//hosts", ""} {
		if _, _, err := r.ReadFile(rel, 0); err == nil {
			t.Errorf("ReadFile(%q) succeeded", rel)
		}
		if err := r.WriteFile(rel, nil, 0o644); err == nil {
			t.Errorf("WriteFile(%q) succeeded", rel)
		}
	}
}

func TestWriteFileKeepsOwnerAndCreatesParents(t *testing.T) {
	r, _ := setup(t)
	p := r.HostPath("home/core/lokomotive/lokocfg.vars")
	must(t, os.Chown(p, 1000, 1000))
	must(t, r.WriteFile("home/core/lokomotive/lokocfg.vars", []byte("x = 2\n"), 0o640))
	fi, err := os.Stat(p)
	must(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	if os.Geteuid() == 0 && (st.Uid != 1000 || st.Gid != 1000) {
		t.Errorf("owner %d:%d, want 1000:1000 kept", st.Uid, st.Gid)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode())
	}
	must(t, r.WriteFile("a/b/c.txt", []byte("new"), 0o600))
	b, _, err := r.ReadFile("a/b/c.txt", 0)
	if err != nil || string(b) != "new" {
		t.Fatalf("read back %q %v", b, err)
	}
	if left := r.Leftovers("a/b/c.txt"); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestReadFileLimits(t *testing.T) {
	r, _ := setup(t)
	mustWrite(t, r.HostPath("big"), strings.Repeat("x", 100), 0o644)
	if _, _, err := r.ReadFile("big", 99); err == nil || !strings.Contains(err.Error(), "99") {
		t.Errorf("100-byte file under a 99-byte limit: %v", err)
	}
	if _, _, err := r.ReadFile("big", 100); err != nil {
		t.Errorf("100-byte file under a 100-byte limit: %v", err)
	}
	must(t, syscall.Mkfifo(r.HostPath("fifo"), 0o600))
	if _, _, err := r.ReadFile("fifo", 0); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo: %v", err)
	}
}

func TestRemoveRemovesTheLinkNotItsTarget(t *testing.T) {
	r, secret := setup(t)
	must(t, os.Symlink(secret, r.HostPath("etc/flag")))
	must(t, r.Remove("etc/flag"))
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("target gone: %v", err)
	}
	if _, err := os.Lstat(r.HostPath("etc/flag")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link still there: %v", err)
	}
}

func TestMkdirAllRefusesLinkedParent(t *testing.T) {
	r, secret := setup(t)
	must(t, os.Symlink(filepath.Dir(secret), r.HostPath("var")))
	err := r.MkdirAll("var/lib/rackctl", 0o755)
	if !errors.Is(err, ErrLink) {
		t.Fatalf("err = %v, want a LinkError", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(secret), "lib")); err == nil {
		t.Error("directory created through the link")
	}
}

// TestWriteFileCreatesMissingRoot: a fresh --root for a dry run is made.
func TestWriteFileCreatesMissingRoot(t *testing.T) {
	r, err := New(filepath.Join(t.TempDir(), "fresh", "root"))
	must(t, err)
	must(t, r.WriteFile("etc/hosts", []byte("x\n"), 0o644))
	if b, err := os.ReadFile(r.HostPath("etc/hosts")); err != nil || string(b) != "x\n" {
		t.Fatalf("read back %q %v", b, err)
	}
}
