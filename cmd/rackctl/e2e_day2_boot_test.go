package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/simredfish"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/nodessh"
	"github.com/rackctl/rackctl/state"
)

// The day-2 runbook observed on booting servers, on a rack mixing BMC
// protocols: node-0 and node-1 behind ipmi_sim BMCs, node-2 and node-3
// behind simulated Redfish BMCs, each BMC driving a simulated server that
// PXE-boots from the rack's dnsmasq and matchbox, installs to its own disk
// and serves SSH on its address (internal/simnode). Every apply verifies
// over SSH (rackctl's default, with the management node's core key where
// Racker keeps it), and every claim is read back from the servers: over SSH
// with the spec's key, checked against the host key rackctl pinned (the
// config hash the node runs, its install generation), from the servers'
// own logs (power, firmware boot device) and from what their BMCs were
// asked to do.
//
// TestE2EDay2 (e2e_day2_test.go) stays for what it covers beside this: the
// same runbook through git commits and `rackctl watch --once` (approval of
// a large change, the blast radius), the rendered files and matchbox's
// profiles step by step, a server added in the middle, BMC credential
// rotation, an invalid commit rejected, a dead BMC; its BMCs have no
// servers behind them (--verify flag). This test holds what can only be
// seen on a server: installs, reinstalls, a swapped server, an excluded
// server left alone. The SSH-key commit reaching every node is in
// e2e_reignite_test.go.

const (
	d2bDomain = "e2e.localdomain"
	d2bIPMI   = 2 // BMCs 0..1 are ipmi_sim, 2..3 simulated Redfish
	d2bNodes  = 4
	d2bPW     = "d2b-s3cret-pw"
	// d2bCAFile is where, under --root, the Redfish BMCs' CA goes.
	d2bCAFile = "usr/share/oem/redfish-ca.pem"
)

// d2bNode is one entry of the spec's node list behind server srv.
type d2bNode struct {
	name        string
	srv         int
	mac         string
	exclude     bool
	reprovision string
}

// day2Boot is the mixed rack of booting servers.
type day2Boot struct {
	*e2eRack
	redfish []*simredfish.BMC // BMC d2bIPMI+k is redfish[k]
	servers *simnode.Rack
	keyFile string // the management node's core key, where Racker keeps it
	nodes   []d2bNode
	// ips are the nodes' addresses after the first apply: nothing may move
	// them.
	ips map[string]netip.Addr
}

func startDay2Boot(t *testing.T) *day2Boot {
	t.Helper()
	// The default key source is the agent; the test uses the default key
	// file beneath --root instead.
	t.Setenv("SSH_AUTH_SOCK", "")
	e := newE2ERack(t, filepath.Join(t.TempDir(), "rack.yaml"), d2bIPMI, d2bPW, "d2b")
	d := &day2Boot{e2eRack: e, ips: map[string]netip.Addr{}}
	_, rf, err := simredfish.StartMany(t.Context(), t.TempDir(), d2bIPMI, d2bNodes-d2bIPMI, e.bmcs.BMCs[0].User, d2bPW)
	must(t, err)
	for _, b := range rf {
		t.Cleanup(func() { b.Close() })
	}
	d.redfish = rf
	must(t, os.WriteFile(filepath.Join(e.root, d2bCAFile), rf[0].CAPEM, 0o644))

	d.keyFile = filepath.Join(e.root, strings.TrimPrefix(engine.DefaultSSHKey, "/"))
	e.sshPub = writeOpsKey(t, d.keyFile, "core@mgmt")

	for i := range d2bNodes {
		d.nodes = append(d.nodes, d2bNode{name: fmt.Sprintf("node-%d", i), srv: i, mac: fmt.Sprintf("02:00:00:00:%02x:01", i)})
	}
	ms, err := simnode.IPMIMachines(e.bmcs)
	must(t, err)
	for _, b := range rf {
		ms = append(ms, simnode.Machine{Name: fmt.Sprintf("bmc-%d", len(ms)), ChassisDir: b.ChassisDir, Firmware: simnode.RedfishFirmware{BMC: b}})
	}
	d.servers, err = simnode.StartMachines(ms, e.dhcp, simnode.RackOptions{
		Dir: t.TempDir(), MAC: func(i int) string { return d.nodes[i].mac }, Log: testLog{t},
	})
	must(t, err)
	t.Cleanup(func() { d.servers.Close() })
	d.writeSpec()
	return d
}

func (d *day2Boot) bmcAddr(srv int) (addr, mac, protocol string) {
	if srv < d2bIPMI {
		b := d.bmcs.BMCs[srv]
		return b.Addr, b.MAC, "ipmi"
	}
	return d.redfish[srv-d2bIPMI].Addr, fmt.Sprintf("02:00:5e:00:01:%02x", srv), "redfish"
}

// writeSpec writes rack.yaml from d.nodes: the BMC protocol is the rack's
// default (ipmi) with a per-node override for the Redfish BMCs.
func (d *day2Boot) writeSpec() {
	var b strings.Builder
	writeSpecHead(&b, "d2b", "flatcar", d2bDomain, d.dhcp, d.mb, d.root)
	fmt.Fprintf(&b, `  redfish:
    caFile: /%s
install:
  cachedInstall: true
cluster:
  sshPubKeys:
    - %s
nodes:
`, d2bCAFile, d.sshPub)
	for _, n := range d.nodes {
		addr, mac, protocol := d.bmcAddr(n.srv)
		fmt.Fprintf(&b, "  - name: %s\n    role: node\n    mac: %s\n    bmcMac: %s\n    bmcAddress: %s\n", n.name, n.mac, mac, addr)
		if protocol != "ipmi" {
			fmt.Fprintf(&b, "    bmcProtocol: %s\n", protocol)
		}
		if n.exclude {
			b.WriteString("    exclude: true\n")
		}
		if n.reprovision != "" {
			fmt.Fprintf(&b, "    reprovision: %q\n", n.reprovision)
		}
	}
	must(d.t, os.WriteFile(d.spec, []byte(b.String()), 0o644))
}

// cmd runs a plan or apply with rackctl's defaults for verification (over
// SSH, the default key beneath --root): only the way into the rack's
// namespace is given.
func (d *day2Boot) cmd(what string, want int, cmd string, extra ...string) cliResult {
	d.t.Helper()
	var args []string
	a := d.args(cmd)
	for i := 0; i < len(a); i++ {
		if a[i] == "--verify" { // e2eRack's opt-out for servers that do not boot
			i++
			continue
		}
		args = append(args, a[i])
	}
	// --timeout: each server's firmware talks to the same ipmi_sim as
	// rackctl, and this machine is shared; 5s was seen to run out.
	args = append(args, "--timeout", "15s", "--verify-timeout", "90s", "--ssh-proxy-command", "ip netns exec "+d.dhcp.ServerNS+" busybox nc %h %p")
	start := time.Now()
	r := cli(d.t, append(args, extra...)...)
	d.t.Logf("timing: %s took %v", what, time.Since(start).Round(time.Millisecond))
	if r.code != want {
		d.t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, want, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, d2bPW) {
		d.t.Errorf("%s: the BMC password appears in rackctl's output", what)
	}
	return r
}

// applyAndSettle is one apply, then a plan that must find nothing to do:
// one apply converges, installs included.
func (d *day2Boot) applyAndSettle(what string) cliResult {
	d.t.Helper()
	r := d.cmd("apply ("+what+")", 0, "apply", "--auto-approve")
	if p := d.cmd("plan after "+what, 0, "plan", "--detailed-exitcode"); !strings.Contains(p.stdout, "No changes") {
		d.t.Errorf("plan after %s:\n%s", what, p.stdout)
	}
	return r
}

// nodeView is what a node shows over SSH.
type nodeView struct {
	hostKey    string // SHA256 fingerprint, the one rackctl pinned
	configHash string
	generation int
}

// observe logs in to node n at its address with the spec's key and reads
// what it runs. The host key must be the one rackctl pinned for n: the
// test checks against a copy of rackctl's known_hosts, so it never pins
// anything itself.
func (d *day2Boot) observe(n d2bNode) nodeView {
	d.t.Helper()
	c := d.sshClient(d.keyFile)
	defer c.Close()
	v := nodeView{hostKey: c.Pinned(n.name)}
	if v.hostKey == "" {
		d.t.Fatalf("%s: rackctl pinned no host key for it", n.name)
	}
	ctx, cancel := context.WithTimeout(d.t.Context(), 30*time.Second)
	defer cancel()
	s, err := c.Dial(ctx, nodessh.Target{Node: n.name, Host: d.ips[n.name].String()}, nodessh.KeepPinned)
	if err != nil {
		d.t.Fatalf("%s: SSH at %s with the spec's key and the pinned host key: %v", n.name, d.ips[n.name], err)
	}
	defer s.Close()
	read := func(p string) string {
		out, err := s.Run(ctx, "cat "+p, nil)
		if err != nil {
			d.t.Fatalf("%s: cat %s: %v", n.name, p, err)
		}
		return strings.TrimSpace(string(out))
	}
	v.configHash = read(nodessh.ConfigHashPath)
	g, err := strconv.Atoi(read(simnode.InstallGenerationPath))
	if err != nil {
		d.t.Fatalf("%s: install generation: %v", n.name, err)
	}
	v.generation = g
	return v
}

func (d *day2Boot) sshClient(key string) *nodessh.Client {
	d.t.Helper()
	known, err := os.ReadFile(state.New(filepath.Join(d.root, "var/lib/rackctl")).File(state.KnownHostsFile))
	must(d.t, err)
	copyFile := filepath.Join(d.t.TempDir(), "known_hosts")
	must(d.t, os.WriteFile(copyFile, known, 0o600))
	c, err := nodessh.New(nodessh.Options{KeyFile: key, KnownHosts: copyFile,
		ProxyCommand: []string{"ip", "netns", "exec", d.dhcp.ServerNS, "busybox", "nc", "%h", "%p"}})
	must(d.t, err)
	return c
}

// rendered is the config hash rackctl rendered for n.
func (d *day2Boot) rendered(n d2bNode) string {
	d.t.Helper()
	cl, err := os.ReadFile(filepath.Join(d.root, "home/core/flatcar-container-linux/cl", n.name+"."+d2bDomain+".yaml"))
	must(d.t, err)
	h := renderedHash.FindString(string(cl))
	if h == "" {
		d.t.Fatalf("%s: no config hash in its rendered CLC", n.name)
	}
	return h
}

// diskHostKey is the fingerprint of the host key on server srv's disk: who
// really answers at a node's address.
func (d *day2Boot) diskHostKey(srv int) string {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.servers.Nodes[srv].DiskRoot(), simnode.HostKeyPath))
	must(d.t, err)
	s, err := ssh.ParsePrivateKey(b)
	must(d.t, err)
	return ssh.FingerprintSHA256(s.PublicKey())
}

// checkRuns asserts node n answers SSH at its address as the server behind
// its BMC (the host key on that server's disk, pinned by rackctl), runs
// the config rendered for it, and has its flag file with its FQDN.
func (d *day2Boot) checkRuns(n d2bNode) nodeView {
	d.t.Helper()
	v := d.observe(n)
	if want := d.rendered(n); v.configHash != want {
		d.t.Errorf("%s runs config %q, want the rendered %q", n.name, v.configHash, want)
	}
	if disk := d.diskHostKey(n.srv); v.hostKey != disk {
		d.t.Errorf("%s: answered with host key %s, but the server behind its BMC has %s", n.name, v.hostKey, disk)
	}
	flag, err := os.ReadFile(filepath.Join(d.root, e2eFlagDir, n.mac))
	if err != nil || strings.TrimSpace(string(flag)) != n.name+"."+d2bDomain {
		d.t.Errorf("%s: flag file %q (%v), want its FQDN", n.name, flag, err)
	}
	return v
}

// serverMark is where each server's log and BMC stood.
type serverMark struct {
	logs  []int
	ipmi  []int               // chassis calls, IPMI BMCs
	files []map[string]string // chassis files, Redfish BMCs
}

func (d *day2Boot) mark() serverMark {
	var m serverMark
	for srv := range d2bNodes {
		m.logs = append(m.logs, len(d.servers.Nodes[srv].Log()))
		if srv < d2bIPMI {
			m.ipmi = append(m.ipmi, len(d.chassisSets(srv)))
		}
		m.files = append(m.files, d.redfishChassis(srv))
	}
	return m
}

// redfishChassis identifies the state of a Redfish BMC's chassis files:
// the BMC rewrites a file (a new inode) at every power or boot-override
// action, even one that changes nothing.
func (d *day2Boot) redfishChassis(srv int) map[string]string {
	if srv < d2bIPMI {
		return nil
	}
	out := map[string]string{}
	for _, f := range []string{"power", "resets", "boot"} {
		p := filepath.Join(d.redfish[srv-d2bIPMI].ChassisDir, f)
		fi, err := os.Stat(p)
		b, _ := os.ReadFile(p)
		if err != nil {
			out[f] = "missing"
			continue
		}
		out[f] = fmt.Sprintf("inode %d, %q", fi.Sys().(*syscall.Stat_t).Ino, b)
	}
	return out
}

// since are server srv's log lines after the mark.
func (d *day2Boot) since(m serverMark, srv int) []string {
	return d.servers.Nodes[srv].Log()[m.logs[srv]:]
}

// untouched asserts that since the mark server srv's BMC got no power or
// boot action and the server neither lost power nor booted.
func (d *day2Boot) untouched(m serverMark, srv int) {
	d.t.Helper()
	name := fmt.Sprintf("server %d (%s)", srv, d.servers.Nodes[srv].Net().MAC)
	for _, l := range d.since(m, srv) {
		for _, s := range []string{simnode.LogPowerOn, simnode.LogPowerOff, "reset", "rebooting", "firmware:"} {
			if strings.Contains(l, s) {
				d.t.Errorf("%s was power-cycled or booted: %q", name, l)
			}
		}
	}
	if srv < d2bIPMI {
		if calls := d.chassisSets(srv)[m.ipmi[srv]:]; len(calls) != 0 {
			d.t.Errorf("%s: its IPMI BMC was acted on: %q", name, calls)
		}
		return
	}
	now := d.redfishChassis(srv)
	for f, was := range m.files[srv] {
		if now[f] != was {
			d.t.Errorf("%s: its Redfish BMC changed %s: %s, then %s", name, f, was, now[f])
		}
	}
}

// reinstalled asserts server srv PXE-booted and installed since the mark.
func (d *day2Boot) reinstalled(m serverMark, srv int) {
	d.t.Helper()
	log := strings.Join(d.since(m, srv), "\n")
	for _, s := range []string{"firmware: boot device pxe", "\n" + simnode.LogInstalled, simnode.LogSSHUp} {
		if !strings.Contains("\n"+log, s) {
			d.t.Errorf("server %d: no %q in its log since the apply began:\n%s", srv, strings.TrimSpace(s), log)
		}
	}
}

// TestE2EDay2Boots runs the day-2 runbook on the mixed rack of booting
// servers (see the comment at the top of this file).
func TestE2EDay2Boots(t *testing.T) {
	testStart := time.Now()
	d := startDay2Boot(t)
	defer func() { t.Logf("timing: whole test %v", time.Since(testStart).Round(time.Millisecond)) }()
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"1_empty_rack_one_apply_installs_every_node", func(t *testing.T) {
			d.applyAndSettle("empty rack")
			res := d.reservations()
			for _, n := range d.nodes {
				d.ips[n.name] = res[n.mac]
				if !d.ips[n.name].IsValid() {
					t.Fatalf("%s: no reservation for %s", n.name, n.mac)
				}
			}
			for _, n := range d.nodes {
				if v := d.checkRuns(n); v.generation != 1 {
					t.Errorf("%s: install generation %d after the first apply, want 1", n.name, v.generation)
				}
			}
			// Only the spec's key logs in.
			other := filepath.Join(t.TempDir(), "id_other")
			writeOpsKey(t, other, "other")
			c := d.sshClient(other)
			defer c.Close()
			for _, n := range d.nodes {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				s, err := c.Dial(ctx, nodessh.Target{Node: n.name, Host: d.ips[n.name].String()}, nodessh.KeepPinned)
				cancel()
				if err == nil {
					s.Close()
					t.Errorf("%s: a key not in the spec logged in", n.name)
				} else if !strings.Contains(err.Error(), "unable to authenticate") {
					t.Errorf("%s: a key not in the spec: %v, want the login refused", n.name, err)
				}
			}
		}},
		{"2_reprovision_ipmi_node_reinstalls_only_it", func(t *testing.T) {
			before := map[string]nodeView{}
			for _, n := range d.nodes {
				before[n.name] = d.observe(n)
			}
			m := d.mark()
			d.nodes[1].reprovision = "1"
			d.writeSpec()
			d.applyAndSettle("reprovision node-1")
			d.reinstalled(m, d.nodes[1].srv)
			for _, n := range d.nodes {
				v := d.checkRuns(n)
				if n.name == "node-1" {
					if v.generation != before[n.name].generation+1 || v.hostKey == before[n.name].hostKey {
						t.Errorf("node-1: generation %d, host key %s after its reprovision; before %d, %s: want the next generation and a new host key",
							v.generation, v.hostKey, before[n.name].generation, before[n.name].hostKey)
					}
					continue
				}
				d.untouched(m, n.srv)
				if v != before[n.name] {
					t.Errorf("%s changed with node-1's reprovision: %+v, before %+v", n.name, v, before[n.name])
				}
			}
		}},
		{"3_replaced_redfish_server_installs_and_takes_the_ip", func(t *testing.T) {
			n3 := &d.nodes[3]
			before := map[string]nodeView{}
			for _, n := range d.nodes {
				before[n.name] = d.observe(n)
			}
			oldMAC, oldHostKey := n3.mac, d.diskHostKey(n3.srv)
			// A new server in node-3's slot, behind the same Redfish BMC.
			n3.mac = "02:00:00:00:03:02"
			_, err := d.servers.Replace(n3.srv, n3.mac)
			must(t, err)
			m := d.mark()
			d.writeSpec()
			r := d.applyAndSettle("replace node-3's server")
			d.reinstalled(m, n3.srv)
			v := d.checkRuns(*n3) // at its old address, as the new server
			if v.generation != 1 || v.hostKey == oldHostKey {
				t.Errorf("node-3 after the swap: generation %d, host key %s (the old server's %s): want the new server's first install",
					v.generation, v.hostKey, oldHostKey)
			}
			if strings.Contains(r.stdout+r.stderr, "host key changed") {
				t.Errorf("the new server's host key was reported, though an install makes a new one:\n%s", lastLines(r.stderr, 20))
			}
			res := d.reservations()
			if ip, ok := res[oldMAC]; ok {
				t.Errorf("the old server's MAC %s still has a reservation (%s)", oldMAC, ip)
			}
			if res[n3.mac] != d.ips[n3.name] {
				t.Errorf("node-3's new MAC is reserved %v, want its address %s", res[n3.mac], d.ips[n3.name])
			}
			if got, err := d.dhcp.Request(t.Context(), oldMAC); err == nil && got == d.ips[n3.name] {
				t.Errorf("the old MAC %s is still served node-3's %s", oldMAC, got)
			} else if err != nil && !errors.Is(err, testenv.ErrNoLease) {
				t.Error(err)
			}
			if _, err := os.Stat(filepath.Join(d.root, e2eFlagDir, oldMAC)); err == nil {
				t.Errorf("the old server's flag file %s is left", oldMAC)
			}
			for _, n := range d.nodes[:3] {
				d.untouched(m, n.srv)
				if v := d.observe(n); v != before[n.name] {
					t.Errorf("%s changed with node-3's swap: %+v, before %+v", n.name, v, before[n.name])
				}
			}
		}},
		{"4_excluded_ipmi_node_is_left_running", func(t *testing.T) {
			n0 := &d.nodes[0]
			before := map[string]nodeView{}
			for _, n := range d.nodes {
				before[n.name] = d.observe(n)
			}
			m := d.mark()
			n0.exclude = true
			d.writeSpec()
			d.applyAndSettle("exclude node-0")
			for _, n := range d.nodes {
				d.untouched(m, n.srv)
				// The excluded server keeps running what it ran: same
				// address, host key, config and install.
				if v := d.observe(n); v != before[n.name] {
					t.Errorf("%s changed with node-0's exclusion: %+v, before %+v", n.name, v, before[n.name])
				}
			}
			// Racker's exclude.sh: out of the provisioner's arrays and
			// /etc/hosts, its flag file gone; the BMC keeps its address.
			res := d.reservations()
			if ip, ok := res[n0.mac]; ok {
				t.Errorf("excluded node-0: its MAC %s still has a reservation (%s)", n0.mac, ip)
			}
			_, bmcMAC, _ := d.bmcAddr(n0.srv)
			if _, ok := res[bmcMAC]; !ok {
				t.Errorf("excluded node-0: its BMC's reservation (%s) is gone", bmcMAC)
			}
			hosts, err := os.ReadFile(filepath.Join(d.root, "etc/hosts"))
			must(t, err)
			for line := range strings.Lines(string(hosts)) {
				if slices.Contains(strings.Fields(line), n0.name) {
					t.Errorf("excluded node-0 is still in /etc/hosts: %q", line)
				}
			}
			if _, err := os.Stat(filepath.Join(d.root, e2eFlagDir, n0.mac)); err == nil {
				t.Error("excluded node-0 kept its flag file")
			}
		}},
	}
	for _, s := range steps {
		start := time.Now()
		ok := t.Run(s.name, func(t *testing.T) {
			d.t = t
			s.run(t)
		})
		d.t = t
		t.Logf("timing: step %s took %v", s.name, time.Since(start).Round(time.Millisecond))
		if !ok {
			t.Fatalf("step %s failed; later steps build on it", s.name)
		}
	}
}
