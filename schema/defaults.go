package schema

import (
	"encoding/binary"
	"net/netip"
)

// DefaultKernelConsole is install.kernelConsole when omitted: Racker's
// serial console settings.
var DefaultKernelConsole = []string{"console=ttyS1,57600n8", "earlyprintk=serial,ttyS1,57600n8"}

// DefaultClusterName is the cluster name of a lokomotive rack that sets none.
const DefaultClusterName = "lokomotive"

// applyDefaults fills the defaults that derive from other fields (the
// constant ones come from rack.cue). r has been validated.
func applyDefaults(r *Rack) {
	if r.Rollout != nil {
		r.Rollout.applyDefaults()
	}
	if r.Cluster.Name == "" {
		r.Cluster.Name = r.Name
		if r.Provisioner == Lokomotive {
			r.Cluster.Name = DefaultClusterName
		}
	}
	if r.Cluster.APIServerName == "" {
		r.Cluster.APIServerName = r.Cluster.Name
		if r.Domain != "" {
			r.Cluster.APIServerName += "." + r.Domain
		}
	}
	gw := r.Network.Internal.Gateway
	if r.Matchbox.HTTPEndpoint == "" {
		r.Matchbox.HTTPEndpoint = "http://" + gw + ":8080"
	}
	if r.Matchbox.RPCEndpoint == "" {
		r.Matchbox.RPCEndpoint = gw + ":8081"
	}
	if r.Network.Internal.DynamicRange.Start == "" {
		if p, err := netip.ParsePrefix(r.Network.Internal.Subnet); err == nil {
			if start, end, ok := DefaultDynamicRange(p); ok {
				r.Network.Internal.DynamicRange = IPRange{Start: start.String(), End: end.String()}
			}
		}
	}
	if r.Network.Internal.DNS == nil {
		r.Network.Internal.DNS = []string{}
	}
	if r.Network.Public != nil && r.Network.Public.DNS == nil {
		r.Network.Public.DNS = []string{}
	}
	if r.Cluster.SSHPubKeys == nil {
		r.Cluster.SSHPubKeys = []string{}
	}
	if r.Cluster.Components == nil {
		r.Cluster.Components = map[string]Component{}
	}
	for name, c := range r.Cluster.Components {
		if c == nil {
			r.Cluster.Components[name] = Component{}
		}
	}
	if r.Install.KernelConsole == nil {
		// Omitted; an explicit [] decodes to an empty, non-nil list.
		r.Install.KernelConsole = append([]string(nil), DefaultKernelConsole...)
	}
	if r.Nodes == nil {
		r.Nodes = []Node{}
	}
	for i := range r.Nodes {
		if r.Nodes[i].Labels == nil {
			r.Nodes[i].Labels = map[string]string{}
		}
	}
}

// DefaultDynamicRange is the dynamic DHCP pool of an internal subnet that
// sets no network.internal.dynamicRange: the top 55/256 of the subnet, from
// offset size·200/256 up to the address before broadcast — .200–.254 in a
// /24, .100–.126 in a /25, .6 alone in a /29. Larger subnets than /20 use
// the same rule on their last /20 (x.y.252.128–x.y.255.254 in a /16), so
// the pool stays below 900 addresses. Static allocation uses the rest.
// ok is false for a subnet smaller than /29 or not IPv4.
func DefaultDynamicRange(p netip.Prefix) (start, end netip.Addr, ok bool) {
	p = p.Masked()
	if !p.Addr().Is4() || p.Bits() > 29 {
		return netip.Addr{}, netip.Addr{}, false
	}
	size := uint64(1) << (32 - p.Bits())
	a := p.Addr().As4()
	base := uint64(binary.BigEndian.Uint32(a[:]))
	bcast := base + size - 1
	const window = 4096 // a /20
	if size > window {
		base, size = bcast+1-window, window
	}
	return v4(base + size*200/256), v4(bcast - 1), true
}

func v4(u uint64) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(u))
	return netip.AddrFrom4(b)
}

// addrU32 is the address as a number, for range checks.
func addrU32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}
