package atomicfile

import (
	"sync"

	"golang.org/x/sys/unix"
)

// DirSync makes renames durable with as few directory fsyncs as the
// writers' concurrency allows (group commit). A writer renames its fsynced
// temp file into place, then calls Sync with the directory: Sync returns
// only after an fsync of that directory that began after the call, so the
// rename is on disk when it returns, as with one fsync per rename. Writers
// that arrive while an fsync of the same directory is running wait for it
// to end and share the next one: N concurrent renames into a directory
// cost about two directory fsyncs instead of N.
//
// Why this is as durable as one fsync per file: a rename is made durable by
// an fsync of its directory that starts after the rename (POSIX, and ext4 /
// xfs journal the directory inode with all its entries). Every caller's
// rename happened before its Sync call, and Sync waits for an fsync that
// starts after the call, so each rename is covered by a directory fsync
// that finished before Sync returns; the file's data was fsynced before the
// rename. A caller that records the write afterwards (a manifest, a state
// file) therefore never records a rename a crash could undo.
//
// Directories are told apart by device and inode, not by path, so two
// paths to one directory share, and a path replaced between calls does not.
// The zero DirSync is ready to use and safe for concurrent use.
type DirSync struct {
	// Fsync is unix.Fsync when nil; tests count and fail fsyncs with it.
	Fsync func(fd int) error

	mu   sync.Mutex
	dirs map[dirKey]*dirState
}

type dirKey struct{ dev, ino uint64 }

type dirState struct {
	mu      sync.Mutex
	cond    *sync.Cond
	running bool   // an fsync is in progress
	started uint64 // fsyncs begun
	done    uint64 // fsyncs ended without error
	users   int    // callers holding this entry
}

// Sync makes every rename done in the directory open as dfd before the call
// durable. It fsyncs dfd itself or waits for an fsync of the same directory
// that begins after the call. When an fsync fails, its caller gets the
// error and the callers waiting on it fsync again themselves.
func (s *DirSync) Sync(dfd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return err
	}
	k := dirKey{uint64(st.Dev), st.Ino}
	s.mu.Lock()
	if s.dirs == nil {
		s.dirs = map[dirKey]*dirState{}
	}
	d := s.dirs[k]
	if d == nil {
		d = &dirState{}
		d.cond = sync.NewCond(&d.mu)
		s.dirs[k] = d
	}
	d.users++
	s.mu.Unlock()
	defer func() {
		// Entries live only while someone waits on them: the map stays as
		// small as the writers' concurrency.
		s.mu.Lock()
		if d.users--; d.users == 0 {
			delete(s.dirs, k)
		}
		s.mu.Unlock()
	}()

	d.mu.Lock()
	defer d.mu.Unlock()
	// An fsync already running may have begun before our rename: it does
	// not count. The first fsync to begin from now on does.
	need := d.started + 1
	for {
		if d.done >= need {
			return nil
		}
		if !d.running {
			d.running = true
			d.started++
			mine := d.started
			d.mu.Unlock()
			err := s.fsync(dfd)
			d.mu.Lock()
			d.running = false
			if err == nil && mine > d.done {
				d.done = mine
			}
			d.cond.Broadcast()
			if err != nil {
				return err
			}
			continue
		}
		d.cond.Wait()
	}
}

func (s *DirSync) fsync(fd int) error {
	if s.Fsync != nil {
		return s.Fsync(fd)
	}
	return unix.Fsync(fd)
}
