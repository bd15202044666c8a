package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/internal/macaddr"
)

// LeaseStatus is a node's DHCP lease as dnsmasq's lease file has it, by
// the node's primary MAC.
type LeaseStatus struct {
	State string `json:"state"` // leased | none | unknown
	IP    string `json:"ip,omitempty"`
	MAC   string `json:"mac,omitempty"`
	// Expiry is when the lease ends; zero with State leased: it never does.
	Expiry time.Time `json:"expiry,omitzero"`
	// Reason says why State is none or unknown.
	Reason string `json:"reason,omitempty"`
}

// BootStatus is the boot device override the node's BMC reports (IPMI
// boot parameter 5, Redfish BootSourceOverrideTarget).
type BootStatus struct {
	State      string `json:"state"` // read | unknown
	Device     string `json:"device,omitempty"`
	Persistent bool   `json:"persistent,omitempty"`
	EFI        bool   `json:"efi,omitempty"`
	Reason     string `json:"reason,omitempty"` // why unknown
}

// Lease and boot states.
const (
	LeaseLeased  = "leased"
	LeaseNone    = "none"
	BootRead     = "read"
	stateUnknown = "unknown"
)

// bmcRead is what status reads of one BMC: its power, then over the same
// session its boot device (a failed boot read leaves the power read).
type bmcRead struct {
	power   string
	boot    bmc.BootParam
	bootErr error
}

// readBMCs reads every target's power, and with boot its boot device, in
// parallel (a dead BMC costs one timeout, its boot device is not asked
// for). Without boot the boot map is nil.
func (e *Engine) readBMCs(ctx context.Context, client BMCClient, targets []bmc.Target, boot bool) (map[string]bmc.Result[string], map[string]bmc.Result[bmc.BootParam]) {
	if !boot {
		return bmc.ForEach(ctx, e.cfg.Parallel, targets, client.PowerState), nil
	}
	reads := bmc.ForEach(ctx, e.cfg.Parallel, targets, func(ctx context.Context, t bmc.Target) (bmcRead, error) {
		p, err := client.PowerState(ctx, t)
		if err != nil {
			return bmcRead{}, err
		}
		b, err := client.BootDevice(ctx, t)
		return bmcRead{power: p, boot: b, bootErr: err}, nil
	})
	power := make(map[string]bmc.Result[string], len(reads))
	boots := make(map[string]bmc.Result[bmc.BootParam], len(reads))
	for name, r := range reads {
		power[name] = bmc.Result[string]{Value: r.Value.power, Err: r.Err, Elapsed: r.Elapsed}
		if r.Err == nil {
			boots[name] = bmc.Result[bmc.BootParam]{Value: r.Value.boot, Err: r.Value.bootErr}
		}
	}
	return power, boots
}

// bootNotRead is the reason of a boot device Status was not asked to read.
const bootNotRead = "not read: rackctl status reads it with --full (the web view's observation always does)"

// bootOf is node's boot device as read, or why it is unknown.
func bootOf(boot map[string]bmc.Result[bmc.BootParam], node, bmcErr string) BootStatus {
	r, read := boot[node]
	switch {
	case boot == nil:
		return BootStatus{State: stateUnknown, Reason: bootNotRead}
	case !read:
		return BootStatus{State: stateUnknown, Reason: "BMC not reached: " + bmcErr}
	case r.Err != nil:
		return BootStatus{State: stateUnknown, Reason: r.Err.Error()}
	}
	return BootStatus{State: BootRead, Device: r.Value.Device, Persistent: r.Value.Persistent, EFI: r.Value.EFI}
}

// leaseObservation is dnsmasq's lease file as status read it, or why it
// could not.
type leaseObservation struct {
	leases []dhcp.Lease
	err    error
	at     time.Time
}

// observeLeases reads the lease file the DHCP layer reads (--dnsmasq-leases
// beneath --root).
func (e *Engine) observeLeases() leaseObservation {
	d := e.cfg.Drivers
	switch {
	case d.DHCP == "none":
		return leaseObservation{err: errors.New("dhcp layer off (--dhcp=none): the lease file is not read")}
	case d.Leases == "":
		return leaseObservation{err: errors.New("no lease file configured (--dnsmasq-leases)")}
	}
	ls, err := dhcp.ReadLeases(e.HostPath(d.Leases))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = fmt.Errorf("no lease file %s (dnsmasq has not written one there: check --dnsmasq-leases)", d.Leases)
	case err != nil:
		err = fmt.Errorf("lease file %s: %w", d.Leases, err)
	}
	return leaseObservation{leases: ls, err: err, at: time.Now()}
}

// of is the lease of the node with primary MAC mac: the active one that
// lasts longest.
func (o leaseObservation) of(mac string) LeaseStatus {
	if o.err != nil {
		return LeaseStatus{State: stateUnknown, Reason: o.err.Error()}
	}
	want := macaddr.Canon(mac)
	var best *dhcp.Lease
	expired := 0
	for i := range o.leases {
		l := &o.leases[i]
		switch {
		case macaddr.Canon(l.MAC) != want:
		case !l.Active(o.at):
			expired++
		case best == nil || l.Infinite() || (!best.Infinite() && l.Expiry.After(best.Expiry)):
			best = l
		}
	}
	if best == nil {
		why := "no lease for " + mac
		if expired > 0 {
			why += fmt.Sprintf(" (%d expired)", expired)
		}
		return LeaseStatus{State: LeaseNone, MAC: mac, Reason: why}
	}
	return LeaseStatus{State: LeaseLeased, IP: best.IP.String(), MAC: best.MAC, Expiry: best.Expiry}
}
