package bmc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simredfish"
)

// TestSimRedfishVirtualMedia: an image is inserted (and read back), the
// same image again is a no-op, another one replaces it, a one-time boot
// from CD is consumed by the server's next boot, and an eject empties the
// drive (twice is fine). IPMI targets are refused, not faked.
func TestSimRedfishVirtualMedia(t *testing.T) {
	b := simredfish.StartT(t, simredfish.Options{})
	r, tgt := simRedfishDriver(t, b, bmc.RedfishOptions{RootCAs: caPool(t, b.CAPEM)}, 5*time.Second)
	ctx := context.Background()
	const img1, img2 = "http://127.0.0.1:8080/assets/ipxe/a.iso", "https://127.0.0.1:8443/b.iso"
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"insert", func() error { return r.InsertMedia(ctx, tgt, img1) }, img1},
		{"insert again", func() error { return r.InsertMedia(ctx, tgt, img1) }, img1},
		{"replace", func() error { return r.InsertMedia(ctx, tgt, img2) }, img2},
		{"eject", func() error { return r.EjectMedia(ctx, tgt) }, ""},
		{"eject empty", func() error { return r.EjectMedia(ctx, tgt) }, ""},
		{"insert after eject", func() error { return r.InsertMedia(ctx, tgt, img1) }, img1},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := b.Media(); got != s.want {
			t.Fatalf("%s: the BMC holds %q, want %q", s.name, got, s.want)
		}
		if got, err := r.MediaImage(ctx, tgt); err != nil || got != s.want {
			t.Fatalf("%s: MediaImage = %q, %v; want %q", s.name, got, err, s.want)
		}
	}
	if err := r.SetBootDevice(ctx, tgt, bmc.BootCDROM, false, false); err != nil {
		t.Fatalf("boot from CD once: %v", err)
	}
	for i, want := range []string{"Cd", "None"} {
		if got, _, err := b.NextBoot(); err != nil || got != want {
			t.Fatalf("boot %d: %q, %v; want %q", i, got, err, want)
		}
	}

	d := bmc.NewDrivers(bmc.Config{Credentials: bmc.Credentials{User: b.User, Password: b.Password}, Timeout: 5 * time.Second,
		Redfish: bmc.RedfishOptions{RootCAs: caPool(t, b.CAPEM)}})
	t.Cleanup(func() { d.Close() })
	if err := d.EjectMedia(ctx, tgt); err != nil || b.Media() != "" {
		t.Fatalf("eject through Drivers: %v, media %q", err, b.Media())
	}
	ipmi := bmc.Target{Node: "ipmi-0", Address: "127.0.0.1:623", Protocol: bmc.ProtocolIPMI}
	for name, err := range map[string]error{
		"insert": d.InsertMedia(ctx, ipmi, img1),
		"eject":  d.EjectMedia(ctx, ipmi),
	} {
		if !errors.Is(err, bmc.ErrNotSupported) {
			t.Errorf("%s on an IPMI BMC: %v, want ErrNotSupported", name, err)
		}
	}
}
