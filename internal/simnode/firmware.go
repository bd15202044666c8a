package simnode

import (
	"context"
	"fmt"

	"github.com/rackctl/rackctl/bmc"
)

// Boot devices a node's firmware acts on.
const (
	BootPXE  = bmc.BootPXE
	BootDisk = bmc.BootDisk
	// BootCD is the BMC's virtual CD (Redfish virtual media).
	BootCD = bmc.BootCDROM
)

// VirtualCD is firmware whose BMC has a virtual CD drive.
type VirtualCD interface {
	// InsertedImage is the URL of the image in the drive, "" for none.
	InsertedImage() string
}

// Firmware is the part of a server's firmware that asks the BMC what to
// boot. NextBoot returns BootPXE, BootCD or BootDisk and, as firmware does,
// consumes a one-time override so the boot after it takes the default
// (disk) path.
type Firmware interface {
	NextBoot(ctx context.Context) (device string, err error)
}

// BootFlags reads and writes a BMC's boot flags; *bmc.Client does, over
// the BMC's LAN interface.
type BootFlags interface {
	BootDevice(ctx context.Context, t bmc.Target) (bmc.BootParam, error)
	SetBootDevice(ctx context.Context, t bmc.Target, device string, persistent, efi bool) error
}

// IPMIFirmware reads IPMI boot parameter 5 with rackctl's own bmc client.
type IPMIFirmware struct {
	Client BootFlags
	Target bmc.Target
}

// NextBoot reads the boot flags; a one-time override is cleared after it
// is read (written back as "no override"), a persistent one kept. Any
// device but PXE boots the disk, as a server's default boot order would.
func (f IPMIFirmware) NextBoot(ctx context.Context) (string, error) {
	bp, err := f.Client.BootDevice(ctx, f.Target)
	if err != nil {
		return "", fmt.Errorf("firmware: read boot flags: %w", err)
	}
	if bp.Device != bmc.BootNone && !bp.Persistent {
		if err := f.Client.SetBootDevice(ctx, f.Target, bmc.BootNone, false, bp.EFI); err != nil {
			return "", fmt.Errorf("firmware: clear one-time boot flags: %w", err)
		}
	}
	if bp.Device == bmc.BootPXE {
		return BootPXE, nil
	}
	return BootDisk, nil
}

// RedfishBoot is a simulated Redfish BMC's side of the boot: it hands out
// the override, using up a Once one (*simredfish.BMC does).
type RedfishBoot interface {
	NextBoot() (target string, uefi bool, err error)
	// Media is the image in the virtual CD ("" for none).
	Media() string
}

// RedfishFirmware reads the boot override of a Redfish BMC. Pxe boots the
// network, Cd the virtual CD; anything else the disk, as a server's
// default boot order would.
type RedfishFirmware struct{ BMC RedfishBoot }

var _ VirtualCD = RedfishFirmware{}

func (f RedfishFirmware) InsertedImage() string { return f.BMC.Media() }

func (f RedfishFirmware) NextBoot(context.Context) (string, error) {
	target, _, err := f.BMC.NextBoot()
	if err != nil {
		return "", fmt.Errorf("firmware: read the boot override: %w", err)
	}
	switch target {
	case "Pxe":
		return BootPXE, nil
	case "Cd":
		return BootCD, nil
	}
	return BootDisk, nil
}
