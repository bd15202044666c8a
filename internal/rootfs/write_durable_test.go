package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// TestWriteFileSyncsDirectoryAfterRename: WriteFile returns only after an
// fsync of the file's directory that ran once the file was in place under
// its name, and a write that creates directories also fsyncs the
// directories above them (their new entries). A failing directory fsync
// fails the write.
func TestWriteFileSyncsDirectoryAfterRename(t *testing.T) {
	r, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var synced []string // directories, relative to the root
	var sawFile []bool  // whether x.conf was in place at each fsync of a/b/c
	failDir := ""       // fsyncs of this directory fail
	orig := dirSync
	t.Cleanup(func() { dirSync = orig })
	dirSync = &atomicfile.DirSync{Fsync: func(fd int) error {
		p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			return err
		}
		rel, _ := r.Rel(p)
		synced = append(synced, rel)
		if rel == "a/b/c" {
			_, err := os.Stat(filepath.Join(r.Dir(), "a/b/c/x.conf"))
			sawFile = append(sawFile, err == nil)
		}
		if rel == failDir {
			return unix.EIO
		}
		return unix.Fsync(fd)
	}}

	if err := r.WriteFile("a/b/c/x.conf", []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{".", "a", "a/b", "a/b/c"} {
		if !slices.Contains(synced, dir) {
			t.Errorf("directory %q not fsynced (fsynced: %v)", dir, synced)
		}
	}
	if len(sawFile) == 0 || !sawFile[len(sawFile)-1] {
		t.Errorf("a/b/c was not fsynced after x.conf was renamed into it (%v)", sawFile)
	}

	failDir = "a/b/c"
	if err := r.WriteFile("a/b/c/y.conf", []byte("y\n"), 0o644); err == nil {
		t.Error("WriteFile succeeded though its directory's fsync failed")
	}
}
