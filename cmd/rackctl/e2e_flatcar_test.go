package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vincent-petithory/dataurl"

	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/reconcile"
)

// e2eRack is the real rack a full `rackctl apply` drives: ipmi_sim BMCs,
// matchbox (terraform's target), dnsmasq in a network namespace with a
// udhcpc client beside it.
type e2eRack struct {
	t     *testing.T
	root  string
	spec  string
	bmcs  *simrack.Rack
	mb    *testenv.Matchbox
	dhcp  *testenv.DHCP
	tools testenv.Tools
	macs  []string // node i's primary MAC
	// sshPub, when set, is the spec's SSH key (else a key no one holds).
	sshPub string
	// rollout, when set, is the spec's rollout: section (YAML, top level).
	rollout string
}

const (
	e2eNodes    = 3
	e2eLeases   = "/var/lib/misc/dnsmasq.leases" // under --root
	e2eFlagDir  = "home/core/flatcar-container-linux/assets"
	e2eCertDir  = "opt/racker-state/matchbox-client"
	e2eDnsmasq  = "opt/racker-state/dnsmasq/dnsmasq.conf"
	e2eFlatcarV = "current"
)

func startE2ERack(t *testing.T) *e2eRack {
	t.Helper()
	e := newE2ERack(t, filepath.Join(t.TempDir(), "rack.yaml"), e2eNodes, "e2e-secret-pw", "e2e")
	e.writeSpec(map[int]string{})
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// recordChassis makes BMC b's chassis control script log every call
// ("set power 1", "set boot pxe", ...) to chassis/calls in its state dir,
// then do what it did. ipmi_sim runs the script anew for each operation.
func recordChassis(t *testing.T, b simrack.BMC) {
	t.Helper()
	script := filepath.Join(b.Dir, "chassis-control.sh")
	orig := filepath.Join(b.Dir, "chassis-control.orig.sh")
	must(t, os.Rename(script, orig))
	wrapper := "#!/bin/sh\necho \"$*\" >> '" + filepath.Join(b.StateDir, "chassis", "calls") + "'\nexec '" + orig + "' \"$@\"\n"
	must(t, os.WriteFile(script, []byte(wrapper), 0o700))
}

// chassisSets returns the "set ..." calls BMC i's chassis script got.
func (e *e2eRack) chassisSets(i int) []string { return chassisSets(e.bmcs.BMCs[i]) }

// chassisSets returns the "set ..." calls b's chassis script got since
// recordChassis.
func chassisSets(b simrack.BMC) []string {
	calls, _ := os.ReadFile(filepath.Join(b.StateDir, "chassis", "calls"))
	var out []string
	for line := range strings.Lines(string(calls)) {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "set ") {
			out = append(out, l)
		}
	}
	return out
}

func (e *e2eRack) chassisFile(i int, name string) string {
	b, _ := os.ReadFile(filepath.Join(e.bmcs.BMCs[i].StateDir, "chassis", name))
	return strings.TrimSpace(string(b))
}

// writeSpecHead writes what every e2e rack.yaml starts with, up to the
// bmc section's credential files: the rack's name, provisioner and domain,
// and the network and matchbox the test started.
func writeSpecHead(b *strings.Builder, name, provisioner, domain string, d *testenv.DHCP, mb *testenv.Matchbox, root string) {
	fmt.Fprintf(b, `apiVersion: rackctl/v1alpha1
kind: Rack
name: %s
provisioner: %s
domain: %s
network:
  internal:
    subnet: %s
    gateway: %s
    dns: [%s]
    interface: %s
matchbox:
  httpEndpoint: %s
  rpcEndpoint: %s
  # terraform reads file() paths as written: absolute, not under --root
  clientCertDir: %s
bmc:
  userFile: /usr/share/oem/ipmi_user
  passwordFile: /usr/share/oem/ipmi_password
`, name, provisioner, domain, d.ServerIP.Masked(), d.ServerIP.Addr(), d.ServerIP.Addr(), d.ServerIface,
		mb.HTTPEndpoint(), mb.RPC, filepath.Join(root, e2eCertDir))
}

// writeSpec writes the rack.yaml; reprovision maps node index → value.
func (e *e2eRack) writeSpec(reprovision map[int]string) {
	var b strings.Builder
	writeSpecHead(&b, "e2e", "flatcar", "e2e.localdomain", e.dhcp, e.mb, e.root)
	fmt.Fprintf(&b, `install:
  cachedInstall: true
cluster:
  sshPubKeys:
    - %s
nodes:
`, cmp.Or(e.sshPub, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGUyZS1mbGF0Y2FyLXJhY2sta2V5 ops@e2e"))
	for i, bm := range e.bmcs.BMCs {
		fmt.Fprintf(&b, "  - name: node-%d\n    role: node\n    mac: %s\n    bmcMac: %s\n    bmcAddress: %s\n", i, e.macs[i], bm.MAC, bm.Addr)
		if v, ok := reprovision[i]; ok {
			fmt.Fprintf(&b, "    reprovision: %q\n", v)
		}
	}
	b.WriteString(e.rollout)
	must(e.t, os.WriteFile(e.spec, []byte(b.String()), 0o644))
}

// args are the flags of a full plan or apply against the real parts.
func (e *e2eRack) args(cmd string, extra ...string) []string {
	a := []string{cmd, "-f", e.spec, "--root", e.root,
		"--dhcp", "dnsmasq",
		"--dnsmasq-reload-cmd", strings.Join(e.dhcp.ReloadCmd, " "),
		"--dnsmasq-leases", e2eLeases,
		"--dnsmasq-interface", e.dhcp.ServerIface,
		"--dhcp-release-prefix", "ip netns exec " + e.dhcp.ServerNS,
		"--bmc", "auto",
		"--provisioner-run", "auto",
		"--terraform", e.tools.Terraform,
		"--terraformrc", e.tools.Terraformrc,
		"--verify", "flag", // these servers do not boot: installs assumed (TestE2EFlatcarBoots observes them)
	}
	return append(a, extra...)
}

func (e *e2eRack) run(what string, want int, cmd string, extra ...string) cliResult {
	e.t.Helper()
	start := time.Now()
	r := cli(e.t, e.args(cmd, extra...)...)
	e.t.Logf("timing: %s took %v", what, time.Since(start).Round(time.Millisecond))
	if r.code != want {
		e.t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// reservations maps each MAC to the IP the rendered dnsmasq.conf reserves.
func (e *e2eRack) reservations() map[string]netip.Addr {
	e.t.Helper()
	conf, err := os.ReadFile(filepath.Join(e.root, e2eDnsmasq))
	must(e.t, err)
	res, err := dhcp.ParseReservations(conf)
	must(e.t, err)
	out := map[string]netip.Addr{}
	for _, r := range res {
		out[r.MAC] = r.IP
	}
	return out
}

// served is the part of a served Ignition config the test reads.
type served struct {
	Ignition struct{ Version string }
	Storage  struct {
		Files []struct {
			Path     string
			Contents struct{ Source string }
		}
	}
}

func (e *e2eRack) ignition(path string) served {
	e.t.Helper()
	code, body, err := e.mb.Get(e.t.Context(), path)
	var s served
	if err != nil || code != 200 {
		e.t.Fatalf("GET %s: %d %v\n%s", path, code, err, body)
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		e.t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
	return s
}

func (s served) file(t *testing.T, p string) (string, bool) {
	t.Helper()
	for _, f := range s.Storage.Files {
		if f.Path == p {
			d, err := dataurl.DecodeString(f.Contents.Source)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			return string(d.Data), true
		}
	}
	return "", false
}

// checkServed asserts what matchbox serves node i: its final Ignition
// (networkd unit with its MAC and reserved IP) always, and the PXE install
// (kernel, installer Ignition) exactly when install is true.
func (e *e2eRack) checkServed(i int, ip netip.Addr, install bool) {
	t := e.t
	t.Helper()
	mac := e.macs[i]
	final := e.ignition("/ignition?mac=" + mac + "&os=installed")
	unit, ok := final.file(t, "/etc/systemd/network/10-priv-stable.network")
	if !ok || !strings.Contains(unit, "MACAddress="+mac+"\n") || !strings.Contains(unit, "Address="+ip.String()+"/24\n") {
		t.Errorf("node-%d: final Ignition's networkd unit (present %v), want MAC %s and %s/24:\n%s", i, ok, mac, ip, unit)
	}
	code, ipxe, err := e.mb.Get(t.Context(), "/ipxe?mac="+strings.ReplaceAll(mac, ":", "-"))
	if err != nil {
		t.Fatal(err)
	}
	byMAC := e.ignition("/ignition?mac=" + mac)
	_, installer := byMAC.file(t, "/opt/installer")
	if install {
		kernel := "kernel /assets/flatcar/" + e2eFlatcarV + "/flatcar_production_pxe.vmlinuz"
		if code != 200 || !strings.Contains(ipxe, kernel) || !strings.Contains(ipxe, "flatcar.config.url="+e.mb.HTTPEndpoint()+"/ignition?") {
			t.Errorf("node-%d: iPXE (%d) lacks the install kernel %q:\n%s", i, code, kernel, ipxe)
		}
		if !installer {
			t.Errorf("node-%d: /ignition?mac is not the installer", i)
		}
	} else {
		if strings.Contains(ipxe, "vmlinuz") {
			t.Errorf("installed node-%d: iPXE still boots a kernel:\n%s", i, ipxe)
		}
		if installer {
			t.Errorf("installed node-%d: /ignition?mac still serves the installer", i)
		}
	}
}

func (e *e2eRack) flagExists(i int) bool {
	_, err := os.Stat(filepath.Join(e.root, e2eFlagDir, e.macs[i]))
	return err == nil
}

// TestE2EFlatcarApply runs full `rackctl apply`s of a three-node flatcar
// rack against the real parts: ipmi_sim BMCs, dnsmasq in a network
// namespace (reloaded by rackctl, asked by udhcpc), terraform with the
// matchbox provider from the local mirror, and a real matchbox. A flatcar
// rack converges in two applies: the first installs (PXE profiles, PXE
// boot, flag files), the second moves matchbox to the installed profiles
// and sets the boot device back to disk.
func TestE2EFlatcarApply(t *testing.T) {
	testStart := time.Now()
	e := startE2ERack(t)

	// Apply 1: install every node.
	r := e.run("apply 1", 0, "apply", "--auto-approve")
	t.Logf("apply 1 output (end):\n%s", lastLines(r.stdout, 12))
	res := e.reservations()
	for i := range e2eNodes {
		ip, ok := res[e.macs[i]]
		if !ok {
			t.Fatalf("no reservation for node-%d (%s)", i, e.macs[i])
		}
		e.checkServed(i, ip, true)
		if got := e.chassisFile(i, "boot"); got != "pxe" {
			t.Errorf("node-%d: BMC boot device %q, want pxe", i, got)
		}
		if got := e.chassisFile(i, "power"); got != "1" {
			t.Errorf("node-%d: BMC power %q, want 1 (on)", i, got)
		}
		if !e.flagExists(i) {
			t.Errorf("node-%d: verify wrote no flag file", i)
		}
		// What a PXE-booting node gets from dnsmasq: its reserved IP.
		got, err := e.dhcp.Request(t.Context(), e.macs[i])
		if err != nil || got != ip {
			t.Errorf("node-%d: DHCP for %s got %v (%v), want reserved %s", i, e.macs[i], got, err, ip)
		}
		bmcIP := res[e.bmcs.BMCs[i].MAC]
		if got, err := e.dhcp.Request(t.Context(), e.bmcs.BMCs[i].MAC); err != nil || got != bmcIP || !bmcIP.IsValid() {
			t.Errorf("node-%d BMC: DHCP got %v (%v), want reserved %s", i, got, err, bmcIP)
		}
	}
	// dnsmasq starts once the config exists; the reload may catch it
	// starting (one start) or restart it (two).
	starts := e.dhcp.Starts()
	if starts < 1 || starts > 2 {
		t.Errorf("dnsmasq started %d times by apply 1, want 1 or 2", starts)
	}
	t.Logf("chassis calls after apply 1: %q", e.chassisSets(0))
	if t.Failed() {
		t.FailNow()
	}

	// Apply 2: the flag files are there, so terraform moves matchbox to
	// the installed profiles, and the BMCs boot from disk again.
	r = e.run("apply 2", 0, "apply", "--auto-approve")
	t.Logf("apply 2 output (end):\n%s", lastLines(r.stdout, 12))
	for i := range e2eNodes {
		e.checkServed(i, res[e.macs[i]], false)
		// ipmi_sim calls IPMI's "force boot from default hard-drive" default.
		if got := e.chassisFile(i, "boot"); got != "default" {
			t.Errorf("node-%d: boot device %q after apply 2, want default (disk)", i, got)
		}
	}
	// Apply 3 would do nothing, and planning it starts no terraform and
	// writes to no BMC: terraform's inputs are what apply 2 left.
	realTF, chassis := e.tools.Terraform, e.chassisSets(0)
	var tfStarts func() int
	e.tools.Terraform, tfStarts = countingTool(t, realTF)
	r = e.run("plan 3", 0, "plan", "--detailed-exitcode")
	e.tools.Terraform = realTF
	if !strings.Contains(r.stdout, "No changes") || !strings.Contains(r.stdout, "not re-planned, inputs unchanged since") {
		t.Errorf("plan 3:\n%s", r.stdout)
	}
	if n, now := tfStarts(), e.chassisSets(0); n != 0 || len(now) != len(chassis) {
		t.Errorf("plan 3 started terraform %d times, chassis calls %q then %q: want none", n, chassis, now)
	}
	if n := e.dhcp.Starts(); n != starts {
		t.Errorf("dnsmasq started %d times, want still %d (apply 2 changed no config)", n, starts)
	}

	// Reprovision node-1: exactly its flag file, a provisioner run, its
	// PXE boot and power cycle, and its verify.
	before := make([][]string, e2eNodes)
	for i := range e2eNodes {
		before[i] = e.chassisSets(i)
	}
	e.writeSpec(map[int]string{1: "1"})
	r = e.run("plan reprovision", 0, "plan", "-o", "json")
	var p reconcile.PlanView
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, r.stdout)
	}
	// The reprovision value is also in node-1's CLC (Racker's "no-op CLC
	// edit"): node-1's rendered files change too, nobody else's.
	var got []string
	for _, c := range p.Changes {
		if c.Action == string(reconcile.ActionNoop) {
			continue
		}
		if c.Layer == string(reconcile.LayerFiles) {
			if c.Node != "node-1" || !strings.HasPrefix(c.Resource, "file:home/core/flatcar-container-linux/") {
				t.Errorf("reprovision plan: files change %s %s of node %q, want node-1's only", c.Action, c.Resource, c.Node)
			}
			continue
		}
		got = append(got, fmt.Sprintf("%s %s %s %s", c.Layer, c.Action, c.Resource, c.Node))
	}
	slices.Sort(got)
	flag1 := e2eFlagDir + "/" + e.macs[1]
	want := []string{
		"bmc pxe-reinstall bmc:node-1 node-1",
		"flags delete file:" + flag1 + " node-1",
		"provisioner run provisioner:terraform ",
		"verify verify verify:node-1 node-1",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("reprovision plan changes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, c := range p.Changes {
		if c.Layer == string(reconcile.LayerProvisioner) && (c.Detail == nil || !slices.Equal(c.Detail.Nodes, []string{"node-1"})) {
			t.Errorf("provisioner run acts for %+v, want node-1 only", c.Detail)
		}
	}
	r = e.run("apply reprovision", 0, "apply", "--auto-approve")
	t.Logf("apply reprovision output (end):\n%s", lastLines(r.stdout, 12))
	for i := range e2eNodes {
		calls := e.chassisSets(i)[len(before[i]):]
		if i != 1 {
			if len(calls) != 0 {
				t.Errorf("node-%d's BMC was acted on by node-1's reprovision: %q", i, calls)
			}
			e.checkServed(i, res[e.macs[i]], false)
			continue
		}
		if !slices.Equal(calls, []string{"set boot pxe", "set power 0"}) && !slices.Equal(calls, []string{"set boot pxe", "set power 0", "set power 1"}) {
			t.Errorf("node-1's BMC got %q, want next boot PXE, then a power cycle", calls)
		}
		// ipmi_sim's power cycle is "set power 0", then on after a delay.
		waitStart := time.Now()
		for e.chassisFile(1, "power") != "1" && time.Since(waitStart) < 15*time.Second {
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("node-1 back on %v after the apply", time.Since(waitStart).Round(time.Millisecond))
		if e.chassisFile(1, "boot") != "pxe" || e.chassisFile(1, "power") != "1" {
			t.Errorf("node-1: boot %q power %q, want pxe and on", e.chassisFile(1, "boot"), e.chassisFile(1, "power"))
		}
		e.checkServed(1, res[e.macs[1]], true)
		if !e.flagExists(1) {
			t.Error("node-1: no flag file after the reinstall")
		}
	}
	t.Logf("node-1 chassis calls of the reprovision: %q", e.chassisSets(1)[len(before[1]):])
	if t.Failed() {
		t.FailNow()
	}

	// And converged again after the second apply of the reinstall.
	e.run("apply reprovision 2", 0, "apply", "--auto-approve")
	for i := range e2eNodes {
		e.checkServed(i, res[e.macs[i]], false)
	}
	if r := e.run("plan final", 0, "plan", "--detailed-exitcode"); !strings.Contains(r.stdout, "No changes") {
		t.Errorf("final plan:\n%s", r.stdout)
	}
	t.Logf("timing: whole test %v", time.Since(testStart).Round(time.Millisecond))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// newE2ERack starts the real parts of a simulated rack under a fresh root: n
// ipmi_sim BMCs (every chassis call recorded) with password, the credential
// files a Racker node holds, matchbox with its client certs, and dnsmasq in
// a network namespace serving the dnsmasq.conf rackctl writes (it starts
// once the first apply has written it; the reload command restarts it).
func newE2ERack(t *testing.T, spec string, n int, password, purpose string) *e2eRack {
	t.Helper()
	tools, err := testenv.FindTools(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.NeedPrograms("ipmi_sim", "ipmitool", "dnsmasq", "dhcp_release", "busybox", "ip", "git"); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	e := &e2eRack{t: t, root: root, spec: spec, tools: tools}
	e.bmcs = simrack.StartT(t, simrack.Options{N: n, Password: password})
	for _, b := range e.bmcs.BMCs {
		recordChassis(t, b)
	}
	oem := filepath.Join(root, "usr/share/oem")
	must(t, os.MkdirAll(oem, 0o755))
	must(t, os.WriteFile(filepath.Join(oem, "ipmi_user"), []byte(e.bmcs.BMCs[0].User+"\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(oem, "ipmi_password"), []byte(password+"\n"), 0o600))

	e.mb = testenv.StartMatchboxT(t)
	must(t, e.mb.TLS.CopyClientCerts(filepath.Join(root, e2eCertDir)))
	e.dhcp = testenv.StartDHCPT(t, testenv.DHCPOptions{
		Purpose:   purpose,
		ConfPath:  filepath.Join(root, e2eDnsmasq),
		LeaseFile: filepath.Join(root, e2eLeases),
	})
	for i := range n {
		e.macs = append(e.macs, fmt.Sprintf("02:00:00:00:%02x:01", i))
	}
	return e
}
