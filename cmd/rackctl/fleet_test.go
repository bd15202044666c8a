package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/config"
	"github.com/rackctl/rackctl/fleet"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/state"
)

// fleetRackSpec is rack i of a test fleet: its own name, subnet 10.i.0.0/24
// and MACs, its nodes behind bmcs; lease is its DHCP reservations' lease
// (changed to make a commit that reaches dnsmasq).
func fleetRackSpec(name string, i int, lease string, bmcs []simrack.BMC) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: rackctl/v1alpha1
kind: Rack
name: %s
provisioner: flatcar
domain: %s.localdomain
network:
  internal: {subnet: 10.%d.0.0/24, gateway: 10.%d.0.1, dns: [10.%d.0.1], dhcp: {reservationLease: %s}}
bmc: {userFile: /usr/share/oem/ipmi_user, passwordFile: /usr/share/oem/ipmi_password}
cluster: {sshPubKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNpbS1yYWNrLWtleQ ops@fleet"]}
nodes:
`, name, name, i, i, i, lease)
	for j, bm := range bmcs {
		fmt.Fprintf(&b, "  - {name: %s-%d, role: node, mac: \"02:00:00:%02x:00:%02x\", bmcMac: \"02:00:00:%02x:01:%02x\", bmcAddress: %q}\n",
			name, j, i, j, i, j, bm.Addr)
	}
	return b.String()
}

// fleetWatch is one rack's `rackctl watch`, run in-process, with its own
// dnsmasq in a namespace pair the test creates; extra flags follow the
// defaults.
type fleetWatch struct {
	name, root, stateDir, listen string
	dhcp                         *testenv.DHCP
	stderr                       *syncBuffer
	stop                         func()
}

func startFleetWatch(t *testing.T, repo *testenv.GitRepo, name string, i int, password string, extra ...string) *fleetWatch {
	t.Helper()
	w := &fleetWatch{name: name, root: t.TempDir(), listen: freePort(t), stderr: &syncBuffer{}}
	w.stateDir = filepath.Join(w.root, state.DefaultDir)
	w.dhcp = testenv.StartDHCPT(t, testenv.DHCPOptions{
		Purpose:   "fleet" + name,
		ServerIP:  netip.MustParsePrefix(fmt.Sprintf("10.%d.0.1/24", i)),
		ConfPath:  filepath.Join(w.root, e2eDnsmasq),
		LeaseFile: filepath.Join(w.root, e2eLeases),
	})
	oem := filepath.Join(w.root, "usr/share/oem")
	if err := os.MkdirAll(oem, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(oem, "ipmi_user"), []byte("admin\n"), 0o600)
	os.WriteFile(filepath.Join(oem, "ipmi_password"), []byte(password+"\n"), 0o600)
	g := &globals{stdin: strings.NewReader(""), stdout: &syncBuffer{}, stderr: w.stderr}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args := []string{"watch", "--repo", repo.Dir, "--path", "racks/" + name + "/rack.yaml", "--root", w.root,
		"--interval", "100ms", "--listen", w.listen, "--timeout", "2s", "--status-interval", "1h", "--log-level", "info",
		"--dhcp", "dnsmasq", "--dnsmasq-reload-cmd", strings.Join(w.dhcp.ReloadCmd, " "), "--dnsmasq-leases", e2eLeases,
		"--dnsmasq-interface", w.dhcp.ServerIface, "--dhcp-release-prefix", "ip netns exec " + w.dhcp.ServerNS,
		"--bmc=none", "--provisioner-run=never", "--verify=none"}
	args = append(args, extra...) // a flag given again wins
	go func() { done <- execute(ctx, g, args) }()
	stopped := false
	w.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(w.stop)
	return w
}

func (w *fleetWatch) history(t *testing.T) []state.HistoryRecord {
	t.Helper()
	recs, err := state.New(w.stateDir).ReadHistory()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Three racks reconciled from one repository by three watches, each rack
// with its own ipmi_sim BMCs and its own dnsmasq in a namespace pair: each
// watch applies only its rack, and each dnsmasq serves only its rack's
// reservations; a commit to rack a is applied by a's watch (its dnsmasq
// restarted with the new config) and seen by b's and c's as leaving their
// spec unchanged, so they plan and record nothing and their dnsmasq is not
// restarted; fleet status shows the three, and a watch that is down or
// hangs is unreachable without delaying the others.
func TestFleetThreeRacksOneRepo(t *testing.T) {
	const password = "fleet-sim-pass"
	names := []string{"a", "b", "c"}
	specs := map[string]string{}
	bmcs := map[string][]simrack.BMC{}
	for i, n := range names {
		bmcs[n] = simrack.StartT(t, simrack.Options{N: 2, Password: password}).BMCs
		specs["racks/"+n+"/rack.yaml"] = fleetRackSpec(n, i+1, "1h", bmcs[n])
	}
	repo := testenv.NewGitRepo(t)
	c1 := repo.CommitFiles(specs, "three racks")

	// CI on the pull request: every rack valid, no conflict between them.
	if r := cli(t, "validate", "--all", filepath.Join(repo.Dir, "racks")); r.code != 0 || !strings.Contains(r.stdout, "3 racks, 6 nodes, no conflict") {
		t.Fatalf("validate --all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	watches := map[string]*fleetWatch{}
	for i, n := range names {
		watches[n] = startFleetWatch(t, repo, n, i+1, password)
	}
	for i, n := range names {
		w := watches[n]
		waitFor(t, "rack "+n+" applied", func() bool { return historyHas(t, w.stateDir, c1) })
		waitFor(t, "rack "+n+" observed", func() bool { return getAPIStatus(t, w.listen).Observation.State == "observed" })
		// Its own dnsmasq serves its node the reserved address.
		mac := fmt.Sprintf("02:00:00:%02x:00:00", i+1)
		want := reservation(t, w.root, mac)
		if got, err := w.dhcp.Request(t.Context(), mac); err != nil || got.String() != want {
			t.Errorf("rack %s: DHCP for %s: %v %v, want the reservation %s", n, mac, got, err, want)
		}
	}
	before, starts := map[string]int{}, map[string]int{}
	for _, n := range names {
		before[n], starts[n] = len(watches[n].history(t)), watches[n].dhcp.Starts()
	}

	specs = map[string]string{"racks/a/rack.yaml": fleetRackSpec("a", 1, "2h", bmcs["a"])}
	c2 := repo.CommitFiles(specs, "rack a: reservations of 2h")
	waitFor(t, "rack a applied the commit to rack a", func() bool { return historyHas(t, watches["a"].stateDir, c2) })
	if watches["a"].dhcp.Starts() == starts["a"] || !strings.Contains(mustReadFile(t, filepath.Join(watches["a"].root, e2eDnsmasq)), ",2h\n") {
		t.Errorf("rack a's dnsmasq was not restarted with the 2h reservations (%d starts before, %d after)", starts["a"], watches["a"].dhcp.Starts())
	}
	for _, n := range []string{"b", "c"} {
		w := watches[n]
		// Either the source tells it skipped the commit, or the watch
		// recorded something for it (the failure checked below).
		waitFor(t, "rack "+n+"'s watch handling "+c2[:8], func() bool {
			return strings.Contains(w.stderr.String(), "new commit leaves the spec unchanged") &&
				strings.Contains(w.stderr.String(), c2) || watchEventFor(t, w.stateDir, c2) != ""
		})
		if got := w.history(t); len(got) != before[n] {
			t.Errorf("rack %s recorded %d history records after the commit to rack a, want none: %+v", n, len(got)-before[n], got[before[n]:])
		}
		if out := watchEventFor(t, w.stateDir, c2); out != "" {
			t.Errorf("rack %s's watch planned rack a's commit: outcome %s, want no event at all", n, out)
		}
		if w.dhcp.Starts() != starts[n] {
			t.Errorf("rack %s's dnsmasq was restarted by rack a's commit", n)
		}
	}

	// fleet status: all three, each with the commit it applied. (The
	// history is written by the apply, the API's watch state just after.)
	waitFor(t, "rack a's API showing "+c2[:8], func() bool {
		w := getAPIStatus(t, watches["a"].listen).Watch
		return w != nil && w.LastApplied == c2
	})
	endpoints := filepath.Join(t.TempDir(), "fleet.yaml")
	var eps strings.Builder
	eps.WriteString("racks:\n")
	for _, n := range names {
		fmt.Fprintf(&eps, "  - {name: %s, url: \"http://%s\"}\n", n, watches[n].listen)
	}
	os.WriteFile(endpoints, []byte(eps.String()), 0o644)
	got := fleetStatusJSON(t, "--endpoints", endpoints)
	wantCommit := map[string]string{"a": c2, "b": c1, "c": c1}
	for i, r := range got {
		if r.Name != names[i] || !r.Reachable || r.Rack != names[i] || r.Commit != wantCommit[r.Name] || r.Nodes == nil || r.Nodes.Total != 2 {
			t.Errorf("rack %d: %+v nodes %+v, want %s reachable, commit %s, 2 nodes", i, r, r.Nodes, names[i], wantCommit[names[i]])
		}
	}

	// Rack c's watch down, and three racks whose API never answers.
	watches["c"].stop()
	for _, n := range []string{"h1", "h2", "h3"} {
		fmt.Fprintf(&eps, "  - {name: %s, url: \"http://%s\"}\n", n, hangingListener(t))
	}
	os.WriteFile(endpoints, []byte(eps.String()), 0o644)
	const timeout = 2 * time.Second
	start := time.Now()
	r := cli(t, "fleet", "status", "--endpoints", endpoints, "--timeout", timeout.String())
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("fleet status: exit %d\n%s", r.code, r.stderr)
	}
	// Asked one after the other, the three hanging racks alone take 3×2s.
	if took >= 2*timeout {
		t.Errorf("fleet status took %s with three racks hanging, want about one --timeout (%s)", took, timeout)
	}
	t.Logf("fleet status (%s):\n%s", took.Round(time.Millisecond), r.stdout)
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(rows) != 7 || !strings.HasPrefix(rows[0], "RACK") {
		t.Fatalf("fleet status:\n%s", r.stdout)
	}
	for i, want := range []string{"a  yes  " + c2[:12], "b  yes  " + c1[:12], "c  no   unknown", "h1  no   unknown"} {
		if !strings.HasPrefix(strings.Join(strings.Fields(rows[i+1]), "  "), strings.Join(strings.Fields(want), "  ")) {
			t.Errorf("row %d: %q, want it to start with %q", i+1, rows[i+1], want)
		}
	}
	if !strings.Contains(rows[3], "connection refused") || !strings.Contains(rows[4], "no answer within 2s") {
		t.Errorf("rows of the down and hanging racks do not say why:\n%s", r.stdout)
	}
}

// reservation is the address rack's dnsmasq.conf reserves for mac.
func reservation(t *testing.T, root, mac string) string {
	t.Helper()
	for line := range strings.Lines(mustReadFile(t, filepath.Join(root, e2eDnsmasq))) {
		if f := strings.Split(strings.TrimPrefix(line, "dhcp-host="), ","); len(f) > 1 && f[0] == mac {
			return f[1]
		}
	}
	t.Fatalf("no dhcp-host for %s in %s", mac, e2eDnsmasq)
	return ""
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// watchEventFor is the outcome of the watch's event for commit, "" when none.
func watchEventFor(t *testing.T, stateDir, commit string) string {
	t.Helper()
	evs, err := state.New(stateDir).ReadWatchEvents()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Commit == commit {
			return string(ev.Outcome)
		}
	}
	return ""
}

func fleetStatusJSON(t *testing.T, args ...string) []fleet.RackStatus {
	t.Helper()
	r := cli(t, append([]string{"fleet", "status", "-o", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("fleet status: exit %d\n%s", r.code, r.stderr)
	}
	var doc struct {
		FormatVersion string             `json:"format_version"`
		Racks         []fleet.RackStatus `json:"racks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.FormatVersion != "1.0" {
		t.Fatalf("fleet status -o json: %v\n%s", err, r.stdout)
	}
	return doc.Racks
}

// hangingListener accepts TCP connections on loopback and never answers:
// a rack whose watch hangs.
func hangingListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

const fleetExample = "../../spec-examples/fleet/racks"

// copyFleet copies the fleet example to a new directory and applies edits
// (rack → old → new) to its specs.
func copyFleet(t *testing.T, edits map[string][2]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "racks")
	for _, rack := range []string{"rack-a", "rack-b"} {
		b, err := os.ReadFile(filepath.Join(fleetExample, rack, "rack.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		spec := string(b)
		if e, ok := edits[rack]; ok {
			if !strings.Contains(spec, e[0]) {
				t.Fatalf("%s has no %q", rack, e[0])
			}
			spec = strings.Replace(spec, e[0], e[1], 1)
		}
		os.MkdirAll(filepath.Join(dir, rack), 0o755)
		os.WriteFile(filepath.Join(dir, rack, "rack.yaml"), []byte(spec), 0o644)
	}
	return dir
}

func TestValidateAll(t *testing.T) {
	clash := copyFleet(t, map[string][2]string{"rack-b": {`bmcMac: "00:16:3e:0b:01:02"`, `bmcMac: "00:16:3e:0a:00:02"`}})
	tests := map[string]struct {
		args     []string
		code     int
		out, err string
	}{
		"the example": {args: []string{"--all", fleetExample}, out: "is valid: 2 racks, 5 nodes, no conflict between racks."},
		"a MAC in two racks": {args: []string{"--all", clash}, code: 1,
			err: clash + `/rack-b/rack.yaml:21:60: nodes[1].bmcMac: rack "rack-b": MAC "00:16:3e:0a:00:02" is also nodes[1].mac of rack "rack-a" at ` + clash + "/rack-a/rack.yaml:21:34"},
		"json": {args: []string{"--all", clash, "-o", "json"}, code: 1,
			out: `"valid": false`},
		"missing directory": {args: []string{"--all", filepath.Join(clash, "nope")}, code: 1, err: "fleet directory: open"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := cli(t, append([]string{"validate"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.out) || !strings.Contains(r.stderr, tc.err) {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s\nwant stdout with %q, stderr with %q", r.code, tc.code, r.stdout, r.stderr, tc.out, tc.err)
			}
		})
	}
	r := cli(t, "validate", "--all", clash, "-o", "json")
	var doc struct {
		Valid  bool
		Racks  []struct{ Dir, Name string }
		Errors []struct {
			File      string
			Line, Col int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Valid || len(doc.Racks) != 2 || len(doc.Errors) != 1 || doc.Errors[0].Line != 21 {
		t.Errorf("validate --all -o json: %v %+v\n%s", err, doc, r.stdout)
	}
}

// plan --all plans each rack by its file layer, against an empty state or
// the rack's root under --roots: a rack applied there has no changes.
func TestPlanAll(t *testing.T) {
	r := cli(t, "plan", "--all", fleetExample)
	want := `RACK    NODES  STATE  ADD  CHANGE  DESTROY  BY LAYER
rack-a  3      empty  22   0       0        files +22 ~0 -0
rack-b  2      empty  18   0       0        files +18 ~0 -0

File layer only: no BMC, DHCP server, provisioner or node was contacted.
`
	if r.code != 0 || r.stdout != want {
		t.Fatalf("plan --all: exit %d\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
	}
	if r := cli(t, "plan", "--all", fleetExample, "--detailed-exitcode"); r.code != exitChanges {
		t.Errorf("plan --all --detailed-exitcode with changes: exit %d, want %d", r.code, exitChanges)
	}

	roots := t.TempDir()
	rootA := filepath.Join(roots, "rack-a")
	if r := cli(t, "apply", "-f", filepath.Join(fleetExample, "rack-a", "rack.yaml"), "--root", rootA, "--auto-approve",
		"--dhcp=none", "--bmc=none", "--provisioner-run=never", "--verify=none"); r.code != 0 {
		t.Fatalf("apply rack-a: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Readable BMC credentials would turn plan's BMC layer on (--bmc=auto):
	// plan --all must not read them.
	oem := filepath.Join(rootA, "usr/share/oem")
	os.MkdirAll(oem, 0o755)
	os.WriteFile(filepath.Join(oem, "ipmi_user"), []byte("admin\n"), 0o600)
	os.WriteFile(filepath.Join(oem, "ipmi_password"), []byte("pw\n"), 0o600)
	r = cli(t, "plan", "--all", fleetExample, "--roots", roots, "-o", "json", "--timeout", "1s")
	var doc struct {
		Racks []fleetPlan `json:"racks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 || len(doc.Racks) != 2 {
		t.Fatalf("plan --all -o json: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	a, b := doc.Racks[0], doc.Racks[1]
	if a.Rack != "rack-a" || a.Root != rootA || a.Counts != (state.Counts{}) || len(a.ByLayer) != 0 {
		t.Errorf("rack-a against its applied root: %+v, want no changes", a)
	}
	if b.Rack != "rack-b" || b.Root != "" || b.Counts.Add != 18 {
		t.Errorf("rack-b without a root: %+v, want 18 files to add against an empty state", b)
	}

	clash := copyFleet(t, map[string][2]string{"rack-b": {"subnet: 172.24.20.0/24", "subnet: 172.24.0.0/16"}})
	if r := cli(t, "plan", "--all", clash); r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "network.internal.subnet: rack \"rack-b\": internal subnet 172.24.0.0/16 overlaps 172.24.10.0/24 of rack \"rack-a\"") {
		t.Errorf("plan --all of a fleet with overlapping subnets: exit %d, want 1 and nothing planned\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestFleetStatusEndpointsFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(bad, []byte("racks:\n  - {name: a, url: \"http://127.0.0.1:1\"}\n  - {name: a, url: \"http://127.0.0.1:2/?x\"}\n"), 0o644)
	tests := map[string]struct {
		args []string
		err  string
	}{
		"no --endpoints": {err: "--endpoints is required"},
		"invalid file": {args: []string{"--endpoints", bad},
			err: bad + ` is not valid (2 problems):
  ` + bad + `:3:6: racks[1].name: duplicate rack "a" (also racks[0], line 2)
  ` + bad + `:3:15: racks[1].url: has a query or fragment`},
		"missing file": {args: []string{"--endpoints", bad + ".missing"}, err: "read endpoints: "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := cli(t, append([]string{"fleet", "status"}, tc.args...)...)
			if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, tc.err) {
				t.Errorf("exit %d, want 1 and nothing on stdout\nstdout: %s\nstderr: %s\nwant stderr with %q", r.code, r.stdout, r.stderr, tc.err)
			}
		})
	}
}

// TestDocsFleet: the examples of docs/fleet.md are what rackctl accepts
// and prints, and every field of fleet status -o json is described.
func TestDocsFleet(t *testing.T) {
	b, err := os.ReadFile("../../docs/fleet.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	// block is the first code block after the text after.
	block := func(after string) string {
		t.Helper()
		_, rest, ok := strings.Cut(doc, after)
		_, rest, ok2 := strings.Cut(rest, "```")
		_, rest, ok3 := strings.Cut(rest, "\n")
		body, _, ok4 := strings.Cut(rest, "```")
		if !ok || !ok2 || !ok3 || !ok4 {
			t.Fatalf("docs/fleet.md lost the block after %q", after)
		}
		return body
	}
	if _, err := config.Parse("docs/fleet.md config", []byte(block("## One watch per management node"))); err != nil {
		t.Errorf("the config example is invalid: %v", err)
	}
	example, err := os.ReadFile("../../spec-examples/fleet/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{block("## The endpoints file"), string(example)} {
		if _, err := fleet.ParseEndpoints("endpoints example", []byte(src)); err != nil {
			t.Errorf("the endpoints example is invalid: %v\n%s", err, src)
		}
	}
	if r := cli(t, "plan", "--all", fleetExample); "$ rackctl plan --all spec-examples/fleet/racks\n"+r.stdout != block("`--detailed-exitcode` exits 2 when any") {
		t.Errorf("docs/fleet.md shows another plan --all than rackctl prints:\n%s", r.stdout)
	}
	row, _ := json.Marshal(fleet.RackStatus{Endpoint: fleet.Endpoint{Name: "x", URL: "u"}, Reachable: true, Error: "e", Rack: "x",
		Commit: "c", Nodes: &fleet.NodeCounts{}, Held: []string{"h"}, Observation: "observed"})
	var keys map[string]any
	json.Unmarshal(row, &keys)
	for k := range keys {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("fleet status -o json field %q is not described in docs/fleet.md", k)
		}
	}
}

// The table says what each rack's API reported and nothing more.
func TestWriteFleetStatus(t *testing.T) {
	doc := func(w *api.WatchState, obs string) *api.RackStatus {
		return &api.RackStatus{Watch: w, Observation: api.Observation{State: obs}}
	}
	counts := &fleet.NodeCounts{Total: 4, OK: 2, Failed: 1, Other: 1}
	racks := []fleet.RackStatus{
		{Endpoint: fleet.Endpoint{Name: "a"}, Reachable: true, Rack: "a", Commit: "0123456789abcdef", Nodes: counts,
			Observation: "observed", Status: doc(&api.WatchState{Running: true}, "observed")},
		{Endpoint: fleet.Endpoint{Name: "b"}, Reachable: true, Rack: "other", Nodes: &fleet.NodeCounts{Total: 2, Other: 2},
			Held: []string{"fedcba9876543210"}, Observation: "pending",
			Status: doc(&api.WatchState{Failures: 2, LastError: "plan: bmc b-0: timeout\nmore"}, "pending")},
		{Endpoint: fleet.Endpoint{Name: "c"}, Reachable: true, Nodes: &fleet.NodeCounts{}, Observation: "failed", Status: doc(nil, "failed")},
		{Endpoint: fleet.Endpoint{Name: "d"}, Error: "GET http://x/api/status: no answer within 5s\x1b[2J"},
	}
	var out syncBuffer
	writeFleetStatus(&globals{stdout: &out}, racks)
	want := `RACK  REACHABLE  COMMIT        OK  FAILED  OTHER  HELD  NOTE
a     yes        0123456789ab  2   1       1      0     
b     yes        none          0   0       2      1     serves rack "other"; nodes not observed yet; 2 failures: plan: bmc b-0: timeout; held fedcba987654
c     yes        none          0   0       0      0     no valid spec read yet; last node observation failed; no watch loop
d     no         unknown       -   -       -      -     GET http://x/api/status: no answer within 5s\x1b[2J
`
	if got := out.String(); got != want {
		t.Errorf("fleet status table:\n%s\nwant:\n%s", got, want)
	}
}
