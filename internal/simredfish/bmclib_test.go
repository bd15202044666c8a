package simredfish

import (
	"context"
	"net"
	"testing"
	"time"

	bmclib "github.com/bmc-toolbox/bmclib/v2"
)

// TestBmclib drives the sim with bmclib's Redfish provider (gofish), the
// client rackctl's driver is built on: the same power, boot and account
// operations as the sushy test must work the same way.
func TestBmclib(t *testing.T) {
	b := StartT(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := func(user, password string) (*bmclib.Client, error) {
		_, port, _ := net.SplitHostPort(b.Addr)
		c := bmclib.NewClient("127.0.0.1", user, password,
			bmclib.WithRedfishPort(port), bmclib.WithRedfishHTTPClient(b.Client(10*time.Second)),
			bmclib.WithPerProviderTimeout(10*time.Second)).For("gofish")
		if err := c.Open(ctx); err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c, nil
	}
	c, err := open(b.User, b.Password)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if ok, err := c.SetPowerState(ctx, "on"); !ok || err != nil {
		t.Fatalf("power on: %v %v", ok, err)
	}
	if state, err := c.GetPowerState(ctx); err != nil || state != "On" {
		t.Errorf("power state %q %v, want On", state, err)
	}
	if ok, err := c.SetBootDevice(ctx, "pxe", false, true); !ok || err != nil {
		t.Fatalf("one-time PXE: %v %v", ok, err)
	}
	if target, uefi, _ := b.NextBoot(); target != "Pxe" || !uefi {
		t.Errorf("the firmware boots %q (uefi %v), want Pxe in UEFI", target, uefi)
	}
	if target, _, _ := b.NextBoot(); target != "None" {
		t.Errorf("second boot after a one-time override: %q, want None", target)
	}
	if ok, err := c.SetBootDevice(ctx, "disk", true, false); !ok || err != nil {
		t.Fatalf("persistent disk: %v %v", ok, err)
	}
	for range 2 {
		if target, uefi, _ := b.NextBoot(); target != "Hdd" || uefi {
			t.Errorf("persistent boot: %q (uefi %v), want Hdd in Legacy", target, uefi)
		}
	}
	if ok, err := c.SetPowerState(ctx, "off"); !ok || err != nil {
		t.Fatalf("power off: %v %v", ok, err)
	}
	if on, _ := b.Power(); on {
		t.Error("power file on after bmclib's power off")
	}

	if ok, err := c.CreateUser(ctx, "rotated", "First-pass-1", "Administrator"); !ok || err != nil {
		t.Fatalf("create user: %v %v", ok, err)
	}
	if _, err := open("rotated", "First-pass-1"); err != nil {
		t.Errorf("log in as the new user: %v", err)
	}
	if ok, err := c.UpdateUser(ctx, "rotated", "Second-pass-2", ""); !ok || err != nil {
		t.Fatalf("change password: %v %v", ok, err)
	}
	if _, err := open("rotated", "First-pass-1"); err == nil {
		t.Error("the old password still logs in")
	}
	if _, err := open("rotated", "Second-pass-2"); err != nil {
		t.Errorf("log in with the new password: %v", err)
	}
	if ok, err := c.DeleteUser(ctx, "rotated"); !ok || err != nil {
		t.Fatalf("delete user: %v %v", ok, err)
	}
	if _, err := open("rotated", "Second-pass-2"); err == nil {
		t.Error("a deleted user logs in")
	}
}
