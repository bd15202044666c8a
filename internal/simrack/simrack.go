package simrack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure a simulated rack.
type Options struct {
	// N is the number of BMCs (default 1).
	N int
	// Dir holds each BMC's config and state (required; tests pass t.TempDir()).
	Dir string
	// Delay, when set, puts every BMC behind a delay proxy adding Delay to
	// each datagram in both directions; BMC.Addr is then the proxy's.
	Delay time.Duration
	// User is the admin user of every BMC (default "admin").
	User string
	// Password, when set, is shared by all BMCs; otherwise each BMC gets its
	// own random password.
	Password string
	// IPMISim is the ipmi_sim binary (default: looked up in PATH).
	IPMISim string
	// SOL gives every BMC a serial console for Serial-over-LAN (ipmitool
	// sol activate): the simulator's serial port is a loopback TCP
	// connection into this process, reached with BMC.Serial.
	SOL bool
}

// BMC is one simulated BMC.
type BMC struct {
	Name string
	// Addr is "127.0.0.1:PORT" to talk to (the proxy's when delayed).
	Addr string
	// SimAddr is the simulator's own address (without any proxy).
	SimAddr  string
	MAC      string
	User     string
	Password string
	// Dir holds lan.conf, the .emu file and the chassis control script.
	Dir string
	// StateDir is ipmi_sim's state dir; chassis/ in it holds the files
	// "power" (0/1) and "boot" (none, pxe, default, ...) that the chassis
	// control script keeps.
	StateDir string
	// SerialAddr is the loopback TCP address the simulator connects to as
	// the machine's serial port ("" without Options.SOL).
	SerialAddr string

	serial *serialPort
}

// Rack is a set of running ipmi_sim processes.
type Rack struct {
	BMCs []BMC

	sim     string
	mu      sync.Mutex
	procs   []*exec.Cmd
	proxies []*Proxy
	serials []*serialPort
}

// Start starts opts.N ipmi_sim instances on free 127.0.0.1 UDP ports and
// waits until each listens. Close stops them; on error nothing is left
// running.
func Start(ctx context.Context, opts Options) (*Rack, error) {
	if opts.N <= 0 {
		opts.N = 1
	}
	if opts.Dir == "" {
		return nil, errors.New("simrack: no directory")
	}
	// ipmi_sim runs in each BMC's own directory: relative paths would break.
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("simrack: %w", err)
	}
	opts.Dir = dir
	if opts.User == "" {
		opts.User = "admin"
	}
	sim := opts.IPMISim
	if sim == "" {
		sim = "ipmi_sim"
	}
	sim, err = exec.LookPath(sim)
	if err != nil {
		return nil, fmt.Errorf("simrack: ipmi_sim not found (install the openipmi package): %w", err)
	}
	r := &Rack{sim: sim, procs: make([]*exec.Cmd, opts.N), proxies: make([]*Proxy, opts.N)}
	for i := range opts.N {
		var sp *serialPort
		if opts.SOL {
			sp, err = newSerialPort()
			if err != nil {
				r.Close()
				return nil, err
			}
			r.serials = append(r.serials, sp)
		}
		b, err := prepare(opts, i, sp)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.BMCs = append(r.BMCs, b)
	}
	for i := range r.BMCs {
		if err := r.start(ctx, i); err != nil {
			r.Close()
			return nil, err
		}
		if opts.Delay > 0 {
			if _, err := r.Slow(i, opts.Delay); err != nil {
				r.Close()
				return nil, err
			}
		}
	}
	return r, nil
}

func prepare(opts Options, i int, sp *serialPort) (BMC, error) {
	name := fmt.Sprintf("bmc-%d", i)
	dir := filepath.Join(opts.Dir, name)
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "chassis"), 0o700); err != nil {
		return BMC{}, fmt.Errorf("simrack: %w", err)
	}
	port, err := freeUDPPort()
	if err != nil {
		return BMC{}, err
	}
	pw := opts.Password
	if pw == "" {
		var b [6]byte
		rand.Read(b[:])
		pw = "pw" + hex.EncodeToString(b[:])
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	b := BMC{
		Name: name, Addr: addr, SimAddr: addr,
		MAC:  fmt.Sprintf("02:00:5e:00:%02x:%02x", (i>>8)&0xff, i&0xff),
		User: opts.User, Password: pw, Dir: dir, StateDir: state,
		serial: sp,
	}
	if sp != nil {
		b.SerialAddr = sp.addr()
	}
	script := filepath.Join(dir, "chassis-control.sh")
	files := map[string]string{
		script:                                   chassisScript(filepath.Join(state, "chassis")),
		filepath.Join(dir, "lan.conf"):           lanConf(b, port, script),
		filepath.Join(dir, "bmc.emu"):            emu,
		filepath.Join(state, "chassis", "power"): "0\n",
		filepath.Join(state, "chassis", "boot"):  "default\n",
	}
	for p, content := range files {
		mode := os.FileMode(0o600)
		if p == script {
			mode = 0o700
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			return BMC{}, fmt.Errorf("simrack: %w", err)
		}
	}
	return b, nil
}

const emu = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
`

// lanConf is the BMC's ipmi_sim configuration. With a serial address the
// MC gets a `sol "tcp:ADDR" BAUD` line (ipmi_lan(5)): tcp, not telnet, so
// the bytes on the connection are the console's bytes, without telnet
// negotiation.
func lanConf(b BMC, port int, script string) string {
	var guid [16]byte
	rand.Read(guid[:])
	sol := ""
	if b.SerialAddr != "" {
		sol = fmt.Sprintf("  sol \"tcp:%s\" 115200\n", b.SerialAddr)
	}
	return fmt.Sprintf(`name "%s"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid %s
  endlan
  chassis_control "%s"
%s  user 1 false "" "" user 10 none md2 md5 straight
  user 2 true "%s" "%s" admin 10 none md2 md5 straight
`, b.Name, port, hex.EncodeToString(guid[:]), script, sol, b.User, b.Password)
}

// chassisScript answers ipmi_sim's "get power|boot" and records
// "set power|reset|boot VALUE" in files under dir.
func chassisScript(dir string) string {
	return `#!/bin/sh
D='` + dir + `'
op=$1; shift
case $op in
get)
  for p in "$@"; do
    case $p in
      power) v=0; read -r v < "$D/power"; echo "power:$v";;
      boot) v=default; read -r v < "$D/boot"; echo "boot:$v";;
    esac
  done;;
set)
  while [ $# -gt 1 ]; do
    case $1 in
      power|boot) echo "$2" > "$D/$1";;
      reset) echo "$2" >> "$D/resets";;
    esac
    shift 2
  done;;
esac
exit 0
`
}

func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("simrack: free port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func (r *Rack) start(ctx context.Context, i int) error {
	b := r.BMCs[i]
	cmd := exec.Command(r.sim, "-c", filepath.Join(b.Dir, "lan.conf"), "-f", filepath.Join(b.Dir, "bmc.emu"), "-s", b.StateDir, "-n")
	cmd.Dir = b.Dir
	// Pdeathsig: a killed test binary leaves no simulator behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.OpenFile(filepath.Join(b.Dir, "ipmi_sim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("simrack: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("simrack: start %s: %w", b.Name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.mu.Lock()
	r.procs[i] = cmd
	r.mu.Unlock()
	_, portStr, _ := net.SplitHostPort(b.SimAddr)
	port, _ := strconv.Atoi(portStr)
	deadline := time.Now().Add(10 * time.Second)
	for !udpListening(port) {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(b.Dir, "ipmi_sim.log"))
			return fmt.Errorf("simrack: %s exited at start: %s", b.Name, strings.TrimSpace(string(log)))
		case <-ctx.Done():
			r.Stop(i)
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop(i)
			return fmt.Errorf("simrack: %s does not listen on %s", b.Name, b.SimAddr)
		}
	}
	return nil
}

// udpListening reports whether 127.0.0.1:port is bound (from /proc/net/udp).
func udpListening(port int) bool {
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == want {
			return true
		}
	}
	return false
}

// Stop kills BMC i (a dead BMC); its port then answers nothing.
func (r *Rack) Stop(i int) error {
	r.mu.Lock()
	cmd := r.procs[i]
	r.procs[i] = nil
	r.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if sp := r.BMCs[i].serial; sp != nil {
		sp.drop()
	}
	_, portStr, _ := net.SplitHostPort(r.BMCs[i].SimAddr)
	port, _ := strconv.Atoi(portStr)
	for range 200 {
		if !udpListening(port) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("simrack: %s still listening after kill", r.BMCs[i].Name)
}

// StartAgain restarts a stopped BMC i on the same port with its state.
func (r *Rack) StartAgain(ctx context.Context, i int) error {
	r.mu.Lock()
	running := r.procs[i] != nil
	r.mu.Unlock()
	if running {
		return nil
	}
	return r.start(ctx, i)
}

// Slow puts BMC i behind a delay proxy (replacing an earlier one) and
// returns the new address, also stored in BMCs[i].Addr.
func (r *Rack) Slow(i int, delay time.Duration) (string, error) {
	p, err := NewDelayProxy(r.BMCs[i].SimAddr, delay)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	old := r.proxies[i]
	r.proxies[i] = p
	r.BMCs[i].Addr = p.Addr()
	r.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return p.Addr(), nil
}

// Proxy returns the delay proxy in front of BMC i (nil when it has none),
// whose Counts tell what clients sent it.
func (r *Rack) Proxy(i int) *Proxy {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proxies[i]
}

// Counts sums the Counts of every BMC's delay proxy.
func (r *Rack) Counts() Counts {
	var c Counts
	for i := range r.BMCs {
		if p := r.Proxy(i); p != nil {
			pc := p.Counts()
			c.Datagrams += pc.Datagrams
			c.Exchanges += pc.Exchanges
		}
	}
	return c
}

// ResetCounts zeroes the counts of every BMC's delay proxy.
func (r *Rack) ResetCounts() {
	for i := range r.BMCs {
		if p := r.Proxy(i); p != nil {
			p.ResetCounts()
		}
	}
}

// Close stops every simulator, proxy and serial console.
func (r *Rack) Close() error {
	for i := range r.procs {
		r.Stop(i)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sp := range r.serials {
		sp.close()
	}
	r.serials = nil
	for i, p := range r.proxies {
		if p != nil {
			p.Close()
			r.proxies[i] = nil
		}
	}
	return nil
}

// PowerFile returns the content of BMC i's chassis power file ("0"/"1").
func (b BMC) PowerFile() (string, error) {
	data, err := os.ReadFile(filepath.Join(b.StateDir, "chassis", "power"))
	return strings.TrimSpace(string(data)), err
}
