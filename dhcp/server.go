package dhcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rackctl/rackctl/internal/childenv"
	"github.com/rackctl/rackctl/internal/macaddr"
	"github.com/rackctl/rackctl/internal/rootfs"
)

// Defaults match a Racker management node.
const (
	DefaultConfPath = "/opt/racker-state/dnsmasq/dnsmasq.conf"
	// DefaultLeasePath is dnsmasq's compiled-in lease file (Debian, Alpine).
	// On a Racker node dnsmasq runs in a container and this path is inside
	// it; see the package documentation.
	DefaultLeasePath   = "/var/lib/misc/dnsmasq.leases"
	DefaultTimeout     = 30 * time.Second
	DefaultReleaseWait = 5 * time.Second
)

// DefaultReloadCmd restarts dnsmasq as Racker's systemd unit runs it. A
// restart, not SIGHUP: SIGHUP rereads hosts files but not the main config.
func DefaultReloadCmd() []string { return []string{"systemctl", "restart", "dnsmasq.service"} }

// ErrNotReleased means dnsmasq still lists a lease after dhcp_release
// (wrong interface or network namespace, or a different dnsmasq).
var ErrNotReleased = errors.New("lease still present after dhcp_release")

// Config configures a Server. Zero fields take the defaults.
type Config struct {
	ConfPath string // live dnsmasq config; DefaultConfPath
	// Root is the directory ConfPath lies beneath ("/" when empty): Install
	// resolves ConfPath from it without following links, so a link planted
	// on the way cannot redirect the write (or the read) elsewhere.
	Root      string
	LeasePath string // dnsmasq's lease file; DefaultLeasePath
	// Interface is the interface dnsmasq serves DHCP on; Release needs it.
	Interface string
	// ReloadCmd makes dnsmasq load a changed config; run via exec, no
	// shell. DefaultReloadCmd when nil.
	ReloadCmd []string
	// DnsmasqCmd runs dnsmasq for the syntax check; "--test
	// --conf-file=FILE" is appended. {"dnsmasq"} when nil.
	DnsmasqCmd []string
	// ReleaseCmd is dhcp_release (Debian package dnsmasq-utils); the
	// interface, address, MAC and client id are appended. {"dhcp_release"}
	// when nil.
	ReleaseCmd []string
	// ExecPrefix is put before ReleaseCmd so it runs where dnsmasq's
	// interface is, for example {"ip", "netns", "exec", "NS"} or
	// {"docker", "exec", "dnsmasq"}.
	ExecPrefix []string
	// Timeout bounds each command run (check, reload, release);
	// DefaultTimeout when zero.
	Timeout time.Duration
	// PassEnv names variables of rackctl's environment the commands get
	// besides childenv.DHCP's; rackctl's secrets never pass.
	PassEnv []string
	// ReleaseWait is how long Release waits for the lease to leave the
	// lease file; DefaultReleaseWait when zero.
	ReleaseWait time.Duration
	Log         *slog.Logger // discarded when nil
}

// Server manages one dnsmasq instance: its config file, reload and leases.
// Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	mu  sync.Mutex // serializes Install
}

// New returns a Server for cfg with defaults filled in.
func New(cfg Config) *Server {
	if cfg.ConfPath == "" {
		cfg.ConfPath = DefaultConfPath
	}
	if cfg.LeasePath == "" {
		cfg.LeasePath = DefaultLeasePath
	}
	if cfg.ReloadCmd == nil {
		cfg.ReloadCmd = DefaultReloadCmd()
	}
	if cfg.DnsmasqCmd == nil {
		cfg.DnsmasqCmd = []string{"dnsmasq"}
	}
	if cfg.ReleaseCmd == nil {
		cfg.ReleaseCmd = []string{"dhcp_release"}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ReleaseWait <= 0 {
		cfg.ReleaseWait = DefaultReleaseWait
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.ReloadCmd = slices.Clone(cfg.ReloadCmd)
	cfg.DnsmasqCmd = slices.Clone(cfg.DnsmasqCmd)
	cfg.ReleaseCmd = slices.Clone(cfg.ReleaseCmd)
	cfg.ExecPrefix = slices.Clone(cfg.ExecPrefix)
	cfg.PassEnv = slices.Clone(cfg.PassEnv)
	return &Server{cfg: cfg}
}

// CheckError is dnsmasq rejecting a config in "dnsmasq --test".
type CheckError struct {
	// Message is dnsmasq's output, with the temporary file's path
	// replaced by "<candidate config>".
	Message  string
	Line     int // the line dnsmasq names, 0 if none
	ExitCode int
}

func (e *CheckError) Error() string {
	return "dnsmasq --test rejected the config: " + e.Message
}

var lineRE = regexp.MustCompile(`at line (\d+) of`)

// Check runs "dnsmasq --test" on a temporary copy of conf. It returns a
// *CheckError when dnsmasq rejects it, another error when dnsmasq could
// not be run.
//
// dnsmasq --test parses the whole config without touching the host: it
// validates every option's syntax and values (addresses, ranges, MACs,
// tags, lease times) and reads included conf-file= and conf-dir= (which
// must therefore exist). It does not check that interface= exists, that
// tftp-root or the lease file's directory exist, nor read dhcp-hostsfile
// or addn-hosts; those fail only when dnsmasq starts.
func (s *Server) Check(ctx context.Context, conf []byte) error {
	f, err := os.CreateTemp("", "rackctl-dnsmasq-*.conf")
	if err != nil {
		return fmt.Errorf("dhcp: check: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(conf); err != nil {
		f.Close()
		return fmt.Errorf("dhcp: check: write temp config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("dhcp: check: write temp config: %w", err)
	}
	if err := s.checkFile(ctx, f.Name()); err != nil {
		return fmt.Errorf("dhcp: check: %w", err)
	}
	return nil
}

func (s *Server) checkFile(ctx context.Context, path string) error {
	argv := append(slices.Clone(s.cfg.DnsmasqCmd), "--test", "--conf-file="+path)
	out, err := s.run(ctx, argv)
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("run %s: %w", strings.Join(argv, " "), err)
	}
	msg := strings.TrimSpace(strings.ReplaceAll(string(out), path, "<candidate config>"))
	if msg == "" {
		msg = "no output, exit status " + strconv.Itoa(ee.ExitCode())
	}
	ce := &CheckError{Message: msg, ExitCode: ee.ExitCode()}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
	}
	return ce
}

// maxConf bounds the live config Install reads back.
const maxConf = 64 << 20

// Install checks conf with dnsmasq --test and, if it passes and differs
// from the live file, replaces the live file atomically (temp file in the
// same directory, fsync, rename; mode and owner of the old file kept) and
// runs the reload command once. The live file is reached beneath
// Config.Root without following links: a link on its path is refused
// (*rootfs.LinkError) and nothing is written. An unchanged config is not
// rewritten and triggers no reload. When the check fails the live file is
// untouched and the error wraps a *CheckError. When the reload fails the
// new file is in place: changed is true and the error says so.
func (s *Server) Install(ctx context.Context, conf []byte) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.cfg.ConfPath
	root, rel, err := s.confBeneathRoot()
	if err != nil {
		return false, fmt.Errorf("dhcp: install %s: %w", live, err)
	}
	old, fi, err := root.ReadFile(rel, maxConf)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("dhcp: install: %w", err)
	}
	mode := fs.FileMode(0o644)
	if exists {
		mode = fi.Mode().Perm()
	}
	if err := s.Check(ctx, conf); err != nil {
		return false, fmt.Errorf("dhcp: install %s: %w", live, errors.Unwrap(err))
	}
	if exists && bytes.Equal(old, conf) {
		s.cfg.Log.Debug("dnsmasq config unchanged", "path", live)
		return false, nil
	}
	// WriteFile keeps the old file's owner and refuses links itself.
	if err := root.WriteFile(rel, conf, mode); err != nil {
		return false, fmt.Errorf("dhcp: install: %w", err)
	}
	s.cfg.Log.Info("dnsmasq config installed", "path", live)
	if err := s.Reload(ctx); err != nil {
		return true, fmt.Errorf("dhcp: installed %s but: %w", live, err)
	}
	return true, nil
}

// confBeneathRoot is ConfPath as a path relative to Root.
func (s *Server) confBeneathRoot() (*rootfs.Root, string, error) {
	dir := s.cfg.Root
	if dir == "" {
		dir = "/"
	}
	root, err := rootfs.New(dir)
	if err != nil {
		return nil, "", err
	}
	conf, err := filepath.Abs(s.cfg.ConfPath)
	if err != nil {
		return nil, "", err
	}
	rel, ok := root.Rel(conf)
	if !ok {
		return nil, "", fmt.Errorf("not beneath the root %s", root.Dir())
	}
	return root, rel, nil
}

// Reload runs the reload command.
func (s *Server) Reload(ctx context.Context) error {
	if len(s.cfg.ReloadCmd) == 0 {
		return errors.New("reload dnsmasq: empty reload command")
	}
	out, err := s.run(ctx, s.cfg.ReloadCmd)
	if err != nil {
		return fmt.Errorf("reload dnsmasq (%s): %w%s", strings.Join(s.cfg.ReloadCmd, " "), err, outputSuffix(out))
	}
	s.cfg.Log.Info("dnsmasq reloaded", "cmd", s.cfg.ReloadCmd)
	return nil
}

// Leases reads and parses the lease file.
func (s *Server) Leases() ([]Lease, error) { return ReadLeases(s.cfg.LeasePath) }

// ReadLeases reads and parses the lease file at path (the DHCP layer's
// drift check and the status observation read it the same way). A
// missing file is an error wrapping fs.ErrNotExist.
func ReadLeases(path string) ([]Lease, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dhcp: leases: %w", err)
	}
	defer f.Close()
	ls, err := ParseLeases(f)
	if err != nil {
		return ls, fmt.Errorf("dhcp: leases %s: %w", path, err)
	}
	return ls, nil
}

// Release makes dnsmasq drop lease l with dhcp_release, run with
// ExecPrefix on Interface, so the address is free for its reservation at
// the client's next request. It then waits up to ReleaseWait for the lease
// to leave the lease file and returns an error wrapping ErrNotReleased if
// it does not (dhcp_release itself reports nothing).
func (s *Server) Release(ctx context.Context, l Lease) error {
	if s.cfg.Interface == "" {
		return fmt.Errorf("dhcp: release %s %s: no interface configured", l.IP, l.MAC)
	}
	hw, err := macaddr.Parse(l.MAC)
	if err != nil || !l.IP.Is4() {
		return fmt.Errorf("dhcp: release %s %s: need an IPv4 address and an Ethernet MAC", l.IP, l.MAC)
	}
	argv := slices.Concat(s.cfg.ExecPrefix, s.cfg.ReleaseCmd, []string{s.cfg.Interface, l.IP.String(), hw.String()})
	if l.ClientID != "" {
		argv = append(argv, l.ClientID)
	}
	if out, err := s.run(ctx, argv); err != nil {
		return fmt.Errorf("dhcp: release %s %s (%s): %w%s", l.IP, hw, strings.Join(argv, " "), err, outputSuffix(out))
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ReleaseWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ls, err := s.Leases()
		if err != nil {
			return fmt.Errorf("dhcp: release %s %s: verify: %w", l.IP, hw, err)
		}
		if !slices.ContainsFunc(ls, func(x Lease) bool { return x.IP == l.IP && x.MAC == hw.String() }) {
			s.cfg.Log.Info("dhcp lease released", "ip", l.IP, "mac", hw.String())
			return nil
		}
		select {
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("dhcp: release %s %s: verify: %w", l.IP, hw, err)
			}
			return fmt.Errorf("dhcp: release %s %s on %s: %w", l.IP, hw, s.cfg.Interface, ErrNotReleased)
		case <-tick.C:
		}
	}
}

func (s *Server) run(ctx context.Context, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// Not os.Environ(): rackctl's own secrets (the BMC password) stay here.
	cmd.Env = childenv.DHCP.Filter(os.Environ(), s.cfg.PassEnv)
	cmd.WaitDelay = time.Second
	s.cfg.Log.Debug("run", "argv", argv)
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		// Not the program's verdict: it was killed. Hide the ExitError.
		return out, fmt.Errorf("%s: %w", argv[0], ctx.Err())
	}
	return out, err
}

func outputSuffix(out []byte) string {
	if s := strings.TrimSpace(string(out)); s != "" {
		return ": " + s
	}
	return ""
}
