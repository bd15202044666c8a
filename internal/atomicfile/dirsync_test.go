package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDirSyncCoversEveryCaller: every Sync returns only after an fsync
// that began after it was called, and concurrent callers into one
// directory share fsyncs. The fsync count comes from the test hook, the
// ordering from a clock of "fsync began" events.
func TestDirSyncCoversEveryCaller(t *testing.T) {
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var mu sync.Mutex
	var began []int // the sequence number of each fsync's start
	seq := 0
	s := DirSync{Fsync: func(fd int) error {
		mu.Lock()
		seq++
		began = append(began, seq)
		mu.Unlock()
		return unix.Fsync(fd)
	}}

	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("f%d", i)
			if err := os.WriteFile(filepath.Join(dir, "."+name), []byte(name), 0o644); err != nil {
				errs[i] = err
				return
			}
			if err := os.Rename(filepath.Join(dir, "."+name), filepath.Join(dir, name)); err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			calledAt := seq
			mu.Unlock()
			if err := s.Sync(int(d.Fd())); err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			last := seq
			mu.Unlock()
			// Some fsync numbered after calledAt must have begun and (as
			// fsyncs of one directory never overlap and Sync waits for
			// its end) finished.
			if last <= calledAt {
				errs[i] = fmt.Errorf("caller %d returned with no fsync begun after its call (%d, %d)", i, calledAt, last)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(began) == 0 || len(began) > n {
		t.Fatalf("%d fsyncs for %d callers", len(began), n)
	}
	t.Logf("%d callers, %d directory fsyncs", n, len(began))
	if len(s.dirs) != 0 {
		t.Errorf("%d directory entries left after every caller returned", len(s.dirs))
	}
}

// TestDirSyncError: a failing fsync is reported to its caller, and a
// later call fsyncs again rather than trusting the failed one.
func TestDirSyncError(t *testing.T) {
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	calls := 0
	s := DirSync{Fsync: func(fd int) error {
		calls++
		if calls == 1 {
			return unix.EIO
		}
		return unix.Fsync(fd)
	}}
	if err := s.Sync(int(d.Fd())); err != unix.EIO {
		t.Fatalf("first Sync: %v, want EIO", err)
	}
	if err := s.Sync(int(d.Fd())); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	if calls != 2 {
		t.Fatalf("%d fsyncs, want 2", calls)
	}
}

// TestDirSyncFailedFsyncCoversNobody: two callers wait for the same fsync;
// it fails: one gets the error, the other must not take the failed fsync
// as covering it and fsyncs again.
func TestDirSyncFailedFsyncCoversNobody(t *testing.T) {
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var mu sync.Mutex
	calls := 0
	s := DirSync{Fsync: func(fd int) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		switch n {
		case 1: // long enough for B and C to arrive and wait for the next one
			time.Sleep(100 * time.Millisecond)
		case 2:
			return unix.EIO
		}
		return unix.Fsync(fd)
	}}
	go s.Sync(int(d.Fd())) // A: fsync 1
	time.Sleep(20 * time.Millisecond)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs { // B and C: both need fsync 2, which fails
		wg.Go(func() { errs[i] = s.Sync(int(d.Fd())) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("errors %v, want exactly one EIO", errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Fatalf("%d fsyncs, want 3: the caller not given the error did not fsync again", calls)
	}
}
