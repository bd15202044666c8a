// Package ipam assigns internal IPs to every node's primary NIC and BMC once
// and keeps them: an address never moves while its MAC (or, for a replaced
// server, its node name) stays in the spec. This fixes Racker's positional
// allocation, which reshuffled IPs whenever nodes.csv changed.
package ipam

import "net/netip"

// NIC names the interface of a node an address belongs to.
type NIC string

const (
	Primary NIC = "primary"
	BMC     NIC = "bmc"
)

// Addrs are the internal addresses of one node.
type Addrs struct {
	Primary netip.Addr `json:"primary"`
	BMC     netip.Addr `json:"bmc"`
}

// Entry is one persisted assignment.
type Entry struct {
	Node string     `json:"node"`
	NIC  NIC        `json:"nic"`
	MAC  string     `json:"mac"`
	IP   netip.Addr `json:"ip"`
}

// State is the allocation a rack keeps between plans; the state package
// persists it as allocation.json. ipam itself does no I/O.
type State struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}
