package dhcp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/rackctl/rackctl/internal/macaddr"
)

// Kind says what Drift found.
type Kind int

const (
	// WrongIP: the MAC holds an active lease on another IP than its reservation.
	WrongIP Kind = iota + 1
	// IPTaken: the reserved IP is leased to a different MAC, for example a
	// replaced server's old NIC. dnsmasq will not hand the IP to the
	// reserved MAC until that lease is released or expires.
	IPTaken
	// NoLease: the reservation has no active lease. Informational: the
	// host may be off or not yet provisioned.
	NoLease
)

func (k Kind) String() string {
	switch k {
	case WrongIP:
		return "wrong-ip"
	case IPTaken:
		return "ip-taken"
	case NoLease:
		return "no-lease"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Info reports whether the finding needs no action.
func (k Kind) Info() bool { return k == NoLease }

// Fix is a suggested remedy. Drift only suggests; which fixes run is the
// caller's policy.
type Fix int

const (
	// Release the stale lease with dhcp_release (Server.Release).
	Release Fix = iota + 1
	// BMCRenew makes the BMC request its address again (IPMI LAN
	// configuration: set DHCP source again, or a BMC cold reset).
	BMCRenew
	// PowerCycle makes the server boot and send a fresh DHCP request.
	PowerCycle
)

func (f Fix) String() string {
	switch f {
	case Release:
		return "release-lease"
	case BMCRenew:
		return "bmc-dhcp-renew"
	case PowerCycle:
		return "power-cycle"
	}
	return fmt.Sprintf("Fix(%d)", int(f))
}

// Finding is one difference between the reservations and the leases.
type Finding struct {
	Kind Kind
	MAC  string // the reservation's MAC
	Host string // the reservation's host name
	BMC  bool   // the reservation is a BMC's
	// LeaseIP is the address actually leased: the MAC's own lease for
	// WrongIP, the reserved IP for IPTaken, invalid for NoLease.
	LeaseIP netip.Addr
	WantIP  netip.Addr // the reserved address
	// Lease is the lease to act on: the MAC's own (WrongIP) or the other
	// MAC's lease holding the reserved IP (IPTaken); zero for NoLease.
	Lease Lease
	// Fixes are the suggested remedies, in the order to apply them; empty
	// for informational findings.
	Fixes []Fix
}

func (f Finding) String() string {
	name := f.Host
	if name == "" {
		name = f.MAC
	}
	switch f.Kind {
	case WrongIP:
		return fmt.Sprintf("%s (%s) holds a lease on %s, reserved %s", name, f.MAC, f.LeaseIP, f.WantIP)
	case IPTaken:
		return fmt.Sprintf("%s (%s): reserved %s is leased to %s", name, f.MAC, f.WantIP, f.Lease.MAC)
	case NoLease:
		return fmt.Sprintf("%s (%s): no active lease for reserved %s", name, f.MAC, f.WantIP)
	}
	return fmt.Sprintf("%s (%s): %s", name, f.MAC, f.Kind)
}

// Drift compares reservations with the leases active at now. For each
// reservation, in order, it reports WrongIP when the MAC holds an active
// lease on another address, IPTaken when the reserved address is actively
// leased to another MAC, and NoLease (informational) when neither applies
// and the MAC has no active lease. Leases on unreserved addresses by
// unreserved MACs (the dynamic range) are not findings. MACs are compared
// in canonical form.
func Drift(reservations []Reservation, leases []Lease, now time.Time) []Finding {
	byMAC := map[string][]Lease{}
	byIP := map[netip.Addr][]Lease{}
	for _, l := range leases {
		if !l.Active(now) {
			continue
		}
		l.MAC = macaddr.Canon(l.MAC)
		byMAC[l.MAC] = append(byMAC[l.MAC], l)
		byIP[l.IP] = append(byIP[l.IP], l)
	}
	renew := func(r Reservation) Fix {
		if r.BMC {
			return BMCRenew
		}
		return PowerCycle
	}
	var out []Finding
	for _, r := range reservations {
		mac := macaddr.Canon(r.MAC)
		base := Finding{MAC: mac, Host: r.Host, BMC: r.BMC, WantIP: r.IP}
		found := false
		for _, l := range byMAC[mac] {
			if l.IP == r.IP {
				found = true
				continue
			}
			f := base
			f.Kind, f.LeaseIP, f.Lease = WrongIP, l.IP, l
			f.Fixes = []Fix{Release, renew(r)}
			out = append(out, f)
			found = true
		}
		for _, l := range byIP[r.IP] {
			if l.MAC == mac {
				continue
			}
			f := base
			f.Kind, f.LeaseIP, f.Lease = IPTaken, l.IP, l
			f.Fixes = []Fix{Release}
			out = append(out, f)
			found = true
		}
		if !found {
			f := base
			f.Kind = NoLease
			out = append(out, f)
		}
	}
	return out
}
