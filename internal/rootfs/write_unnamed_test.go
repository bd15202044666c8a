package rootfs

import (
	"os"
	"syscall"
	"testing"
)

// TestLinkUnnamed: on this machine's file system a file is written without
// a name (O_TMPFILE) and linked into place — new, and over an existing
// file through a temp name — with its data, mode and owner, and no temp
// name left behind. The rename path must not be taken silently: if
// O_TMPFILE or the /proc link is missing here, the test fails.
func TestLinkUnnamed(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	must(t, err)
	defer d.Close()
	dfd := int(d.Fd())
	t.Cleanup(func() { unnamedOff.Store(false) })

	if err := linkUnnamed(dfd, "new.conf", []byte("new\n"), 0o640, -1, -1); err != nil {
		t.Fatalf("linkUnnamed of a new file: %v (O_TMPFILE and /proc/self/fd are needed for the fast path)", err)
	}
	mustWrite(t, dir+"/old.conf", "old\n", 0o644)
	if os.Geteuid() == 0 {
		must(t, os.Chown(dir+"/old.conf", 1000, 1000))
	}
	if err := linkUnnamed(dfd, "old.conf", []byte("replaced\n"), 0o600, 1000, 1000); err != nil {
		t.Fatalf("linkUnnamed over an existing file: %v", err)
	}
	// A write's own failure (here a closed directory descriptor) is its
	// error, not a reason to give up the fast path for every later write.
	if err := linkUnnamed(-1, "x.conf", []byte("x\n"), 0o644, -1, -1); err == nil || err == errNoUnnamed {
		t.Errorf("linkUnnamed in no directory: %v, want its own error", err)
	}
	if unnamedOff.Load() {
		t.Fatal("the unnamed path switched itself off on this machine")
	}
	checkFile(t, dir+"/new.conf", "new\n", 0o640, -1)
	checkFile(t, dir+"/old.conf", "replaced\n", 0o600, 1000)
	entries, err := os.ReadDir(dir)
	must(t, err)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want new.conf and old.conf alone: %v", len(entries), entries)
	}
}

// TestWriteFileBothPaths: WriteFile creates and replaces files the same
// way whether the unnamed path or the rename path does the work (the
// latter where O_TMPFILE is missing), keeping the owner of a replaced file.
func TestWriteFileBothPaths(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(map[bool]string{false: "unnamed", true: "rename"}[off], func(t *testing.T) {
			unnamedOff.Store(off)
			t.Cleanup(func() { unnamedOff.Store(false) })
			r, _ := setup(t)
			p := r.HostPath("home/core/lokomotive/lokocfg.vars")
			if os.Geteuid() == 0 {
				must(t, os.Chown(p, 1000, 1000))
			}
			must(t, r.WriteFile("home/core/lokomotive/lokocfg.vars", []byte("x = 2\n"), 0o640))
			must(t, r.WriteFile("a/b/c.txt", []byte("new"), 0o600))
			checkFile(t, p, "x = 2\n", 0o640, 1000)
			checkFile(t, r.HostPath("a/b/c.txt"), "new", 0o600, -1)
			for _, rel := range []string{"home/core/lokomotive/lokocfg.vars", "a/b/c.txt"} {
				if left := r.Leftovers(rel); len(left) != 0 {
					t.Errorf("%s: temp files left: %v", rel, left)
				}
			}
			if unnamedOff.Load() != off {
				t.Errorf("unnamed path off = %v after the writes, want %v", unnamedOff.Load(), off)
			}
		})
	}
}

// checkFile checks p's content and mode, and its owner when uid >= 0 and
// the test runs as root (who alone can give files away).
func checkFile(t *testing.T, p, want string, mode os.FileMode, uid int) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil || string(b) != want {
		t.Errorf("%s: %q, %v; want %q", p, b, err, want)
	}
	fi, err := os.Stat(p)
	must(t, err)
	if fi.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), mode)
	}
	if st := fi.Sys().(*syscall.Stat_t); uid >= 0 && os.Geteuid() == 0 && int(st.Uid) != uid {
		t.Errorf("%s: owner %d, want %d kept", p, st.Uid, uid)
	}
}
