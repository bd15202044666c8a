package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/render"
)

// Config is everything an Engine needs; the zero value of each optional
// field is usable.
type Config struct {
	// SpecFile is the spec's path: relative paths the spec names (credential
	// files) are beneath its directory, and errors name it.
	SpecFile string
	// Root is the host root every managed path is relative to.
	Root string
	// StateDir is the state directory (default <Root>/var/lib/rackctl).
	StateDir string
	// Timeout bounds each BMC, DHCP and cluster call.
	Timeout time.Duration
	// Parallel bounds how many BMCs are talked to at once.
	Parallel int
	// Kubeconfig of the cluster; empty means Lokomotive's assets
	// kubeconfig under Root, else $KUBECONFIG.
	Kubeconfig string
	// Drivers select and configure the layers after files.
	Drivers DriverConfig
	// Output receives the output lines of terraform, lokoctl and the
	// credential rotation; nil discards them.
	Output io.Writer
	// Human receives progress only a person watching wants (verify waits
	// for nodes); nil discards it.
	Human io.Writer
	// BeforePhase, when set, runs at the start of every apply phase (a
	// test hook).
	BeforePhase func(context.Context, reconcile.Layer)
	Log         *slog.Logger
}

// Engine plans, applies, reports status and history and rotates
// credentials for the racks its Config describes the host of.
type Engine struct {
	cfg Config
	log *slog.Logger
	// openBMCHook, set by tests, replaces the BMC drivers.
	openBMCHook func(bmc.Config) (BMCClient, error)
	// kept holds the BMC drivers of a watch loop's engine.
	kept keptBMC
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Engine, error) {
	if cfg.Root == "" {
		return nil, errors.New("engine: no root directory (--root)")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(cfg.Root, "var/lib/rackctl")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = bmc.DefaultParallel
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	if cfg.Human == nil {
		cfg.Human = io.Discard
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg, log: log}, nil
}

// Config returns the effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Layout is where the managed files live beneath Root.
func (e *Engine) Layout() render.Layout { return render.DefaultLayout() }

// HostPath maps a path from the spec to the host: absolute paths live
// under Root, relative ones next to the spec file. An absolute path is
// cleaned as if Root were "/" (a chroot), so "/../x" is <Root>/x, never
// outside.
func (e *Engine) HostPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Join(e.cfg.Root, filepath.Clean("/"+p))
	}
	return filepath.Join(filepath.Dir(e.cfg.SpecFile), p)
}

// secretFile places a credential file the spec names in field: an absolute
// path beneath Root, a relative one beneath the spec file's directory.
// A path that climbs out of that directory is refused, and the file is
// read without following links (bmc.SecretFile), so no spec can make
// rackctl read — and then quote — a file outside it.
func (e *Engine) secretFile(field, p string) (bmc.SecretFile, error) {
	base, rel, where := filepath.Dir(e.cfg.SpecFile), p, "the spec file's directory"
	if filepath.IsAbs(p) {
		base, rel, where = e.cfg.Root, strings.TrimLeft(p, "/"), "--root"
	}
	rel = path.Clean(filepath.ToSlash(rel))
	if p == "" || !filepath.IsLocal(filepath.FromSlash(rel)) {
		return bmc.SecretFile{}, fmt.Errorf("%s %q in %s: leaves %s; credential files are read beneath it only (name the file without \"..\")", field, p, e.cfg.SpecFile, where)
	}
	root, err := rootfs.New(base)
	if err != nil {
		return bmc.SecretFile{}, fmt.Errorf("%s: %w", field, err)
	}
	return bmc.SecretFile{Root: root, Rel: rel, Field: field, Name: p}, nil
}

// credentials are the BMC credentials in force: RACKCTL_BMC_* when set,
// else the spec's credential files.
func (e *Engine) credentials(userFile, passwordFile string) (bmc.Credentials, error) {
	if os.Getenv(bmc.EnvPassword) != "" {
		return bmc.CredentialsFromEnv()
	}
	hint := fmt.Sprintf("(bmc.userFile/bmc.passwordFile in %s, or set %s and %s)", e.cfg.SpecFile, bmc.EnvUser, bmc.EnvPassword)
	user, err := e.secretFile("bmc.userFile", userFile)
	if err != nil {
		return bmc.Credentials{}, fmt.Errorf("%w %s", err, hint)
	}
	pass, err := e.secretFile("bmc.passwordFile", passwordFile)
	if err != nil {
		return bmc.Credentials{}, fmt.Errorf("%w %s", err, hint)
	}
	c, err := bmc.ReadCredentialsFrom(user, pass)
	if err != nil {
		return bmc.Credentials{}, fmt.Errorf("%w %s", err, hint)
	}
	return c, nil
}

// kubeconfig is Config.Kubeconfig, or Lokomotive's assets kubeconfig under
// Root when it exists, or $KUBECONFIG.
func (e *Engine) kubeconfig() string {
	if e.cfg.Kubeconfig != "" {
		return e.cfg.Kubeconfig
	}
	return cluster.DefaultKubeconfig(e.cfg.Root, e.Layout().LokomotiveDir)
}

// ClusterClient is a client of the rack's Kubernetes API.
func (e *Engine) ClusterClient() (*cluster.Client, error) {
	kc := e.kubeconfig()
	if kc == "" {
		return nil, fmt.Errorf("%w: pass --kubeconfig or set KUBECONFIG", cluster.ErrNoKubeconfig)
	}
	return cluster.New(cluster.Config{Kubeconfig: kc, Timeout: e.cfg.Timeout, Log: e.log})
}
