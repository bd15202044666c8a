package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/rotate"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

// The day-2 runbook, end to end: a flatcar rack of ipmi_sim BMCs, a real
// matchbox (driven by terraform), dnsmasq in a network namespace with a
// udhcpc client beside it. Every change goes in as a git commit to
// rack.yaml and is carried out by `rackctl watch --once` only; after each
// step the test reads the real effects back (files under the root, DHCP
// answers, what matchbox serves, the simulators' chassis state, `rackctl
// status`). Its BMCs have no servers behind them (installs are assumed,
// --verify flag); TestE2EDay2Boots (e2e_day2_boot_test.go) runs the
// runbook's install steps on booting servers behind a mixed IPMI/Redfish
// rack and reads each result back from the servers themselves.

const (
	day2Servers = 5 // node-0..node-3 at first; server 4 joins in step 6
	day2OldPW   = "day2-old-s3cret"
	day2NewPW   = "day2#new s3cr;t" // what a parser would cut: the BMCs must hold it whole
	day2NewUser = "admin2"
	day2TFVars  = "home/core/flatcar-container-linux/terraform.tfvars"
	day2Hosts   = "etc/hosts"
	day2Domain  = "e2e.localdomain"
	day2NewPWF  = "/etc/rackctl/ipmi_password.new"
)

// day2Node is one entry of the spec's node list; srv is the simulated
// server (its BMC index and the index of its primary MAC in macs).
type day2Node struct {
	name        string
	srv         int
	exclude     bool
	reprovision string
}

// day2Rack is the e2e rack plus the git repository watch follows and the
// spec the next commit holds.
type day2Rack struct {
	*e2eRack
	repo     *testenv.GitRepo
	stateDir string
	nodes    []day2Node
	keys     []string
	rotate   bool
	// ips and bmcIPs are the addresses of step 1, by node name: no later
	// step may move them.
	ips, bmcIPs map[string]netip.Addr
	// outputs of every command, checked for the BMC passwords at the end.
	outputs []string
}

func startDay2Rack(t *testing.T) *day2Rack {
	t.Helper()
	repo := testenv.NewGitRepo(t)
	e := newE2ERack(t, filepath.Join(repo.Dir, "rack.yaml"), day2Servers, day2OldPW, "day2")
	d := &day2Rack{e2eRack: e, repo: repo, stateDir: filepath.Join(e.root, "var/lib/rackctl"),
		keys: []string{sshKey("ops@e2e", 1)}}
	for i := range 4 {
		d.nodes = append(d.nodes, day2Node{name: fmt.Sprintf("node-%d", i), srv: i})
	}
	return d
}

// use points the helpers' failures at the running step.
func (d *day2Rack) use(t *testing.T) {
	d.t = t
	d.repo.Use(t)
}

// sshKey is a well-formed ssh-ed25519 public key whose key bytes are seed.
func sshKey(comment string, seed byte) string {
	var blob []byte
	for _, part := range [][]byte{[]byte("ssh-ed25519"), slices.Repeat([]byte{seed}, 32)} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(part)))
		blob = append(blob, part...)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " " + comment
}

// specYAML is the rack.yaml of the current spec; badMAC, when set, names a
// node whose mac is made invalid. line is that mac's line (1-based).
func (d *day2Rack) specYAML(badMAC string) (spec string, line int) {
	var b strings.Builder
	writeSpecHead(&b, "day2", "flatcar", day2Domain, d.dhcp, d.mb, d.root)
	if d.rotate {
		fmt.Fprintf(&b, "  rotate:\n    user: %s\n    passwordFile: %s\n", day2NewUser, day2NewPWF)
	}
	b.WriteString("install:\n  cachedInstall: true\ncluster:\n  sshPubKeys:\n")
	for _, k := range d.keys {
		fmt.Fprintf(&b, "    - %s\n", k)
	}
	b.WriteString("nodes:\n")
	for _, n := range d.nodes {
		bm := d.bmcs.BMCs[n.srv]
		mac := d.macs[n.srv]
		fmt.Fprintf(&b, "  - name: %s\n    role: node\n", n.name)
		if n.name == badMAC {
			line = strings.Count(b.String(), "\n") + 1
			mac = "not-a-mac"
		}
		fmt.Fprintf(&b, "    mac: %s\n    bmcMac: %s\n    bmcAddress: %s\n", mac, bm.MAC, bm.Addr)
		if n.exclude {
			b.WriteString("    exclude: true\n")
		}
		if n.reprovision != "" {
			fmt.Fprintf(&b, "    reprovision: %q\n", n.reprovision)
		}
	}
	return b.String(), line
}

// commit commits the current spec and returns the commit.
func (d *day2Rack) commit(msg string) string {
	d.t.Helper()
	spec, _ := d.specYAML("")
	return d.commitText(msg, spec)
}

func (d *day2Rack) commitText(msg, spec string) string {
	d.t.Helper()
	return d.repo.Commit(spec, msg)
}

// driverArgs are e2eRack.args' driver flags without -f: watch follows
// the repository instead.
func (d *day2Rack) driverArgs() []string {
	a := d.args("watch")
	var out []string
	for i := 1; i < len(a); i++ {
		if a[i] == "-f" {
			i++
			continue
		}
		out = append(out, a[i])
	}
	return out
}

// watchOnce runs `rackctl watch --once` on the repository and wants exit
// code want; on any other it fails the step with the end of the output.
func (d *day2Rack) watchOnce(what string, want int, extra ...string) cliResult {
	d.t.Helper()
	args := append([]string{"watch", "--once", "--repo", d.repo.Dir, "--listen", ""}, d.driverArgs()...)
	start := time.Now()
	r := cli(d.t, append(args, extra...)...)
	d.outputs = append(d.outputs, r.stdout, r.stderr)
	d.t.Logf("timing: watch --once (%s) took %v: %s", what, time.Since(start).Round(time.Millisecond), strings.TrimSpace(lastLines(r.stdout, 1)))
	if r.code != want {
		d.t.Fatalf("watch --once (%s): exit %d, want %d\nstdout (end):\n%s\nstderr (end):\n%s",
			what, r.code, want, lastLines(r.stdout, 30), lastLines(r.stderr, 30))
	}
	return r
}

// settle runs watch --once until it reports the revision in sync: a
// flatcar install takes two applies (see reconcile/doc.go), a third
// finds nothing to do.
func (d *day2Rack) settle(what string) {
	d.t.Helper()
	r := d.watchOnce(what+": second apply", 0)
	if strings.Contains(r.stdout, ": unchanged") {
		return
	}
	if r := d.watchOnce(what+": in sync", 0); !strings.Contains(r.stdout, ": unchanged") {
		d.t.Fatalf("%s: a third watch --once still changed something:\n%s", what, lastLines(r.stdout, 30))
	}
}

// event is the last watch record of commit.
func (d *day2Rack) event(commit string) watch.EventRecord {
	d.t.Helper()
	evs, err := state.New(d.stateDir).ReadWatchEvents()
	must(d.t, err)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Commit == commit {
			return evs[i]
		}
	}
	d.t.Fatalf("no watch event for commit %s", commit)
	return watch.EventRecord{}
}

// calls snapshots how many chassis calls each server's BMC got so far.
func (d *day2Rack) calls() []int {
	out := make([]int, day2Servers)
	for i := range out {
		out[i] = len(d.chassisSets(i))
	}
	return out
}

// checkBMCCalls asserts that since before only server pxe got calls, and
// that they were "next boot PXE, power cycle"; pxe -1: nobody got any.
func (d *day2Rack) checkBMCCalls(before []int, pxe int) {
	d.checkBMCCallsOff(before, pxe, false)
}

// checkBMCCallsOff is checkBMCCalls for a server pxe that may have been
// off (wasOff), which is powered on instead of cycled.
func (d *day2Rack) checkBMCCallsOff(before []int, pxe int, wasOff bool) {
	t := d.t
	t.Helper()
	for i := range day2Servers {
		calls := d.chassisSets(i)[before[i]:]
		if i != pxe {
			if len(calls) != 0 {
				t.Errorf("server %d's BMC was acted on: %q", i, calls)
			}
			continue
		}
		// A running server is power-cycled, one that is off powered on.
		if !slices.Equal(calls, []string{"set boot pxe", "set power 0"}) && !slices.Equal(calls, []string{"set boot pxe", "set power 0", "set power 1"}) &&
			!(wasOff && slices.Equal(calls, []string{"set boot pxe", "set power 1"})) {
			t.Errorf("server %d's BMC got %q, want next boot PXE, then a power cycle (or on, when it was off: %v)", i, calls, wasOff)
		}
	}
	if pxe < 0 {
		return
	}
	// ipmi_sim's power cycle is "set power 0", then on after a delay.
	for start := time.Now(); d.chassisFile(pxe, "power") != "1" && time.Since(start) < 15*time.Second; {
		time.Sleep(100 * time.Millisecond)
	}
	if boot, power := d.chassisFile(pxe, "boot"), d.chassisFile(pxe, "power"); boot != "pxe" || power != "1" {
		t.Errorf("server %d after the install: boot %q power %q, want pxe and on", pxe, boot, power)
	}
}

// othersUntouched asserts that since before no BMC but server except's got
// a call.
func (d *day2Rack) othersUntouched(before []int, except int) {
	d.t.Helper()
	for i := range day2Servers {
		if calls := d.chassisSets(i)[before[i]:]; i != except && len(calls) != 0 {
			d.t.Errorf("server %d's BMC was acted on: %q", i, calls)
		}
	}
}

// active are the spec's nodes not excluded.
func (d *day2Rack) active() []day2Node {
	var out []day2Node
	for _, n := range d.nodes {
		if !n.exclude {
			out = append(out, n)
		}
	}
	return out
}

// checkTFVars asserts terraform.tfvars' node_macs and node_names: the
// active nodes, in spec order, aligned by position.
func (d *day2Rack) checkTFVars() {
	t := d.t
	t.Helper()
	src, err := os.ReadFile(filepath.Join(d.root, day2TFVars))
	must(t, err)
	f, diags := hclparse.NewParser().ParseHCL(src, day2TFVars)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", day2TFVars, diags)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatalf("%s: %v", day2TFVars, diags)
	}
	list := func(name string) []string {
		a, ok := attrs[name]
		if !ok {
			t.Fatalf("%s has no %s", day2TFVars, name)
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() || !v.Type().IsTupleType() && !v.Type().IsListType() {
			t.Fatalf("%s: %s is not a list: %v", day2TFVars, name, diags)
		}
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() != cty.String {
				t.Fatalf("%s: %s holds a %s", day2TFVars, name, e.Type().FriendlyName())
			}
			out = append(out, e.AsString())
		}
		return out
	}
	var wantMACs, wantNames []string
	for _, n := range d.active() {
		wantMACs = append(wantMACs, d.macs[n.srv])
		wantNames = append(wantNames, n.name+"."+day2Domain)
	}
	if macs, names := list("node_macs"), list("node_names"); !slices.Equal(macs, wantMACs) || !slices.Equal(names, wantNames) {
		t.Errorf("terraform.tfvars arrays not aligned with the spec:\n  node_macs  %q\n  node_names %q\nwant\n  node_macs  %q\n  node_names %q",
			macs, names, wantMACs, wantNames)
	}
}

// hostsLine returns the hosts line naming node name ("" when none).
func (d *day2Rack) hostsLine(name string) string {
	b, err := os.ReadFile(filepath.Join(d.root, day2Hosts))
	must(d.t, err)
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && !strings.HasPrefix(f[0], "#") && slices.Contains(f[1:], name) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// checkIPs asserts the reservations of every node in the spec: the step-1
// address for nodes that had one (never moved), a reservation for the
// primary MAC exactly when the node is active, the BMC's always. It
// records the addresses of nodes new to the rack.
func (d *day2Rack) checkIPs() map[string]netip.Addr {
	t := d.t
	t.Helper()
	res := d.reservations()
	seen := map[netip.Addr]string{}
	for _, n := range d.nodes {
		mac, bmcMAC := d.macs[n.srv], d.bmcs.BMCs[n.srv].MAC
		ip, ok := res[mac]
		switch {
		case n.exclude && ok:
			t.Errorf("excluded %s: its primary MAC %s still has a reservation (%s)", n.name, mac, ip)
		case !n.exclude && !ok:
			t.Errorf("%s: no reservation for its primary MAC %s", n.name, mac)
		case ok && d.ips[n.name].IsValid() && ip != d.ips[n.name]:
			t.Errorf("%s: primary IP moved from %s to %s", n.name, d.ips[n.name], ip)
		}
		bip, ok := res[bmcMAC]
		switch {
		case !ok:
			t.Errorf("%s: no reservation for its BMC MAC %s", n.name, bmcMAC)
		case d.bmcIPs[n.name].IsValid() && bip != d.bmcIPs[n.name]:
			t.Errorf("%s: BMC IP moved from %s to %s", n.name, d.bmcIPs[n.name], bip)
		}
		for _, a := range []netip.Addr{d.ips[n.name], d.bmcIPs[n.name]} {
			if !d.ips[n.name].IsValid() {
				continue
			}
			if other, dup := seen[a]; dup && other != n.name {
				t.Errorf("%s and %s share %s", other, n.name, a)
			}
			seen[a] = n.name
		}
		if !d.ips[n.name].IsValid() && !n.exclude {
			d.ips[n.name], d.bmcIPs[n.name] = ip, bip
		}
	}
	return res
}

// checkConverged asserts the steady state of every node: reservations,
// final Ignition only (no PXE install), flag file, boot from disk, power
// on, hosts line, and the tfvars arrays.
func (d *day2Rack) checkConverged() {
	t := d.t
	t.Helper()
	d.checkIPs()
	for _, n := range d.active() {
		ip := d.ips[n.name]
		d.checkServed(n.srv, ip, false)
		if !d.flagExists(n.srv) {
			t.Errorf("%s: no flag file for %s", n.name, d.macs[n.srv])
		}
		// ipmi_sim calls IPMI's "force boot from default hard-drive" default.
		if boot, power := d.chassisFile(n.srv, "boot"), d.chassisFile(n.srv, "power"); boot != "default" || power != "1" {
			t.Errorf("%s: boot %q power %q, want default (disk) and on", n.name, boot, power)
		}
		want := ip.String() + " " + n.name + "." + day2Domain + " " + n.name
		if got := d.hostsLine(n.name); strings.Join(strings.Fields(got), " ") != want {
			t.Errorf("%s: hosts line %q, want %q", n.name, got, want)
		}
	}
	d.checkTFVars()
}

// status runs `rackctl status -o json` on spec (the working tree's
// rack.yaml when empty).
func (d *day2Rack) status(spec string) statusView {
	d.t.Helper()
	if spec == "" {
		spec = d.spec
	}
	r := cli(d.t, "status", "-o", "json", "-f", spec, "--root", d.root, "--timeout", "3s")
	d.outputs = append(d.outputs, r.stdout, r.stderr)
	var st statusView
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil {
		d.t.Fatalf("status: exit %d (%v)\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	return st
}

// checkStatusHuman asserts the human `rackctl status`: a row per node
// with ✓ for its BMC and its OS, and × for the BMCs of the nodes in down,
// which are listed with their reason.
func (d *day2Rack) checkStatusHuman(down ...string) {
	t := d.t
	t.Helper()
	r := cli(t, "status", "-f", d.spec, "--root", d.root, "--timeout", "3s")
	d.outputs = append(d.outputs, r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rows := map[string][]string{}
	for line := range strings.Lines(r.stdout) {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "node-") {
			rows[f[0]] = f
		}
	}
	for _, n := range d.active() {
		// NODE MAC IP BMC POWER PROVISIONED JOINED HOSTNAMES...
		f := rows[n.name]
		want := []string{n.name, d.macs[n.srv], d.ips[n.name].String(), "✓", "on", "✓"}
		if slices.Contains(down, n.name) {
			want = []string{n.name, d.macs[n.srv], d.ips[n.name].String(), "×", "-"}
		}
		if len(f) < len(want) || !slices.Equal(f[:len(want)], want) {
			t.Errorf("status row of %s: %q, want it to start %q\n%s", n.name, f, want, r.stdout)
		}
	}
	for _, n := range down {
		if !strings.Contains(r.stdout, "BMCs not reached:\n  "+n+": ") {
			t.Errorf("status does not list %s's BMC as not reached:\n%s", n, r.stdout)
		}
	}
}

// checkStatusAll asserts status shows every node of the spec ✓ (BMC
// reached, on, provisioned; excluded nodes: excluded, not provisioned),
// with its address, except the nodes in down, whose BMC is not reached.
func (d *day2Rack) checkStatusAll(st statusView, down ...string) {
	t := d.t
	t.Helper()
	if len(st.Nodes) != len(d.nodes) {
		t.Fatalf("status has %d nodes, want %d: %+v", len(st.Nodes), len(d.nodes), st.Nodes)
	}
	for i, row := range st.Nodes {
		n := d.nodes[i]
		if row.Name != n.name || row.MAC != d.macs[n.srv] || row.Excluded != n.exclude {
			t.Errorf("status row %d: %s %s excluded=%v, want %s %s excluded=%v", i, row.Name, row.MAC, row.Excluded, n.name, d.macs[n.srv], n.exclude)
		}
		if ip := d.ips[n.name]; ip.IsValid() && row.IP != ip.String() {
			t.Errorf("status %s: IP %s, want %s", n.name, row.IP, ip)
		}
		if slices.Contains(down, n.name) {
			if row.BMCReached || row.BMCError == "" {
				t.Errorf("status %s: BMC reached %v (error %q), want not reached with the reason", n.name, row.BMCReached, row.BMCError)
			}
			continue
		}
		if !row.BMCReached || row.Power != "on" {
			t.Errorf("status %s: BMC reached %v power %q (%s), want ✓ and on", n.name, row.BMCReached, row.Power, row.BMCError)
		}
		if row.Provisioned == n.exclude {
			t.Errorf("status %s: provisioned %v, want %v", n.name, row.Provisioned, !n.exclude)
		}
	}
}

// finalKeys returns the SSH keys of user core in the final Ignition
// matchbox serves server srv.
func (d *day2Rack) finalKeys(srv int) []string {
	d.t.Helper()
	path := "/ignition?mac=" + d.macs[srv] + "&os=installed"
	code, body, err := d.mb.Get(d.t.Context(), path)
	if err != nil || code != 200 {
		d.t.Fatalf("GET %s: %d %v\n%s", path, code, err, body)
	}
	var ign struct {
		Passwd struct {
			Users []struct {
				Name              string
				SSHAuthorizedKeys []string
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &ign); err != nil {
		d.t.Fatalf("GET %s: %v", path, err)
	}
	for _, u := range ign.Passwd.Users {
		if u.Name == "core" {
			return u.SSHAuthorizedKeys
		}
	}
	return nil
}

// notServed asserts matchbox serves nothing for a MAC no node has.
func (d *day2Rack) notServed(mac string) {
	t := d.t
	t.Helper()
	for _, p := range []string{"/ignition?mac=" + mac + "&os=installed", "/ignition?mac=" + mac, "/ipxe?mac=" + strings.ReplaceAll(mac, ":", "-")} {
		code, body, err := d.mb.Get(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if code == 200 {
			t.Errorf("matchbox still serves %s (%d):\n%s", p, code, lastLines(body, 5))
		}
	}
}

// dhcpWant makes one DHCP exchange for mac and wants address want.
func (d *day2Rack) dhcpWant(who, mac string, want netip.Addr) {
	d.t.Helper()
	got, err := d.dhcp.Request(d.t.Context(), mac)
	if err != nil || got != want {
		d.t.Errorf("%s: DHCP for %s got %v (%v), want reserved %s\ndnsmasq log (end):\n%s", who, mac, got, err, want, d.dhcp.Log(1500))
	}
}

// rootDigest maps every file under the root to its content, leaving out
// what changes without an apply: watch's own records and clone, and
// dnsmasq's lease file.
func (d *day2Rack) rootDigest() map[string]string {
	d.t.Helper()
	out := map[string]string{}
	for _, p := range treeFiles(d.t, d.root) {
		switch {
		case p == "var/lib/rackctl/"+watch.EventsFile,
			strings.HasPrefix(p, "var/lib/rackctl/source/"),
			strings.HasPrefix(p, strings.TrimPrefix(e2eLeases, "/")):
			continue
		}
		full := filepath.Join(d.root, p)
		fi, err := os.Lstat(full)
		must(d.t, err)
		if fi.Mode()&os.ModeSymlink != 0 { // terraform's provider links
			target, err := os.Readlink(full)
			must(d.t, err)
			out[p] = "symlink to " + target
			continue
		}
		b, err := os.ReadFile(full)
		must(d.t, err)
		out[p] = string(b)
	}
	return out
}

// TestE2EDay2 drives the day-2 runbook through git commits and watch mode
// against the simulated rack (see the comment at the top of this file).
func TestE2EDay2(t *testing.T) {
	testStart := time.Now()
	d := startDay2Rack(t)
	d.ips, d.bmcIPs = map[string]netip.Addr{}, map[string]netip.Addr{}
	defer func() { t.Logf("timing: whole test %v", time.Since(testStart).Round(time.Millisecond)) }()

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"1_initial_commit_provisions_every_node", func(t *testing.T) {
			c := d.commit("Initial rack")
			// Four installs at once are over watch's default blast radius
			// (25% of the nodes): held until approved, nothing done.
			r := d.watchOnce("initial commit", 2)
			if ev := d.event(c); ev.Outcome != watch.OutcomeHeld || !strings.Contains(ev.Reason, "rackctl approve") {
				t.Errorf("initial commit: event %s %q, want held for approval", ev.Outcome, ev.Reason)
			}
			if _, err := os.Stat(filepath.Join(d.root, day2Hosts)); err == nil {
				t.Errorf("a held commit wrote %s:\n%s", day2Hosts, r.stdout)
			}
			if r := cli(t, "approve", "--state-dir", d.stateDir, c); r.code != 0 {
				t.Fatalf("approve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			before := d.calls()
			d.watchOnce("initial commit, approved", 0)
			if ev := d.event(c); ev.Outcome != watch.OutcomeApplied {
				t.Fatalf("approved commit: event %s %q", ev.Outcome, ev.Reason)
			}
			res := d.checkIPs()
			for _, n := range d.nodes {
				d.checkServed(n.srv, res[d.macs[n.srv]], true)
				// Off at first: powered on, not cycled.
				if calls := d.chassisSets(n.srv)[before[n.srv]:]; !slices.Equal(calls, []string{"set boot pxe", "set power 1"}) {
					t.Errorf("%s: BMC got %q, want next boot PXE, power on", n.name, calls)
				}
				if !d.flagExists(n.srv) {
					t.Errorf("%s: no flag file after the install", n.name)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
			d.settle("initial commit")
			d.checkConverged()
			for _, n := range d.nodes {
				d.dhcpWant(n.name, d.macs[n.srv], d.ips[n.name])
				d.dhcpWant(n.name+" BMC", d.bmcs.BMCs[n.srv].MAC, d.bmcIPs[n.name])
			}
			d.checkStatusAll(d.status(""))
			d.checkStatusHuman()
		}},
		{"2_add_ssh_key_updates_ignition_without_pxe", func(t *testing.T) {
			before, starts := d.calls(), d.dhcp.Starts()
			newKey := sshKey("alice@e2e", 2)
			d.keys = append(d.keys, newKey)
			c := d.commit("Add Alice's SSH key")
			// Not disruptive: the default blast radius lets it through.
			d.watchOnce("ssh key", 0)
			ev := d.event(c)
			if ev.Outcome != watch.OutcomeApplied || ev.Policy != nil && (*watch.Decision)(ev.Policy).DisruptiveNodes() > 0 {
				t.Errorf("ssh key commit: event %s, policy %+v: want applied, nothing disruptive", ev.Outcome, ev.Policy)
			}
			if r := d.watchOnce("ssh key, again", 0); !strings.Contains(r.stdout, ": unchanged") {
				t.Errorf("the ssh key commit needed a second apply:\n%s", lastLines(r.stdout, 20))
			}
			for _, n := range d.active() {
				if keys := d.finalKeys(n.srv); !slices.Equal(keys, d.keys) {
					t.Errorf("%s: final Ignition has keys %q, want %q", n.name, keys, d.keys)
				}
			}
			d.checkBMCCalls(before, -1)
			d.checkConverged()
			if n := d.dhcp.Starts(); n != starts {
				t.Errorf("dnsmasq restarted (%d -> %d starts) for an SSH key", starts, n)
			}
			d.checkStatusAll(d.status(""))
		}},
		{"3_reprovision_one_node_pxe_boots_only_it", func(t *testing.T) {
			before := d.calls()
			d.nodes[1].reprovision = "1"
			d.commit("Reinstall node-1")
			d.watchOnce("reprovision node-1", 0)
			n1 := d.nodes[1]
			d.checkBMCCalls(before, n1.srv)
			d.checkServed(n1.srv, d.ips[n1.name], true)
			for _, n := range d.active() {
				if n.name != n1.name {
					d.checkServed(n.srv, d.ips[n.name], false)
				}
			}
			if !d.flagExists(n1.srv) {
				t.Error("node-1: no flag file after the reinstall")
			}
			if t.Failed() {
				t.FailNow()
			}
			d.settle("reprovision node-1")
			d.othersUntouched(before, n1.srv)
			d.checkConverged()
			d.checkStatusAll(d.status(""))
		}},
		{"4_exclude_node_then_add_back", func(t *testing.T) {
			before := d.calls()
			d.nodes[2].exclude = true
			n2 := d.nodes[2]
			c := d.commit("Exclude node-2")
			d.watchOnce("exclude node-2", 0)
			if ev := d.event(c); ev.Outcome != watch.OutcomeApplied {
				t.Errorf("exclude: event %s %q", ev.Outcome, ev.Reason)
			}
			d.settle("exclude node-2")
			d.checkIPs()
			d.checkTFVars()
			if d.flagExists(n2.srv) {
				t.Error("excluded node-2 kept its flag file")
			}
			d.notServed(d.macs[n2.srv])
			if line := d.hostsLine(n2.name); line != "" {
				t.Errorf("excluded node-2 still in %s: %q", day2Hosts, line)
			}
			d.checkBMCCalls(before, -1)
			d.checkStatusAll(d.status(""))
			// Not served its address while out of the rack.
			if got, err := d.dhcp.Request(t.Context(), d.macs[n2.srv]); err == nil && got == d.ips[n2.name] {
				t.Errorf("excluded node-2's MAC is still served its reserved %s", got)
			} else if err != nil && !errors.Is(err, testenv.ErrNoLease) {
				t.Error(err)
			}
			if t.Failed() {
				t.FailNow()
			}

			d.nodes[2].exclude = false
			d.commit("Add node-2 back")
			d.watchOnce("add node-2 back", 0)
			d.checkBMCCalls(before, n2.srv)
			d.checkServed(n2.srv, d.ips[n2.name], true)
			d.settle("add node-2 back")
			d.checkConverged() // same IPs, hosts line back, arrays aligned
			d.dhcpWant(n2.name, d.macs[n2.srv], d.ips[n2.name])
			d.checkStatusAll(d.status(""))
		}},
		{"5_replace_server_mac_keeps_ip", func(t *testing.T) {
			before := d.calls()
			n3 := d.nodes[3]
			oldMAC := d.macs[n3.srv]
			d.macs[n3.srv] = "02:00:00:00:03:02" // the replacement's NIC; same BMC
			d.commit("Replace node-3's server")
			d.watchOnce("replace node-3", 0)
			d.checkBMCCalls(before, n3.srv)
			d.checkServed(n3.srv, d.ips[n3.name], true)
			res := d.checkIPs()
			if ip, ok := res[oldMAC]; ok {
				t.Errorf("the old MAC %s still has a reservation (%s)", oldMAC, ip)
			}
			d.notServed(oldMAC)
			if _, err := os.Stat(filepath.Join(d.root, e2eFlagDir, oldMAC)); err == nil {
				t.Errorf("the old server's flag file %s is left", oldMAC)
			}
			// The old MAC held the address (step 1's DHCP exchange): the
			// new one gets it all the same, the old one does not.
			d.dhcpWant(n3.name+" (new MAC)", d.macs[n3.srv], d.ips[n3.name])
			if got, err := d.dhcp.Request(t.Context(), oldMAC); err == nil && got == d.ips[n3.name] {
				t.Errorf("the old MAC %s is still served %s", oldMAC, got)
			} else if err != nil && !errors.Is(err, testenv.ErrNoLease) {
				t.Error(err)
			}
			if t.Failed() {
				t.FailNow()
			}
			d.settle("replace node-3")
			d.checkConverged()
			d.checkStatusAll(d.status(""))
		}},
		{"6_add_server_in_the_middle_moves_no_ip", func(t *testing.T) {
			before := d.calls()
			nn := day2Node{name: "node-1b", srv: 4}
			d.nodes = slices.Insert(d.nodes, 2, nn)
			d.commit("Add node-1b after node-1")
			if p := d.chassisFile(nn.srv, "power"); p != "0" {
				t.Fatalf("the new server is on (%q) before it is in the rack", p)
			}
			d.watchOnce("add node-1b", 0)
			d.checkBMCCallsOff(before, nn.srv, true)
			res := d.checkIPs() // no other address moved
			ip, bip := res[d.macs[nn.srv]], res[d.bmcs.BMCs[nn.srv].MAC]
			if !ip.IsValid() || !bip.IsValid() {
				t.Fatalf("node-1b: reservations %v (BMC %v)", ip, bip)
			}
			d.checkServed(nn.srv, ip, true)
			d.dhcpWant(nn.name, d.macs[nn.srv], ip)
			d.dhcpWant(nn.name+" BMC", d.bmcs.BMCs[nn.srv].MAC, bip)
			if t.Failed() {
				t.FailNow()
			}
			d.settle("add node-1b")
			d.checkConverged()
			d.checkStatusAll(d.status(""))
		}},
		{"7_rotate_ipmi_credentials", func(t *testing.T) {
			pw := filepath.Join(d.root, strings.TrimPrefix(day2NewPWF, "/"))
			must(t, os.MkdirAll(filepath.Dir(pw), 0o700))
			must(t, os.WriteFile(pw, []byte(day2NewPW+"\n"), 0o600))
			d.rotate = true
			c := d.commit("Rotate the BMC account to admin2")
			// watch alone carries the rotation out (the plan's credentials
			// layer): nothing else runs in this step before the checks, so
			// a watch that does not rotate fails here.
			r := d.watchOnce("bmc.rotate committed", 0)
			if ev := d.event(c); ev.Outcome != watch.OutcomeApplied {
				t.Fatalf("rotation commit: event %s %q, want applied", ev.Outcome, ev.Reason)
			}
			userFile := filepath.Join(d.root, "usr/share/oem/ipmi_user")
			pwFile := filepath.Join(d.root, "usr/share/oem/ipmi_password")
			if u, _ := os.ReadFile(userFile); string(u) != day2NewUser+"\n" {
				t.Fatalf("watch did not rotate: user file holds %q\nstdout (end):\n%s", u, lastLines(r.stdout, 30))
			}
			if p, _ := os.ReadFile(pwFile); string(p) != day2NewPW+"\n" {
				t.Error("watch did not switch the password file to the new password")
			}
			for _, p := range []string{userFile, pwFile, pwFile + rotate.BackupSuffix} {
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s after the rotation: %v %v, want mode 0600", p, fi, err)
				}
			}
			st, err := rotate.LoadState(d.stateDir)
			if err != nil || st == nil || st.User != day2NewUser || !st.Switched || !st.Complete || len(st.Nodes) != len(d.nodes) {
				t.Fatalf("rotation state after watch: %+v (%v), want complete on %d BMCs", st, err, len(d.nodes))
			}
			for _, n := range d.nodes {
				if ns := st.Nodes[n.name]; ns.Phase != rotate.PhaseOldDisabled {
					t.Errorf("%s: rotation phase %s after watch, want %s", n.name, ns.Phase, rotate.PhaseOldDisabled)
				}
				if !strings.Contains(r.stdout+r.stderr, "credentials: "+n.name+": test login as "+day2NewUser) {
					t.Errorf("watch's output shows no login proof for %s", n.name)
				}
			}
			if r := d.watchOnce("bmc.rotate, again", 0); !strings.Contains(r.stdout, ": unchanged") {
				t.Errorf("a finished rotation still plans changes:\n%s", lastLines(r.stdout, 20))
			}
			// rotate-credentials agrees that nothing is left to do.
			r = cli(t, "rotate-credentials", "--dry-run", "-f", d.spec, "--root", d.root)
			d.outputs = append(d.outputs, r.stdout, r.stderr)
			if r.code != 0 || !strings.Contains(r.stdout, "No changes") {
				t.Errorf("rotate-credentials --dry-run after the rotation: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			d.checkStatusAll(d.status(""))
			d.rotate = false
			d.commit("Rotation done: drop bmc.rotate")
			if r := d.watchOnce("bmc.rotate dropped", 0); !strings.Contains(r.stdout, ": unchanged") {
				t.Errorf("dropping bmc.rotate changed the rack:\n%s", lastLines(r.stdout, 20))
			}
			// The old account is disabled: status with it reaches no BMC.
			old := t.TempDir()
			must(t, os.MkdirAll(filepath.Join(old, "usr/share/oem"), 0o755))
			must(t, os.WriteFile(filepath.Join(old, "usr/share/oem/ipmi_user"), []byte("admin\n"), 0o600))
			must(t, os.WriteFile(filepath.Join(old, "usr/share/oem/ipmi_password"), []byte(day2OldPW+"\n"), 0o600))
			r = cli(t, "status", "-o", "json", "-f", d.spec, "--root", old, "--timeout", "3s")
			d.outputs = append(d.outputs, r.stdout, r.stderr)
			checkOldLoginRefused(t, r, len(d.nodes))
			d.checkStatusAll(d.status(""))
		}},
		{"8_invalid_spec_rejected_rack_unchanged", func(t *testing.T) {
			valid, _ := d.specYAML("")
			validFile := filepath.Join(t.TempDir(), "rack.yaml")
			must(t, os.WriteFile(validFile, []byte(valid), 0o644))
			tree, before, starts := d.rootDigest(), d.calls(), d.dhcp.Starts()
			bad, line := d.specYAML("node-1b")
			c := d.commitText("Typo in node-1b's MAC", bad)
			r := d.watchOnce("invalid spec", 1)
			pos := fmt.Sprintf("rack.yaml:%d:", line)
			if !strings.Contains(r.stderr, pos) {
				t.Errorf("stderr lacks the position %s…:\n%s", pos, lastLines(r.stderr, 10))
			}
			ev := d.event(c)
			if ev.Outcome != watch.OutcomeRejected || len(ev.Diagnostics) == 0 || ev.Diagnostics[0].File != "rack.yaml" || ev.Diagnostics[0].Line != line || ev.Diagnostics[0].Col == 0 {
				t.Errorf("event %s %+v, want rejected at rack.yaml:%d", ev.Outcome, ev.Diagnostics, line)
			}
			after := d.rootDigest()
			for p, b := range tree {
				if after[p] != b {
					t.Errorf("%s changed although the spec was rejected", p)
				}
			}
			for p := range after {
				if _, ok := tree[p]; !ok {
					t.Errorf("%s written although the spec was rejected", p)
				}
			}
			d.checkBMCCalls(before, -1)
			if n := d.dhcp.Starts(); n != starts {
				t.Errorf("dnsmasq restarted for a rejected spec")
			}
			for _, n := range d.active() {
				d.checkServed(n.srv, d.ips[n.name], false)
			}
			d.checkStatusAll(d.status(validFile))
		}},
		{"9_bmc_down_rest_of_rack_reconciles", func(t *testing.T) {
			down := d.nodes[0]
			if err := d.bmcs.Stop(down.srv); err != nil {
				t.Fatal(err)
			}
			restarted := false
			defer func() {
				if !restarted {
					d.bmcs.StartAgain(t.Context(), down.srv)
				}
			}()
			before := d.calls()
			// A commit touching every node (a third SSH key: every node's
			// Ignition) that also needs node-0's BMC (its reinstall).
			d.keys = append(d.keys, sshKey("bob@e2e", 3))
			d.nodes[0].reprovision = "1"
			c := d.commit("Add Bob's key, reinstall node-0")
			r := d.watchOnce("node-0's BMC down", 1, "--timeout", "2s")
			ev := d.event(c)
			t.Logf("watch event of the failed apply: %s: %s", ev.Outcome, ev.Reason)
			if ev.Outcome != watch.OutcomeApplyFailed || !strings.Contains(ev.Reason, down.name) {
				t.Errorf("event %s %q, want apply-failed naming %s", ev.Outcome, ev.Reason, down.name)
			}
			if !strings.Contains(r.stderr+r.stdout, down.name) {
				t.Errorf("watch output does not name %s:\n%s", down.name, lastLines(r.stderr, 20))
			}
			recs, err := state.New(d.stateDir).ReadHistory()
			must(t, err)
			if last := recs[len(recs)-1]; last.Commit != c || last.Outcome == reconcile.OutcomeSuccess || last.Failed == 0 || last.Done == 0 {
				t.Errorf("history's last record %+v, want %s failed with the other changes done", last, c)
			}
			// The rest of the rack took the commit.
			for _, n := range d.active() {
				if keys := d.finalKeys(n.srv); !slices.Equal(keys, d.keys) {
					t.Errorf("%s: final Ignition has keys %q, want %q", n.name, keys, d.keys)
				}
				if n.name != down.name {
					d.checkServed(n.srv, d.ips[n.name], false)
				}
			}
			d.checkBMCCalls(before, -1)
			d.checkStatusAll(d.status(""), down.name)
			d.checkStatusHuman(down.name)
			if t.Failed() {
				t.FailNow()
			}

			if err := d.bmcs.StartAgain(t.Context(), down.srv); err != nil {
				t.Fatal(err)
			}
			restarted = true
			d.watchOnce("node-0's BMC back", 0)
			if ev := d.event(c); ev.Outcome != watch.OutcomeApplied {
				t.Errorf("after the BMC came back: event %s %q", ev.Outcome, ev.Reason)
			}
			d.checkBMCCalls(before, down.srv)
			d.checkServed(down.srv, d.ips[down.name], true)
			d.settle("node-0's BMC back")
			d.checkConverged()
			d.checkStatusAll(d.status(""))
			d.checkStatusHuman()
		}},
	}
	for _, s := range steps {
		start := time.Now()
		ok := t.Run(s.name, func(t *testing.T) {
			d.use(t)
			s.run(t)
		})
		d.use(t)
		t.Logf("timing: step %s took %v", s.name, time.Since(start).Round(time.Millisecond))
		if !ok {
			t.Fatalf("step %s failed; later steps build on it", s.name)
		}
	}
	for _, o := range d.outputs {
		if strings.Contains(o, day2OldPW) || strings.Contains(o, day2NewPW) {
			t.Fatalf("a BMC password appears in rackctl's output:\n%s", o)
		}
	}
}
