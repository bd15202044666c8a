package reconcile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

func TestPluginRegistry(t *testing.T) {
	want := []Layer{LayerFiles, LayerDHCP, LayerFlags, LayerProvisioner, LayerBMC, LayerVerify, LayerSettle, LayerReignite, LayerCredentials}
	if !slices.Equal(Layers, want) {
		t.Fatalf("Layers = %v, want %v", Layers, want)
	}
	policies := map[Layer]FailurePolicy{
		LayerFiles: StopAll, LayerDHCP: StopAll, LayerFlags: StopAll, LayerProvisioner: StopAll,
		LayerBMC: PerNode, LayerVerify: PerNode, LayerSettle: PerNode, LayerReignite: PerNode, LayerCredentials: AllOrNothing,
	}
	for _, l := range Plugins {
		if got := l.Policy(); got != policies[l.Layer()] {
			t.Errorf("%s: policy %d, want %d", l.Layer(), got, policies[l.Layer()])
		}
	}
}

// perNodeExecutor fails the changes of the nodes in fail and records the
// addresses it ran.
type perNodeExecutor struct {
	layer Layer
	fail  map[string]bool
	calls []string
}

func (f *perNodeExecutor) Layer() Layer { return f.layer }
func (f *perNodeExecutor) Apply(ctx context.Context, c Change) error {
	f.calls = append(f.calls, c.Address)
	if f.fail[c.Node] || f.fail[c.Address] {
		return errors.New("fails")
	}
	return nil
}

// fakePlugin is a layer with a policy that records its persistence calls.
type fakePlugin struct {
	layer     Layer
	policy    FailurePolicy
	beforeErr error
	log       *[]string
}

func (f fakePlugin) Layer() Layer                         { return f.layer }
func (f fakePlugin) Plan(context.Context, *planner) error { return nil }
func (f fakePlugin) Policy() FailurePolicy                { return f.policy }
func (f fakePlugin) BeforePhase(*Applier, *Plan) error {
	*f.log = append(*f.log, "before "+string(f.layer))
	return f.beforeErr
}
func (f fakePlugin) AfterPhase(_ *Applier, _ *Plan, ok bool) error {
	s := "after " + string(f.layer)
	if !ok {
		s += " (failed)"
	}
	*f.log = append(*f.log, s)
	return nil
}

// TestFailurePolicies runs three layers, A then B then C, whose executors
// fail what fail names, and checks what each policy stops.
func TestFailurePolicies(t *testing.T) {
	a, b, c := LayerDHCP, LayerBMC, LayerCredentials
	changes := []Change{
		{Layer: a, Action: ActionUpdate, Address: "a:n1", Node: "n1"},
		{Layer: a, Action: ActionUpdate, Address: "a:n2", Node: "n2"},
		{Layer: b, Action: ActionUpdate, Address: "b:n1", Node: "n1"},
		{Layer: b, Action: ActionUpdate, Address: "b:n2", Node: "n2"},
		{Layer: b, Action: ActionUpdate, Address: "b:all"},
		{Layer: c, Action: ActionUpdate, Address: "c:n2", Node: "n2"},
	}
	tests := map[string]struct {
		policies    [3]FailurePolicy
		fail        map[string]bool
		beforeErr   error
		done, notAt []string
		persisted   []string
	}{
		"nothing fails": {
			policies:  [3]FailurePolicy{PerNode, StopAll, AllOrNothing},
			done:      []string{"a:n1", "a:n2", "b:n1", "b:n2", "b:all", "c:n2"},
			persisted: []string{"before dhcp", "after dhcp", "before bmc", "after bmc", "before credentials", "after credentials"},
		},
		"stop all: a failure stops every later phase": {
			policies:  [3]FailurePolicy{StopAll, StopAll, StopAll},
			fail:      map[string]bool{"n1": true},
			done:      []string{"a:n2"},
			notAt:     []string{"b:n1", "b:n2", "b:all", "c:n2"},
			persisted: []string{"before dhcp", "after dhcp (failed)"},
		},
		"per node: the other nodes carry on, no-node changes stop": {
			policies:  [3]FailurePolicy{PerNode, StopAll, StopAll},
			fail:      map[string]bool{"a:n1": true},
			done:      []string{"a:n2", "b:n2", "c:n2"},
			notAt:     []string{"b:n1", "b:all"},
			persisted: []string{"before dhcp", "after dhcp", "before bmc", "after bmc", "before credentials", "after credentials"},
		},
		"per node: a failed change of no node stops all": {
			policies:  [3]FailurePolicy{StopAll, PerNode, StopAll},
			fail:      map[string]bool{"b:all": true},
			done:      []string{"a:n1", "a:n2", "b:n1", "b:n2"},
			notAt:     []string{"c:n2"},
			persisted: []string{"before dhcp", "after dhcp", "before bmc", "after bmc (failed)"},
		},
		"all or nothing: skipped once any node failed": {
			policies:  [3]FailurePolicy{PerNode, StopAll, AllOrNothing},
			fail:      map[string]bool{"a:n1": true},
			done:      []string{"a:n2", "b:n2"},
			notAt:     []string{"b:n1", "b:all", "c:n2"},
			persisted: []string{"before dhcp", "after dhcp", "before bmc", "after bmc", "after credentials"},
		},
		"before phase fails: nothing of it runs": {
			policies:  [3]FailurePolicy{StopAll, StopAll, StopAll},
			beforeErr: errors.New("disk full"),
			notAt:     []string{"a:n1", "a:n2", "b:n1", "b:n2", "b:all", "c:n2"},
			persisted: []string{"before dhcp"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var log []string
			execs := []Executor{
				&perNodeExecutor{layer: a, fail: tc.fail}, &perNodeExecutor{layer: b, fail: tc.fail}, &perNodeExecutor{layer: c, fail: tc.fail},
			}
			ap, err := NewApplier(ApplyOptions{StateDir: t.TempDir(), Root: t.TempDir(), Executors: execs})
			if err != nil {
				t.Fatal(err)
			}
			ap.plugins = []Plugin{
				fakePlugin{layer: a, policy: tc.policies[0], beforeErr: tc.beforeErr, log: &log},
				fakePlugin{layer: b, policy: tc.policies[1], log: &log},
				fakePlugin{layer: c, policy: tc.policies[2], log: &log},
			}
			p := &Plan{FormatVersion: FormatVersion, Changes: changes, Observed: Observations{}}
			res, err := ap.Apply(context.Background(), p)
			if (err == nil) != (tc.fail == nil && tc.beforeErr == nil) {
				t.Fatalf("err = %v", err)
			}
			var done []string
			for _, c := range res.Done {
				done = append(done, c.Address)
			}
			var notAt []string
			for _, c := range res.NotAttempted {
				notAt = append(notAt, c.Address)
			}
			slices.Sort(notAt)
			want := slices.Clone(tc.notAt)
			slices.Sort(want)
			if !slices.Equal(done, tc.done) || !slices.Equal(notAt, want) {
				t.Fatalf("done %v, not attempted %v; want %v, %v", done, notAt, tc.done, want)
			}
			if !slices.Equal(log, tc.persisted) {
				t.Fatalf("persistence calls %v, want %v", log, tc.persisted)
			}
		})
	}
}

// layerCase sets up a rack on which one layer plans changes.
type layerCase struct {
	prov    schema.Provisioner
	setup   func(e *rackEnv)
	actions []Action // the layer's changes' actions, sorted
	aspects []Aspect // what it observed under its own name, sorted
}

// TestLayerPlanObserveApply checks each layer against its interface: on a
// rack where it has work, its Plan makes the changes expected, its
// executor re-reads every key it observed to the value planned (a plan
// is not stale right after it was made), and applies each change.
func TestLayerPlanObserveApply(t *testing.T) {
	reprovision := func(e *rackEnv) {
		e.converge()
		e.rack.Nodes[1].Reprovision = "again"
	}
	tests := map[Layer]layerCase{
		LayerFiles: {prov: schema.Flatcar, setup: func(e *rackEnv) {},
			actions: []Action{ActionCreate}},
		LayerDHCP: {prov: schema.Flatcar, setup: func(e *rackEnv) {
			e.converge()
			// The replaced server's MAC holds the node's reserved IP.
			alloc, err := loadAllocation(e.st)
			if err != nil {
				t.Fatal(err)
			}
			for _, en := range alloc.Entries {
				if en.Node == e.rack.Nodes[1].Name && en.NIC == ipam.Primary {
					e.dhcp.leases = []dhcp.Lease{{Expiry: e.now.Add(time.Hour), MAC: e.rack.Nodes[1].MAC, IP: en.IP}}
				}
			}
			e.rack.Nodes[1].MAC = "aa:bb:01:00:00:99"
		}, actions: []Action{ActionRelease, ActionReload}, aspects: []Aspect{AspectLeases}},
		LayerFlags: {prov: schema.Flatcar, setup: reprovision,
			actions: []Action{ActionDelete}},
		LayerProvisioner: {prov: schema.Flatcar, setup: func(e *rackEnv) {
			e.converge()
			e.tf.noChanges = false // terraform has work the files do not show
			// and no successful run recorded its inputs (one failed, say).
			if err := os.Remove(filepath.Join(e.st, "provisioner-inputs.json")); err != nil {
				t.Fatal(err)
			}
		}, actions: []Action{ActionRun}, aspects: []Aspect{AspectProvisionerPlan}},
		LayerBMC: {prov: schema.Lokomotive, setup: func(e *rackEnv) {
			e.converge()
			e.rack.Nodes[1].Reprovision = "again"
			e.bmc.boot[e.rack.Nodes[2].Name] = bmc.BootPXE
		}, actions: []Action{ActionPXEReinstall, ActionSetBootDisk}, aspects: []Aspect{AspectPower}},
		LayerVerify: {prov: schema.Flatcar, setup: reprovision,
			actions: []Action{ActionVerify}},
		LayerSettle: {prov: schema.Flatcar, setup: func(e *rackEnv) {
			reprovision(e)
			e.settle = true
		}, actions: []Action{ActionSetBootDisk, ActionSettle}},
		LayerReignite: {prov: schema.Flatcar, setup: func(e *rackEnv) {
			e.converge()
			e.configs = &fakeConfigs{seen: map[string]RunningConfig{"node-1": {Hash: "sha256:old"}}}
		}, actions: []Action{ActionReignite}},
		LayerCredentials: {prov: schema.Flatcar, setup: func(e *rackEnv) {
			e.converge()
			e.rack.BMC.Rotate = &schema.BMCRotate{User: "admin2", PasswordFile: "/p"}
		}, actions: []Action{ActionRotateCredentials, ActionSwitchCredentials}, aspects: []Aspect{AspectUsers}},
	}
	for _, l := range Plugins {
		tc, ok := tests[l.Layer()]
		if !ok {
			t.Errorf("layer %s has no case", l.Layer())
			continue
		}
		t.Run(string(l.Layer()), func(t *testing.T) {
			e := newRackEnv(t, tc.prov, 3)
			tc.setup(e)
			rot := &fakeRotator{}
			p, err := planWith(e, rot, nil)
			if err != nil {
				t.Fatal(err)
			}
			var mine []Change
			var actions []Action
			for _, c := range p.Changes {
				if c.Layer == l.Layer() && c.Action != ActionNoop {
					mine = append(mine, c)
					if !slices.Contains(actions, c.Action) {
						actions = append(actions, c.Action)
					}
				}
			}
			slices.Sort(actions)
			if !slices.Equal(actions, tc.actions) {
				t.Fatalf("actions %v, want %v\n%v", actions, tc.actions, layerAddrs(p.Changes, ""))
			}
			execs := layerExecutors(e, rot)
			exec := execs[l.Layer()]
			if pr, ok := exec.(Preparer); ok {
				if err := pr.Prepare(p); err != nil {
					t.Fatal(err)
				}
			}
			var aspects []Aspect
			for _, k := range p.Observed.Keys() {
				if k.Layer != l.Layer() {
					continue
				}
				if !slices.Contains(aspects, k.Aspect) {
					aspects = append(aspects, k.Aspect)
				}
				got, err := exec.(Observer).Observe(context.Background(), k)
				if err != nil || got != p.Observed[k] {
					t.Errorf("observe %s = %q, %v; planned %q", k, got, err, p.Observed[k])
				}
			}
			slices.Sort(aspects)
			if l.Layer() != LayerFiles && !slices.Equal(aspects, tc.aspects) {
				t.Errorf("observed aspects %v, want %v", aspects, tc.aspects)
			}
			for _, c := range mine {
				if err := exec.Apply(context.Background(), c); err != nil {
					t.Errorf("apply %s %s: %v", c.Action, c.Address, err)
				}
			}
		})
	}
}

// layerExecutors are the executors of every layer over e's fakes.
func layerExecutors(e *rackEnv, rot CredentialRotator) map[Layer]Executor {
	out := map[Layer]Executor{}
	px := &ProvisionerExecutor{Terraform: e.tf, Lokoctl: e.loko}
	for _, x := range []Executor{
		NewFileExecutor(FileConfig{Root: e.root}),
		&DHCPExecutor{Server: e.dhcp, BMC: e.bmc}, &FlagExecutor{Root: e.root},
		px, &BMCExecutor{BMC: e.bmc, Parallel: 4}, &VerifyExecutor{Root: e.root},
		&SettleExecutor{Root: e.root, Provisioner: px, BMC: e.bmc},
		&CredentialsExecutor{Rotator: rot}, &ReigniteExecutor{Reigniter: &fakeReigniter{}},
	} {
		out[x.Layer()] = x
	}
	return out
}

func TestProvisioners(t *testing.T) {
	tests := map[schema.Provisioner]struct {
		tool  string
		dir   string
		roles []string
	}{
		schema.Flatcar:    {"terraform", render.DefaultLayout().FlatcarDir, []string{schema.RoleNode}},
		schema.Lokomotive: {"lokoctl", render.DefaultLayout().LokomotiveDir, []string{schema.RoleController, schema.RoleWorker}},
	}
	for name, tc := range tests {
		t.Run(string(name), func(t *testing.T) {
			pr, err := ProvisionerFor(name)
			if err != nil {
				t.Fatal(err)
			}
			l := render.Layout{}
			if pr.Tool() != tc.tool || pr.Dir(l) != tc.dir || !slices.Equal(pr.Roles(), tc.roles) {
				t.Fatalf("tool %s, dir %s, roles %v", pr.Tool(), pr.Dir(l), pr.Roles())
			}
			// The flag-file convention is render's too (status, import):
			// the two must agree.
			const mac = "02:00:00:00:00:01"
			if got, want := pr.FlagFile(l, mac), render.FlagFilePath(l, name, mac); got != want {
				t.Fatalf("flag file %s, render says %s", got, want)
			}
			if !strings.HasPrefix(pr.FlagFile(l, mac), pr.Dir(l)+"/") {
				t.Fatalf("flag file %s outside the provisioner dir", pr.FlagFile(l, mac))
			}
		})
	}
	if _, err := ProvisionerFor("ansible"); err == nil || !strings.Contains(err.Error(), `"ansible"`) {
		t.Fatalf("unknown provisioner: err = %v", err)
	}
	rack := buildRack(schema.Lokomotive, 1)
	lp, _ := ProvisionerFor(schema.Lokomotive)
	fp, _ := ProvisionerFor(schema.Flatcar)
	if lp.BootsInstalls(rack) || fp.BootsInstalls(rack) {
		t.Fatal("a provisioner boots installs itself without install.pxeCommands")
	}
	rack.Install.PXECommands = "ipmitool chassis bootdev pxe"
	if !lp.BootsInstalls(rack) || fp.BootsInstalls(rack) {
		t.Fatal("lokoctl with install.pxeCommands boots the installs itself; terraform never")
	}
}

// TestProvisionerChangeNamesItsProvisioner: the executor runs the
// provisioner the change names, not the one its address suggests, and
// refuses a change that names none.
func TestProvisionerChangeNamesItsProvisioner(t *testing.T) {
	tf, loko := &fakeTF{noChanges: true}, &fakeExecutorLoko{}
	e := &ProvisionerExecutor{Terraform: tf, Lokoctl: loko}
	tests := map[string]struct {
		detail          *Detail
		wantErr         string
		tfPlans, lokoed int
	}{
		"lokomotive":  {detail: &Detail{Provisioner: schema.Lokomotive}, lokoed: 1},
		"flatcar":     {detail: &Detail{Provisioner: schema.Flatcar}, tfPlans: 1},
		"none named":  {detail: &Detail{}, wantErr: `provisioner ""`},
		"no detail":   {wantErr: "no provisioner in the change"},
		"unknown one": {detail: &Detail{Provisioner: "chef"}, wantErr: `provisioner "chef"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tf.plans, loko.applies = 0, 0
			err := e.Apply(context.Background(), Change{Layer: LayerProvisioner, Action: ActionRun, Address: "provisioner:terraform", Detail: tc.detail})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || tf.plans != tc.tfPlans || loko.applies != tc.lokoed {
				t.Fatalf("err %v, terraform plans %d, lokoctl applies %d", err, tf.plans, loko.applies)
			}
		})
	}
}

func TestObservationsJSON(t *testing.T) {
	o := Observations{
		NodeKey(LayerBMC, "n2", AspectPower): "on",
		FileKey("etc/hosts"):                 "absent",
		StateKey(NodesFile):                  "sha256:x",
		NodeKey(LayerBMC, "n1", AspectPower): Unreachable,
	}
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	again, err := o.MarshalJSON()
	if err != nil || !bytes.Equal(b, again) {
		t.Fatal("not byte-stable")
	}
	want := `[{"layer":"bmc","node":"n1","aspect":"power","value":"unreachable"},{"layer":"bmc","node":"n2","aspect":"power","value":"on"},` +
		`{"layer":"files","path":"etc/hosts","value":"absent"},{"layer":"state","path":"nodes.json","value":"sha256:x"}]`
	if string(b) != want {
		t.Fatalf("json %s\nwant %s", b, want)
	}
	var back Observations
	if err := back.UnmarshalJSON(b); err != nil || len(back) != len(o) || back[NodeKey(LayerBMC, "n1", AspectPower)] != Unreachable {
		t.Fatalf("round trip %v, %v", back, err)
	}
	for k, s := range map[ObsKey]string{
		FileKey("etc/hosts"):                         "file etc/hosts",
		StateKey("allocation.json"):                  "state allocation.json",
		NodeKey(LayerCredentials, "n1", AspectUsers): "credentials n1 users",
		{Layer: LayerDHCP, Aspect: AspectLeases}:     "dhcp leases",
	} {
		if k.String() != s {
			t.Errorf("%#v.String() = %q, want %q", k, k.String(), s)
		}
	}
}

// TestObserveUnknownKeyRefused: a key no layer's executor reads fails the
// check instead of passing unread.
func TestObserveUnknownKeyRefused(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	tests := map[string]struct {
		key  ObsKey
		want string
	}{
		"no executor":      {NodeKey(LayerVerify, "n1", AspectPower), "no executor can check it"},
		"not its aspect":   {ObsKey{Layer: LayerDHCP, Aspect: AspectPower}, "dhcp: no such observation"},
		"bmc users":        {NodeKey(LayerBMC, "n1", AspectUsers), "bmc: no such observation"},
		"bmc no address":   {NodeKey(LayerBMC, "n9", AspectPower), "no BMC address for node n9"},
		"rotation power":   {NodeKey(LayerCredentials, "n1", AspectPower), "credentials: no such observation"},
		"terraform leases": {ObsKey{Layer: LayerProvisioner, Aspect: AspectLeases}, "provisioner: no such observation"},
		"bad state name":   {StateKey("../x"), "not a file of the state dir"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Planned as absent: a key read anyway would pass unnoticed.
			p := &Plan{FormatVersion: FormatVersion, Provisioner: string(schema.Flatcar), Observed: Observations{tc.key: Absent},
				Changes: []Change{{Layer: LayerBMC, Action: ActionNoop, Address: "bmc:n1", Node: "n1", Detail: &Detail{BMCAddress: "127.0.0.1:623"}}}}
			_, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state, Executors: []Executor{
				&DHCPExecutor{Server: &fakeDHCP{}}, &BMCExecutor{BMC: newFakeBMC()}, &CredentialsExecutor{Rotator: &fakeRotator{}},
				&ProvisionerExecutor{Terraform: &fakeTF{}},
			}})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.key.String()) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(state, HistoryFile)); err == nil {
		t.Fatal("a refused plan was recorded in the history")
	}
}

// TestHumanRendersAnyLayer: the human view shows what a change carries
// (its phrase, its summary lines) whatever its layer, escaped.
func TestHumanRendersAnyLayer(t *testing.T) {
	p := &Plan{FormatVersion: FormatVersion, Changes: []Change{{
		Layer: LayerVerify, Action: ActionUpdate, Address: "verify:n1", Node: "n1",
		Phrase:  "will be checked \x1b[2J",
		Summary: []SummaryLine{{Mark: "create", Text: "thing[0]"}, {Text: "1 to add \x07"}},
	}}}
	for _, color := range []bool{false, true} {
		var b bytes.Buffer
		if err := WriteHuman(&b, p, color); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		mark := "create"
		if color {
			mark = ansiCyan + "create" + ansiReset
		}
		for _, want := range []string{"# verify n1 will be checked", "      " + mark + " thing[0]\n", "      1 to add "} {
			if !strings.Contains(out, want) {
				t.Errorf("color %t: no %q in\n%s", color, want, out)
			}
		}
		if strings.Contains(out, "\x1b[2J") || strings.Contains(out, "\x07") {
			t.Errorf("control characters of the change reach the terminal:\n%q", out)
		}
	}
}

// TestNodeRecordSavedAfterFlags: the flags layer saves nodes.json only
// when its phase and every one before it succeeded; a failed flag delete
// must be planned again from the old record.
func TestNodeRecordSavedAfterFlags(t *testing.T) {
	tests := map[string]struct {
		dhcpErr, flagsErr error
		saved             bool
	}{
		"all succeed":         {saved: true},
		"flag delete fails":   {flagsErr: errors.New("read-only"), saved: false},
		"earlier phase fails": {dhcpErr: errors.New("reload"), saved: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			root, state := t.TempDir(), t.TempDir()
			p := &Plan{FormatVersion: FormatVersion, Observed: Observations{},
				NextNodes: NodeStateOf(buildRack(schema.Flatcar, 1)),
				Changes: []Change{
					{Layer: LayerDHCP, Action: ActionReload, Address: "dhcp:dnsmasq"},
					{Layer: LayerFlags, Action: ActionDelete, Address: "file:flag", Node: "node-0"},
				}}
			_, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state, Executors: []Executor{
				&fakeExecutor{layer: LayerDHCP, err: tc.dhcpErr}, &fakeExecutor{layer: LayerFlags, err: tc.flagsErr},
			}})
			if (err == nil) != tc.saved {
				t.Fatalf("err = %v", err)
			}
			got, err := loadNodes(state)
			if err != nil {
				t.Fatal(err)
			}
			if (got.Version != 0) != tc.saved {
				t.Fatalf("nodes.json saved: %t, want %t", got.Version != 0, tc.saved)
			}
		})
	}
}

// TestFilesPhasePersistence: the files layer saves the plan's allocation
// only after its phase succeeded; after a failure it only widens the
// manifest, so files written or not yet deleted stay managed.
func TestFilesPhasePersistence(t *testing.T) {
	for name, fail := range map[string]bool{"succeeds": false, "fails": true} {
		t.Run(name, func(t *testing.T) {
			root, state := t.TempDir(), t.TempDir()
			if err := saveManifest(state, Manifest{Version: 1, Files: []ManagedFile{{Path: "old"}}}); err != nil {
				t.Fatal(err)
			}
			p := mustPlan(t, []render.File{whole("a", "a\n")}, root, state)
			p.NextState = ipam.State{Version: 1, Entries: []ipam.Entry{{Node: "n", NIC: ipam.BMC, IP: mustAddr("10.0.0.9")}}}
			p.Observed = Observations{} // the fake executor reads nothing back
			var err error
			ex := &fakeExecutor{layer: LayerFiles}
			if fail {
				ex.err = errors.New("disk full")
			}
			_, err = Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state, Executors: []Executor{ex}})
			if (err != nil) != fail {
				t.Fatalf("err = %v", err)
			}
			alloc, err := loadAllocation(state)
			if err != nil || (len(alloc.Entries) != 0) == fail {
				t.Fatalf("allocation saved %t after the files phase %s (%v)", len(alloc.Entries) != 0, name, err)
			}
			m, err := loadManifest(state)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, f := range m.Files {
				paths = append(paths, f.Path)
			}
			want := []string{"a"}
			if fail {
				want = []string{"a", "old"} // "old" not deleted yet: still managed
			}
			if !slices.Equal(paths, want) {
				t.Fatalf("manifest %v, want %v", paths, want)
			}
		})
	}
}

// TestTerraformRunsOnlyThePlanReviewed: the flatcar provisioner applies
// only when terraform, planning again, would do what the plan reviewed.
func TestTerraformRunsOnlyThePlanReviewed(t *testing.T) {
	tf := &fakeTF{}
	tp, _ := tf.Plan(context.Background())
	reviewed := SummarizeTerraform(tp)
	for name, digest := range map[string]string{"same plan": reviewed.Digest, "plan changed": "sha256:other"} {
		t.Run(name, func(t *testing.T) {
			tf.applys = 0
			e := &ProvisionerExecutor{Terraform: tf}
			sum := *reviewed
			sum.Digest = digest
			err := e.Apply(context.Background(), Change{Layer: LayerProvisioner, Action: ActionRun, Address: "provisioner:terraform",
				Detail: &Detail{Provisioner: schema.Flatcar, Terraform: &sum}})
			changed := digest != reviewed.Digest
			if changed != errors.Is(err, provision.ErrPlanChanged) || (tf.applys == 1) == changed {
				t.Fatalf("err = %v, terraform applies %d", err, tf.applys)
			}
		})
	}
}

// TestDeletedInputIsStale: an input deleted since the plan was made makes
// it stale, unless the plan itself deletes that file.
func TestDeletedInputIsStale(t *testing.T) {
	for name, planned := range map[string]bool{"kept by the plan": false, "deleted by the plan": true} {
		t.Run(name, func(t *testing.T) {
			root, state := t.TempDir(), t.TempDir()
			writeFile(t, root, "x", "x\n", 0o644)
			p := &Plan{FormatVersion: FormatVersion, Observed: Observations{FileKey("x"): hashOf([]byte("x\n"), true)}}
			if planned {
				p.Changes = []Change{{Layer: LayerFiles, Action: ActionDelete, Address: FilePrefix + "x"}}
			}
			os.Remove(filepath.Join(root, "x"))
			_, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state})
			if errors.Is(err, ErrStalePlan) == planned {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
