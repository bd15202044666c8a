package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// DHCPOptions configure StartDHCP.
type DHCPOptions struct {
	// Dir holds the runtime files: leases, log, reload script (required).
	Dir string
	// Purpose names the namespaces (rackctl-<Purpose>-...); default "dhcp".
	Purpose string
	// ConfPath is the dnsmasq.conf to serve, reread at every (re)start;
	// default Dir/dnsmasq.conf. While it does not exist dnsmasq is not
	// started; it starts as soon as the file appears, so it must appear
	// whole (DHCP.WriteConf, or atomicfile.Write as rackctl's dhcp.Install
	// does): a plain write is seen empty first, and dnsmasq then serves no
	// DHCP until the next restart.
	ConfPath string
	// Conf, when set, is written to ConfPath first.
	Conf []byte
	// ServerIP is the address of dnsmasq's end of the veth pair, with the
	// subnet's length; default 172.24.213.1/24 (a Racker rack's gateway).
	ServerIP netip.Prefix
	// LeaseFile is dnsmasq's lease file; default Dir/dnsmasq.leases.
	LeaseFile string
	// TFTPRoot replaces every tftp-root= line of the config (dnsmasq does
	// not start when that directory is missing); default Dir/tftp.
	TFTPRoot string
	// DNS keeps dnsmasq's DNS server; by default it is off (port=0).
	DNS bool
}

// DHCP is dnsmasq in one network namespace (ServerNS) joined by a veth
// pair to a second (ClientNS), supervised like systemd's Restart=always:
// when dnsmasq exits it is started again with the config as it is then.
type DHCP struct {
	ServerNS, ClientNS       string
	ServerIface, ClientIface string // the veth ends, one in each namespace
	ServerIP                 netip.Prefix
	ConfPath                 string // the config served
	LeaseFile                string
	LogFile                  string // dnsmasq's output, every start appended
	// ReloadCmd restarts dnsmasq from another process (rackctl's
	// --dnsmasq-reload-cmd): it kills the running dnsmasq and waits until
	// the supervisor's new one serves DHCP. No shell metacharacters or
	// spaces, so it survives being split on spaces.
	ReloadCmd []string
	// RequestCmd, run with a MAC appended, makes one DHCP exchange from the
	// client namespace with that MAC and prints udhcpc's result (for people
	// trying the demo; tests call Request).
	RequestCmd []string

	dir, tftp, readyFile, pidFile string
	dns                           bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	starts int
	stop   chan struct{}
	done   chan struct{}
	closed bool

	reqMu sync.Mutex // one udhcpc at a time: they share the client veth

	bridgeMu sync.Mutex // nodenet.go: the server side becomes a bridge once
	bridged  bool
}

// Interface names inside the namespaces: they never exist in the host's.
const (
	serverIface = "rk-srv0"
	clientIface = "rk-cli0"
)

// ErrNoLease means udhcpc got no lease.
var ErrNoLease = errors.New("no DHCP lease obtained")

// StartDHCP removes stale testenv namespaces, creates the namespace pair
// and starts the dnsmasq supervisor. When the config exists it waits until
// dnsmasq serves DHCP. Close stops dnsmasq and deletes both namespaces.
func StartDHCP(ctx context.Context, opts DHCPOptions) (*DHCP, error) {
	if err := NeedPrograms("ip", "dnsmasq", "busybox"); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("testenv: dhcp: network namespaces need root")
	}
	if opts.Dir == "" {
		return nil, errors.New("testenv: dhcp: no directory")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("testenv: dhcp: %w", err)
	}
	if opts.Purpose == "" {
		opts.Purpose = "dhcp"
	}
	if !opts.ServerIP.IsValid() {
		opts.ServerIP = netip.MustParsePrefix("172.24.213.1/24")
	}
	d := &DHCP{
		ServerIface: serverIface, ClientIface: clientIface, ServerIP: opts.ServerIP,
		ConfPath: opts.ConfPath, LeaseFile: opts.LeaseFile, LogFile: filepath.Join(dir, "dnsmasq.log"),
		dir: dir, tftp: opts.TFTPRoot, readyFile: filepath.Join(dir, "dnsmasq.ready"), pidFile: filepath.Join(dir, "dnsmasq.pid"),
		dns: opts.DNS, stop: make(chan struct{}), done: make(chan struct{}),
	}
	if d.ConfPath == "" {
		d.ConfPath = filepath.Join(dir, "dnsmasq.conf")
	}
	if d.LeaseFile == "" {
		d.LeaseFile = filepath.Join(dir, "dnsmasq.leases")
	}
	if d.tftp == "" {
		d.tftp = filepath.Join(dir, "tftp")
	}
	for _, p := range []string{dir, d.tftp, filepath.Dir(d.ConfPath), filepath.Dir(d.LeaseFile)} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("testenv: dhcp: %w", err)
		}
	}
	if opts.Conf != nil {
		if err := d.WriteConf(opts.Conf); err != nil {
			return nil, err
		}
	}
	os.Remove(d.readyFile)
	if _, err := RemoveStaleNamespaces(ctx); err != nil {
		return nil, err
	}
	base, err := nsBase(opts.Purpose)
	if err != nil {
		return nil, err
	}
	d.ServerNS, d.ClientNS = base+"-s", base+"-c"
	if err := d.writeScripts(); err != nil {
		return nil, err
	}
	if err := d.network(ctx); err != nil {
		d.deleteNamespaces()
		return nil, err
	}
	go d.supervise()
	if _, err := os.Stat(d.ConfPath); err == nil {
		if err := d.waitReady(ctx, 0); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

func (d *DHCP) network(ctx context.Context) error {
	for _, ns := range []string{d.ServerNS, d.ClientNS} {
		if err := ip(ctx, "netns", "add", ns); err != nil {
			return err
		}
	}
	steps := [][]string{
		// Created inside the namespaces: the names never exist in the host's.
		{"-n", d.ServerNS, "link", "add", serverIface, "type", "veth", "peer", "name", clientIface, "netns", d.ClientNS},
		{"-n", d.ServerNS, "addr", "add", d.ServerIP.String(), "dev", serverIface},
		{"-n", d.ServerNS, "link", "set", "lo", "up"},
		{"-n", d.ClientNS, "link", "set", "lo", "up"},
		{"-n", d.ServerNS, "link", "set", serverIface, "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

func (d *DHCP) writeScripts() error {
	p := filepath.Join(d.dir, "reload-dnsmasq")
	if strings.ContainsAny(p, " \t\n'") {
		return fmt.Errorf("testenv: dhcp: directory %q has a space or quote: the reload command is split on spaces", d.dir)
	}
	script := `#!/bin/sh
# Restarts the testenv dnsmasq (rackctl --dnsmasq-reload-cmd): kills the
# running one; its supervisor starts it again with the current config.
ready='` + d.readyFile + `'
old=$(cat "$ready" 2>/dev/null)
[ -n "$old" ] && kill "$old" 2>/dev/null
n=0
while :; do
	new=$(cat "$ready" 2>/dev/null)
	if [ -n "$new" ] && [ "$new" != "$old" ] && kill -0 "$new" 2>/dev/null; then exit 0; fi
	n=$((n+1))
	if [ $n -gt 300 ]; then echo "dnsmasq did not serve DHCP again within 15s; see ` + d.LogFile + `" >&2; exit 1; fi
	sleep 0.05
done
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		return fmt.Errorf("testenv: dhcp: %w", err)
	}
	d.ReloadCmd = []string{p}

	p = filepath.Join(d.dir, "dhcp-request")
	script = `#!/bin/sh
# dhcp-request MAC: one DHCP exchange with dnsmasq from the client
# namespace, its interface set to MAC; udhcpc prints the lease it got.
set -e
mac=$1
[ -n "$mac" ] || { echo "usage: $0 MAC" >&2; exit 2; }
ip -n '` + d.ClientNS + `' link set dev ` + clientIface + ` down
ip -n '` + d.ClientNS + `' link set dev ` + clientIface + ` address "$mac"
ip -n '` + d.ClientNS + `' link set dev ` + clientIface + ` up
exec ip netns exec '` + d.ClientNS + `' busybox udhcpc -i ` + clientIface + ` -n -q -f -t 5 -T 1 -s /bin/true
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		return fmt.Errorf("testenv: dhcp: %w", err)
	}
	d.RequestCmd = []string{p}
	return nil
}

// effectiveConf is the config as dnsmasq runs it: ConfPath with the test
// TFTP root, and DNS off unless asked for.
func (d *DHCP) effectiveConf() (string, error) {
	b, err := os.ReadFile(d.ConfPath)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(strings.TrimSpace(line), "tftp-root=") {
			line = "tftp-root=" + d.tftp + "\n"
		}
		out.WriteString(line)
	}
	if !bytes.HasSuffix(out.Bytes(), []byte("\n")) && out.Len() > 0 {
		out.WriteByte('\n')
	}
	out.WriteString("# added by testenv\n")
	if !d.dns {
		out.WriteString("port=0\n")
	}
	p := filepath.Join(d.dir, "dnsmasq.effective.conf")
	return p, os.WriteFile(p, out.Bytes(), 0o644)
}

// supervise runs dnsmasq, again whenever it exits, until Close.
func (d *DHCP) supervise() {
	defer close(d.done)
	logf, err := os.OpenFile(d.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer logf.Close()
	pause := func(dur time.Duration) bool {
		select {
		case <-d.stop:
			return false
		case <-time.After(dur):
			return true
		}
	}
	for {
		conf, err := d.effectiveConf()
		if errors.Is(err, os.ErrNotExist) {
			if !pause(100 * time.Millisecond) {
				return
			}
			continue
		}
		if err != nil {
			fmt.Fprintf(logf, "testenv: %v\n", err)
			if !pause(time.Second) {
				return
			}
			continue
		}
		cmd := exec.Command("ip", "netns", "exec", d.ServerNS, "dnsmasq", "--keep-in-foreground", "--log-facility=-",
			"--conf-file="+conf, "--dhcp-leasefile="+d.LeaseFile, "--pid-file="+d.pidFile)
		cmd.Stdout, cmd.Stderr = logf, logf
		d.mu.Lock()
		select {
		case <-d.stop:
			d.mu.Unlock()
			return
		default:
		}
		err = cmd.Start()
		if err == nil {
			d.cmd = cmd
		}
		d.mu.Unlock()
		if err != nil {
			fmt.Fprintf(logf, "testenv: start dnsmasq: %v\n", err)
			if !pause(time.Second) {
				return
			}
			continue
		}
		exited := make(chan struct{})
		go d.markReady(cmd.Process.Pid, exited)
		began := time.Now()
		cmd.Wait()
		close(exited)
		os.Remove(d.readyFile)
		d.mu.Lock()
		d.cmd = nil
		d.mu.Unlock()
		fmt.Fprintf(logf, "testenv: dnsmasq (pid %d) exited: %v\n", cmd.Process.Pid, cmd.ProcessState)
		wait := 50 * time.Millisecond
		if time.Since(began) < time.Second {
			wait = time.Second // a config it rejects: do not spin
		}
		if !pause(wait) {
			return
		}
	}
}

// markReady writes pid to the ready file once dnsmasq listens on the DHCP
// port in its namespace.
func (d *DHCP) markReady(pid int, exited <-chan struct{}) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if listensDHCP(pid) {
			// Count under the lock held across the rename: whoever sees
			// the ready file (ReloadCmd, waitReady) then sees the count.
			tmp := d.readyFile + ".tmp"
			d.mu.Lock()
			if os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644) == nil && os.Rename(tmp, d.readyFile) == nil {
				d.starts++
			}
			d.mu.Unlock()
			return
		}
	}
}

// listensDHCP reports whether pid's network namespace has UDP port 67
// bound (from /proc/PID/net/udp, which shows that namespace's sockets).
func listensDHCP(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/udp")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasSuffix(f[1], ":0043") {
			return true
		}
	}
	return false
}

func (d *DHCP) readyPID() int {
	b, err := os.ReadFile(d.readyFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// waitReady waits until a dnsmasq other than old serves DHCP.
func (d *DHCP) waitReady(ctx context.Context, old int) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		if pid := d.readyPID(); pid != 0 && pid != old && syscall.Kill(pid, 0) == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: dnsmasq does not serve DHCP in %s: %w; its log ends:\n%s", d.ServerNS, ctx.Err(), tail(d.LogFile, 1500))
		case <-d.done:
			return errors.New("testenv: dnsmasq supervisor stopped")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WriteConf replaces ConfPath with conf atomically; dnsmasq reads it at its
// next (re)start.
func (d *DHCP) WriteConf(conf []byte) error {
	if err := atomicfile.Write(d.ConfPath, conf, 0o644); err != nil {
		return fmt.Errorf("testenv: dhcp: %w", err)
	}
	return nil
}

// WaitReady waits until dnsmasq serves DHCP: for a config written to
// ConfPath after StartDHCP, which starts dnsmasq as soon as it appears.
func (d *DHCP) WaitReady(ctx context.Context) error { return d.waitReady(ctx, 0) }

// Restart restarts dnsmasq, which rereads ConfPath, and waits until it
// serves DHCP again.
func (d *DHCP) Restart(ctx context.Context) error {
	old := d.readyPID()
	if old != 0 {
		syscall.Kill(old, syscall.SIGTERM)
	}
	return d.waitReady(ctx, old)
}

// Starts is how many times dnsmasq has come up serving DHCP.
func (d *DHCP) Starts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.starts
}

// Log returns the end of dnsmasq's output (at most n bytes).
func (d *DHCP) Log(n int) string { return tail(d.LogFile, n) }

// Request runs one DHCP exchange with busybox udhcpc in the client
// namespace, with the client's veth set to mac, and returns the address
// offered and bound. It wraps ErrNoLease when none came.
func (d *DHCP) Request(ctx context.Context, mac string) (netip.Addr, error) {
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	for _, s := range [][]string{
		{"-n", d.ClientNS, "link", "set", "dev", clientIface, "down"},
		{"-n", d.ClientNS, "link", "set", "dev", clientIface, "address", mac},
		{"-n", d.ClientNS, "link", "set", "dev", clientIface, "up"},
	} {
		if err := ip(ctx, s...); err != nil {
			return netip.Addr{}, err
		}
	}
	out := filepath.Join(d.dir, "udhcpc.out")
	script := filepath.Join(d.dir, "udhcpc.sh")
	// Record the bound address; configure nothing.
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" > '"+out+"'\nexit 0\n"), 0o755); err != nil {
		return netip.Addr{}, fmt.Errorf("testenv: udhcpc script: %w", err)
	}
	os.Remove(out)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", d.ClientNS,
		"busybox", "udhcpc", "-i", clientIface, "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", script)
	log, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(out)
	if err != nil || rerr != nil {
		return netip.Addr{}, fmt.Errorf("udhcpc %s in %s: %w (%v): %s", mac, d.ClientNS, ErrNoLease, err, strings.TrimSpace(string(log)))
	}
	a, err := netip.ParseAddr(strings.TrimSpace(string(b)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("udhcpc %s: script wrote %q: %w", mac, b, err)
	}
	return a, nil
}

// Close stops dnsmasq and its supervisor and deletes both namespaces.
func (d *DHCP) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.stop)
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
	}
	d.mu.Unlock()
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.mu.Lock()
		if d.cmd != nil && d.cmd.Process != nil {
			d.cmd.Process.Kill()
		}
		d.mu.Unlock()
		<-d.done
	}
	return d.deleteNamespaces()
}

func (d *DHCP) deleteNamespaces() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, ns := range []string{d.ServerNS, d.ClientNS} {
		if ns == "" {
			continue
		}
		if err := DeleteNamespace(ctx, ns); err != nil && nsExists(ns) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func nsExists(ns string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", ns))
	return err == nil
}
