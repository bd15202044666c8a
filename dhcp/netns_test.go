package dhcp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// The integration test runs the real dnsmasq in one network namespace and
// busybox udhcpc in another, joined by a veth pair. Addresses exist only
// inside the two namespaces.
const (
	nsPrefix   = "rackctl-dhcptest-" // + creator PID + "-" + random
	serverIf   = "dhs0"
	clientIf   = "dhc0"
	serverAddr = "172.24.213.1/24"
)

// rackConf renders the dnsmasq config of a one-node rack with
// render.DnsmasqConf, bound to the test's veth. Two test-only changes: the
// TFTP root is a temporary directory (dnsmasq refuses to start without it)
// and DNS is off (port=0).
func rackConf(t *testing.T, tftpRoot, mac, bmcMAC, ip, bmcIP string) []byte {
	t.Helper()
	r := &schema.Rack{
		APIVersion:  schema.APIVersion,
		Kind:        schema.Kind,
		Name:        "dhcp-test",
		Provisioner: schema.Flatcar,
		Domain:      "example.com",
		Network: schema.Network{Internal: schema.InternalNetwork{
			Subnet:       "172.24.213.0/24",
			Gateway:      "172.24.213.1",
			DNS:          []string{"172.24.213.1"},
			Interface:    serverIf,
			DynamicRange: schema.IPRange{Start: "172.24.213.128", End: "172.24.213.254"},
		}},
		Matchbox: schema.Matchbox{HTTPEndpoint: "http://172.24.213.1:8080", RPCEndpoint: "172.24.213.1:8081"},
		Nodes:    []schema.Node{{Name: nodeName, Role: schema.RoleNode, MAC: mac, BMCMAC: bmcMAC}},
	}
	conf, err := render.DnsmasqConf(render.Input{
		Rack:  r,
		Addrs: map[string]ipam.Addrs{nodeName: {Primary: netip.MustParseAddr(ip), BMC: netip.MustParseAddr(bmcIP)}},
	})
	if err != nil {
		t.Fatalf("render dnsmasq config: %v", err)
	}
	const tftp = "\ntftp-root=/var/lib/tftpboot\n"
	if !bytes.Contains(conf, []byte(tftp)) {
		t.Fatalf("rendered config has no %q line; update the test:\n%s", strings.TrimSpace(tftp), conf)
	}
	conf = bytes.Replace(conf, []byte(tftp), []byte("\ntftp-root="+tftpRoot+"\n"), 1)
	return append(conf, "port=0\n"...)
}

const nodeName = "node-0"

func TestDnsmasqInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (network namespaces)")
	}
	needTools(t, "ip", "dnsmasq", "dhcp_release", "busybox")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	removeStaleNamespaces(t)
	n := newNetns(t)
	dir := t.TempDir()
	d := startDnsmasq(t, n.server, dir)

	const (
		macA   = "aa:bb:cc:dd:ee:11"
		macA2  = "aa:bb:cc:dd:ee:21" // node-0's replacement NIC
		macBMC = "aa:bb:cc:dd:ee:12"
		ipA    = "172.24.213.3"
		ipBMC  = "172.24.213.4"
	)
	tftp := t.TempDir()
	conf1 := rackConf(t, tftp, macA, macBMC, ipA, ipBMC)
	if err := os.WriteFile(d.conf, conf1, 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(t)
	s := New(Config{
		ConfPath:   d.conf,
		LeasePath:  d.leases,
		Interface:  serverIf,
		ReloadCmd:  []string{d.restartScript, d.readyFile},
		ExecPrefix: []string{"ip", "netns", "exec", n.server},
		Log:        testLogger(t),
	})

	// The config in place: Install changes nothing and does not restart.
	if changed, err := s.Install(ctx, conf1); err != nil || changed {
		t.Fatalf("Install same config = %v, %v; want false, nil", changed, err)
	}
	if got := d.starts(); got != 1 {
		t.Fatalf("dnsmasq started %d times, want 1 (no reload for an unchanged config)", got)
	}

	// The reserved host gets exactly its reserved IP, BMC too.
	if got := n.request(ctx, t, macA); got != netip.MustParseAddr(ipA) {
		t.Fatalf("%s got %v, want reserved %s", macA, got, ipA)
	}
	if got := n.request(ctx, t, macBMC); got != netip.MustParseAddr(ipBMC) {
		t.Fatalf("%s got %v, want reserved %s", macBMC, got, ipBMC)
	}
	leases := mustLeases(t, s)
	if l, ok := findLease(leases, macA); !ok || l.IP.String() != ipA || l.Expiry.IsZero() {
		t.Fatalf("lease file: %+v, want %s on %s with an expiry", leases, macA, ipA)
	}
	live, err := os.ReadFile(d.conf)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ParseReservations(live)
	if err != nil {
		t.Fatal(err)
	}
	if f := Drift(res, leases, time.Now()); len(f) != 0 {
		t.Fatalf("drift on a settled rack: %v", f)
	}

	// A failing check leaves the live file and dnsmasq alone.
	bad := append(slices.Clone(conf1), "dhcp-range=172.24.213.300\n"...)
	var ce *CheckError
	if changed, err := s.Install(ctx, bad); changed || !errors.As(err, &ce) {
		t.Fatalf("Install bad config = %v, %v; want false and a CheckError", changed, err)
	}
	assertFile(t, d.conf, string(conf1))
	if got := d.starts(); got != 1 {
		t.Fatalf("dnsmasq restarted after a failed check")
	}

	// Replace node-0's NIC: same IP, new MAC. Install restarts dnsmasq.
	conf2 := rackConf(t, tftp, macA2, macBMC, ipA, ipBMC)
	if changed, err := s.Install(ctx, conf2); err != nil || !changed {
		t.Fatalf("Install new MAC = %v, %v; want true, nil", changed, err)
	}
	if got := d.starts(); got != 2 {
		t.Fatalf("dnsmasq started %d times, want 2 (one reload)", got)
	}

	// The old MAC's active lease wins over the changed reservation.
	got := n.request(ctx, t, macA2)
	if got == netip.MustParseAddr(ipA) || !inDynamicRange(got) {
		t.Fatalf("new MAC %s got %v while the old lease is active, want a dynamic-range IP", macA2, got)
	}
	// Drift sees it: the reserved IP is held by the old MAC.
	live, _ = os.ReadFile(d.conf)
	res, err = ParseReservations(live)
	if err != nil {
		t.Fatal(err)
	}
	var taken *Finding
	findings := Drift(res, mustLeases(t, s), time.Now())
	for i, f := range findings {
		if f.Kind == IPTaken {
			taken = &findings[i]
		}
	}
	if taken == nil || taken.MAC != macA2 || taken.Lease.MAC != macA || taken.Lease.IP.String() != ipA ||
		!slices.Equal(taken.Fixes, []Fix{Release}) {
		t.Fatalf("drift = %v, want ip-taken: %s held by %s", findings, ipA, macA)
	}
	t.Logf("drift before release: %v", findings)

	// Still true on a second try: nothing but the release changes it.
	if got := n.request(ctx, t, macA2); got == netip.MustParseAddr(ipA) {
		t.Fatalf("new MAC got the reserved IP before the stale lease was released")
	}

	// Release the stale lease: it leaves the lease file ...
	if err := s.Release(ctx, taken.Lease); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if l, ok := findLease(mustLeases(t, s), macA); ok && l.IP.String() == ipA {
		t.Fatalf("lease %+v still present after Release", l)
	}
	// ... the new MAC gets the reserved IP, the old MAC no longer does.
	if got := n.request(ctx, t, macA2); got != netip.MustParseAddr(ipA) {
		t.Fatalf("new MAC %s got %v after release, want %s", macA2, got, ipA)
	}
	if got := n.request(ctx, t, macA); got == netip.MustParseAddr(ipA) || (got.IsValid() && !inDynamicRange(got)) {
		t.Fatalf("old MAC %s got %v, want a dynamic-range IP or none", macA, got)
	}
	live, _ = os.ReadFile(d.conf)
	res, _ = ParseReservations(live)
	for _, f := range Drift(res, mustLeases(t, s), time.Now()) {
		if f.Kind == IPTaken || f.Kind == WrongIP && f.MAC == macA2 {
			t.Errorf("drift after release: %v", f)
		}
	}

	// Change the BMC's IP (same MAC): drift reports its lease on the old IP;
	// after the release the BMC gets the new IP.
	const ipBMC2 = "172.24.213.5"
	conf3 := rackConf(t, tftp, macA2, macBMC, ipA, ipBMC2)
	if changed, err := s.Install(ctx, conf3); err != nil || !changed {
		t.Fatalf("Install new BMC IP = %v, %v; want true, nil", changed, err)
	}
	res, _ = ParseReservations(conf3)
	for i := range res {
		res[i].BMC = res[i].MAC == macBMC
	}
	var wrong *Finding
	findings = Drift(res, mustLeases(t, s), time.Now())
	for i, f := range findings {
		if f.Kind == WrongIP && f.MAC == macBMC {
			wrong = &findings[i]
		}
	}
	if wrong == nil || wrong.LeaseIP.String() != ipBMC || !slices.Equal(wrong.Fixes, []Fix{Release, BMCRenew}) {
		t.Fatalf("drift = %v, want wrong-ip for the BMC (%s, want %s) with release + BMC renew", findings, ipBMC, ipBMC2)
	}
	if err := s.Release(ctx, wrong.Lease); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got := n.request(ctx, t, macBMC); got != netip.MustParseAddr(ipBMC2) {
		t.Fatalf("BMC %s got %v, want new reserved %s", macBMC, got, ipBMC2)
	}

	// A release that cannot reach dnsmasq is reported, not silent.
	s2 := New(Config{LeasePath: d.leases, Interface: serverIf, ReleaseWait: 300 * time.Millisecond,
		ExecPrefix: []string{"ip", "netns", "exec", n.client}})
	l, _ := findLease(mustLeases(t, s), macA2)
	if err := s2.Release(ctx, l); err == nil {
		t.Fatalf("Release from the wrong namespace succeeded")
	}
}

func inDynamicRange(a netip.Addr) bool {
	lo, hi := netip.MustParseAddr("172.24.213.128"), netip.MustParseAddr("172.24.213.254")
	return a.IsValid() && a.Compare(lo) >= 0 && a.Compare(hi) <= 0
}

func mustLeases(t *testing.T, s *Server) []Lease {
	t.Helper()
	ls, err := s.Leases()
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func findLease(ls []Lease, mac string) (Lease, bool) {
	for _, l := range ls {
		if l.MAC == mac {
			return l, true
		}
	}
	return Lease{}, false
}

// netnsPair is two namespaces joined by a veth pair: dnsmasq's and the client's.
type netnsPair struct {
	server, client string
	script, out    string // udhcpc script and the file it writes
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newNetns(t *testing.T) *netnsPair {
	t.Helper()
	rnd := make([]byte, 3)
	rand.Read(rnd)
	base := nsPrefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd)
	n := &netnsPair{server: base + "-s", client: base + "-c"}
	for _, ns := range []string{n.server, n.client} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { deleteNamespace(t, ns) })
	}
	// Created inside the namespaces: the interface names never exist in the host's.
	ipCmd(t, "-n", n.server, "link", "add", serverIf, "type", "veth", "peer", "name", clientIf, "netns", n.client)
	ipCmd(t, "-n", n.server, "addr", "add", serverAddr, "dev", serverIf)
	for _, ns := range []string{n.server, n.client} {
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "-n", n.server, "link", "set", serverIf, "up")

	dir := t.TempDir()
	n.out = filepath.Join(dir, "udhcpc.out")
	n.script = filepath.Join(dir, "udhcpc.sh")
	// Record the offered IP; configure nothing.
	script := "#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" > " + n.out + "\nexit 0\n"
	if err := os.WriteFile(n.script, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return n
}

// request sets the client's MAC and runs one DHCP exchange; it returns the
// bound IP, or the zero Addr when no lease was obtained.
func (n *netnsPair) request(ctx context.Context, t *testing.T, mac string) netip.Addr {
	t.Helper()
	ipCmd(t, "-n", n.client, "link", "set", "dev", clientIf, "down")
	ipCmd(t, "-n", n.client, "link", "set", "dev", clientIf, "address", mac)
	ipCmd(t, "-n", n.client, "link", "set", "dev", clientIf, "up")
	os.Remove(n.out)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.client,
		"busybox", "udhcpc", "-i", clientIf, "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", n.script)
	out, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(n.out)
	if err != nil || rerr != nil {
		t.Logf("udhcpc %s: no lease (%v): %s", mac, err, out)
		return netip.Addr{}
	}
	a, perr := netip.ParseAddr(strings.TrimSpace(string(b)))
	if perr != nil {
		t.Fatalf("udhcpc script wrote %q: %v", b, perr)
	}
	t.Logf("udhcpc %s: bound %s", mac, a)
	return a
}

// deleteNamespace kills what runs in ns, then deletes it.
func deleteNamespace(t *testing.T, ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for f := range strings.FieldsSeq(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
		t.Errorf("delete netns %s: %v: %s", ns, err, out)
	}
}

// removeStaleNamespaces deletes namespaces this test left behind in runs
// that crashed: those whose creator process is gone.
func removeStaleNamespaces(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], nsPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(f[0], nsPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == nil {
			continue // its test is still running
		}
		t.Logf("removing stale namespace %s", f[0])
		deleteNamespace(t, f[0])
	}
}

// testDnsmasq supervises the real dnsmasq in the foreground, restarting it
// whenever it exits, as systemd's Restart=always does on a Racker node.
// The reload command kills it and waits for the supervisor to bring it back.
// dnsmasq writes no pid file with no-daemon (Racker's config has it), so
// the supervisor writes readyFile once dnsmasq logs that DHCP is set up.
type testDnsmasq struct {
	ns                             string
	conf, leases, pidFile, logFile string
	readyFile                      string // PID of a dnsmasq that is serving DHCP
	restartScript                  string
	mu                             sync.Mutex
	nstarts                        int
	cmd                            *exec.Cmd
	stop                           chan struct{}
	done                           chan struct{}
}

func startDnsmasq(t *testing.T, ns, dir string) *testDnsmasq {
	d := &testDnsmasq{
		ns:            ns,
		conf:          filepath.Join(dir, "dnsmasq", "dnsmasq.conf"),
		leases:        filepath.Join(dir, "dnsmasq.leases"),
		pidFile:       filepath.Join(dir, "dnsmasq.pid"),
		logFile:       filepath.Join(dir, "dnsmasq.log"),
		readyFile:     filepath.Join(dir, "ready.pid"),
		restartScript: filepath.Join(dir, "restart.sh"),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	if err := os.MkdirAll(filepath.Dir(d.conf), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
# restart dnsmasq: kill it, wait for the supervisor to start a new one.
pidfile=$1
old=$(cat "$pidfile") || exit 1
kill "$old" || exit 1
n=0
while :; do
	new=$(cat "$pidfile" 2>/dev/null)
	if [ -n "$new" ] && [ "$new" != "$old" ] && kill -0 "$new" 2>/dev/null; then exit 0; fi
	n=$((n+1))
	if [ $n -gt 200 ]; then echo "dnsmasq did not come back" >&2; exit 1; fi
	sleep 0.05
done
`
	if err := os.WriteFile(d.restartScript, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *testDnsmasq) starts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nstarts
}

// start runs the supervisor and waits for the first dnsmasq to be up.
func (d *testDnsmasq) start(t *testing.T) {
	t.Helper()
	logf, err := os.Create(d.logFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(d.stop)
		d.mu.Lock()
		if d.cmd != nil && d.cmd.Process != nil {
			d.cmd.Process.Kill()
		}
		d.mu.Unlock()
		<-d.done
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(d.logFile)
			t.Logf("dnsmasq log:\n%s", b)
		}
	})
	go func() {
		defer close(d.done)
		quick := 0
		for {
			cmd := exec.Command("ip", "netns", "exec", d.ns, "dnsmasq", "--keep-in-foreground", "--log-facility=-",
				"--conf-file="+d.conf, "--dhcp-leasefile="+d.leases, "--pid-file="+d.pidFile)
			pr, pw, err := os.Pipe()
			if err != nil {
				fmt.Fprintf(logf, "supervisor: %v\n", err)
				return
			}
			cmd.Stdout, cmd.Stderr = pw, pw
			d.mu.Lock()
			select {
			case <-d.stop:
				d.mu.Unlock()
				return
			default:
			}
			err = cmd.Start()
			pw.Close()
			if err == nil {
				d.cmd = cmd
				d.nstarts++
			}
			d.mu.Unlock()
			copied := make(chan struct{})
			go func() {
				defer close(copied)
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					fmt.Fprintln(logf, sc.Text())
					if strings.Contains(sc.Text(), "DHCP, IP range") {
						os.WriteFile(d.readyFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
					}
				}
			}()
			if err != nil {
				pr.Close()
				fmt.Fprintf(logf, "supervisor: start dnsmasq: %v\n", err)
				return
			}
			began := time.Now()
			cmd.Wait()
			<-copied
			pr.Close()
			if time.Since(began) < time.Second {
				if quick++; quick > 5 {
					fmt.Fprintf(logf, "supervisor: dnsmasq keeps exiting, giving up\n")
					return
				}
			} else {
				quick = 0
			}
			select {
			case <-d.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(d.readyFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && syscall.Kill(pid, 0) == nil {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(d.logFile)
	t.Fatalf("dnsmasq did not start:\n%s", b)
}
