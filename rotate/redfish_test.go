package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/bmc/bmctest"
)

// The rotation against Redfish BMCs (metal-operator's mock behind
// tools/redfishmock): the same two phases, proof and rollback as over
// IPMI, through the AccountService.

type rfFixture struct {
	mocks   []*bmctest.RedfishMock
	targets []bmc.Target
	files   CredentialFiles
	state   string
}

const rfNewPassword = "rf-N3w secret"

func newRFFixture(t *testing.T, args ...[]string) *rfFixture {
	t.Helper()
	dir := t.TempDir()
	f := &rfFixture{state: filepath.Join(dir, "state"), files: CredentialFiles{
		UserFile: filepath.Join(dir, "oem/ipmi_user"), PasswordFile: filepath.Join(dir, "oem/ipmi_password"),
	}}
	os.MkdirAll(filepath.Dir(f.files.UserFile), 0o755)
	os.WriteFile(f.files.UserFile, []byte(bmctest.AdminUser+"\n"), 0o600)
	os.WriteFile(f.files.PasswordFile, []byte(bmctest.AdminPassword+"\n"), 0o600)
	for i, a := range args {
		m := bmctest.StartRedfishMock(t, a...)
		f.mocks = append(f.mocks, m)
		f.targets = append(f.targets, bmc.Target{Node: fmt.Sprintf("node-%d", i), Address: m.Addr, Protocol: bmc.ProtocolRedfish})
	}
	return f
}

// driver is a fresh Redfish driver trusting every mock's certificate (a
// new one per run, as each rackctl run has its own sessions).
func (f *rfFixture) driver(t *testing.T) *bmc.Redfish {
	t.Helper()
	pool := f.mocks[0].Pool()
	for _, m := range f.mocks[1:] {
		pool.AddCert(m.Cert)
	}
	old, err := bmc.ReadCredentials(f.files.UserFile, f.files.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bmc.NewRedfish(bmc.Config{Credentials: old, Timeout: 5 * time.Second, Redfish: bmc.RedfishOptions{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func (f *rfFixture) run(t *testing.T) (*Plan, *Report, error) {
	t.Helper()
	old, err := bmc.ReadCredentials(f.files.UserFile, f.files.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Targets: f.targets, Old: old, New: bmc.Credentials{User: "rackctl2", Password: rfNewPassword}}
	st, err := LoadState(f.state)
	if err != nil {
		t.Fatal(err)
	}
	d := f.driver(t)
	p, err := MakePlan(context.Background(), d, req, st)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	rep, err := Apply(context.Background(), d, p, req, Options{Files: f.files, StateDir: f.state})
	if rep == nil {
		t.Fatalf("apply returned no report: %v", err)
	}
	return p, rep, err
}

func (f *rfFixture) login(t *testing.T, i int, c bmc.Credentials) error {
	return f.driver(t).TestLogin(context.Background(), f.targets[i], c)
}

func TestRotateRedfish(t *testing.T) {
	f := newRFFixture(t, nil, nil)
	p, rep, err := f.run(t)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	// The mock has fixed, nameless accounts 3 to 5 (as iDRACs do): the
	// lowest one is taken and written with PATCH.
	for _, s := range p.Steps {
		if s.Slot != 3 || s.OldSlot != 2 || s.Protocol != bmc.ProtocolRedfish {
			t.Errorf("step %+v: want slot 3, old slot 2, redfish", s)
		}
		if !strings.Contains(strings.Join(s.Actions, "\n"), "Redfish role Administrator") {
			t.Errorf("step actions %q name no Redfish role", s.Actions)
		}
	}
	if !rep.Switched || !rep.Complete {
		t.Fatalf("report %+v: want switched and complete", rep)
	}
	newCreds := bmc.Credentials{User: "rackctl2", Password: rfNewPassword}
	for i := range f.targets {
		if err := f.login(t, i, newCreds); err != nil {
			t.Errorf("node-%d: new account does not log in: %v", i, err)
		}
		if err := f.login(t, i, bmc.Credentials{User: bmctest.AdminUser, Password: bmctest.AdminPassword}); !errors.Is(err, bmc.ErrAuth) {
			t.Errorf("node-%d: old account login = %v, want refused", i, err)
		}
	}
	if b, _ := os.ReadFile(f.files.UserFile); strings.TrimSpace(string(b)) != "rackctl2" {
		t.Errorf("user file holds %q", b)
	}
	// Rerun: everything is proven as the new user, nothing left.
	p2, _, err := f.run(t)
	if err != nil || !p2.Done() {
		t.Fatalf("second run: done=%v err=%v plan=%+v", p2.Done(), err, p2.Steps)
	}
}

// TestRotateRedfishRefusedLogin: a BMC that stores the new account but
// does not let it in fails phase 1: its new account is disabled again and
// nothing is switched; once the BMC takes it, a rerun resumes (the other
// BMC's proven account is only logged in to again) and completes.
func TestRotateRedfishRefusedLogin(t *testing.T) {
	f := newRFFixture(t, nil, []string{"-refuse-login", "rackctl2"})
	_, rep, err := f.run(t)
	var fe *FailedError
	if !errors.As(err, &fe) || !errors.Is(err, ErrNotSwitched) || len(fe.Nodes) != 1 || fe.Nodes[0] != "node-1" {
		t.Fatalf("error = %v, want ErrNotSwitched naming node-1", err)
	}
	if rep.Switched {
		t.Fatal("credential files switched although node-1 failed")
	}
	if b, _ := os.ReadFile(f.files.UserFile); strings.TrimSpace(string(b)) != bmctest.AdminUser {
		t.Errorf("user file holds %q, want the old user", b)
	}
	if r := rep.Nodes[1]; !r.RolledBack || r.Status != StatusFailed {
		t.Errorf("node-1 result %+v: want rolled back, failed", r)
	}
	users, err := f.driver(t).Users(context.Background(), f.targets[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Name == "rackctl2" && u.Enabled {
			t.Errorf("node-1: the unproven account is enabled: %+v", u)
		}
		if u.Name == bmctest.AdminUser && !u.Enabled {
			t.Errorf("node-1: the old account was disabled: %+v", u)
		}
	}
	if err := f.login(t, 0, bmc.Credentials{User: bmctest.AdminUser, Password: bmctest.AdminPassword}); err != nil {
		t.Errorf("node-0: old account no longer logs in: %v", err)
	}

	// The BMC is fixed (a new one on the same address, as after a reset).
	f.mocks[1].Stop()
	f.mocks[1] = bmctest.StartRedfishMock(t, "-listen", f.mocks[1].Addr)
	_, rep, err = f.run(t)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if !rep.Nodes[0].Resumed || rep.Nodes[0].Created {
		t.Errorf("node-0 %+v: want its proven account resumed, not rewritten", rep.Nodes[0])
	}
	if !rep.Switched || !rep.Complete {
		t.Errorf("rerun report %+v: want switched and complete", rep)
	}
}
