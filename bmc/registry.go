package bmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Driver is what one BMC protocol offers: the union of what the layers,
// status, `rackctl ipmi` and rotate use. Callers keep depending on their
// own small interfaces; Driver is the contract a protocol registers under.
// An operation a protocol lacks returns an error matching ErrNotSupported
// (or ErrNoSerialConsole for SOL).
type Driver interface {
	PowerState(ctx context.Context, t Target) (string, error)
	SetPower(ctx context.Context, t Target, action string) error
	BootDevice(ctx context.Context, t Target) (BootParam, error)
	SetBootDevice(ctx context.Context, t Target, device string, persistent, efi bool) error

	Users(ctx context.Context, t Target) ([]User, error)
	AccountSlots(ctx context.Context, t Target) (first, last int, err error)
	WriteAccount(ctx context.Context, t Target, slot int, creds Credentials) (int, error)
	EnableAccount(ctx context.Context, t Target, slot int) error
	EnableUser(ctx context.Context, t Target, slot int) error
	DisableUser(ctx context.Context, t Target, slot int) error
	DeleteAccount(ctx context.Context, t Target, slot int) error
	TestLogin(ctx context.Context, t Target, creds Credentials) error

	Inventory(ctx context.Context, t Target) (Inventory, error)
	Diag(ctx context.Context, t Target) DiagReport
	SOL(ctx context.Context, t Target, stdin io.Reader, stdout io.Writer) error
	DHCPRenew(ctx context.Context, t Target) error
	LANAddressSource(ctx context.Context, t Target) (string, error)

	Config() Config
	// Close ends the sessions a driver keeps (Redfish; IPMI with
	// Config.KeepSessions).
	Close() error
}

// Constructor builds a protocol's driver.
type Constructor func(Config) (Driver, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Constructor{
		ProtocolIPMI:    func(c Config) (Driver, error) { return New(c) },
		ProtocolRedfish: func(c Config) (Driver, error) { return NewRedfish(c) },
	}
)

// Register makes a protocol's driver available to Open and Drivers. It
// replaces an earlier registration of the same name (tests use that to
// put in a fake).
func Register(protocol string, ctor Constructor) {
	regMu.Lock()
	defer regMu.Unlock()
	registry[protocol] = ctor
}

// Protocols lists the registered protocols, sorted.
func Protocols() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return slices.Sorted(maps.Keys(registry))
}

// Open builds the driver of protocol ("" is IPMI).
func Open(protocol string, cfg Config) (Driver, error) {
	if protocol == "" {
		protocol = ProtocolIPMI
	}
	regMu.RLock()
	ctor, ok := registry[protocol]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("bmc: unknown protocol %q (registered: %v)", protocol, Protocols())
	}
	return ctor(cfg)
}

// Drivers is a Driver for a rack mixing protocols: each call goes to the
// driver of the target's Protocol, built from the registry on first use
// (a rack of Redfish BMCs never needs ipmitool).
type Drivers struct {
	cfg Config
	mu  sync.Mutex
	drv map[string]Driver
}

var (
	_ Driver = (*Drivers)(nil)
	_ Driver = (*Client)(nil)
)

// NewDrivers returns a Drivers sharing cfg across protocols.
func NewDrivers(cfg Config) *Drivers {
	return &Drivers{cfg: withDefaults(cfg), drv: map[string]Driver{}}
}

// For returns the driver of protocol, building it on first use.
func (d *Drivers) For(protocol string) (Driver, error) {
	if protocol == "" {
		protocol = ProtocolIPMI
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if drv, ok := d.drv[protocol]; ok {
		return drv, nil
	}
	drv, err := Open(protocol, d.cfg)
	if err != nil {
		return nil, err
	}
	d.drv[protocol] = drv
	return drv, nil
}

func (d *Drivers) of(t Target, action string) (Driver, error) {
	drv, err := d.For(t.Protocol)
	if err != nil {
		return nil, wrap(t.Node, action, err)
	}
	return drv, nil
}

// Config returns the shared configuration.
func (d *Drivers) Config() Config { return d.cfg }

// Close closes every driver built.
func (d *Drivers) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, drv := range d.drv {
		errs = append(errs, drv.Close())
	}
	return errors.Join(errs...)
}

func (d *Drivers) PowerState(ctx context.Context, t Target) (string, error) {
	drv, err := d.of(t, "power status")
	if err != nil {
		return "", err
	}
	return drv.PowerState(ctx, t)
}

func (d *Drivers) SetPower(ctx context.Context, t Target, action string) error {
	drv, err := d.of(t, "set power")
	if err != nil {
		return err
	}
	return drv.SetPower(ctx, t, action)
}

func (d *Drivers) BootDevice(ctx context.Context, t Target) (BootParam, error) {
	drv, err := d.of(t, "get boot device")
	if err != nil {
		return BootParam{}, err
	}
	return drv.BootDevice(ctx, t)
}

func (d *Drivers) SetBootDevice(ctx context.Context, t Target, device string, persistent, efi bool) error {
	drv, err := d.of(t, "set boot device")
	if err != nil {
		return err
	}
	return drv.SetBootDevice(ctx, t, device, persistent, efi)
}

func (d *Drivers) Users(ctx context.Context, t Target) ([]User, error) {
	drv, err := d.of(t, "read users")
	if err != nil {
		return nil, err
	}
	return drv.Users(ctx, t)
}

func (d *Drivers) AccountSlots(ctx context.Context, t Target) (int, int, error) {
	drv, err := d.of(t, "read account slots")
	if err != nil {
		return 0, 0, err
	}
	return drv.AccountSlots(ctx, t)
}

func (d *Drivers) WriteAccount(ctx context.Context, t Target, slot int, creds Credentials) (int, error) {
	drv, err := d.of(t, "write account")
	if err != nil {
		return 0, err
	}
	return drv.WriteAccount(ctx, t, slot, creds)
}

func (d *Drivers) EnableAccount(ctx context.Context, t Target, slot int) error {
	drv, err := d.of(t, "enable account")
	if err != nil {
		return err
	}
	return drv.EnableAccount(ctx, t, slot)
}

func (d *Drivers) EnableUser(ctx context.Context, t Target, slot int) error {
	drv, err := d.of(t, "enable user")
	if err != nil {
		return err
	}
	return drv.EnableUser(ctx, t, slot)
}

func (d *Drivers) DisableUser(ctx context.Context, t Target, slot int) error {
	drv, err := d.of(t, "disable user")
	if err != nil {
		return err
	}
	return drv.DisableUser(ctx, t, slot)
}

func (d *Drivers) DeleteAccount(ctx context.Context, t Target, slot int) error {
	drv, err := d.of(t, "delete account")
	if err != nil {
		return err
	}
	return drv.DeleteAccount(ctx, t, slot)
}

func (d *Drivers) TestLogin(ctx context.Context, t Target, creds Credentials) error {
	drv, err := d.of(t, "test login")
	if err != nil {
		return err
	}
	return drv.TestLogin(ctx, t, creds)
}

func (d *Drivers) Inventory(ctx context.Context, t Target) (Inventory, error) {
	drv, err := d.of(t, "inventory")
	if err != nil {
		return Inventory{}, err
	}
	return drv.Inventory(ctx, t)
}

func (d *Drivers) Diag(ctx context.Context, t Target) DiagReport {
	drv, err := d.of(t, "diag")
	if err != nil {
		return DiagReport{Err: err}
	}
	return drv.Diag(ctx, t)
}

func (d *Drivers) SOL(ctx context.Context, t Target, stdin io.Reader, stdout io.Writer) error {
	drv, err := d.of(t, "sol")
	if err != nil {
		return err
	}
	return drv.SOL(ctx, t, stdin, stdout)
}

func (d *Drivers) DHCPRenew(ctx context.Context, t Target) error {
	drv, err := d.of(t, "lan set ipsrc dhcp")
	if err != nil {
		return err
	}
	return drv.DHCPRenew(ctx, t)
}

func (d *Drivers) LANAddressSource(ctx context.Context, t Target) (string, error) {
	drv, err := d.of(t, "lan print")
	if err != nil {
		return "", err
	}
	return drv.LANAddressSource(ctx, t)
}

// Exec runs a raw ipmitool command on an IPMI target; other protocols
// have no such passthrough.
func (d *Drivers) Exec(ctx context.Context, t Target, args ...string) ([]byte, error) {
	drv, err := d.of(t, "ipmitool")
	if err != nil {
		return nil, err
	}
	c, ok := drv.(*Client)
	if !ok {
		return nil, wrap(t.Node, "ipmitool "+strings.Join(args, " "), fmt.Errorf("%w: raw ipmitool commands need an IPMI BMC (this one speaks %s)", ErrNotSupported, t.Protocol))
	}
	return c.Exec(ctx, t, args...)
}
