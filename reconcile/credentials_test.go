package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/rotate"
	"github.com/rackctl/rackctl/schema"
)

const fakeNewPassword = "fake-n3w-secret"

// fakeRotator plans every BMC into slot 3 until it has applied once;
// failNode makes that BMC fail phase 1 (nothing switched).
type fakeRotator struct {
	mu       sync.Mutex
	password string // held like the real one; must never reach a plan
	switched bool
	failNode string
	applies  int
	users    map[string][]bmc.User
}

func (f *fakeRotator) PlanRotation(ctx context.Context, targets []bmc.Target) (*rotate.Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &rotate.Plan{FormatVersion: rotate.FormatVersion, User: "admin2", OldUser: "admin", Switched: f.switched}
	for _, t := range targets {
		s := rotate.BMCStep{Node: t.Node, Address: t.Address, Slot: 3, OldSlot: 2, From: rotate.PhasePending, Done: f.switched}
		if !f.switched {
			s.Actions = []string{`create user 3 "admin2": set name and password`, `disable old user 2 "admin" (after the credential files are switched)`}
		}
		p.Steps = append(p.Steps, s)
	}
	return p, nil
}

func (f *fakeRotator) ApplyRotation(ctx context.Context, targets []bmc.Target, p *rotate.Plan) (*rotate.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applies++
	rep := &rotate.Report{User: p.User, OldUser: p.OldUser}
	for _, t := range targets {
		n := rotate.NodeResult{Node: t.Node, Slot: 3, Phase: rotate.PhaseOldDisabled, Status: rotate.StatusDone}
		if f.failNode != "" {
			n.Phase, n.Status = rotate.PhaseVerified, rotate.StatusWaiting
			if t.Node == f.failNode {
				n.Phase, n.Status, n.Error, n.RolledBack = rotate.PhasePending, rotate.StatusFailed, "new account does not log in", true
			}
		}
		rep.Nodes = append(rep.Nodes, n)
	}
	if f.failNode != "" {
		return rep, &rotate.FailedError{Err: rotate.ErrNotSwitched, Nodes: []string{f.failNode}, Total: len(targets)}
	}
	f.switched, rep.Switched, rep.SwitchedNow, rep.Complete = true, true, true, true
	return rep, nil
}

func (f *fakeRotator) Users(ctx context.Context, t bmc.Target) ([]bmc.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[t.Node]; ok {
		return u, nil
	}
	return []bmc.User{{ID: 2, Name: "admin", Enabled: true, Privilege: "ADMINISTRATOR"}}, nil
}

// fakeAddressing keeps each BMC's address source (dhcp when unset) and
// logs renewals into the fake BMC's call list, so their order shows.
type fakeAddressing struct {
	b   *fakeBMC
	src map[string]string
}

func (f *fakeAddressing) LANAddressSource(ctx context.Context, t bmc.Target) (string, error) {
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	if s, ok := f.src[t.Node]; ok {
		return s, nil
	}
	return bmc.AddrSourceDHCP, nil
}

func (f *fakeAddressing) DHCPRenew(ctx context.Context, t bmc.Target) error {
	time.Sleep(time.Millisecond)
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	f.b.calls = append(f.b.calls, t.Node+" ipsrc dhcp")
	f.src[t.Node] = bmc.AddrSourceDHCP
	return nil
}

// planWith plans e's rack with the rotation and addressing drivers on.
func planWith(e *rackEnv, rot CredentialRotator, addr BMCAddressing) (*Plan, error) {
	timeNow = func() time.Time { return e.now }
	cfg := e.layers()
	cfg.Rotation, cfg.Addressing = rot, addr
	return Build(context.Background(), e.rack, PlanOptions{Root: e.root, StateDir: e.st, Targets: e.targets, Layers: cfg, Now: func() time.Time { return e.now }})
}

func applyWith(e *rackEnv, p *Plan, rot CredentialRotator, addr BMCAddressing) (Result, error) {
	return Apply(context.Background(), p, ApplyOptions{Root: e.root, StateDir: e.st, Executors: []Executor{
		&DHCPExecutor{Server: e.dhcp, BMC: e.bmc}, &FlagExecutor{Root: e.root},
		&ProvisionerExecutor{Terraform: e.tf, Lokoctl: e.loko}, &BMCExecutor{BMC: e.bmc, Addressing: addr, Parallel: 4}, &VerifyExecutor{Root: e.root},
		&CredentialsExecutor{Rotator: rot},
	}})
}

func TestRotationPlannedAndApplied(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.converge()
	e.rack.BMC.Rotate = &schema.BMCRotate{User: "admin2", PasswordFile: "/etc/rackctl/ipmi_password.new"}
	rot := &fakeRotator{password: fakeNewPassword}
	p, err := planWith(e, rot, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"credentials rotate-credentials credentials:node-0 node-0",
		"credentials rotate-credentials credentials:node-1 node-1",
		"credentials rotate-credentials credentials:node-2 node-2",
		"credentials switch-credentials credentials:files ",
	}
	if got := layerAddrs(p.Changes, ""); !slices.Equal(got, want) {
		t.Fatalf("changes = %v\nwant %v", got, want)
	}
	c := p.Changes[1]
	if c.Reason != "bmc.rotate: user admin2 → slot 3 (new)" || len(c.Notes) != 2 || c.Detail.Rotation.Slot != 3 || c.Disruptive {
		t.Errorf("node-1's change = %+v", c)
	}
	for _, k := range []ObsKey{NodeKey(LayerCredentials, "node-0", AspectUsers), StateKey(rotate.StateFile)} {
		if _, ok := p.Observed[k]; !ok {
			t.Errorf("not observed: %s", k)
		}
	}
	var js, human bytes.Buffer
	if err := WriteJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	WriteHuman(&human, p, false)
	if strings.Contains(js.String()+human.String(), fakeNewPassword) {
		t.Fatal("the new password is in the plan")
	}
	if !strings.Contains(human.String(), "# credentials node-2 will get the new BMC account (bmc.rotate: user admin2 → slot 3 (new))") {
		t.Errorf("human plan:\n%s", human.String())
	}
	back, err := ReadPlan(&js)
	if err != nil {
		t.Fatal(err)
	}

	res, err := applyWith(e, back, rot, nil)
	if err != nil || res.Outcome != OutcomeSuccess || len(res.Done) != 4 {
		t.Fatalf("apply: %v, outcome %s, done %v", err, res.Outcome, addresses(res.Done))
	}
	if rot.applies != 1 {
		t.Fatalf("rotate applied %d times, want once for the whole rack", rot.applies)
	}
	p, err = planWith(e, rot, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasChanges() {
		t.Fatalf("plan after the rotation: %v", layerAddrs(p.Changes, ""))
	}
}

func TestRotationFailureSwitchesNothing(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.converge()
	e.rack.BMC.Rotate = &schema.BMCRotate{User: "admin2", PasswordFile: "/p"}
	rot := &fakeRotator{failNode: "node-1"}
	p, err := planWith(e, rot, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := applyWith(e, p, rot, nil)
	if !errors.Is(err, rotate.ErrNotSwitched) || res.Outcome != OutcomeFailed || len(res.Failed) != 4 {
		t.Fatalf("err %v, outcome %s, failed %d", err, res.Outcome, len(res.Failed))
	}
	var node1 string
	for _, f := range res.Failed {
		if f.Change.Address == "credentials:node-1" && f.Err != nil {
			node1 = f.Err.Error()
		}
	}
	if !strings.Contains(node1, "new account does not log in; new user 3 disabled again, nothing switched") {
		t.Errorf("node-1's failure %q does not say its new slot was rolled back", node1)
	}
	if rot.applies != 1 {
		t.Fatalf("rotate applied %d times", rot.applies)
	}
}

func TestRotationStaleOnUserChange(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 2)
	e.converge()
	e.rack.BMC.Rotate = &schema.BMCRotate{User: "admin2", PasswordFile: "/p"}
	rot := &fakeRotator{}
	p, err := planWith(e, rot, nil)
	if err != nil {
		t.Fatal(err)
	}
	rot.users = map[string][]bmc.User{"node-1": {{ID: 2, Name: "admin", Enabled: true}, {ID: 3, Name: "someone", Enabled: true}}}
	_, err = applyWith(e, p, rot, nil)
	var se *StaleError
	if !errors.As(err, &se) || se.Changed[0].Key != NodeKey(LayerCredentials, "node-1", AspectUsers) {
		t.Fatalf("err = %v", err)
	}
	if rot.applies != 0 {
		t.Fatal("a stale plan rotated")
	}
}

func TestRotationNotPlanned(t *testing.T) {
	tests := map[string]struct {
		rot     CredentialRotator
		targets []string
		note    string
	}{
		"bmc layer off": {note: "credentials layer off"},
		"targeted":      {rot: &fakeRotator{}, targets: []string{"node-0"}, note: "bmc.rotate not planned with -target"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newRackEnv(t, schema.Flatcar, 2)
			e.rack.BMC.Rotate = &schema.BMCRotate{User: "admin2", PasswordFile: "/p"}
			e.targets = tc.targets
			p, err := planWith(e, tc.rot, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := layerAddrs(p.Changes, LayerCredentials); len(got) != 0 {
				t.Errorf("credentials changes: %v", got)
			}
			if !slices.ContainsFunc(p.Notes, func(n string) bool { return strings.Contains(n, tc.note) }) {
				t.Errorf("notes %q lack %q", p.Notes, tc.note)
			}
		})
	}
}

// A BMC that fails its bmc change stops the credentials phase for all.
func TestRotationSkippedAfterBMCFailure(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 2)
	e.rack.BMC.Rotate = &schema.BMCRotate{User: "admin2", PasswordFile: "/p"}
	e.bmc.fail["node-0"] = errors.New("bmc unreachable")
	rot := &fakeRotator{}
	p, err := planWith(e, rot, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := applyWith(e, p, rot, nil)
	if rot.applies != 0 {
		t.Fatal("rotated although a BMC change failed")
	}
	n := 0
	for _, c := range res.NotAttempted {
		if c.Layer == LayerCredentials {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d credentials changes not attempted, want 3: %v", n, addresses(res.NotAttempted))
	}
}

func TestAddressSourceDHCP(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 4)
	e.converge()
	addr := &fakeAddressing{b: e.bmc, src: map[string]string{
		"node-0": bmc.AddrSourceStatic, "node-1": bmc.AddrSourceDHCP, "node-2": bmc.AddrSourceUnspecified, "node-3": bmc.AddrSourceStatic,
	}}
	e.rack.BMC.AddressSource = schema.AddressSourceDHCP
	e.targets = []string{"node-0", "node-1", "node-2"}
	p, err := planWith(e, nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bmc bmc-dhcp-renew bmc:node-0:ipsrc node-0", "bmc bmc-dhcp-renew bmc:node-2:ipsrc node-2"}
	if got := layerAddrs(p.Changes, ""); !slices.Equal(got, want) {
		t.Fatalf("changes = %v, want %v", got, want)
	}
	c := p.Changes[0]
	if c.Disruptive || !strings.Contains(c.Reason, "address source is static") || !strings.Contains(c.Reason, "the BMC moves to its reserved IP 172.24.213.") {
		t.Errorf("change = %+v", c)
	}
	if p.Observed[NodeKey(LayerBMC, "node-0", AspectAddressSource)] != bmc.AddrSourceStatic {
		t.Errorf("observed = %v", p.Observed)
	}
	res, err := applyWith(e, p, nil, addr)
	if err != nil || len(res.Done) != 2 {
		t.Fatalf("apply: %v %v", err, addresses(res.Done))
	}
	if got := e.bmc.mutations(); !slices.Equal(got, []string{"node-0 ipsrc dhcp", "node-2 ipsrc dhcp"}) {
		t.Fatalf("calls = %v", got)
	}
	if p, _ := planWith(e, nil, addr); p.HasChanges() {
		t.Fatalf("plan after apply: %v", layerAddrs(p.Changes, ""))
	}
	// Without bmc.addressSource nothing is read or planned.
	e.rack.BMC.AddressSource = ""
	e.targets = nil
	if p, _ := planWith(e, nil, addr); p.HasChanges() {
		t.Fatalf("plan without addressSource: %v", layerAddrs(p.Changes, ""))
	}
}

func TestAddressSourceStale(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 1)
	e.converge()
	addr := &fakeAddressing{b: e.bmc, src: map[string]string{"node-0": bmc.AddrSourceStatic}}
	e.rack.BMC.AddressSource = schema.AddressSourceDHCP
	p, err := planWith(e, nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	addr.src["node-0"] = bmc.AddrSourceBIOS
	if _, err := applyWith(e, p, nil, addr); !errors.Is(err, ErrStalePlan) {
		t.Fatalf("err = %v", err)
	}
}

// A node being reinstalled moves to DHCP only after its PXE boot.
func TestAddressSourceAfterPXE(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	src := map[string]string{}
	for i := range 3 {
		src[fmt.Sprintf("node-%d", i)] = bmc.AddrSourceStatic
	}
	addr := &fakeAddressing{b: e.bmc, src: src}
	e.rack.BMC.AddressSource = schema.AddressSourceDHCP
	p, err := planWith(e, nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyWith(e, p, nil, addr); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		n := fmt.Sprintf("node-%d ", i)
		pxe := slices.Index(e.bmc.calls, n+"power cycle")
		renew := slices.Index(e.bmc.calls, n+"ipsrc dhcp")
		if pxe < 0 || renew < pxe {
			t.Errorf("%s: power cycle at %d, renew at %d: %v", n, pxe, renew, e.bmc.calls)
		}
	}
}
