package bmc

import (
	"context"
	"fmt"
	"slices"

	"github.com/stmcginnis/gofish/redfish"
)

// VirtualMedia is a BMC that mounts a boot image from a URL as a virtual
// CD. Redfish BMCs do (Managers/…/VirtualMedia); IPMI has no such thing,
// so *Client is not one and *Drivers refuses its targets.
type VirtualMedia interface {
	// MediaImage is the image in the virtual CD, "" when it is empty.
	MediaImage(ctx context.Context, t Target) (string, error)
	// InsertMedia mounts image in the virtual CD, ejecting another one
	// first; the image already inserted is left as it is.
	InsertMedia(ctx context.Context, t Target, image string) error
	// EjectMedia empties the virtual CD; an empty one is left as it is.
	EjectMedia(ctx context.Context, t Target) error
}

var (
	_ VirtualMedia = (*Redfish)(nil)
	_ VirtualMedia = (*Drivers)(nil)
)

// cdDrive is, on the connection c, the first virtual media of the first manager that takes a CD
// or DVD: BMCs list a floppy or USB stick beside it (bmclib takes the
// first device of any kind, which on such a BMC is the wrong one).
func (r *Redfish) cdDrive(ctx context.Context, c *rfConn) (*redfish.VirtualMedia, error) {
	gf, err := r.gofish(ctx, c)
	if err != nil {
		return nil, err
	}
	managers, err := gf.Service.Managers()
	if err != nil {
		return nil, fmt.Errorf("read managers: %w", err)
	}
	for _, m := range managers {
		vms, err := m.VirtualMedia()
		if err != nil {
			return nil, fmt.Errorf("read virtual media of manager %s: %w", m.ID, err)
		}
		for _, vm := range vms {
			if slices.Contains(vm.MediaTypes, redfish.CDMediaType) || slices.Contains(vm.MediaTypes, redfish.DVDMediaType) {
				return vm, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: the BMC offers no virtual CD (Managers/…/VirtualMedia with MediaTypes CD or DVD)", ErrNotSupported)
}

func (r *Redfish) MediaImage(ctx context.Context, t Target) (string, error) {
	var image string
	err := r.do(ctx, t, "read virtual media", func(ctx context.Context, c *rfConn) error {
		vm, err := r.cdDrive(ctx, c)
		if err != nil {
			return err
		}
		image = ""
		if vm.Inserted {
			image = vm.Image
		}
		return nil
	})
	return image, err
}

// InsertMedia mounts image write-protected. A BMC whose media is in use
// by another image gets it ejected first (the action refuses otherwise);
// the read-back proves the BMC took the URL.
func (r *Redfish) InsertMedia(ctx context.Context, t Target, image string) error {
	return r.do(ctx, t, "insert virtual media", func(ctx context.Context, c *rfConn) error {
		vm, err := r.cdDrive(ctx, c)
		if err != nil {
			return err
		}
		if vm.Inserted && vm.Image == image {
			return nil
		}
		if vm.Inserted {
			if err := vm.EjectMedia(); err != nil {
				return fmt.Errorf("eject %s first: %w", vm.Image, err)
			}
		}
		if err := vm.InsertMedia(image, true, true); err != nil {
			return err
		}
		got, err := redfish.GetVirtualMedia(c.gf, vm.ODataID) // the session cdDrive opened
		if err != nil {
			return fmt.Errorf("read back virtual media: %w", err)
		}
		if !got.Inserted || got.Image != image {
			return fmt.Errorf("%w: virtual media reads inserted=%t image %q after inserting %q", ErrCommand, got.Inserted, got.Image, image)
		}
		return nil
	})
}

func (r *Redfish) EjectMedia(ctx context.Context, t Target) error {
	return r.do(ctx, t, "eject virtual media", func(ctx context.Context, c *rfConn) error {
		vm, err := r.cdDrive(ctx, c)
		if err != nil || !vm.Inserted {
			return err
		}
		return vm.EjectMedia()
	})
}

// media is t's driver as a VirtualMedia, or why it has none.
func (d *Drivers) media(t Target, action string) (VirtualMedia, error) {
	drv, err := d.of(t, action)
	if err != nil {
		return nil, err
	}
	vm, ok := drv.(VirtualMedia)
	if !ok {
		return nil, wrap(t.Node, action, fmt.Errorf("%w: IPMI has no virtual media (use a Redfish BMC, or installVia: pxe)", ErrNotSupported))
	}
	return vm, nil
}

func (d *Drivers) MediaImage(ctx context.Context, t Target) (string, error) {
	vm, err := d.media(t, "read virtual media")
	if err != nil {
		return "", err
	}
	return vm.MediaImage(ctx, t)
}

func (d *Drivers) InsertMedia(ctx context.Context, t Target, image string) error {
	vm, err := d.media(t, "insert virtual media")
	if err != nil {
		return err
	}
	return vm.InsertMedia(ctx, t, image)
}

func (d *Drivers) EjectMedia(ctx context.Context, t Target) error {
	vm, err := d.media(t, "eject virtual media")
	if err != nil {
		return err
	}
	return vm.EjectMedia(ctx, t)
}
