// Package rootfs reaches the files rackctl manages beneath its --root
// without following symbolic links.
//
// rackctl runs as root, and in Racker's layout some managed directories
// belong to an unprivileged user (/home/core is core's). A link planted at a
// managed path would make a root process read or replace whatever it points
// at, so every path is resolved with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS): a link anywhere between the root and the file is
// refused with a *LinkError naming it, and ".." cannot climb out. The check
// and the use are one system call, so a link swapped in between cannot win
// a race. The root directory itself is opened normally: the operator chose
// it.
//
// One kind of link is followed: one that only root could have made — owned
// by root, in a directory owned by root that no one else may write — and
// whose target stays beneath the root (an absolute target is read relative
// to the root). Flatcar ships such links (since 3603, /usr/share/oem, where
// Racker keeps the BMC credentials and nodes.csv, links to /oem), and root
// could have put any file in their place, so following them trusts no one
// new. The link is substituted in the path and the result opened with the
// same no-links rule, so every other component is still checked.
package rootfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrLink is matched (errors.Is) by every *LinkError.
var ErrLink = errors.New("symbolic link refused")

// LinkError reports a symbolic link found on a managed path.
type LinkError struct {
	Path string // the link, as a host path
	Op   string // what rackctl was doing
}

func (e *LinkError) Error() string {
	return fmt.Sprintf("%s %s: a symbolic link someone other than root could have made; rackctl follows only links owned by root in a directory only root can write (replace it with the real file or directory)", e.Op, e.Path)
}

// Is makes errors.Is(err, ErrLink) true.
func (e *LinkError) Is(target error) bool { return target == ErrLink }

// Root is a directory beneath which paths are resolved.
type Root struct {
	dir string
}

// New returns the Root for dir (made absolute).
func New(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	}
	return &Root{dir: abs}, nil
}

// Dir is the root's absolute host path.
func (r *Root) Dir() string { return r.dir }

// HostPath is rel as a host path, for messages.
func (r *Root) HostPath(rel string) string {
	return filepath.Join(r.dir, filepath.FromSlash(rel))
}

// Rel turns a host path beneath the root into a slash path relative to it;
// ok is false when p is not beneath the root.
func (r *Root) Rel(p string) (rel string, ok bool) {
	rel, err := filepath.Rel(r.dir, filepath.Clean(p))
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// checkRel refuses paths that are absolute, unclean or climb out.
func checkRel(rel string) error {
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || !filepath.IsLocal(filepath.FromSlash(rel)) || strings.Contains(rel, "\\") {
		return fmt.Errorf("path %q: must be a clean slash path relative to the root", rel)
	}
	return nil
}

const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openat opens rel beneath the root with the given flags; "." is the root.
func (r *Root) openat(op, rel string, flags int, mode uint32) (*os.File, error) {
	if rel != "." {
		if err := checkRel(rel); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	rootFD, err := unix.Open(r.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: r.dir, Err: err}
	}
	defer unix.Close(rootFD)
	if rel == "." && flags&unix.O_PATH != 0 {
		fd, err := unix.Dup(rootFD)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: r.dir, Err: err}
		}
		return os.NewFile(uintptr(fd), r.dir), nil
	}
	fd, err := openat2(rootFD, rel, flags, mode)
	if err == unix.ELOOP || err == unix.ENOTDIR {
		// A link only root could have made is followed: substitute it
		// and open the result, again refusing any link on the way.
		resolved, rerr := r.followTrusted(rel)
		if rerr != nil {
			return nil, withOp(rerr, op)
		}
		if resolved != rel {
			rel = resolved
			fd, err = openat2(rootFD, rel, flags, mode)
		}
	}
	if err != nil {
		return nil, r.pathError(op, rel, err)
	}
	return os.NewFile(uintptr(fd), r.HostPath(rel)), nil
}

func openat2(dirFD int, rel string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat2(dirFD, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: resolve})
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
	}
}

func withOp(err error, op string) error {
	var le *LinkError
	if errors.As(err, &le) {
		return &LinkError{Op: op, Path: le.Path}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// pathError turns an openat2 failure into an error naming what was wrong:
// ELOOP from RESOLVE_NO_SYMLINKS becomes a LinkError naming the link.
func (r *Root) pathError(op, rel string, err error) error {
	// O_PATH|O_NOFOLLOW|O_DIRECTORY on a link answers ENOTDIR, not ELOOP.
	if err == unix.ELOOP || err == unix.ENOTDIR {
		if link := r.findLink(rel); link != "" {
			return &LinkError{Op: op, Path: r.HostPath(link)}
		}
		if err == unix.ELOOP {
			return &LinkError{Op: op, Path: r.HostPath(rel)}
		}
	}
	if err == unix.EXDEV {
		return fmt.Errorf("%s %s: path leaves the root %s", op, r.HostPath(rel), r.dir)
	}
	return &fs.PathError{Op: op, Path: r.HostPath(rel), Err: err}
}

// findLink returns the first component of rel that is a symbolic link. It
// is for the message only; the refusal itself came from openat2.
func (r *Root) findLink(rel string) string {
	parts := strings.Split(rel, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := os.Lstat(r.HostPath(p))
		if err != nil {
			return ""
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return p
		}
	}
	return ""
}

// Open opens rel for reading.
func (r *Root) Open(rel string) (*os.File, error) {
	return r.openat("open", rel, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
}

// ReadFile reads the regular file rel, refusing one larger than max bytes
// (max <= 0: no limit) and anything that is not a regular file.
func (r *Root) ReadFile(rel string, max int64) ([]byte, fs.FileInfo, error) {
	f, err := r.openat("read", rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("read %s: not a regular file (%s)", f.Name(), fi.Mode().Type())
	}
	if max > 0 && fi.Size() > max {
		return nil, nil, fmt.Errorf("read %s: %d bytes, more than the %d allowed", f.Name(), fi.Size(), max)
	}
	limit := max
	if limit <= 0 {
		limit = 1<<62 - 1
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if int64(len(b)) > limit {
		return nil, nil, fmt.Errorf("read %s: more than the %d bytes allowed", f.Name(), max)
	}
	return b, fi, nil
}

// Stat describes rel. A link at rel or on the way to it is refused with a
// *LinkError, so a caller never acts on what a link points at.
func (r *Root) Stat(rel string) (fs.FileInfo, error) {
	f, err := r.openat("stat", orDot(rel), unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		resolved, err := r.followTrusted(rel)
		if err != nil {
			return nil, withOp(err, "stat")
		}
		if resolved == rel {
			return nil, &LinkError{Op: "stat", Path: r.HostPath(rel)}
		}
		return r.Stat(resolved)
	}
	return fi, err
}

// Exists reports whether rel exists; a link on its path is an error.
func (r *Root) Exists(rel string) (bool, error) {
	_, err := r.Stat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// openDir opens directory rel ("" or "." is the root) as an O_PATH handle.
func (r *Root) openDir(op, rel string) (*os.File, error) {
	if rel == "" {
		rel = "."
	}
	return r.openat(op, rel, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
}

// ReadDir lists directory rel.
func (r *Root) ReadDir(rel string) ([]fs.DirEntry, error) {
	if rel == "" {
		rel = "."
	}
	f, err := r.openat("read directory", rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// ensure creates the root directory itself when it is missing (a fresh
// --root for a dry run). It is the operator's choice, so it is made the
// ordinary way.
func (r *Root) ensure() error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("root %s: %w", r.dir, err)
	}
	return nil
}

// MkdirAll creates directory rel and its missing parents with perm,
// refusing a link where a directory should be.
func (r *Root) MkdirAll(rel string, perm fs.FileMode) error {
	if rel == "" || rel == "." {
		return nil
	}
	if err := checkRel(rel); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	if err := r.ensure(); err != nil {
		return err
	}
	parts := strings.Split(rel, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		d, err := r.openDir("mkdir", sub)
		if err == nil {
			d.Close()
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		parent, err := r.openDir("mkdir", strings.Join(parts[:i], "/"))
		if err != nil {
			return err
		}
		err = unix.Mkdirat(int(parent.Fd()), parts[i], uint32(perm.Perm()))
		parent.Close()
		if err != nil && err != unix.EEXIST {
			return &fs.PathError{Op: "mkdir", Path: r.HostPath(sub), Err: err}
		}
		if err == unix.EEXIST { // raced with another creator: it must be a directory, not a link
			if d, err := r.openDir("mkdir", sub); err != nil {
				return err
			} else {
				d.Close()
			}
		}
	}
	return nil
}

// Remove deletes the file (or empty directory) rel. A link at rel is
// removed itself, never its target; a link on the way is refused.
func (r *Root) Remove(rel string) error {
	if err := checkRel(rel); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	dir, name := path.Split(rel)
	d, err := r.openDir("remove", strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	defer d.Close()
	err = unix.Unlinkat(int(d.Fd()), name, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(int(d.Fd()), name, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: r.HostPath(rel), Err: err}
	}
	return nil
}

// maxLinks bounds the trusted links substituted in one path.
const maxLinks = 16

// followTrusted substitutes every trusted link on rel (see the package
// documentation) and returns the path it leads to; the first link that is
// not trusted is a *LinkError. Components that do not exist end the walk:
// the open that follows reports them.
func (r *Root) followTrusted(rel string) (string, error) {
	parts := strings.Split(rel, "/")
	for hops := 0; ; hops++ {
		link, i := r.firstLink(parts)
		if link == "" {
			return strings.Join(parts, "/"), nil
		}
		if hops == maxLinks {
			return "", fmt.Errorf("%s: more than %d links", r.HostPath(rel), maxLinks)
		}
		if !r.trustedLink(link) {
			return "", &LinkError{Path: r.HostPath(link)}
		}
		target, err := os.Readlink(r.HostPath(link))
		if err != nil {
			return "", err
		}
		var t string
		if path.IsAbs(target) {
			t = strings.TrimPrefix(path.Clean(target), "/")
		} else {
			t = path.Join(path.Dir(link), target)
		}
		if t == "" {
			t = "."
		}
		if !filepath.IsLocal(filepath.FromSlash(t)) && t != "." {
			return "", fmt.Errorf("%s: links to %s, outside the root %s", r.HostPath(link), target, r.dir)
		}
		var next []string
		for _, p := range strings.Split(t, "/") {
			if p != "." {
				next = append(next, p)
			}
		}
		parts = append(next, parts[i+1:]...)
		if len(parts) == 0 {
			parts = []string{"."}
		}
	}
}

// firstLink returns the first prefix of parts that is a symbolic link, and
// its last component's index; "" when there is none.
func (r *Root) firstLink(parts []string) (string, int) {
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := os.Lstat(r.HostPath(p))
		if err != nil {
			return "", 0
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return p, i
		}
	}
	return "", 0
}

// trustedLink: the link at rel is owned by root and sits in a directory
// owned by root that neither group nor others may write, so no one but
// root could have made or replaced it.
func (r *Root) trustedLink(rel string) bool {
	owner := func(p string) (uid uint32, mode fs.FileMode, ok bool) {
		fi, err := os.Lstat(p)
		if err != nil {
			return 0, 0, false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		return st.Uid, fi.Mode(), ok
	}
	linkUID, _, ok := owner(r.HostPath(rel))
	if !ok || linkUID != 0 {
		return false
	}
	dirUID, dirMode, ok := owner(filepath.Dir(r.HostPath(rel)))
	return ok && dirUID == 0 && dirMode.IsDir() && dirMode.Perm()&0o022 == 0
}
