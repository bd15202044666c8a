package simnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rackctl/rackctl/internal/testenv"
)

// Knobs change how a node behaves, for tests; Node.SetKnobs changes them
// while it runs (they are read at the step they affect).
type Knobs struct {
	// InstallDuration is how long an install takes (default 0).
	InstallDuration time.Duration
	// InstallHangs makes every install run until the node is powered off.
	InstallHangs bool
	// DiskDead makes the disk fail: installs and disk boots fail, and SSH
	// commands touching the disk get I/O errors.
	DiskDead bool
	// StaleConfig makes the node apply the first Ignition it ever fetched
	// from a URL instead of what that URL serves now.
	StaleConfig bool
}

// Config configures a node.
type Config struct {
	// Name names the node in its log (required).
	Name string
	// DiskDir is the node's disk: its installed root file system and the
	// state that survives power cycles (required).
	DiskDir string
	// ChassisDir holds the BMC's chassis state files "power" (0/1) and
	// "resets" (a line per reset/cycle), as simrack's control script keeps
	// them: simrack.BMC.StateDir/chassis (required).
	ChassisDir string
	// Firmware answers what to boot (required).
	Firmware Firmware
	// Net is the node's network namespace, whose MAC is the node's primary
	// MAC (required).
	Net *testenv.NodeNet
	// Rewrite maps URL prefixes the rendered configs name (the management
	// node's matchbox, e.g. "http://172.24.213.1:8080") to where they are
	// served in the test (matchbox on loopback). Every URL the node fetches
	// goes through it; the longest matching prefix wins.
	Rewrite map[string]string
	// UUID is the SMBIOS UUID iPXE sends as ${uuid}; default derived from
	// the MAC.
	UUID string
	// Log receives the node's log lines as they happen (may be nil).
	Log io.Writer
	// Kube, when set, is the cluster the node joins once booted from disk
	// (a Lokomotive node): it registers a Node named after its hostname,
	// Ready, and heartbeats it every KubeHeartbeat (default 1s). Powered
	// off past KubeGrace (default 10s) the Node goes NotReady (Unknown),
	// past twice that it is deleted, as the node lifecycle controller and
	// a cluster's autoscaler-free cleanup would.
	Kube                     kubernetes.Interface
	KubeHeartbeat, KubeGrace time.Duration
	// Poll is how often the chassis power files are read (default 100ms).
	Poll time.Duration
	// Timeout bounds each network step (DHCP, a fetch, a BMC call); default 20s.
	Timeout time.Duration
	Knobs   Knobs
}

// Node is one simulated server.
type Node struct {
	cfg  Config
	disk *disk

	mu      sync.Mutex
	knobs   Knobs
	lines   []string
	changed chan struct{} // closed and replaced at every log line
	stop    context.CancelFunc
	done    chan struct{}
	kube    *kubeAgent
}

// Lifecycle states the log reports; tests wait for them.
const (
	LogPowerOn   = "power on"
	LogPowerOff  = "power off"
	LogSSHUp     = "SSH up"
	LogInstalled = "installed"
)

// New checks cfg and returns a node that is off. Start runs it.
func New(cfg Config) (*Node, error) {
	var missing []string
	for what, empty := range map[string]bool{
		"Name": cfg.Name == "", "DiskDir": cfg.DiskDir == "", "ChassisDir": cfg.ChassisDir == "",
		"Firmware": cfg.Firmware == nil, "Net": cfg.Net == nil,
	} {
		if empty {
			missing = append(missing, what)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("simnode: config without %s", strings.Join(missing, ", "))
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.KubeHeartbeat <= 0 {
		cfg.KubeHeartbeat = time.Second
	}
	if cfg.KubeGrace <= 0 {
		cfg.KubeGrace = 10 * time.Second
	}
	if cfg.UUID == "" {
		cfg.UUID = uuidFromMAC(cfg.Net.MAC)
	}
	dir, err := filepath.Abs(cfg.DiskDir)
	if err != nil {
		return nil, fmt.Errorf("simnode %s: disk: %w", cfg.Name, err)
	}
	n := &Node{cfg: cfg, knobs: cfg.Knobs, changed: make(chan struct{})}
	n.disk = &disk{dir: dir, dead: func() bool { return n.Knobs().DiskDead }}
	if err := n.disk.init(); err != nil {
		return nil, fmt.Errorf("simnode %s: %w", cfg.Name, err)
	}
	if cfg.Kube != nil {
		n.kube = &kubeAgent{cs: cfg.Kube, heartbeat: cfg.KubeHeartbeat, grace: cfg.KubeGrace, logf: n.logf}
	}
	return n, nil
}

// uuidFromMAC is a stable SMBIOS-style UUID for a MAC.
func uuidFromMAC(mac string) string {
	h := strings.ReplaceAll(mac, ":", "")
	return "00000000-0000-4000-8000-" + fmt.Sprintf("%012s", h)
}

// Knobs returns the current knobs.
func (n *Node) Knobs() Knobs {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.knobs
}

// SetKnobs replaces the knobs; steps not yet taken see the new values.
func (n *Node) SetKnobs(k Knobs) {
	n.mu.Lock()
	n.knobs = k
	n.mu.Unlock()
}

// DiskRoot is the directory holding the node's root file system.
func (n *Node) DiskRoot() string { return n.disk.rootDir() }

// InstallGeneration is how many installs the node's disk has completed,
// kept beside the disk's root file system (which holds the same count at
// InstallGenerationPath, for reading over SSH).
func (n *Node) InstallGeneration() (int, error) { return n.disk.generation() }

// Net is the node's network.
func (n *Node) Net() *testenv.NodeNet { return n.cfg.Net }

func (n *Node) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	n.mu.Lock()
	n.lines = append(n.lines, line)
	close(n.changed)
	n.changed = make(chan struct{})
	w := n.cfg.Log
	n.mu.Unlock()
	if w != nil {
		fmt.Fprintf(w, "%s %s: %s\n", time.Now().UTC().Format("15:04:05.000"), n.cfg.Name, line)
	}
}

// Log returns the node's log lines so far.
func (n *Node) Log() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.lines...)
}

// ErrLogTimeout is returned by WaitLog when no line matched in time.
var ErrLogTimeout = errors.New("simnode: log line not seen")

// WaitLog waits until a log line from index from on contains substr and
// returns its index.
func (n *Node) WaitLog(ctx context.Context, from int, substr string) (int, error) {
	for {
		n.mu.Lock()
		for i := max(from, 0); i < len(n.lines); i++ {
			if strings.Contains(n.lines[i], substr) {
				n.mu.Unlock()
				return i, nil
			}
		}
		ch := n.changed
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return -1, fmt.Errorf("%w: %q in %s's log (%w); it reads:\n  %s", ErrLogTimeout, substr, n.cfg.Name, ctx.Err(), strings.Join(n.Log(), "\n  "))
		}
	}
}

// Start follows the chassis power state until Close.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stop != nil {
		return fmt.Errorf("simnode %s: already started", n.cfg.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.stop, n.done = cancel, make(chan struct{})
	go n.follow(ctx)
	return nil
}

// Close powers the node off (as far as this process is concerned) and
// stops following its BMC. The disk directory is kept.
func (n *Node) Close() error {
	n.mu.Lock()
	stop, done := n.stop, n.done
	n.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	<-done
	if n.kube != nil {
		n.kube.close()
	}
	return nil
}

// chassis is the power state simrack's control script keeps.
type chassis struct {
	on     bool
	resets int
}

func (n *Node) readChassis() (chassis, error) {
	b, err := os.ReadFile(filepath.Join(n.cfg.ChassisDir, "power"))
	if err != nil {
		return chassis{}, err
	}
	c := chassis{on: strings.TrimSpace(string(b)) == "1"}
	if r, err := os.ReadFile(filepath.Join(n.cfg.ChassisDir, "resets")); err == nil {
		c.resets = strings.Count(string(r), "\n")
	}
	return c, nil
}

// follow polls the chassis state: power on starts a machine, power off
// stops it, a reset or cycle (a new line in "resets") restarts it.
func (n *Node) follow(ctx context.Context) {
	defer close(n.done)
	// The running machine, if any; a struct so its cancel func outlives
	// the loop iteration that made it.
	var (
		m struct {
			stop context.CancelFunc
			done chan struct{}
		}
		running   bool
		lastReset = -1
	)
	halt := func(why string) {
		if !running {
			return
		}
		m.stop()
		<-m.done
		running = false
		n.logf("%s", why)
	}
	defer halt(LogPowerOff)
	tick := time.NewTicker(n.cfg.Poll)
	defer tick.Stop()
	for {
		c, err := n.readChassis()
		if err == nil {
			if lastReset < 0 {
				lastReset = c.resets // resets before we started are history
			}
			switch {
			case !c.on:
				halt(LogPowerOff)
			case running && c.resets != lastReset:
				halt("reset")
				fallthrough
			case !running:
				var mctx context.Context
				mctx, m.stop = context.WithCancel(ctx)
				m.done = make(chan struct{})
				running = true
				go func(done chan struct{}) {
					defer close(done)
					n.machine(mctx)
				}(m.done)
			}
			lastReset = c.resets
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// errReboot ends a boot that asks for a reboot (the installer, systemctl
// reboot over SSH).
var errReboot = errors.New("reboot")

// machine is one power-on period: boots until the context ends, again
// after every reboot.
func (n *Node) machine(ctx context.Context) {
	n.logf("%s", LogPowerOn)
	for {
		err := n.boot(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errReboot) {
			n.logf("rebooting")
			continue
		}
		if err != nil {
			n.logf("boot failed: %v", err)
		}
		// A failed boot sits there, as a server stuck in its firmware or
		// initramfs does, until power or reset.
		<-ctx.Done()
		return
	}
}

// firmwareReadAttempts bounds how often the firmware asks its BMC for the
// boot device before the boot fails.
const firmwareReadAttempts = 5

// nextBoot asks the BMC for the boot device, again after a failed read: a
// real server's firmware reads it over the local KCS interface, which a
// busy LAN side does not time out; the simulated one shares ipmi_sim's LAN
// interface with rackctl, so one slow answer must not leave it stuck.
func (n *Node) nextBoot(ctx context.Context) (string, error) {
	var err error
	for attempt := 1; attempt <= firmwareReadAttempts; attempt++ {
		fctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
		var dev string
		dev, err = n.cfg.Firmware.NextBoot(fctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return dev, err
		}
		n.logf("firmware: read boot device (attempt %d of %d): %v", attempt, firmwareReadAttempts, err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	return "", err
}

func (n *Node) boot(ctx context.Context) error {
	dev, err := n.nextBoot(ctx)
	if err != nil {
		return err
	}
	n.logf("firmware: boot device %s", dev)
	switch dev {
	case BootPXE:
		return n.pxeBoot(ctx)
	case BootCD:
		// A CD boot with no media falls through to the disk, as a
		// server's boot order does.
		if cd, ok := n.cfg.Firmware.(VirtualCD); ok {
			if image := cd.InsertedImage(); image != "" {
				return n.cdBoot(ctx, image)
			}
		}
		n.logf("CD: no media inserted: booting the disk")
	}
	return n.diskBoot(ctx)
}
