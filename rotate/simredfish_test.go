package rotate

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simredfish"
)

// TestRotateSimRedfish: a rotation over rackctl's simulated Redfish BMCs
// (16 fixed account slots, as on iDRAC). One BMC stores the new account
// but refuses its login: nothing is switched and its new slot is disabled
// again; the rerun completes, then the old account is refused.
func TestRotateSimRedfish(t *testing.T) {
	dir := t.TempDir()
	files := CredentialFiles{UserFile: filepath.Join(dir, "user"), PasswordFile: filepath.Join(dir, "password")}
	pool := x509.NewCertPool()
	var targets []bmc.Target
	var bmcs []*simredfish.BMC
	for i := range 2 {
		b := simredfish.StartT(t, simredfish.Options{Password: "0ld-Password"})
		pool.AppendCertsFromPEM(b.CAPEM)
		bmcs = append(bmcs, b)
		targets = append(targets, bmc.Target{Node: fmt.Sprintf("node-%d", i), Address: b.Addr, Protocol: bmc.ProtocolRedfish})
	}
	os.WriteFile(files.UserFile, []byte("admin\n"), 0o600)
	os.WriteFile(files.PasswordFile, []byte("0ld-Password\n"), 0o600)
	state := filepath.Join(dir, "state")
	newCreds := bmc.Credentials{User: "rackctl2", Password: "N3w-Password"}
	run := func() (*Report, error) {
		old, err := bmc.ReadCredentials(files.UserFile, files.PasswordFile)
		if err != nil {
			t.Fatal(err)
		}
		d, err := bmc.NewRedfish(bmc.Config{Credentials: old, Timeout: 5 * time.Second, Redfish: bmc.RedfishOptions{RootCAs: pool}})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		req := Request{Targets: targets, Old: old, New: newCreds}
		st, err := LoadState(state)
		if err != nil {
			t.Fatal(err)
		}
		p, err := MakePlan(context.Background(), d, req, st)
		if err != nil {
			t.Fatal(err)
		}
		return Apply(context.Background(), d, p, req, Options{Files: files, StateDir: state})
	}
	login := func(i int, c bmc.Credentials) error {
		d, err := bmc.NewRedfish(bmc.Config{Credentials: c, Timeout: 5 * time.Second, Redfish: bmc.RedfishOptions{RootCAs: pool}})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		return d.TestLogin(context.Background(), targets[i], c)
	}

	bmcs[1].RefuseNextLogin()
	rep, err := run()
	if !errors.Is(err, ErrNotSwitched) || rep.Switched {
		t.Fatalf("first run: %v, switched %v; want ErrNotSwitched", err, rep.Switched)
	}
	if b, _ := os.ReadFile(files.UserFile); strings.TrimSpace(string(b)) != "admin" {
		t.Fatalf("user file %q after a failed phase 1", b)
	}
	if r := rep.Nodes[1]; !r.RolledBack {
		t.Errorf("node-1 %+v: want rolled back", r)
	}
	if err := login(1, bmc.Credentials{User: "admin", Password: "0ld-Password"}); err != nil {
		t.Fatalf("node-1 old account: %v", err)
	}

	rep, err = run()
	if err != nil || !rep.Complete {
		t.Fatalf("rerun: %v, %+v", err, rep)
	}
	if !rep.Nodes[0].Resumed {
		t.Errorf("node-0 %+v: want resumed", rep.Nodes[0])
	}
	for i := range targets {
		if err := login(i, newCreds); err != nil {
			t.Errorf("node-%d new account: %v", i, err)
		}
		if err := login(i, bmc.Credentials{User: "admin", Password: "0ld-Password"}); !errors.Is(err, bmc.ErrAuth) {
			t.Errorf("node-%d old account: %v, want refused", i, err)
		}
	}
}
