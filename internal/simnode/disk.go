package simnode

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/ignition/v2/config/v3_4/types"
	"github.com/vincent-petithory/dataurl"
	"golang.org/x/crypto/ssh"
)

// ErrDiskDead is wrapped by every disk operation of a node whose disk died
// (Knobs.DiskDead).
var ErrDiskDead = errors.New("disk I/O error")

// Paths inside the node's root file system.
const (
	FirstBootPath   = "/boot/flatcar/first_boot"
	OEMConfigPath   = "/usr/share/oem/config.ign"
	OEMGrubPath     = "/usr/share/oem/grub.cfg"
	HostKeyPath     = "/etc/ssh/ssh_host_ed25519_key"
	HostnamePath    = "/etc/hostname"
	NetworkUnitsDir = "/etc/systemd/network"
	UnitsDir        = "/etc/systemd/system"
	// InstallGenerationPath holds how many installs the disk has seen,
	// this one included: tests tell a reinstall from a reboot by it (a
	// real disk shows the same as a new machine-id and host key).
	InstallGenerationPath = "/etc/simnode/install-generation"
)

// disk is a node's disk directory: root/ is its root file system;
// "installed" (written last by an install) says an OS is on it;
// "generation" counts the installs, outside root/ so a wipe keeps it;
// cache/ holds configs for the stale-config knob. Only root/ is reachable
// over SSH.
type disk struct {
	dir  string
	dead func() bool
}

func (d *disk) rootDir() string         { return filepath.Join(d.dir, "root") }
func (d *disk) installedMarker() string { return filepath.Join(d.dir, "installed") }
func (d *disk) generationFile() string  { return filepath.Join(d.dir, "generation") }

// generation is the number of installs the disk has completed (0: none).
func (d *disk) generation() (int, error) {
	b, err := os.ReadFile(d.generationFile())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("disk: install generation: %w", err)
	}
	g, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || g < 0 {
		return 0, fmt.Errorf("disk: install generation %q: not a count", strings.TrimSpace(string(b)))
	}
	return g, nil
}

func (d *disk) init() error {
	for _, p := range []string{d.rootDir(), filepath.Join(d.dir, "cache")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
	}
	return nil
}

func (d *disk) check() error {
	if d.dead() {
		return ErrDiskDead
	}
	return nil
}

// root opens the root file system; every access through it stays inside
// (os.Root refuses "..", absolute links and links leading out).
func (d *disk) root() (*os.Root, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(d.rootDir())
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	return r, nil
}

// rel turns a node path ("/etc/hostname") into one relative to the root;
// "" for the root itself.
func rel(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

func (d *disk) installed() bool {
	if d.dead() {
		return false
	}
	_, err := os.Stat(d.installedMarker())
	return err == nil
}

func (d *disk) cached(name string) ([]byte, bool) {
	b, err := os.ReadFile(filepath.Join(d.dir, "cache", name))
	return b, err == nil
}

func (d *disk) cache(name string, b []byte) {
	os.WriteFile(filepath.Join(d.dir, "cache", name), b, 0o600)
}

// install is flatcar-install: the disk is wiped, the final config goes to
// the OEM partition (config.ign), the first-boot flag is set and the host
// key generated; the marker is written last.
func (d *disk) install(final []byte) error {
	if err := d.check(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	os.Remove(d.installedMarker())
	if err := os.RemoveAll(d.rootDir()); err != nil {
		return fmt.Errorf("install: wipe disk: %w", err)
	}
	if err := d.init(); err != nil {
		return err
	}
	r, err := d.root()
	if err != nil {
		return err
	}
	defer r.Close()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("install: host key: %w", err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return fmt.Errorf("install: host key: %w", err)
	}
	gen, err := d.generation()
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	genLine := []byte(strconv.Itoa(gen+1) + "\n")
	for p, c := range map[string][]byte{
		OEMConfigPath: final, FirstBootPath: nil, HostKeyPath: pem.EncodeToMemory(blk),
		InstallGenerationPath: genLine,
	} {
		if err := writeFile(r, p, c, 0o600); err != nil {
			return fmt.Errorf("install: %w", err)
		}
	}
	if err := os.WriteFile(d.generationFile(), genLine, 0o644); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	stamp := time.Now().UTC().Format(time.RFC3339) + "\n"
	if err := os.WriteFile(d.installedMarker(), []byte(stamp), 0o644); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}

func writeFile(r *os.Root, p string, content []byte, mode fs.FileMode) error {
	rp := rel(p)
	if rp == "" {
		return fmt.Errorf("write %s: is the root", p)
	}
	if dir := path.Dir(rp); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	// A link at p would redirect the write: replace it, as Ignition does.
	if fi, err := r.Lstat(rp); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		r.Remove(rp)
	}
	if err := r.WriteFile(rp, content, mode); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return r.Chmod(rp, mode)
}

// source reads an Ignition resource: a data URL, or http(s) through fetch.
type fetcher func(u string) ([]byte, error)

func readResource(res types.Resource, get fetcher) ([]byte, error) {
	if res.Source == nil {
		return nil, nil
	}
	src := *res.Source
	var b []byte
	if strings.HasPrefix(src, "data:") {
		du, err := dataurl.DecodeString(src)
		if err != nil {
			return nil, fmt.Errorf("data URL: %w", err)
		}
		b = du.Data
	} else {
		var err error
		if b, err = get(src); err != nil {
			return nil, err
		}
	}
	if res.Compression != nil && *res.Compression == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		if b, err = io.ReadAll(io.LimitReader(zr, maxFetch)); err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
	}
	return b, nil
}

// apply writes what cfg names into the root file system: directories,
// files, links, the users' authorized keys and the systemd units (their
// files and enablement recorded; nothing runs).
func (d *disk) apply(cfg types.Config, get fetcher) error {
	r, err := d.root()
	if err != nil {
		return fmt.Errorf("apply Ignition: %w", err)
	}
	defer r.Close()
	if err := applyStorage(r, cfg.Storage, get); err != nil {
		return err
	}
	if err := applyUsers(r, cfg.Passwd.Users); err != nil {
		return err
	}
	return applyUnits(r, cfg.Systemd.Units)
}

// applyStorage writes the directories, files (fetching their contents)
// and links.
func applyStorage(r *os.Root, st types.Storage, get fetcher) error {
	for _, dir := range st.Directories {
		mode := fs.FileMode(0o755)
		if dir.Mode != nil {
			mode = fs.FileMode(*dir.Mode) & fs.ModePerm
		}
		if rp := rel(dir.Path); rp != "" {
			if err := r.MkdirAll(rp, mode); err != nil {
				return fmt.Errorf("apply Ignition: directory %s: %w", dir.Path, err)
			}
		}
	}
	for _, f := range st.Files {
		content, err := readResource(f.Contents, get)
		if err != nil {
			return fmt.Errorf("apply Ignition: file %s: %w", f.Path, err)
		}
		for _, a := range f.Append {
			more, err := readResource(a, get)
			if err != nil {
				return fmt.Errorf("apply Ignition: file %s: append: %w", f.Path, err)
			}
			content = append(content, more...)
		}
		mode := fs.FileMode(0o644)
		if f.Mode != nil {
			mode = fs.FileMode(*f.Mode) & fs.ModePerm
		}
		if err := writeFile(r, f.Path, content, mode); err != nil {
			return fmt.Errorf("apply Ignition: %w", err)
		}
	}
	for _, l := range st.Links {
		rp := rel(l.Path)
		if rp == "" || l.Target == nil {
			continue
		}
		r.MkdirAll(path.Dir(rp), 0o755)
		r.Remove(rp)
		if err := r.Symlink(*l.Target, rp); err != nil {
			return fmt.Errorf("apply Ignition: link %s: %w", l.Path, err)
		}
	}
	return nil
}

// applyUsers writes each user's authorized keys.
func applyUsers(r *os.Root, users []types.PasswdUser) error {
	for _, u := range users {
		if len(u.SSHAuthorizedKeys) == 0 {
			continue
		}
		if strings.ContainsAny(u.Name, "/\x00") || u.Name == "" || u.Name == "." || u.Name == ".." {
			return fmt.Errorf("apply Ignition: user name %q", u.Name)
		}
		home := "/home/" + u.Name
		if u.Name == "root" {
			home = "/root"
		}
		var keys strings.Builder
		for _, k := range u.SSHAuthorizedKeys {
			keys.WriteString(string(k) + "\n")
		}
		if err := writeFile(r, home+"/.ssh/authorized_keys", []byte(keys.String()), 0o600); err != nil {
			return fmt.Errorf("apply Ignition: user %s: %w", u.Name, err)
		}
	}
	return nil
}

// applyUnits writes the units and their drop-ins and records which are
// enabled.
func applyUnits(r *os.Root, units []types.Unit) error {
	for _, u := range units {
		if strings.ContainsAny(u.Name, "/\x00") || u.Name == "" || u.Name == "." || u.Name == ".." {
			return fmt.Errorf("apply Ignition: unit name %q", u.Name)
		}
		p := UnitsDir + "/" + u.Name
		if u.Contents != nil {
			if err := writeFile(r, p, []byte(*u.Contents), 0o644); err != nil {
				return fmt.Errorf("apply Ignition: unit: %w", err)
			}
		}
		for _, di := range u.Dropins {
			if di.Contents == nil || strings.ContainsAny(di.Name, "/\x00") || di.Name == ".." {
				continue
			}
			if err := writeFile(r, p+".d/"+di.Name, []byte(*di.Contents), 0o644); err != nil {
				return fmt.Errorf("apply Ignition: unit: %w", err)
			}
		}
		if u.Enabled != nil && *u.Enabled {
			// Recorded as a plain file: enabled, never started.
			if err := writeFile(r, UnitsDir+"/multi-user.target.wants/"+u.Name, []byte(p+"\n"), 0o644); err != nil {
				return fmt.Errorf("apply Ignition: unit: %w", err)
			}
		}
	}
	return nil
}

// readFile reads a node path.
func (d *disk) readFile(p string) ([]byte, error) {
	r, err := d.root()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(rel(p))
}

func (d *disk) exists(p string) bool {
	r, err := d.root()
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = r.Stat(rel(p))
	return err == nil
}

// hostname is /etc/hostname's first line, "localhost" without one.
func (d *disk) hostname() string {
	b, err := d.readFile(HostnamePath)
	if err != nil {
		return "localhost"
	}
	h, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if h == "" {
		return "localhost"
	}
	return h
}
