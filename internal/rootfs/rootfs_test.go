package rootfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rackctl/rackctl/internal/testenv"
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
				testenv.PlantLink(t, secret, r.HostPath("etc/hosts"))
			},
			rel: "etc/hosts", link: "etc/hosts",
		},
		"linked managed directory": {
			plant: func(t *testing.T, r *Root, secret string) {
				must(t, os.RemoveAll(r.HostPath("home/core/lokomotive")))
				testenv.PlantLink(t, filepath.Dir(secret), r.HostPath("home/core/lokomotive"))
			},
			rel: "home/core/lokomotive/shadow", link: "home/core/lokomotive",
		},
		"link inside the root to another root file": {
			plant: func(t *testing.T, r *Root, secret string) {
				os.Remove(r.HostPath("home/core/lokomotive/lokocfg.vars"))
				testenv.PlantLink(t, "../../../etc/hosts", r.HostPath("home/core/lokomotive/lokocfg.vars"))
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
	testenv.PlantLink(t, secret, r.HostPath("etc/flag"))
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
	testenv.PlantLink(t, filepath.Dir(secret), r.HostPath("var"))
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

// TestTrustedLinksFollowed: a link only root could have made — owned by
// root, in a directory only root can write — is followed, its absolute
// target read beneath the root, as Flatcar's /usr/share/oem -> /oem must be
// (Racker keeps the BMC credentials there). Any other link is refused.
func TestTrustedLinksFollowed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (links owned by root and by another user)")
	}
	tests := map[string]struct {
		setup   func(t *testing.T, r *Root) // after the root-made link usr/share/oem -> /oem
		trusted bool
	}{
		"root's link in root's directory": {setup: func(*testing.T, *Root) {}, trusted: true},
		"link owned by another user": {setup: func(t *testing.T, r *Root) {
			must(t, os.Lchown(r.HostPath("usr/share/oem"), testenv.UntrustedUID, testenv.UntrustedUID))
		}},
		"directory owned by another user": {setup: func(t *testing.T, r *Root) {
			must(t, os.Chown(r.HostPath("usr/share"), testenv.UntrustedUID, testenv.UntrustedUID))
		}},
		"directory others may write": {setup: func(t *testing.T, r *Root) {
			must(t, os.Chmod(r.HostPath("usr/share"), 0o777))
		}},
		"directory its group may write": {setup: func(t *testing.T, r *Root) {
			must(t, os.Chmod(r.HostPath("usr/share"), 0o775))
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, _ := setup(t)
			mustWrite(t, r.HostPath("oem/ipmi_password"), "secret\n", 0o600)
			must(t, os.MkdirAll(r.HostPath("usr/share"), 0o755))
			must(t, os.Symlink("/oem", r.HostPath("usr/share/oem")))
			tc.setup(t, r)
			b, _, err := r.ReadFile("usr/share/oem/ipmi_password", 0)
			werr := r.WriteFile("usr/share/oem/ipmi_password", []byte("rotated\n"), 0o600)
			_, serr := r.Stat("usr/share/oem")
			if !tc.trusted {
				for op, err := range map[string]error{"read": err, "write": werr, "stat": serr} {
					if !errors.Is(err, ErrLink) || !strings.Contains(err.Error(), r.HostPath("usr/share/oem")) {
						t.Errorf("%s: %v, want a LinkError naming usr/share/oem", op, err)
					}
				}
				return
			}
			if err != nil || string(b) != "secret\n" {
				t.Fatalf("read through root's link: %q %v", b, err)
			}
			if werr != nil {
				t.Fatalf("write through root's link: %v", werr)
			}
			if got, _ := os.ReadFile(r.HostPath("oem/ipmi_password")); string(got) != "rotated\n" {
				t.Errorf("the link's target holds %q", got)
			}
			if fi, err := os.Lstat(r.HostPath("usr/share/oem")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("the link itself was replaced: %v %v", fi, err)
			}
			if fi, err := r.Stat("usr/share/oem"); err != nil || !fi.IsDir() {
				t.Errorf("stat through root's link: %v %v", fi, err)
			}
		})
	}
}

func TestTrustedLinkOutOfTheRootRefused(t *testing.T) {
	r, secret := setup(t)
	must(t, os.Symlink("../../"+filepath.Base(secret), r.HostPath("etc/hosts.d")))
	if _, _, err := r.ReadFile("etc/hosts.d", 0); err == nil || !strings.Contains(err.Error(), "outside the root") {
		t.Errorf("root's link climbing out: %v", err)
	}
}
