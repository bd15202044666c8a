package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// bridgePort is the old server end of the client veth once the server side
// became a bridge (see bridge).
const bridgePort = "rk-srvp"

// NodeIface is the name of a node's interface inside its own namespace.
const NodeIface = "eth0"

// NodeNet is one simulated server's network: its own namespace holding
// NodeIface with the node's MAC, the other end of the veth plugged into the
// bridge of the rack's server namespace, on the same segment as dnsmasq.
type NodeNet struct {
	NS    string // the node's namespace
	Iface string // NodeIface
	MAC   string
	// ServerNS is the rack's server namespace (dnsmasq's), from which the
	// management side reaches the node.
	ServerNS string
	// Port is the veth end in ServerNS, a port of its bridge.
	Port string

	dir string
}

// Lease is what udhcpc was offered and bound.
type Lease struct {
	Addr     netip.Prefix
	Router   netip.Addr
	BootFile string // DHCP option 67 / the file field: the iPXE script URL
}

// bridge turns the server side into a bridge once: the veth end that held
// the server address is renamed and made a port, and a bridge with the old
// name takes the address, so a dnsmasq.conf naming ServerIface (with
// bind-interfaces) still matches. dnsmasq is restarted when it runs, since
// the interface it bound to went away.
func (d *DHCP) bridge(ctx context.Context) error {
	d.bridgeMu.Lock()
	defer d.bridgeMu.Unlock()
	if d.bridged {
		return nil
	}
	steps := [][]string{
		{"-n", d.ServerNS, "link", "set", serverIface, "down"},
		{"-n", d.ServerNS, "link", "set", serverIface, "name", bridgePort},
		{"-n", d.ServerNS, "addr", "flush", "dev", bridgePort},
		{"-n", d.ServerNS, "link", "add", serverIface, "type", "bridge", "forward_delay", "0", "stp_state", "0"},
		{"-n", d.ServerNS, "addr", "add", d.ServerIP.String(), "dev", serverIface},
		{"-n", d.ServerNS, "link", "set", bridgePort, "master", serverIface},
		{"-n", d.ServerNS, "link", "set", bridgePort, "up"},
		{"-n", d.ServerNS, "link", "set", serverIface, "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return fmt.Errorf("testenv: bridge the server side of %s: %w", d.ServerNS, err)
		}
	}
	d.bridged = true
	if d.readyPID() != 0 {
		if err := d.Restart(ctx); err != nil {
			return err
		}
	}
	return nil
}

// AddNode gives a simulated server its own namespace with an interface
// set to mac, joined to dnsmasq's segment. Close deletes the namespace
// (and with it the veth pair); namespaces left by a crashed process are
// removed by RemoveStaleNamespaces like the others.
func (d *DHCP) AddNode(ctx context.Context, mac string) (*NodeNet, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("testenv: node mac %q: want a 6-byte MAC", mac)
	}
	if err := d.bridge(ctx); err != nil {
		return nil, err
	}
	base, err := nsBase("node")
	if err != nil {
		return nil, err
	}
	rnd := make([]byte, 4)
	rand.Read(rnd)
	n := &NodeNet{NS: base + "-c", Iface: NodeIface, MAC: hw.String(), ServerNS: d.ServerNS,
		Port: "rkn" + hex.EncodeToString(rnd)}
	if n.dir, err = os.MkdirTemp(d.dir, "node-"); err != nil {
		return nil, fmt.Errorf("testenv: node %s: %w", mac, err)
	}
	if err := ip(ctx, "netns", "add", n.NS); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"-n", d.ServerNS, "link", "add", n.Port, "type", "veth", "peer", "name", NodeIface, "netns", n.NS},
		{"-n", d.ServerNS, "link", "set", n.Port, "master", serverIface},
		{"-n", d.ServerNS, "link", "set", n.Port, "up"},
		{"-n", n.NS, "link", "set", NodeIface, "address", n.MAC},
		{"-n", n.NS, "link", "set", "lo", "up"},
		{"-n", n.NS, "link", "set", NodeIface, "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Request runs one DHCP exchange with busybox udhcpc on the node's
// interface, announcing itself as iPXE (user class 77) so dnsmasq answers
// with the iPXE script URL as a PXE client's second stage does. Nothing is
// configured on the interface. It wraps ErrNoLease when none came.
func (n *NodeNet) Request(ctx context.Context) (Lease, error) {
	out := filepath.Join(n.dir, "udhcpc.out")
	script := filepath.Join(n.dir, "udhcpc.sh")
	// The variables udhcpc exports, one per line, for the bound lease.
	body := "#!/bin/sh\n[ \"$1\" = bound ] || exit 0\nprintf 'ip=%s\\nmask=%s\\nrouter=%s\\nboot_file=%s\\n' \"$ip\" \"$subnet\" \"$router\" \"$boot_file\" > '" + out + ".tmp'\nmv '" + out + ".tmp' '" + out + "'\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		return Lease{}, fmt.Errorf("testenv: udhcpc script: %w", err)
	}
	os.Remove(out)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.NS,
		"busybox", "udhcpc", "-i", n.Iface, "-n", "-q", "-f", "-t", "5", "-T", "1",
		"-x", "0x4d:"+hex.EncodeToString([]byte("iPXE")), "-s", script)
	log, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(out)
	if err != nil || rerr != nil {
		return Lease{}, fmt.Errorf("udhcpc %s in %s: %w (%v): %s", n.MAC, n.NS, ErrNoLease, err, strings.TrimSpace(string(log)))
	}
	return parseLease(string(b))
}

func parseLease(s string) (Lease, error) {
	v := map[string]string{}
	for line := range strings.Lines(s) {
		k, val, _ := strings.Cut(strings.TrimRight(line, "\n"), "=")
		v[k] = val
	}
	a, err := netip.ParseAddr(v["ip"])
	if err != nil {
		return Lease{}, fmt.Errorf("testenv: udhcpc bound ip %q: %w", v["ip"], err)
	}
	bits := 32
	if m := net.ParseIP(v["mask"]).To4(); m != nil {
		bits, _ = net.IPMask(m).Size()
	}
	l := Lease{Addr: netip.PrefixFrom(a, bits), BootFile: v["boot_file"]}
	// udhcpc lists routers space-separated; the first is the gateway.
	if r, _, _ := strings.Cut(v["router"], " "); r != "" {
		l.Router, _ = netip.ParseAddr(r)
	}
	return l, nil
}

// SetAddr replaces the addresses of the node's interface with p (none when
// p is invalid).
func (n *NodeNet) SetAddr(ctx context.Context, p netip.Prefix) error {
	if err := ip(ctx, "-n", n.NS, "addr", "flush", "dev", n.Iface); err != nil {
		return err
	}
	if !p.IsValid() {
		return nil
	}
	return ip(ctx, "-n", n.NS, "addr", "add", p.String(), "dev", n.Iface)
}

// Close deletes the node's namespace, killing what runs in it.
func (n *NodeNet) Close() error {
	if n.NS == "" || !nsExists(n.NS) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return DeleteNamespace(ctx, n.NS)
}

// InNamespace runs f on an OS thread moved into network namespace ns, so
// sockets f creates (a listener, a dialled connection) live there and stay
// there. The thread is returned to the scheduler only once it is back in
// its own namespace; otherwise it dies with the goroutine.
func InNamespace(ns string, f func() error) error {
	if strings.ContainsAny(ns, "/\x00") || ns == "" || ns == "." || ns == ".." {
		return fmt.Errorf("testenv: namespace name %q", ns)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("testenv: open own network namespace: %w", err)
			return
		}
		defer unix.Close(self)
		target, err := unix.Open(filepath.Join("/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("testenv: open namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(target, unix.CLONE_NEWNET)
		unix.Close(target)
		if err != nil {
			errc <- fmt.Errorf("testenv: enter namespace %s: %w", ns, err)
			return
		}
		errc <- f()
		if unix.Setns(self, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// DialFrom connects to addr over TCP from inside namespace ns (the
// management side reaching a node from the rack's server namespace).
func DialFrom(ctx context.Context, ns, addr string) (net.Conn, error) {
	var c net.Conn
	err := InNamespace(ns, func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testenv: dial %s from %s: %w", addr, ns, err)
	}
	return c, nil
}

// ListenIn listens on TCP addr inside namespace ns.
func ListenIn(ns, addr string) (net.Listener, error) {
	var l net.Listener
	err := InNamespace(ns, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("testenv: listen on %s in %s: %w", addr, ns, err)
	}
	return l, nil
}
