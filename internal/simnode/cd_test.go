package simnode_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/simredfish"
)

// TestNodeBootsVirtualMedia: a server behind a Redfish BMC, told through
// rackctl's Redfish driver to boot its virtual CD once, fetches the
// inserted image, runs it as the iPXE script an iPXE ISO embeds (chaining
// to matchbox, with a DHCP address but no boot file needed), installs like
// a PXE-booted node and then boots its disk. With the drive empty, a CD
// boot falls through to the disk.
func TestNodeBootsVirtualMedia(t *testing.T) {
	e := newRackEnv(t, 1)
	rf := simredfish.StartT(t, simredfish.Options{ChassisDir: filepath.Join(e.rack.BMCs[0].StateDir, "chassis")})
	drv, err := bmc.NewRedfish(bmc.Config{Credentials: bmc.Credentials{User: rf.User, Password: rf.Password}, Timeout: 10 * time.Second,
		Redfish: bmc.RedfishOptions{Fingerprint: rf.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	tgt := bmc.Target{Node: "node-0", Address: rf.Addr, Protocol: bmc.ProtocolRedfish}
	image := mgmtHTTP + "/assets/rackctl-cd.ipxe"
	// matchbox serves /assets/ from the assets directory beside its data.
	script := []byte("#!ipxe\ndhcp\nchain " + mgmtHTTP + "/boot.ipxe\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(e.mb.DataDir), "assets", "rackctl-cd.ipxe"), script, 0o644); err != nil {
		t.Fatal(err)
	}
	n := e.startNodeWith(t, 0, simnode.RedfishFirmware{BMC: rf}, simnode.Knobs{}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The empty drive first: the override is used up, the disk (empty
	// here) is what boots.
	if err := drv.SetBootDevice(ctx, tgt, bmc.BootCDROM, false, false); err != nil {
		t.Fatal(err)
	}
	if err := drv.SetPower(ctx, tgt, bmc.PowerOn); err != nil {
		t.Fatal(err)
	}
	l := wait(t, n, 0, "firmware: boot device cdrom", 20*time.Second)
	l = wait(t, n, l, "CD: no media inserted: booting the disk", 5*time.Second)
	if err := drv.SetPower(ctx, tgt, bmc.PowerOff); err != nil {
		t.Fatal(err)
	}
	l = wait(t, n, l, simnode.LogPowerOff, 10*time.Second)

	if err := drv.InsertMedia(ctx, tgt, image); err != nil {
		t.Fatal(err)
	}
	if err := drv.SetBootDevice(ctx, tgt, bmc.BootCDROM, false, false); err != nil {
		t.Fatal(err)
	}
	if err := drv.SetPower(ctx, tgt, bmc.PowerOn); err != nil {
		t.Fatal(err)
	}
	l = wait(t, n, l, "firmware: boot device cdrom", 20*time.Second)
	l = wait(t, n, l, "CD: virtual media "+image, 5*time.Second)
	l = wait(t, n, l, "DHCP: 172.24.213.10/24", 30*time.Second)
	l = wait(t, n, l, "iPXE: kernel", 10*time.Second)
	l = wait(t, n, l, simnode.LogInstalled, 20*time.Second)
	// The one-time CD boot was used up: the reboot boots the installed
	// disk although the image is still inserted.
	l = wait(t, n, l, "firmware: boot device disk", 20*time.Second)
	l = wait(t, n, l, "Ignition applied", 10*time.Second)
	wait(t, n, l, simnode.LogSSHUp+" on 172.24.213.10:22", 10*time.Second)
	e.mustRun(t, 0, "test -f /ignition_ran", 0)
	if rf.Media() != image {
		t.Errorf("media %q: the firmware must not eject it (rackctl's settle does)", rf.Media())
	}
}
