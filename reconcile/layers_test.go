package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// fakeDHCP is a DHCPServer with a lease list.
type fakeDHCP struct {
	mu       sync.Mutex
	checkErr error
	leases   []dhcp.Lease // nil: no lease file
	reloads  int
	released []string
}

func (f *fakeDHCP) Check(ctx context.Context, conf []byte) error { return f.checkErr }
func (f *fakeDHCP) Reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return nil
}
func (f *fakeDHCP) Leases() ([]dhcp.Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leases == nil {
		return nil, fmt.Errorf("leases: %w", os.ErrNotExist)
	}
	return slices.Clone(f.leases), nil
}
func (f *fakeDHCP) Release(ctx context.Context, l dhcp.Lease) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, l.MAC+" "+l.IP.String())
	f.leases = slices.DeleteFunc(f.leases, func(x dhcp.Lease) bool { return x.MAC == l.MAC && x.IP == l.IP })
	return nil
}

// fakeBMC keeps power and boot device per node; fail makes a node's
// mutating calls fail.
type fakeBMC struct {
	mu    sync.Mutex
	power map[string]string
	boot  map[string]string
	fail  map[string]error
	calls []string // mutating calls, "node action"
	reads int
}

func newFakeBMC() *fakeBMC {
	return &fakeBMC{power: map[string]string{}, boot: map[string]string{}, fail: map[string]error{}}
}

func (f *fakeBMC) PowerState(ctx context.Context, t bmc.Target) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if p, ok := f.power[t.Node]; ok {
		return p, nil
	}
	return "on", nil
}
func (f *fakeBMC) SetPower(ctx context.Context, t bmc.Target, action string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[t.Node]; err != nil {
		return err
	}
	f.calls = append(f.calls, t.Node+" power "+action)
	f.power[t.Node] = "on"
	return nil
}
func (f *fakeBMC) BootDevice(ctx context.Context, t bmc.Target) (bmc.BootParam, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	d := f.boot[t.Node]
	if d == "" {
		d = bmc.BootDisk
	}
	return bmc.BootParam{Device: d, Persistent: true, EFI: true}, nil
}
func (f *fakeBMC) SetBootDevice(ctx context.Context, t bmc.Target, device string, persistent, efi bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[t.Node]; err != nil {
		return err
	}
	f.calls = append(f.calls, t.Node+" boot "+device)
	f.boot[t.Node] = device
	return nil
}

func (f *fakeBMC) mutations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.calls)
	slices.Sort(out)
	return out
}

// fakeTF records terraform runs; every Plan has changes unless noChanges.
type fakeTF struct {
	mu                   sync.Mutex
	applyErr             error
	noChanges            bool
	changes              []provision.ResourceChange // nil: one update
	inits, plans, applys int
}

func (f *fakeTF) Init(ctx context.Context) error { f.mu.Lock(); f.inits++; f.mu.Unlock(); return nil }
func (f *fakeTF) Plan(ctx context.Context) (*provision.TerraformPlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans++
	if f.noChanges {
		return &provision.TerraformPlan{PlanFile: "p"}, nil
	}
	if f.changes != nil {
		return &provision.TerraformPlan{PlanFile: "p", Summary: provision.PlanSummary{Destroy: len(f.changes)}, Changes: f.changes}, nil
	}
	return &provision.TerraformPlan{PlanFile: "p", Summary: provision.PlanSummary{Change: 1},
		Changes: []provision.ResourceChange{{Address: "module.flatcar.matchbox_group.node[\"x\"]", Actions: []string{"update"}}}}, nil
}
func (f *fakeTF) Apply(ctx context.Context, planFile string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.applyErr != nil {
		return f.applyErr
	}
	f.applys++
	return nil
}

// rackEnv is a rack under test with fake drivers.
type rackEnv struct {
	t          testing.TB
	root, st   string
	rack       *schema.Rack
	dhcp       *fakeDHCP
	bmc        *fakeBMC
	tf         *fakeTF
	loko       *fakeExecutorLoko
	targets    []string
	now        time.Time
	lastResult Result
	settle     bool // plan the settle layer
	configs    NodeConfigObserver
	driftFix   DriftFix
	waves      WaveOptions
}

type fakeExecutorLoko struct{ applies int }

func (f *fakeExecutorLoko) Apply(ctx context.Context) error { f.applies++; return nil }

func newRackEnv(t testing.TB, prov schema.Provisioner, n int) *rackEnv {
	root := t.TempDir()
	return &rackEnv{t: t, root: root, st: filepath.Join(root, "var/lib/rackctl"), rack: buildRack(prov, n),
		dhcp: &fakeDHCP{}, bmc: newFakeBMC(), tf: &fakeTF{}, loko: &fakeExecutorLoko{}, now: time.Unix(1_800_000_000, 0)}
}

func (e *rackEnv) layers() LayerConfig {
	return LayerConfig{Enabled: true, DHCP: e.dhcp, BMC: e.bmc, Provisioner: ProvisionerAuto, Terraform: e.tf, Verify: true, Settle: e.settle, NodeConfigs: e.configs, DriftFix: e.driftFix}
}

func (e *rackEnv) plan() *Plan {
	e.t.Helper()
	timeNow = func() time.Time { return e.now }
	p, err := Build(context.Background(), e.rack, PlanOptions{Root: e.root, StateDir: e.st, Targets: e.targets, Layers: e.layers(), Now: func() time.Time { return e.now }})
	if err != nil {
		e.t.Fatalf("plan: %v", err)
	}
	return p
}

func (e *rackEnv) apply(p *Plan) (Result, error) {
	px := &ProvisionerExecutor{Terraform: e.tf, Lokoctl: e.loko}
	res, err := Apply(context.Background(), p, ApplyOptions{Root: e.root, StateDir: e.st, Executors: []Executor{
		&DHCPExecutor{Server: e.dhcp, BMC: e.bmc}, &FlagExecutor{Root: e.root},
		px, &BMCExecutor{BMC: e.bmc, Parallel: 4}, &VerifyExecutor{Root: e.root},
		&SettleExecutor{Root: e.root, Provisioner: px, BMC: e.bmc},
	}, Waves: e.waves})
	e.lastResult = res
	return res, err
}

func (e *rackEnv) mustApply(p *Plan) Result {
	e.t.Helper()
	res, err := e.apply(p)
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	return res
}

// converge applies until the plan is empty (at most 3 times), so the rack
// is installed and settled, then clears the fakes' records.
func (e *rackEnv) converge() {
	e.t.Helper()
	if e.rack.Provisioner == schema.Flatcar {
		os.MkdirAll(filepath.Join(e.root, render.DefaultLayout().FlatcarDir, ".terraform"), 0o755)
	}
	for range 3 {
		e.tf.noChanges = false
		p := e.plan()
		if !p.HasChanges() {
			break
		}
		e.mustApply(p)
		e.tf.noChanges = true // terraform has applied everything
	}
	e.tf.noChanges = true
	if p := e.plan(); p.HasChanges() {
		e.t.Fatalf("not converged: %v", layerAddrs(p.Changes, ""))
	}
	e.bmc.calls, e.tf.applys, e.dhcp.reloads, e.loko.applies = nil, 0, 0, 0
}

// layerAddrs lists "layer action address node" of the changes (of layer, or all).
func layerAddrs(cs []Change, layer Layer) []string {
	var out []string
	for _, c := range cs {
		if c.Action == ActionNoop || (layer != "" && c.Layer != layer) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", c.Layer, c.Action, c.Address, c.Node))
	}
	return out
}

func changedNodes(cs []Change) []string {
	var out []string
	for _, c := range cs {
		if c.Node != "" && c.Action != ActionNoop && !slices.Contains(out, c.Node) {
			out = append(out, c.Node)
		}
	}
	return out
}

func TestFirstApplyInstallsEveryNode(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	p := e.plan()
	if got := layerAddrs(p.Changes, LayerBMC); len(got) != 3 {
		t.Fatalf("bmc changes = %v", got)
	}
	res := e.mustApply(p)
	if res.Outcome != OutcomeSuccess {
		t.Fatalf("outcome %s", res.Outcome)
	}
	want := []string{"node-0 boot pxe", "node-0 power cycle", "node-1 boot pxe", "node-1 power cycle", "node-2 boot pxe", "node-2 power cycle"}
	if got := e.bmc.mutations(); !slices.Equal(got, want) {
		t.Fatalf("bmc calls = %v", got)
	}
	for _, n := range e.rack.Nodes {
		// The flag file holds the node's name, as lokomotive's module
		// writes and checks it.
		flag := render.FlagFilePath(render.Layout{}, schema.Flatcar, n.MAC)
		if got, want := readFile(t, e.root, flag), e.rack.FQDN(&n)+"\n"; got != want {
			t.Errorf("%s: flag file holds %q, want %q", n.Name, got, want)
		}
	}
	if e.tf.applys != 1 || e.dhcp.reloads != 1 {
		t.Errorf("terraform applies %d, reloads %d", e.tf.applys, e.dhcp.reloads)
	}
	e.converge()
}

func TestReprovisionOneNode(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.converge()
	e.rack.Nodes[1].Reprovision = "2026-11-25"
	e.tf.noChanges = false
	p := e.plan()
	if got := changedNodes(p.Changes); !slices.Equal(got, []string{"node-1"}) {
		t.Fatalf("nodes with changes = %v\n%v", got, layerAddrs(p.Changes, ""))
	}
	flag := render.FlagFilePath(render.Layout{}, schema.Flatcar, e.rack.Nodes[1].MAC)
	wantLayers := map[Layer][]string{
		LayerFlags:       {"flags delete file:" + flag + " node-1"},
		LayerProvisioner: {"provisioner run provisioner:terraform "},
		LayerBMC:         {"bmc pxe-reinstall bmc:node-1 node-1"},
		LayerVerify:      {"verify verify verify:node-1 node-1"},
		LayerDHCP:        nil,
	}
	for l, want := range wantLayers {
		if got := layerAddrs(p.Changes, l); !slices.Equal(got, want) {
			t.Errorf("%s changes = %v, want %v", l, got, want)
		}
	}
	for _, c := range p.Changes {
		if c.Layer == LayerFlags && (!c.Disruptive || !strings.Contains(c.Reason, "nodes[1].reprovision")) {
			t.Errorf("flag change %+v: want disruptive with the spec field as reason", c)
		}
	}
	e.mustApply(p)
	if got := e.bmc.mutations(); !slices.Equal(got, []string{"node-1 boot pxe", "node-1 power cycle"}) {
		t.Fatalf("bmc calls = %v", got)
	}
	if !exists(e.root, flag) {
		t.Fatal("flag file not recorded again after the reinstall")
	}
	e.converge()
}

// snapshot reads every file under the provisioner dir and /etc/hosts.
func snapshot(t testing.TB, root string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "var/lib/rackctl") || strings.Contains(p, "/assets/") || strings.Contains(p, ".terraform") {
			return nil
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = string(b)
		return nil
	})
	return out
}

func TestExcludeAndReAdd(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.converge()
	before := snapshot(t, e.root)
	allocBefore, _ := loadAllocation(e.st)

	e.rack.Nodes[1].Exclude = true
	e.tf.noChanges = false
	p := e.plan()
	if got := layerAddrs(p.Changes, LayerFlags); len(got) != 1 || !strings.Contains(got[0], e.rack.Nodes[1].MAC) {
		t.Fatalf("flag changes = %v", got)
	}
	if got := layerAddrs(p.Changes, LayerBMC); len(got) != 0 {
		t.Fatalf("bmc changes for an exclude: %v", got)
	}
	e.mustApply(p)
	tfvars := readFile(t, e.root, "home/core/flatcar-container-linux/terraform.tfvars")
	if strings.Contains(tfvars, "node-1") || strings.Contains(tfvars, e.rack.Nodes[1].MAC) {
		t.Fatalf("excluded node still in terraform.tfvars:\n%s", tfvars)
	}
	// Arrays stay aligned: node-2's MAC is second, as node-2 is.
	macs := tfvars[strings.Index(tfvars, "node_macs"):strings.Index(tfvars, "node_names")]
	names := tfvars[strings.Index(tfvars, "node_names"):strings.Index(tfvars, "matchbox_addr")]
	if strings.Index(macs, e.rack.Nodes[2].MAC) < strings.Index(macs, e.rack.Nodes[0].MAC) || strings.Index(names, "node-2") < strings.Index(names, "node-0") {
		t.Fatalf("arrays misaligned:\n%s", tfvars)
	}
	conf := readFile(t, e.root, render.DefaultLayout().DnsmasqConf)
	if !strings.Contains(conf, e.rack.Nodes[1].BMCMAC) {
		t.Fatal("the excluded node's BMC lost its DHCP reservation")
	}
	e.converge()

	e.rack.Nodes[1].Exclude = false
	e.tf.noChanges = false
	p = e.plan()
	if got := layerAddrs(p.Changes, LayerBMC); len(got) != 1 || !strings.Contains(p.Changes[slices.IndexFunc(p.Changes, func(c Change) bool { return c.Layer == LayerBMC })].Reason, "added back") {
		t.Fatalf("bmc changes = %v", got)
	}
	e.mustApply(p)
	e.converge()
	after := snapshot(t, e.root)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s differs after exclude and re-add", k)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d files after, %d before", len(after), len(before))
	}
	allocAfter, _ := loadAllocation(e.st)
	if fmt.Sprint(allocBefore) != fmt.Sprint(allocAfter) {
		t.Errorf("allocation changed:\n%v\n%v", allocBefore, allocAfter)
	}
}

func TestReplaceMACReleasesOldLease(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.converge()
	alloc, _ := loadAllocation(e.st)
	var ip netip.Addr
	for _, en := range alloc.Entries {
		if en.Node == "node-1" && en.NIC == ipam.Primary {
			ip = en.IP
		}
	}
	oldMAC := e.rack.Nodes[1].MAC
	e.dhcp.leases = []dhcp.Lease{{Expiry: e.now.Add(time.Hour), MAC: oldMAC, IP: ip, Hostname: "node-1"}}
	e.rack.Nodes[1].MAC = "aa:bb:01:00:00:99"
	e.tf.noChanges = false
	p := e.plan()
	if got := layerAddrs(p.Changes, LayerDHCP); !slices.Equal(got, []string{
		"dhcp reload dhcp:dnsmasq ",
		"dhcp release-lease dhcp:lease:" + oldMAC + "/" + ip.String() + " node-1",
	}) {
		t.Fatalf("dhcp changes = %v", got)
	}
	if len(p.Allocations) != 1 || p.Allocations[0].Reason != ipam.ReasonMACReplaced || p.Allocations[0].New != ip {
		t.Fatalf("allocations = %v", p.Allocations)
	}
	if got := layerAddrs(p.Changes, LayerFlags); len(got) != 1 || !strings.Contains(got[0], oldMAC) {
		t.Fatalf("flag changes = %v", got)
	}
	e.mustApply(p)
	if !slices.Equal(e.dhcp.released, []string{oldMAC + " " + ip.String()}) {
		t.Fatalf("released = %v", e.dhcp.released)
	}
	if got := e.bmc.mutations(); !slices.Equal(got, []string{"node-1 boot pxe", "node-1 power cycle"}) {
		t.Fatalf("bmc calls = %v", got)
	}
	e.converge()
}

func TestFailingBMCStopsOnlyItsNode(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.bmc.fail["node-0"] = fmt.Errorf("bmc node-0: %w", bmc.ErrUnreachable)
	res, err := e.apply(e.plan())
	if !errors.Is(err, bmc.ErrUnreachable) || res.Outcome != OutcomeFailed {
		t.Fatalf("err = %v, outcome %s", err, res.Outcome)
	}
	if got := e.bmc.mutations(); len(got) != 4 || slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "node-0") }) {
		t.Fatalf("bmc calls = %v", got)
	}
	if got := addresses(res.NotAttempted); !slices.Equal(got, []string{"verify verify:node-0"}) {
		t.Fatalf("not attempted = %v", got)
	}
	for i, n := range e.rack.Nodes {
		if got := exists(e.root, render.FlagFilePath(render.Layout{}, schema.Flatcar, n.MAC)); got != (i != 0) {
			t.Errorf("%s flag file present = %v", n.Name, got)
		}
	}
	delete(e.bmc.fail, "node-0")
	e.bmc.calls = nil
	p := e.plan()
	// The fake BMCs keep "pxe" as boot device after the install (a real
	// node's boot workaround unit sets disk), so node-1 and node-2 get
	// set-boot-disk; only node-0 is installed.
	reinstall := slices.DeleteFunc(slices.Clone(p.Changes), func(c Change) bool { return c.Action == ActionSetBootDisk })
	if got := changedNodes(reinstall); !slices.Equal(got, []string{"node-0"}) {
		t.Fatalf("rerun plans for %v", got)
	}
	e.mustApply(p)
	e.converge()
}

func TestTerraformFailureStopsLaterPhases(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 2)
	e.tf.applyErr = errors.New("matchbox: connection refused")
	res, err := e.apply(e.plan())
	if err == nil || !strings.Contains(err.Error(), "connection refused") || res.Outcome != OutcomeFailed {
		t.Fatalf("err = %v, outcome %s", err, res.Outcome)
	}
	if len(e.bmc.mutations()) != 0 {
		t.Fatalf("bmc acted after a failed provisioner: %v", e.bmc.mutations())
	}
	var notRun []Layer
	for _, c := range res.NotAttempted {
		notRun = append(notRun, c.Layer)
	}
	if !slices.Equal(notRun, []Layer{LayerBMC, LayerBMC, LayerVerify, LayerVerify}) {
		t.Fatalf("not attempted = %v", addresses(res.NotAttempted))
	}
	e.tf.applyErr = nil
	e.mustApply(e.plan())
	if got := e.bmc.mutations(); len(got) != 4 {
		t.Fatalf("bmc calls after the rerun = %v", got)
	}
	e.converge()
}

func TestSavedPlanStaleOnPowerChange(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 2)
	e.converge()
	e.rack.Nodes[0].Reprovision = "x"
	p := e.plan()
	if p.Observed[NodeKey(LayerBMC, "node-0", AspectPower)] != "on" {
		t.Fatalf("observed = %v", p.Observed)
	}
	e.bmc.power["node-0"] = "off" // someone switched it off meanwhile
	_, err := e.apply(p)
	var se *StaleError
	if !errors.Is(err, ErrStalePlan) || !errors.As(err, &se) || se.Changed[0].Key != NodeKey(LayerBMC, "node-0", AspectPower) {
		t.Fatalf("err = %v", err)
	}
	if len(e.bmc.mutations()) != 0 {
		t.Fatal("a stale plan acted on a BMC")
	}
}

func TestDnsmasqCheckFailsPlan(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 1)
	e.dhcp.checkErr = &dhcp.CheckError{Message: "dnsmasq: bad dhcp-host at line 3", Line: 3}
	_, err := Build(context.Background(), e.rack, PlanOptions{Root: e.root, StateDir: e.st, Layers: e.layers()})
	if err == nil || !strings.Contains(err.Error(), "bad dhcp-host at line 3") {
		t.Fatalf("err = %v", err)
	}
}

func TestSSHKeyChangeNotes(t *testing.T) {
	for _, prov := range []schema.Provisioner{schema.Flatcar, schema.Lokomotive} {
		t.Run(string(prov), func(t *testing.T) {
			e := newRackEnv(t, prov, 3)
			e.converge()
			e.rack.Cluster.SSHPubKeys = append(e.rack.Cluster.SSHPubKeys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc1Ipu0vTYCbDfcg1pNb7s0R7Kd4MFJvq1dZs0Z2rk5 new@example")
			p := e.plan()
			i := slices.IndexFunc(p.Changes, func(c Change) bool { return c.Layer == LayerProvisioner })
			if i < 0 {
				t.Fatalf("no provisioner change: %v", layerAddrs(p.Changes, ""))
			}
			if prov == schema.Lokomotive {
				// Lokomotive re-runs Ignition, with a reboot, on every node:
				// the keys are in each one's.
				c := p.Changes[i]
				if !c.Disruptive || len(c.Detail.Reboots) != len(e.rack.Nodes) {
					t.Fatalf("lokoctl change: disruptive %v, reboots %v; want every node", c.Disruptive, c.Detail.Reboots)
				}
			} else if want := "reignite: the config of node-0, node-1, node-2 changes, but only in what matchbox serves"; !strings.Contains(strings.Join(p.Notes, "\n"), want) {
				// Without the nodes observed, the reignite layer says the
				// installed nodes keep their old keys.
				t.Fatalf("notes = %q, want %q", p.Notes, want)
			}
			if got := layerAddrs(p.Changes, LayerBMC); len(got) != 0 {
				t.Fatalf("an SSH key change power-cycles: %v", got)
			}
		})
	}
}

func TestTargetLimitsNodeActions(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.targets = []string{"node-2"}
	p := e.plan()
	if got := changedNodes(p.Changes); !slices.Equal(got, []string{"node-2"}) {
		t.Fatalf("nodes = %v", got)
	}
}

// TestProvisionerStopsOnRackerState: while the flatcar state holds Racker's
// module, the terraform run stops before applying and prints the moves.
func TestProvisionerStopsOnRackerState(t *testing.T) {
	tf := &fakeTF{changes: []provision.ResourceChange{
		{Address: "module.flatcar-provisioning[0].matchbox_group.node", Actions: []string{"delete"}, Name: "node-0"},
	}}
	e := &ProvisionerExecutor{Terraform: tf}
	err := e.Apply(context.Background(), Change{Layer: LayerProvisioner, Action: ActionRun, Address: "provisioner:terraform", Detail: &Detail{Dir: "home/core/flatcar-container-linux", Provisioner: schema.Flatcar}})
	want := `terraform state mv 'module.flatcar-provisioning[0].matchbox_group.node' 'module.flatcar.matchbox_group.node["node-0"]'`
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "home/core/flatcar-container-linux") {
		t.Fatalf("err = %v, want the state mv command and the directory", err)
	}
	if tf.applys != 0 {
		t.Errorf("terraform applied %d times, want 0", tf.applys)
	}
}

// TestLokomotiveCLCChangeReboots: lokoctl reboots a node whose Ignition
// changes, so a node's CLC change is a disruptive provisioner run for that
// node alone; the same CLC in another layout is no change at all.
func TestLokomotiveCLCChangeReboots(t *testing.T) {
	e := newRackEnv(t, schema.Lokomotive, 3)
	e.converge()
	n := &e.rack.Nodes[1]
	n.ExtraCLC = "storage:\n  files:\n    - path: /etc/motd.d/x.conf\n      filesystem: root\n      contents:\n        inline: x\n"
	p := e.plan()
	i := slices.IndexFunc(p.Changes, func(c Change) bool { return c.Layer == LayerProvisioner })
	if i < 0 {
		t.Fatalf("no provisioner change: %v", layerAddrs(p.Changes, ""))
	}
	if c := p.Changes[i]; !c.Disruptive || !slices.Equal(c.Detail.Reboots, []string{n.Name}) {
		t.Fatalf("lokoctl change: disruptive %v, reboots %v; want %s alone", c.Disruptive, c.Detail.Reboots, n.Name)
	}
	e.converge()

	// Rewrite the node's CLC in another layout: nothing to do.
	clc := render.Layout{}.WithDefaults().LokomotiveDir + "/cl/" + e.rack.FQDN(n) + ".yaml"
	var data any
	if err := yaml.Unmarshal([]byte(readFile(t, e.root, clc)), &data); err != nil {
		t.Fatal(err)
	}
	relaid, err := json.Marshal(data) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.root, clc, string(relaid), 0o644)
	if p := e.plan(); len(p.Changes) != 0 {
		t.Fatalf("a layout-only CLC change is planned: %v", layerAddrs(p.Changes, ""))
	}
}

// lokoRack is a lokomotive rack of 3 controllers and 4 workers under test.
func lokoRack(t *testing.T) *rackEnv {
	e := newRackEnv(t, schema.Lokomotive, 7)
	for i := 1; i < 3; i++ {
		e.rack.Nodes[i].Role, e.rack.Nodes[i].Name = schema.RoleController, fmt.Sprintf("lokomotive-controller-%d", i)
	}
	for i := 3; i < 7; i++ {
		e.rack.Nodes[i].Name = fmt.Sprintf("lokomotive-worker-%d", i-3)
	}
	return e
}

// TestLokomotiveSharedInputReboots: a change of a shared Lokomotive input
// reboots every installed node whose Ignition it changes (lokoctl re-runs
// Ignition with a reboot); the plan counts them disruptive and names them.
// Where rackctl cannot tell, every installed node counts.
func TestLokomotiveSharedInputReboots(t *testing.T) {
	ctls := []string{"lokomotive-controller-0", "lokomotive-controller-1", "lokomotive-controller-2"}
	workers := []string{"lokomotive-worker-0", "lokomotive-worker-1", "lokomotive-worker-2", "lokomotive-worker-3"}
	all := append(slices.Clone(ctls), workers...)
	tests := map[string]struct {
		change func(r *schema.Rack)
		want   []string // nodes rebooted, in spec order
		cause  string   // in the provisioner change's notes
	}{
		"cluster.labels": {
			change: func(r *schema.Rack) { r.Cluster.Labels = map[string]string{"topology.kubernetes.io/zone": "a"} },
			want:   all, cause: "cluster.labels",
		},
		"per-node labels on every controller": {
			change: func(r *schema.Rack) {
				for i := range 3 {
					r.Nodes[i].Labels = map[string]string{"rack": "a"}
				}
			},
			want: ctls, cause: "node_specific_labels",
		},
		"per-node labels on one worker": {
			change: func(r *schema.Rack) { r.Nodes[5].Labels = map[string]string{"rack": "a"} },
			want:   []string{"lokomotive-worker-2"}, cause: "node_specific_labels",
		},
		"first worker excluded": {
			change: func(r *schema.Rack) { r.Nodes[3].Exclude = true },
			want:   workers[1:], cause: "worker list positions shift",
		},
		"first worker removed": {
			change: func(r *schema.Rack) { r.Nodes = slices.Delete(r.Nodes, 3, 4) },
			want:   workers[1:], cause: "worker list positions shift",
		},
		"last worker excluded": {
			change: func(r *schema.Rack) { r.Nodes[6].Exclude = true },
		},
		"first controller excluded": {
			// Workers too: their CLC maps the API server name to every
			// controller in /etc/hosts.
			change: func(r *schema.Rack) { r.Nodes[0].Exclude = true },
			want:   append(slices.Clone(ctls[1:]), workers...), cause: "number of controllers",
		},
		"ssh keys": {
			change: func(r *schema.Rack) {
				r.Cluster.SSHPubKeys = append(r.Cluster.SSHPubKeys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc1Ipu0vTYCbDfcg1pNb7s0R7Kd4MFJvq1dZs0Z2rk5 new@example")
			},
			want: all, cause: "sshPubKeys",
		},
		"kernel console": {
			change: func(r *schema.Rack) { r.Install.KernelConsole = []string{"console=ttyS0,115200n8"} },
			want:   all, cause: "kernelConsole",
		},
		"pxe commands reach no installed node": {
			change: func(r *schema.Rack) { r.Install.PXECommands = "true" },
		},
		"cluster name": {
			change: func(r *schema.Rack) { r.Cluster.Name = "loko2" },
			want:   all, cause: "cluster.name",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := lokoRack(t)
			e.converge()
			tc.change(e.rack)
			p := e.plan()
			i := slices.IndexFunc(p.Changes, func(c Change) bool { return c.Layer == LayerProvisioner })
			if i < 0 {
				t.Fatalf("no provisioner change: %v", layerAddrs(p.Changes, ""))
			}
			c := p.Changes[i]
			if !slices.Equal(c.Detail.Reboots, tc.want) || c.Disruptive != (len(tc.want) > 0) {
				t.Fatalf("lokoctl change: disruptive %v, reboots %v; want %v\nnotes: %q", c.Disruptive, c.Detail.Reboots, tc.want, c.Notes)
			}
			if tc.cause != "" && !strings.Contains(strings.Join(c.Notes, "\n"), tc.cause) {
				t.Errorf("notes %q lack the cause %q", c.Notes, tc.cause)
			}
			var human bytes.Buffer
			if err := WriteHuman(&human, p, false); err != nil {
				t.Fatal(err)
			}
			if len(tc.want) > 0 && !strings.Contains(human.String(), "! disruptive: interrupts "+strings.Join(tc.want, ", ")) {
				t.Errorf("the plan does not name the rebooted nodes:\n%s", human.String())
			}
		})
	}
}

// TestLokomotiveSharedInputUnreadable: when the inputs on disk cannot be
// read as Lokomotive's, every installed node counts.
func TestLokomotiveSharedInputUnreadable(t *testing.T) {
	tests := map[string]struct{ content, note string }{
		"not hcl":     {"controller_names = [\n", "does not parse"},
		"not literal": {"controller_names = var.x\n", "not a literal value"},
		// Refused before the recursive parser sees it.
		"deep": {"cluster_name = " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", "nested deeper than"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := lokoRack(t)
			e.converge()
			writeFile(t, e.root, render.DefaultLayout().LokomotiveDir+"/lokocfg.vars", tc.content, 0o644)
			p := e.plan()
			i := slices.IndexFunc(p.Changes, func(c Change) bool { return c.Layer == LayerProvisioner })
			if i < 0 {
				t.Fatalf("no provisioner change: %v", layerAddrs(p.Changes, ""))
			}
			if c := p.Changes[i]; len(c.Detail.Reboots) != 7 || !c.Disruptive || !strings.Contains(strings.Join(c.Notes, "\n"), tc.note) {
				t.Fatalf("reboots %v, want every node; notes %q, want %q", c.Detail.Reboots, c.Notes, tc.note)
			}
		})
	}
}

// TestLokomotiveSharedInputOneInstalling: the shared inputs are analysed
// (and skipped only on a first apply, every node installing) as long as
// one node is installed: with one node reinstalling, an unreadable
// lokocfg.vars still reboots each of the six others.
func TestLokomotiveSharedInputOneInstalling(t *testing.T) {
	e := lokoRack(t)
	e.converge()
	e.rack.Nodes[3].Reprovision = "again"
	writeFile(t, e.root, render.DefaultLayout().LokomotiveDir+"/lokocfg.vars", "controller_names = [\n", 0o644)
	p := e.plan()
	i := slices.IndexFunc(p.Changes, func(c Change) bool { return c.Layer == LayerProvisioner })
	if i < 0 {
		t.Fatalf("no provisioner change: %v", layerAddrs(p.Changes, ""))
	}
	if c := p.Changes[i]; len(c.Detail.Reboots) != 6 || slices.Contains(c.Detail.Reboots, e.rack.Nodes[3].Name) {
		t.Fatalf("reboots %v, want the 6 nodes not reinstalling; notes %q", c.Detail.Reboots, c.Notes)
	}
}

// TestDiffLokoInputs: each rule of which list slots a shared input reaches.
func TestDiffLokoInputs(t *testing.T) {
	slot := func(name string) lokoSlot { return lokoSlot{Name: name, MAC: "mac-" + name} }
	base := func() lokoInputs {
		return lokoInputs{
			attrs: map[string]string{"var.cluster_name": `"c"`, "var.pxe_commands": `""`, "cluster.matchbox_endpoint": `var.matchbox_addr`},
			slots: map[string][]lokoSlot{
				schema.RoleController: {slot("c0"), slot("c1")},
				schema.RoleWorker:     {slot("w0"), slot("w1"), slot("w2")},
			},
		}
	}
	tests := map[string]struct {
		edit func(in *lokoInputs)
		want []string // "cause-prefix -> target"
	}{
		"nothing":                    {edit: func(in *lokoInputs) {}},
		"install-only input":         {edit: func(in *lokoInputs) { in.attrs["var.pxe_commands"] = `"ipmitool"` }},
		"cluster-wide input":         {edit: func(in *lokoInputs) { in.attrs["var.cluster_name"] = `"d"` }, want: []string{"lokocfg.vars cluster_name -> *"}},
		"unknown input":              {edit: func(in *lokoInputs) { in.attrs["cluster.new_thing"] = "1" }, want: []string{"baremetal.lokocfg new_thing -> *"}},
		"matchbox provider endpoint": {edit: func(in *lokoInputs) { in.attrs["cluster.matchbox_endpoint"] = "x" }},
		"wiring of a per-node input": {edit: func(in *lokoInputs) { in.attrs["cluster.clc_snippets"] = "{}" }, want: []string{"baremetal.lokocfg clc_snippets -> *"}},
		"controller appended": {
			edit: func(in *lokoInputs) {
				in.slots[schema.RoleController] = append(in.slots[schema.RoleController], slot("c2"))
			},
			want: []string{"the number of controllers -> role:controller"},
		},
		"worker appended": {edit: func(in *lokoInputs) { in.slots[schema.RoleWorker] = append(in.slots[schema.RoleWorker], slot("w3")) }},
		"first worker out": {
			edit: func(in *lokoInputs) { in.slots[schema.RoleWorker] = in.slots[schema.RoleWorker][1:] },
			want: []string{"worker list positions -> w1", "worker list positions -> w2"},
		},
		"mac replaced": {
			edit: func(in *lokoInputs) { in.slots[schema.RoleWorker][1].MAC = "new" },
			want: []string{"worker list positions -> w1"},
		},
		"labels of one node": {
			edit: func(in *lokoInputs) { in.slots[schema.RoleController][1].NodeLabels = `{"a":"b"}` },
			want: []string{"node_specific_labels -> c1"},
		},
		"snippet list of one node": {
			edit: func(in *lokoInputs) { in.slots[schema.RoleWorker][2].Snippets = `["x"]` },
			want: []string{"clc_snippets -> w2"},
		},
		"installer snippets of one node": {
			edit: func(in *lokoInputs) { in.slots[schema.RoleWorker][0].Installer = `["x"]` },
			want: []string{"installer_clc_snippets -> w0"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			old, want := base(), base()
			tc.edit(&want)
			var got []string
			diffLokoInputs(old, want, func(cause, target string) { got = append(got, cause+" -> "+target) }, func(string, string) bool { return false })
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				prefix, target, _ := strings.Cut(tc.want[i], " -> ")
				if !strings.HasPrefix(got[i], prefix) || !strings.HasSuffix(got[i], " -> "+target) {
					t.Errorf("got %q, want %q", got[i], tc.want[i])
				}
			}
		})
	}
}
