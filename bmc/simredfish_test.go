package bmc_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simredfish"
)

// The same contract as redfish_test.go, against rackctl's simulated
// Redfish BMC (internal/simredfish), which also drives a simulated
// server's power and boot.

func simRedfishDriver(t *testing.T, b *simredfish.BMC, opts bmc.RedfishOptions, timeout time.Duration) (*bmc.Redfish, bmc.Target) {
	t.Helper()
	r, err := bmc.NewRedfish(bmc.Config{Credentials: bmc.Credentials{User: b.User, Password: b.Password}, Timeout: timeout, Redfish: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, bmc.Target{Node: "sim-0", Address: b.Addr, Protocol: bmc.ProtocolRedfish}
}

func caPool(t *testing.T, pem []byte) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in PEM")
	}
	return p
}

// TestSimRedfishPowerBoot: power on, a one-time PXE boot consumed by the
// server's next boot, then disk, then a persistent override.
func TestSimRedfishPowerBoot(t *testing.T) {
	b := simredfish.StartT(t, simredfish.Options{})
	r, tgt := simRedfishDriver(t, b, bmc.RedfishOptions{RootCAs: caPool(t, b.CAPEM)}, 5*time.Second)
	ctx := context.Background()
	if err := r.SetPower(ctx, tgt, bmc.PowerOn); err != nil {
		t.Fatal(err)
	}
	if on, err := b.Power(); err != nil || !on {
		t.Fatalf("server power %v, %v after power on", on, err)
	}
	if s, err := r.PowerState(ctx, tgt); err != nil || s != "on" {
		t.Fatalf("PowerState = %q, %v", s, err)
	}
	steps := []struct {
		dev             string
		persistent, efi bool
		wantBoots       []string
	}{
		{bmc.BootPXE, false, true, []string{"Pxe", "None"}},
		{bmc.BootDisk, false, true, []string{"Hdd", "None"}},
		{bmc.BootPXE, true, true, []string{"Pxe", "Pxe"}},
	}
	for _, s := range steps {
		if err := r.SetBootDevice(ctx, tgt, s.dev, s.persistent, s.efi); err != nil {
			t.Fatalf("set boot %s persistent=%v: %v", s.dev, s.persistent, err)
		}
		for i, want := range s.wantBoots {
			got, uefi, err := b.NextBoot()
			if err != nil || got != want || (want != "None" && uefi != s.efi) {
				t.Fatalf("%s persistent=%v: boot %d = %q uefi=%v (%v), want %q", s.dev, s.persistent, i, got, uefi, err, want)
			}
		}
	}
	inv, err := r.Inventory(ctx, tgt)
	if err != nil || inv.Serial == "" || inv.Model == "" || inv.BMCVersion == "" || inv.SystemHealth == "" {
		t.Errorf("inventory %+v, %v: want serial, model, BMC firmware and health", inv, err)
	}
}

// TestSimRedfishTLSAndFaults: pinning (right and wrong), a 412 retried, a
// hung BMC bounded by one timeout.
func TestSimRedfishTLSAndFaults(t *testing.T) {
	b := simredfish.StartT(t, simredfish.Options{})
	other := simredfish.StartT(t, simredfish.Options{})
	ctx := context.Background()

	r, tgt := simRedfishDriver(t, b, bmc.RedfishOptions{Fingerprint: b.Fingerprint}, 5*time.Second)
	if _, err := r.PowerState(ctx, tgt); err != nil {
		t.Fatalf("pinned fingerprint: %v", err)
	}
	r2, _ := simRedfishDriver(t, b, bmc.RedfishOptions{RootCAs: caPool(t, other.CAPEM)}, 5*time.Second)
	if _, err := r2.PowerState(ctx, tgt); !errors.Is(err, bmc.ErrCertificate) {
		t.Fatalf("another BMC's CA: %v, want ErrCertificate", err)
	}
	r3, _ := simRedfishDriver(t, b, bmc.RedfishOptions{Fingerprint: other.Fingerprint}, 5*time.Second)
	if _, err := r3.PowerState(ctx, tgt); !errors.Is(err, bmc.ErrCertificate) {
		t.Fatalf("another BMC's fingerprint: %v, want ErrCertificate", err)
	}

	users, err := r.Users(ctx, tgt)
	if err != nil || len(users) == 0 {
		t.Fatalf("users %v, %v", users, err)
	}
	b.ConflictOnce()
	if err := r.EnableUser(ctx, tgt, users[0].ID); err != nil {
		t.Fatalf("PATCH after a 412: %v (want it read and written again)", err)
	}

	const timeout = 800 * time.Millisecond
	rd, _ := simRedfishDriver(t, b, bmc.RedfishOptions{Fingerprint: b.Fingerprint}, timeout)
	if _, err := rd.PowerState(ctx, tgt); err != nil { // a session open before the BMC hangs
		t.Fatal(err)
	}
	if err := b.SetDead(simredfish.Hang); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.SetDead(simredfish.Alive) })
	start := time.Now()
	_, err = rd.PowerState(ctx, tgt)
	if !errors.Is(err, bmc.ErrTimeout) {
		t.Fatalf("hung BMC: %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > timeout+500*time.Millisecond {
		t.Errorf("hung BMC took %s, want about one timeout (%s)", el, timeout)
	}
}

// TestSimRedfishSlowBMCOneTimeout: a BMC answering each request just
// within the HTTP timeout must not stretch a call of several requests
// (inventory) beyond the one call timeout.
func TestSimRedfishSlowBMCOneTimeout(t *testing.T) {
	b := simredfish.StartT(t, simredfish.Options{})
	const timeout = 900 * time.Millisecond
	r, tgt := simRedfishDriver(t, b, bmc.RedfishOptions{Fingerprint: b.Fingerprint}, timeout)
	ctx := context.Background()
	if _, err := r.Inventory(ctx, tgt); err != nil { // session open before the BMC slows down
		t.Fatal(err)
	}
	b.SetSlow(500 * time.Millisecond)
	start := time.Now()
	_, err := r.Inventory(ctx, tgt)
	if !errors.Is(err, bmc.ErrTimeout) {
		t.Fatalf("slow BMC inventory: %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > timeout+400*time.Millisecond {
		t.Errorf("slow BMC took %s, want about one timeout (%s)", el, timeout)
	}
}
