package schema

import (
	"fmt"
	"net/netip"
	"strconv"

	"cuelang.org/go/cue/ast"

	"github.com/rackctl/rackctl/internal/macaddr"
)

// check runs the rules CUE expresses poorly: uniqueness across nodes,
// addresses inside the internal subnet and not colliding, and at least one
// lokomotive controller, the rollout's canary. It reads the values straight from the document, so
// it runs even when CUE found errors; a value CUE rejected (not a MAC, not
// an IP) is skipped here.
func check(ix *index) {
	nodes := nodePaths(ix)
	checkUnique(ix, nodes)
	checkRackUnits(ix, nodes)
	checkNetwork(ix, nodes)
	checkControllers(ix, nodes)
	checkMaintenance(ix, nodes)
	checkInput(ix, nodes)
	checkRollout(ix, nodes)
}

func nodePaths(ix *index) []string {
	var out []string
	for i := 0; ; i++ {
		p := joinIndex("nodes", i)
		if _, ok := ix.entries[p]; !ok {
			return out
		}
		out = append(out, p)
	}
}

func (ix *index) line(path string) int { return ix.pos(path).Line() }

// checkUnique: node names, and MACs across mac, bmcMac and secondaryMac of
// all nodes (compared in normalized form).
func checkUnique(ix *index, nodes []string) {
	names := map[string]string{}
	macs := map[string]string{}
	for _, n := range nodes {
		p := n + ".name"
		if name, ok := ix.str(p); ok {
			if first, dup := names[name]; dup {
				ix.addAt(p, fmt.Sprintf("duplicate name %q (also %s, line %d)", name, first, ix.line(first)))
			} else {
				names[name] = p
			}
		}
		for _, f := range []string{"mac", "bmcMac", "secondaryMac"} {
			p := n + "." + f
			s, ok := ix.str(p)
			if !ok {
				continue
			}
			hw, err := macaddr.Parse(s)
			if err != nil {
				continue
			}
			key := hw.String()
			if first, dup := macs[key]; dup {
				ix.addAt(p, fmt.Sprintf("MAC %s is already used by %s (line %d)", key, first, ix.line(first)))
			} else {
				macs[key] = p
			}
		}
	}
}

// checkRackUnits: two servers cannot sit in the same unit.
func checkRackUnits(ix *index, nodes []string) {
	units := map[int]string{}
	for _, n := range nodes {
		p := n + ".rackUnit"
		u, ok := ix.intLit(p)
		if !ok {
			continue
		}
		if first, dup := units[u]; dup {
			ix.addAt(p, fmt.Sprintf("rack unit %d is already used by %s (line %d)", u, parent(first), ix.line(first)))
		} else {
			units[u] = p
		}
	}
}

// checkNetwork: the subnet is a network address of a usable size; gateway,
// DNS servers, the dynamic range and the pinned ip/bmcIP of every node are
// inside it; pinned addresses collide with nothing (each other, gateway,
// DNS, network/broadcast address, dynamic range); public IPs are unique.
func checkNetwork(ix *index, nodes []string) {
	checkPublic(ix, nodes)
	sn, ok := internalSubnet(ix)
	if !ok {
		return
	}
	used, holders := sn.gatewayAndDNS()
	r := sn.dynamicRange()
	for _, p := range holders {
		if a, ok := sn.inside(p); ok && r.contains(a) {
			if r.explicit {
				ix.addAt(dynamicRangePath, fmt.Sprintf("%s-%s contains %s (%s)", r.lo, r.hi, a, p))
			} else {
				ix.addAt(p, r.msg(a))
			}
		}
	}
	for _, n := range nodes {
		for _, f := range []string{"ip", "bmcIP"} {
			p := n + "." + f
			a, ok := sn.inside(p)
			if !ok {
				continue
			}
			if first, taken := used[a]; taken {
				ix.addAt(p, fmt.Sprintf("%s is already used by %s (line %d)", a, first, ix.line(first)))
				continue
			}
			used[a] = p
			if r.contains(a) {
				ix.addAt(p, r.msg(a))
			}
		}
	}
}

const dynamicRangePath = "network.internal.dynamicRange"

// subnetCheck is the internal subnet the other addresses are checked
// against.
type subnetCheck struct {
	ix             *index
	pfx            netip.Prefix
	netAddr, bcast netip.Addr
}

// internalSubnet checks network.internal.subnet is a network address of a
// usable size; ok is false when there is no IPv4 subnet to check against
// (the schema reports why).
func internalSubnet(ix *index) (_ *subnetCheck, ok bool) {
	const sp = "network.internal.subnet"
	s, ok := ix.str(sp)
	if !ok {
		return nil, false
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil || !pfx.Addr().Is4() {
		return nil, false
	}
	if pfx != pfx.Masked() {
		ix.addAt(sp, fmt.Sprintf("%q has host bits set (want %s)", s, pfx.Masked()))
		pfx = pfx.Masked()
	}
	if pfx.Bits() > 29 {
		ix.addAt(sp, fmt.Sprintf("%q is too small for a rack (want /29 or larger)", s))
	}
	netAddr := pfx.Addr()
	bcast := v4(uint64(addrU32(netAddr)) + (uint64(1) << (32 - pfx.Bits())) - 1)
	return &subnetCheck{ix: ix, pfx: pfx, netAddr: netAddr, bcast: bcast}, true
}

// inside parses the address at path and checks it is a host address of
// the subnet.
func (sn *subnetCheck) inside(path string) (netip.Addr, bool) {
	s, ok := sn.ix.str(path)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	pfx := sn.pfx
	switch {
	case !pfx.Contains(a):
		sn.ix.addAt(path, fmt.Sprintf("%s is outside the internal subnet %s", a, pfx))
	case a == sn.netAddr && pfx.Bits() < 31:
		sn.ix.addAt(path, fmt.Sprintf("%s is the network address of %s", a, pfx))
	case a == sn.bcast && pfx.Bits() < 31:
		sn.ix.addAt(path, fmt.Sprintf("%s is the broadcast address of %s", a, pfx))
	default:
		return a, true
	}
	return netip.Addr{}, false
}

// gatewayAndDNS checks the gateway and DNS servers are in the subnet. It
// returns the addresses they hold (address → path) and their paths.
func (sn *subnetCheck) gatewayAndDNS() (used map[netip.Addr]string, paths []string) {
	used = map[netip.Addr]string{}
	const gp = "network.internal.gateway"
	if gw, ok := sn.inside(gp); ok {
		used[gw] = gp
	}
	paths = []string{gp}
	for i := 0; ; i++ {
		p := joinIndex("network.internal.dns", i)
		if _, ok := sn.ix.entries[p]; !ok {
			break
		}
		if a, ok := sn.inside(p); ok {
			if _, taken := used[a]; !taken {
				used[a] = p
			}
			paths = append(paths, p)
		}
	}
	return used, paths
}

// dynRange is the DHCP dynamic range pinned addresses must stay out of.
type dynRange struct {
	lo, hi   netip.Addr // invalid: no range
	explicit bool       // set in the spec, not the default
}

// dynamicRange is the explicit range, checked, or the default one.
func (sn *subnetCheck) dynamicRange() dynRange {
	rp := dynamicRangePath
	if _, ok := sn.ix.entries[rp]; !ok {
		start, end, ok := DefaultDynamicRange(sn.pfx)
		if !ok {
			return dynRange{}
		}
		return dynRange{lo: start, hi: end}
	}
	start, ok1 := sn.inside(rp + ".start")
	end, ok2 := sn.inside(rp + ".end")
	if !ok1 || !ok2 {
		return dynRange{}
	}
	if end.Less(start) {
		sn.ix.addAt(rp+".end", fmt.Sprintf("%s is before the start %s", end, start))
		return dynRange{}
	}
	return dynRange{lo: start, hi: end, explicit: true}
}

func (r dynRange) contains(a netip.Addr) bool {
	return r.lo.IsValid() && !a.Less(r.lo) && !r.hi.Less(a)
}

// msg says a is inside the range and what to do.
func (r dynRange) msg(a netip.Addr) string {
	if r.explicit {
		return fmt.Sprintf("%s is inside the dynamic range %s-%s (network.internal.dynamicRange)", a, r.lo, r.hi)
	}
	return fmt.Sprintf("%s is inside the default dynamic range %s-%s; use another address or set network.internal.dynamicRange", a, r.lo, r.hi)
}

// checkPublic: every publicIP is a host address, and no two nodes share one.
func checkPublic(ix *index, nodes []string) {
	used := map[netip.Addr]string{}
	for _, n := range nodes {
		p := n + ".publicIP"
		s, ok := ix.str(p)
		if !ok {
			continue
		}
		if _, ok := ix.entries[n+".secondaryMac"]; !ok {
			ix.addAt(p, "needs secondaryMac: the public address is configured on the secondary NIC")
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil || !pfx.Addr().Is4() {
			continue
		}
		a := pfx.Addr()
		if pfx.Bits() < 31 && a == pfx.Masked().Addr() {
			ix.addAt(p, fmt.Sprintf("%q is a network address, not a host address", s))
			continue
		}
		if first, taken := used[a]; taken {
			ix.addAt(p, fmt.Sprintf("%s is already used by %s (line %d)", a, first, ix.line(first)))
			continue
		}
		used[a] = p
	}
}

// checkMaintenance: exclude takes a node out of the provisioner (its flag
// file deleted), maintenance keeps it there untouched; both at once would
// ask for a change and for none.
func checkMaintenance(ix *index, nodes []string) {
	for _, n := range nodes {
		if ix.isTrue(n+".maintenance") && ix.isTrue(n+".exclude") {
			ix.addAt(n+".maintenance", "maintenance and exclude cannot both be true: exclude removes the node from the provisioner, maintenance leaves it there unchanged; set one")
		}
	}
}

// checkControllers: a lokomotive rack needs a controller that is not
// excluded. An empty node list is allowed for flatcar (a rack being set
// up), so it is an error for lokomotive only, by this rule.
func checkControllers(ix *index, nodes []string) {
	if prov, _ := ix.str("provisioner"); prov != string(Lokomotive) {
		return
	}
	if e, ok := ix.entries["nodes"]; !ok {
		return
	} else if _, list := e.expr.(*ast.ListLit); !list {
		return
	}
	for _, n := range nodes {
		if role, _ := ix.str(n + ".role"); role == RoleController && !ix.isTrue(n+".exclude") {
			return
		}
	}
	ix.addAt("nodes", "lokomotive needs at least one controller (a node with role: controller that is not excluded); "+strconv.Itoa(len(nodes))+" nodes given")
}
