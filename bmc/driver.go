package bmc

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/bmc-toolbox/bmclib/v2/bmc"
	"github.com/bmc-toolbox/bmclib/v2/providers"
	"github.com/jacobweinstock/registrar"
)

// driverName is the name of rackctl's own bmclib provider: it implements
// what bmclib's ipmitool provider gets wrong or lacks (boot flags through
// raw writes with read-back, users with privilege and enable status) on top
// of the package's ipmitool exec helper.
const driverName = "rackctl-ipmitool"

var driverFeatures = registrar.Features{
	providers.FeatureBootDeviceSet,
	featureBootDeviceOverrideGet,
	providers.FeatureUserRead,
}

// driverError carries a classified error through bmclib's multierror.
type driverError struct{ err error }

func (e *driverError) Error() string { return e.err.Error() }
func (e *driverError) Unwrap() error { return e.err }

func derr(err error) error {
	if err == nil {
		return nil
	}
	return &driverError{err: err}
}

type driver struct {
	run ipmitoolRun
	// last keeps the most recent error: bmclib drops some provider errors
	// (GetBootDeviceOverride), the caller takes it from here.
	last error
}

func (d *driver) fail(err error) error {
	d.last = derr(err)
	return d.last
}

var (
	_ bmc.BootDeviceSetter         = (*driver)(nil)
	_ bmc.BootDeviceOverrideGetter = (*driver)(nil)
	_ bmc.UserReader               = (*driver)(nil)
)

func (d *driver) Name() string { return driverName }

// BootDeviceSet disables the boot-flag valid-bit clearing timer, writes
// boot parameter 5 with a raw Set System Boot Options, and reads it back.
func (d *driver) BootDeviceSet(ctx context.Context, device string, persistent, efi bool) (bool, error) {
	b, err := bootFlagBytes(device, persistent, efi)
	if err != nil {
		return false, d.fail(err)
	}
	if _, err := d.run.run(ctx, "raw", "0x00", "0x08", "0x03", "0x1f"); err != nil {
		return false, d.fail(fmt.Errorf("disable boot flag timer: %w", err))
	}
	args := []string{"raw", "0x00", "0x08", "0x05"}
	for _, x := range b {
		args = append(args, fmt.Sprintf("0x%02x", x))
	}
	if _, err := d.run.run(ctx, args...); err != nil {
		return false, d.fail(fmt.Errorf("write boot flags: %w", err))
	}
	got, err := d.bootParam(ctx)
	if err != nil {
		return false, d.fail(fmt.Errorf("read back boot flags: %w", err))
	}
	want := BootParam{Device: device, Persistent: persistent, EFI: efi}
	if got != want {
		return false, d.fail(&BootParamMismatchError{Want: want, Got: got})
	}
	return true, nil
}

func (d *driver) bootParam(ctx context.Context) (BootParam, error) {
	out, err := d.run.run(ctx, "chassis", "bootparam", "get", "5")
	if err != nil {
		return BootParam{}, err
	}
	return ParseBootParam5(string(out))
}

// BootDeviceOverrideGet reads boot parameter 5.
func (d *driver) BootDeviceOverrideGet(ctx context.Context) (bmc.BootDeviceOverride, error) {
	bp, err := d.bootParam(ctx)
	if err != nil {
		return bmc.BootDeviceOverride{}, d.fail(err)
	}
	return bmc.BootDeviceOverride{Device: bmc.BootDeviceType(bp.Device), IsPersistent: bp.Persistent, IsEFIBoot: bp.EFI}, nil
}

// UserRead lists the named users of the LAN channel as maps with the keys
// ID, Name, Enabled and Privilege.
func (d *driver) UserRead(ctx context.Context) ([]map[string]string, error) {
	out, err := d.run.run(ctx, "channel", "getaccess", strconv.Itoa(LANChannel))
	if err != nil {
		return nil, d.fail(err)
	}
	users, err := ParseChannelAccess(string(out))
	if err != nil {
		return nil, d.fail(err)
	}
	maps := make([]map[string]string, 0, len(users))
	for _, u := range users {
		maps = append(maps, map[string]string{
			"ID": strconv.Itoa(u.ID), "Name": u.Name,
			"Enabled": strconv.FormatBool(u.Enabled), "Privilege": u.Privilege,
		})
	}
	return maps, nil
}

func usersFromMaps(maps []map[string]string) []User {
	users := make([]User, 0, len(maps))
	for _, m := range maps {
		id, _ := strconv.Atoi(m["ID"])
		users = append(users, User{ID: id, Name: m["Name"], Enabled: strings.EqualFold(m["Enabled"], "true"), Privilege: m["Privilege"]})
	}
	return users
}

// featureBootDeviceOverrideGet is not among bmclib's declared features.
const featureBootDeviceOverrideGet registrar.Feature = "bootdeviceoverrideget"
