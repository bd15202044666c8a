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
// lokomotive controller. It reads the values straight from the document, so
// it runs even when CUE found errors; a value CUE rejected (not a MAC, not
// an IP) is skipped here.
func check(ix *index) {
	nodes := nodePaths(ix)
	checkUnique(ix, nodes)
	checkNetwork(ix, nodes)
	checkControllers(ix, nodes)
	checkInput(ix, nodes)
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

// checkNetwork: the subnet is a network address of a usable size; gateway,
// DNS servers, the dynamic range and the pinned ip/bmcIP of every node are
// inside it; pinned addresses collide with nothing (each other, gateway,
// DNS, network/broadcast address, dynamic range); public IPs are unique.
func checkNetwork(ix *index, nodes []string) {
	checkPublic(ix, nodes)

	const sp = "network.internal.subnet"
	s, ok := ix.str(sp)
	if !ok {
		return
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil || !pfx.Addr().Is4() {
		return
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

	// inside parses the address at path and checks it is a host address of
	// the subnet.
	inside := func(path string) (netip.Addr, bool) {
		s, ok := ix.str(path)
		if !ok {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.Addr{}, false
		}
		switch {
		case !pfx.Contains(a):
			ix.addAt(path, fmt.Sprintf("%s is outside the internal subnet %s", a, pfx))
		case a == netAddr && pfx.Bits() < 31:
			ix.addAt(path, fmt.Sprintf("%s is the network address of %s", a, pfx))
		case a == bcast && pfx.Bits() < 31:
			ix.addAt(path, fmt.Sprintf("%s is the broadcast address of %s", a, pfx))
		default:
			return a, true
		}
		return netip.Addr{}, false
	}

	// used maps an address to the path of what holds it.
	used := map[netip.Addr]string{}
	const gp = "network.internal.gateway"
	gw, gwOK := inside(gp)
	if gwOK {
		used[gw] = gp
	}
	var dns []string
	for i := 0; ; i++ {
		p := joinIndex("network.internal.dns", i)
		if _, ok := ix.entries[p]; !ok {
			break
		}
		if a, ok := inside(p); ok {
			if _, taken := used[a]; !taken {
				used[a] = p
			}
			dns = append(dns, p)
		}
	}

	// The dynamic range: explicit, or the default.
	const rp = "network.internal.dynamicRange"
	var lo, hi netip.Addr
	explicit := false
	if _, ok := ix.entries[rp]; ok {
		start, ok1 := inside(rp + ".start")
		end, ok2 := inside(rp + ".end")
		if ok1 && ok2 {
			if end.Less(start) {
				ix.addAt(rp+".end", fmt.Sprintf("%s is before the start %s", end, start))
			} else {
				lo, hi, explicit = start, end, true
			}
		}
	} else if start, end, ok := DefaultDynamicRange(pfx); ok {
		lo, hi = start, end
	}
	inRange := func(a netip.Addr) bool {
		return lo.IsValid() && !a.Less(lo) && !hi.Less(a)
	}
	rangeMsg := func(a netip.Addr) string {
		if explicit {
			return fmt.Sprintf("%s is inside the dynamic range %s-%s (network.internal.dynamicRange)", a, lo, hi)
		}
		return fmt.Sprintf("%s is inside the default dynamic range %s-%s; use another address or set network.internal.dynamicRange", a, lo, hi)
	}
	for _, p := range append([]string{gp}, dns...) {
		if a, ok := inside(p); ok && inRange(a) {
			if explicit {
				ix.addAt(rp, fmt.Sprintf("%s-%s contains %s (%s)", lo, hi, a, p))
			} else {
				ix.addAt(p, rangeMsg(a))
			}
		}
	}

	for _, n := range nodes {
		for _, f := range []string{"ip", "bmcIP"} {
			p := n + "." + f
			a, ok := inside(p)
			if !ok {
				continue
			}
			if first, taken := used[a]; taken {
				ix.addAt(p, fmt.Sprintf("%s is already used by %s (line %d)", a, first, ix.line(first)))
				continue
			}
			used[a] = p
			if inRange(a) {
				ix.addAt(p, rangeMsg(a))
			}
		}
	}
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
