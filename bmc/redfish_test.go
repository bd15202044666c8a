package bmc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc/bmctest"
)

var mockAdmin = Credentials{User: bmctest.AdminUser, Password: bmctest.AdminPassword}

func mockTarget(m *bmctest.RedfishMock, node string) Target {
	return Target{Node: node, Address: m.Addr, Protocol: ProtocolRedfish}
}

func newRedfishT(t *testing.T, opts RedfishOptions, creds Credentials) *Redfish {
	t.Helper()
	r, err := NewRedfish(Config{Credentials: creds, Timeout: 5 * time.Second, Redfish: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func waitPower(t *testing.T, r *Redfish, tgt Target, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := r.PowerState(context.Background(), tgt)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("power state %q (err %v), want %q", got, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedfishPowerBootInventory: status, power off and on, PXE once then
// disk, persistent boot, inventory, all through one session per client.
func TestRedfishPowerBootInventory(t *testing.T) {
	m := bmctest.StartRedfishMock(t)
	r := newRedfishT(t, RedfishOptions{RootCAs: m.Pool()}, mockAdmin)
	tgt := mockTarget(m, "node-a")
	ctx := context.Background()

	waitPower(t, r, tgt, "on")
	if err := r.SetPower(ctx, tgt, PowerOff); err != nil {
		t.Fatalf("power off: %v", err)
	}
	waitPower(t, r, tgt, "off")
	if err := r.SetPower(ctx, tgt, PowerOn); err != nil {
		t.Fatalf("power on: %v", err)
	}
	waitPower(t, r, tgt, "on")

	for _, want := range []BootParam{
		{Device: BootPXE, Persistent: false, EFI: true},
		{Device: BootDisk, Persistent: false, EFI: true},
		{Device: BootDisk, Persistent: true, EFI: true},
		{Device: BootPXE, Persistent: true, EFI: false},
	} {
		if err := r.SetBootDevice(ctx, tgt, want.Device, want.Persistent, want.EFI); err != nil {
			t.Fatalf("set boot %s: %v", want, err)
		}
		got, err := r.BootDevice(ctx, tgt)
		if err != nil || got != want {
			t.Fatalf("boot device = %s, %v; want %s", got, err, want)
		}
	}

	inv, err := r.Inventory(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	want := Inventory{Manufacturer: "Contoso", Model: "3500", Serial: "437XR1138R2", BIOSVersion: "P79 v1.45 (12/06/2017)",
		BMCVersion: "1.45.455b66-rev4", SystemHealth: "OK", ChassisHealth: "OK"}
	if inv != want {
		t.Errorf("inventory = %+v\nwant        %+v", inv, want)
	}
	if rep := r.Diag(ctx, tgt); rep.Err != nil || !strings.Contains(rep.ChassisStatus, "System Power         : on") || !strings.Contains(rep.BootParam5, "pxe") || rep.Inventory != want {
		t.Errorf("diag = %+v", rep)
	}
	lines := want.Lines()
	for _, l := range []string{"Model                : 3500\n", "BIOS version         : P79 v1.45 (12/06/2017)\n", "System Health        : OK\n"} {
		if !strings.Contains(lines, l) {
			t.Errorf("Lines() lacks %q:\n%s", l, lines)
		}
	}
	if got := (Inventory{BMCVersion: "1.0"}).Lines(); !strings.Contains(got, "BIOS version         : n/a\n") || !strings.Contains(got, "BMC firmware         : 1.0\n") {
		t.Errorf("Lines() of a partial inventory:\n%s", got)
	}
	// Two sessions for the whole run: bmclib's (power, boot) and gofish's
	// (inventory), each opened once.
	if n, _ := m.WaitRequests("POST", "/redfish/v1/SessionService/Sessions", 3); n != 2 {
		t.Errorf("%d sessions opened, want 2 (sessions are reused within a run)", n)
	}
	r.Close()
	if n, _ := m.WaitRequests("DELETE", "/redfish/v1/SessionService/Sessions/", 2); n != 2 {
		t.Errorf("%d sessions closed, want 2", n)
	}
}

// TestRedfishTLS: the certificate is checked against the rack's CA or
// pin; a wrong one is refused before any credential is sent.
func TestRedfishTLS(t *testing.T) {
	m := bmctest.StartRedfishMock(t)
	other := bmctest.StartRedfishMock(t) // another self-signed certificate
	sum := sha256.Sum256(m.Cert.Raw)
	pin := "sha256:" + hex.EncodeToString(sum[:])
	otherSum := sha256.Sum256(other.Cert.Raw)
	tests := map[string]struct {
		opts    RedfishOptions
		wantErr error
	}{
		"right CA":          {opts: RedfishOptions{RootCAs: m.Pool()}},
		"wrong CA":          {opts: RedfishOptions{RootCAs: other.Pool()}, wantErr: ErrCertificate},
		"system CAs":        {opts: RedfishOptions{}, wantErr: ErrCertificate},
		"right fingerprint": {opts: RedfishOptions{Fingerprint: "sha256:" + strings.ToUpper(pin[7:9]) + ":" + pin[9:]}},
		"wrong fingerprint": {opts: RedfishOptions{Fingerprint: "sha256:" + hex.EncodeToString(otherSum[:])}, wantErr: ErrCertificate},
		"insecure opt-out":  {opts: RedfishOptions{InsecureSkipVerify: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before, _ := m.Requests("POST", "/redfish/v1/SessionService/Sessions")
			r := newRedfishT(t, tc.opts, mockAdmin)
			_, err := r.PowerState(context.Background(), mockTarget(m, "node-a"))
			if tc.wantErr == nil && err != nil {
				t.Fatalf("PowerState: %v", err)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("PowerState error = %v, want %v", err, tc.wantErr)
				}
				if errors.Is(err, ErrAuth) || errors.Is(err, ErrUnreachable) {
					t.Errorf("certificate error also matches auth/unreachable: %v", err)
				}
				if after, _ := m.Requests("POST", "/redfish/v1/SessionService/Sessions"); after != before {
					t.Errorf("a login reached the BMC whose certificate was refused")
				}
			}
		})
	}
	if _, err := NewRedfish(Config{Redfish: RedfishOptions{Fingerprint: "sha256:abc"}}); err == nil {
		t.Error("NewRedfish accepted a short fingerprint")
	}
}

// TestRedfishWrongPassword: a refused login is ErrAuth and is not retried.
func TestRedfishWrongPassword(t *testing.T) {
	m := bmctest.StartRedfishMock(t)
	r := newRedfishT(t, RedfishOptions{RootCAs: m.Pool()}, Credentials{User: "foo", Password: "wrong"})
	_, err := r.PowerState(context.Background(), mockTarget(m, "node-a"))
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("error = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error shows the password: %v", err)
	}
	if n, _ := m.WaitRequests("POST", "/redfish/v1/SessionService/Sessions", 2); n != 1 {
		t.Errorf("%d login attempts, want 1 (auth failures are not retried)", n)
	}
}

// TestRedfishETagConflict: a PATCH refused with 412 is read and written
// again; a BMC that keeps refusing ends in ErrPreconditionFailed.
func TestRedfishETagConflict(t *testing.T) {
	tests := map[string]struct {
		conflicts string
		wantErr   bool
	}{
		"two conflicts retried": {conflicts: "2"},
		"persistent conflict":   {conflicts: "100", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := bmctest.StartRedfishMock(t, "-etag-conflicts", tc.conflicts)
			r := newRedfishT(t, RedfishOptions{RootCAs: m.Pool()}, mockAdmin)
			tgt := mockTarget(m, "node-a")
			err := r.DisableUser(context.Background(), tgt, 3)
			if tc.wantErr {
				if !errors.Is(err, ErrPreconditionFailed) || !errors.Is(err, ErrCommand) {
					t.Fatalf("error = %v, want ErrPreconditionFailed", err)
				}
				if n, _ := m.WaitRequests("PATCH", "/redfish/v1/AccountService/Accounts/3", 5); n > 4 {
					t.Errorf("%d PATCHes, want the retries bounded (4)", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("DisableUser: %v", err)
			}
			n, codes := m.WaitRequests("PATCH", "/redfish/v1/AccountService/Accounts/3", 3)
			if n != 3 || codes[0] != "412" || codes[2] != "204" {
				t.Errorf("PATCHes %d with %v, want 412, 412, 204", n, codes)
			}
			users, err := r.Users(context.Background(), tgt)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range users {
				if u.ID == 3 && u.Enabled {
					t.Errorf("account 3 still enabled: %+v", u)
				}
			}
		})
	}
}

// TestRedfishDeadBMC: a BMC that accepts connections and never answers
// costs one timeout, not one per request or retry.
func TestRedfishDeadBMC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	const timeout = 700 * time.Millisecond
	r, err := NewRedfish(Config{Credentials: mockAdmin, Timeout: timeout, Retries: 3, Redfish: RedfishOptions{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	_, err = r.PowerState(context.Background(), Target{Node: "dead", Address: ln.Addr().String()})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("error = %v, want a timeout", err)
	}
	if elapsed > timeout+400*time.Millisecond {
		t.Errorf("took %s, want about one timeout (%s)", elapsed, timeout)
	}
}

// TestRedfishSOLRefused: Redfish has no serial console; the error says so
// and is typed.
func TestRedfishSOLRefused(t *testing.T) {
	r := newRedfishT(t, RedfishOptions{InsecureSkipVerify: true}, mockAdmin)
	err := r.SOL(context.Background(), Target{Node: "n", Address: "127.0.0.1:1", Protocol: ProtocolRedfish}, nil, nil)
	if !errors.Is(err, ErrNoSerialConsole) || !strings.Contains(err.Error(), "bmc n: sol") {
		t.Fatalf("SOL error = %v, want ErrNoSerialConsole naming the node", err)
	}
}

// TestRedfishAccounts: write, enable, prove, disable (then refused) and
// delete an account through the AccountService.
func TestRedfishAccounts(t *testing.T) {
	m := bmctest.StartRedfishMock(t)
	r := newRedfishT(t, RedfishOptions{RootCAs: m.Pool()}, mockAdmin)
	tgt := mockTarget(m, "node-a")
	ctx := context.Background()
	first, last, err := r.AccountSlots(ctx, tgt)
	if err != nil || first != 2 || last != 6 {
		t.Fatalf("AccountSlots = %d, %d, %v; want 2, 6", first, last, err)
	}
	nu := Credentials{User: "rackctl2", Password: "n3w-Secret"}
	slot, err := r.WriteAccount(ctx, tgt, last, nu)
	if err != nil || slot != 6 {
		t.Fatalf("WriteAccount = %d, %v; want 6", slot, err)
	}
	if err := r.TestLogin(ctx, tgt, nu); !errors.Is(err, ErrAuth) {
		t.Fatalf("login of the new, still disabled account: %v, want ErrAuth", err)
	}
	if err := r.EnableAccount(ctx, tgt, slot); err != nil {
		t.Fatal(err)
	}
	if err := r.TestLogin(ctx, tgt, nu); err != nil {
		t.Fatalf("login as the new account: %v", err)
	}
	if err := r.TestLogin(ctx, tgt, Credentials{User: nu.User, Password: "not-it"}); !errors.Is(err, ErrAuth) {
		t.Fatalf("login with a wrong password: %v, want ErrAuth", err)
	}
	users, err := r.Users(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, u := range users {
		if u.ID == slot {
			found = u.Name == nu.User && u.Enabled && u.Privilege == "Administrator"
		}
	}
	if !found {
		t.Fatalf("users %+v: want %q enabled Administrator in %d", users, nu.User, slot)
	}
	if err := r.DisableUser(ctx, tgt, slot); err != nil {
		t.Fatal(err)
	}
	if err := r.TestLogin(ctx, tgt, nu); !errors.Is(err, ErrAuth) {
		t.Fatalf("login of the disabled account: %v, want ErrAuth", err)
	}
}
