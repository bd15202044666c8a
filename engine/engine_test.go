package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/schema"
)

const (
	lokomotiveSpec = "../spec-examples/lokomotive.yaml"
	flatcarSpec    = "../spec-examples/flatcar.yaml"
)

// filesOnly turns every layer after files off: no dnsmasq, BMC,
// provisioner or verifier is needed.
var filesOnly = DriverConfig{DHCP: "none", DriftFix: "release", BMC: "none", ProvisionerRun: "never", Verify: "none"}

func newEngine(t *testing.T, spec string, d DriverConfig) (*Engine, *schema.Rack) {
	t.Helper()
	rack, err := schema.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{SpecFile: spec, Root: t.TempDir(), Drivers: d})
	if err != nil {
		t.Fatal(err)
	}
	return e, rack
}

// TestHostPathStaysBeneathRoot: an absolute spec path is placed beneath
// Root as if it were "/", whatever ".." it holds.
func TestHostPathStaysBeneathRoot(t *testing.T) {
	e, err := New(Config{Root: "/r", SpecFile: "/spec/rack.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"/usr/share/oem/ipmi_user": "/r/usr/share/oem/ipmi_user",
		"/../x":                    "/r/x",
		"/usr/../../../etc/shadow": "/r/etc/shadow",
		"secrets/user":             "/spec/secrets/user",
	} {
		if got := e.HostPath(p); got != want {
			t.Errorf("HostPath(%q) = %q, want %q", p, got, want)
		}
	}
}

// TestDriverFlagsChecked: a driver setting out of its set of values is
// refused naming the flag, before anything is opened.
func TestDriverFlagsChecked(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*DriverConfig)
		want string
	}{
		"drift-fix":       {func(d *DriverConfig) { d.DriftFix = "reboot" }, "--drift-fix"},
		"bmc":             {func(d *DriverConfig) { d.BMC = "redfish" }, "--bmc"},
		"dhcp":            {func(d *DriverConfig) { d.DHCP = "isc" }, "--dhcp"},
		"provisioner-run": {func(d *DriverConfig) { d.ProvisionerRun = "always" }, "--provisioner-run"},
		"verify":          {func(d *DriverConfig) { d.Verify = "ping" }, "--verify"},
		"pass-env secret": {func(d *DriverConfig) { d.PassEnv = []string{bmc.EnvPassword} }, bmc.EnvPassword},
	} {
		t.Run(name, func(t *testing.T) {
			d := filesOnly
			tc.edit(&d)
			e, rack := newEngine(t, lokomotiveSpec, d)
			_, err := e.Open(rack)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestReconcilerPlansAndAppliesLikeApply: the watch Reconciler plans with
// the commit and applies through the same session: the files are written
// and the apply is in the history with its commit.
func TestReconcilerPlansAndAppliesLikeApply(t *testing.T) {
	e, rack := newEngine(t, lokomotiveSpec, filesOnly)
	rec, err := e.Reconciler()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := rec.Plan(ctx, rack, "c0ffee")
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasChanges() || p.Commit != "c0ffee" {
		t.Fatalf("plan of an empty root: changes %v, commit %q; want changes and the commit", p.HasChanges(), p.Commit)
	}
	if _, err := rec.Apply(ctx, rack, p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.Config().Root, filepath.FromSlash(e.Layout().DnsmasqConf))); err != nil {
		t.Errorf("dnsmasq.conf not written: %v", err)
	}
	h, err := e.History(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Commit != "c0ffee" || h[0].Source != "apply" || h[0].Outcome != "success" {
		t.Errorf("history = %+v, want one successful apply of c0ffee", h)
	}
	again, err := rec.Plan(ctx, rack, "c0ffee")
	if err != nil {
		t.Fatal(err)
	}
	if again.HasChanges() {
		t.Error("the plan after the apply still has changes")
	}
}

// TestPlanTargetsMustBeNodes: a -target that names no node is refused,
// naming the spec file to look in.
func TestPlanTargetsMustBeNodes(t *testing.T) {
	e, rack := newEngine(t, lokomotiveSpec, filesOnly)
	s, err := e.Open(rack)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Plan(context.Background(), []string{"no-such-node"}, "")
	if err == nil || !strings.Contains(err.Error(), `"no-such-node"`) || !strings.Contains(err.Error(), lokomotiveSpec) {
		t.Errorf("Plan: %v, want an error naming the target and %s", err, lokomotiveSpec)
	}
}

// TestSavedPlanRoundTrip: SavePlan writes 0600 and ReadPlanFile reads
// back the same plan.
func TestSavedPlanRoundTrip(t *testing.T) {
	e, rack := newEngine(t, lokomotiveSpec, filesOnly)
	s, err := e.Open(rack)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Plan(context.Background(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := SavePlan(path, p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("saved plan mode %v, want 0600", fi.Mode().Perm())
	}
	back, err := ReadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.SpecHash != p.SpecHash || len(back.Changes) != len(p.Changes) {
		t.Errorf("read back %d changes of spec %s, saved %d of %s", len(back.Changes), back.SpecHash, len(p.Changes), p.SpecHash)
	}
	if _, err := ReadPlanFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing plan file was read")
	}
}

// fakeBMC is a BMC driver with canned answers: power by node, an error
// for the nodes in fail.
type fakeBMC struct {
	power map[string]string
	fail  map[string]error
}

func (f *fakeBMC) PowerState(_ context.Context, t bmc.Target) (string, error) {
	if err := f.fail[t.Node]; err != nil {
		return "", err
	}
	return f.power[t.Node], nil
}
func (f *fakeBMC) SetPower(context.Context, bmc.Target, string) error {
	return errors.New("fake: read only")
}
func (f *fakeBMC) BootDevice(context.Context, bmc.Target) (bmc.BootParam, error) {
	return bmc.BootParam{Device: "disk"}, nil
}
func (f *fakeBMC) SetBootDevice(context.Context, bmc.Target, string, bool, bool) error {
	return errors.New("fake: read only")
}
func (f *fakeBMC) LANAddressSource(context.Context, bmc.Target) (string, error) {
	return bmc.AddrSourceStatic, nil
}
func (f *fakeBMC) DHCPRenew(context.Context, bmc.Target) error { return errors.New("fake: read only") }
func (f *fakeBMC) Inventory(context.Context, bmc.Target) (bmc.Inventory, error) {
	return bmc.Inventory{}, bmc.ErrNotSupported
}
func (f *fakeBMC) Close() error { return nil }
func (f *fakeBMC) Diag(_ context.Context, t bmc.Target) bmc.DiagReport {
	return bmc.DiagReport{ChassisStatus: "System Power : " + f.power[t.Node], Inventory: bmc.Inventory{Serial: "SN-" + t.Node}, Err: f.fail[t.Node]}
}

// registerFake makes fake e's BMC driver for the test and returns the
// configuration the engine opened it with.
func registerFake(t *testing.T, e *Engine, fake BMCClient) *bmc.Config {
	t.Helper()
	var got bmc.Config
	e.openBMCHook = func(c bmc.Config) (BMCClient, error) { got = c; return fake, nil }
	t.Setenv(bmc.EnvUser, "admin")
	t.Setenv(bmc.EnvPassword, "s3cret-pw")
	return &got
}

// TestStatusThroughRegisteredDriver: status reads power and diagnostics
// through whatever driver is registered for the rack's protocol, with the
// credentials in force; a dead BMC is a row with its error, not a failed
// status.
func TestStatusThroughRegisteredDriver(t *testing.T) {
	e, rack := newEngine(t, flatcarSpec, filesOnly)
	r, err := e.Rack(rack)
	if err != nil {
		t.Fatal(err)
	}
	nodes := r.Nodes()
	dead := nodes[1].Name
	fake := &fakeBMC{power: map[string]string{}, fail: map[string]error{dead: errors.New("bmc " + dead + ": timeout")}}
	for _, n := range nodes {
		fake.power[n.Name] = "on"
	}
	cfg := registerFake(t, e, fake)

	st, err := e.Status(context.Background(), r, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Credentials.User != "admin" || cfg.Credentials.Password != "s3cret-pw" {
		t.Errorf("driver opened with user %q, want the credentials in force", cfg.Credentials.User)
	}
	if st.APIReached != "n/a" || len(st.Nodes) != len(nodes) {
		t.Fatalf("flatcar status: API %q, %d rows; want n/a and %d rows", st.APIReached, len(st.Nodes), len(nodes))
	}
	for _, row := range st.Nodes {
		if row.Name == dead {
			if row.BMCReached || !strings.Contains(row.BMCError, "timeout") || row.Diag == nil || row.Diag.Error == "" {
				t.Errorf("dead BMC row: %+v, want not reached with the timeout", row)
			}
			continue
		}
		if !row.BMCReached || row.Power != "on" || row.Diag == nil || row.Diag.ChassisStatus != "System Power : on" || row.Diag.Inventory.Serial != "SN-"+row.Name || row.Joined != "n/a" {
			t.Errorf("row %s: %+v, want reached, on, its diagnostics, joined n/a", row.Name, row)
		}
	}
}

// TestRotationNeedsAccountsDriver: a BMC driver without IPMI's user
// commands cannot rotate: refused naming bmc.rotate, nothing planned.
func TestRotationNeedsAccountsDriver(t *testing.T) {
	e, rack := newEngine(t, lokomotiveSpec, filesOnly)
	pw := filepath.Join(e.Config().Root, "new_pw")
	if err := os.WriteFile(pw, []byte("n3w-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rack.BMC.Rotate = &schema.BMCRotate{User: "admin2", PasswordFile: "/new_pw"}
	r, err := e.Rack(rack)
	if err != nil {
		t.Fatal(err)
	}
	registerFake(t, e, &fakeBMC{})
	if _, err := e.Rotation(r); err == nil || !strings.Contains(err.Error(), "bmc.rotate") {
		t.Errorf("Rotation: %v, want a refusal naming bmc.rotate", err)
	}
	rack.BMC.Rotate = nil
	if _, err := e.Rotation(r); err == nil || !strings.Contains(err.Error(), "no bmc.rotate") {
		t.Errorf("Rotation without bmc.rotate: %v", err)
	}
}
