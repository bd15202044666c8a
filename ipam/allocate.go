package ipam

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/rackctl/rackctl/internal/macaddr"
	"github.com/rackctl/rackctl/schema"
)

// StateVersion is the version of allocation.json this package writes.
const StateVersion = 1

// Reasons a Change is reported for.
const (
	// ReasonNew: the NIC had no address and got the lowest free one.
	ReasonNew = "new"
	// ReasonReleased: neither the entry's MAC nor its node is in the spec any more.
	ReasonReleased = "released"
	// ReasonMACReplaced: the node's NIC has a new MAC (a replaced server); it keeps its IP.
	ReasonMACReplaced = "mac-replaced"
	// ReasonRenamed: the MAC is kept by a node of another name; it keeps its IP.
	ReasonRenamed = "renamed"
	// ReasonMovedByPin: another node pinned this NIC's address, so it moved.
	ReasonMovedByPin = "moved-by-pin"
	// ReasonPinned: the NIC's own pin changed its address.
	ReasonPinned = "pinned"
	// ReasonOutOfPool: the address is no longer allocatable (subnet, gateway,
	// DNS or dynamic range changed), so the NIC moved.
	ReasonOutOfPool = "moved-out-of-pool"
)

// Change is one difference between the previous and the next State.
type Change struct {
	Node   string     `json:"node"`
	NIC    NIC        `json:"nic"`
	MAC    string     `json:"mac,omitempty"`
	OldMAC string     `json:"oldMac,omitempty"` // set for mac-replaced
	Old    netip.Addr `json:"old,omitzero"`
	New    netip.Addr `json:"new,omitzero"`
	Reason string     `json:"reason"`
}

// String is a one-line human form, e.g. "node-1 bmc 10.0.0.5 -> 10.0.0.9 (moved-by-pin)".
func (c Change) String() string {
	var addr string
	switch {
	case !c.Old.IsValid():
		addr = c.New.String()
	case !c.New.IsValid():
		addr = c.Old.String()
	case c.Old == c.New:
		addr = c.New.String()
	default:
		addr = c.Old.String() + " -> " + c.New.String()
	}
	s := fmt.Sprintf("%s %s %s (%s", c.Node, c.NIC, addr, c.Reason)
	if c.OldMAC != "" {
		s += ": mac " + c.OldMAC + " -> " + c.MAC
	}
	return s + ")"
}

// slot is one NIC of one spec node that needs an address.
type slot struct {
	node   string
	nic    NIC
	mac    string
	pin    netip.Addr
	ip     netip.Addr
	prev   *Entry // the entry the slot took over, if any
	change *Change
}

// pool is the allocatable part of the internal subnet.
type pool struct {
	prefix   netip.Prefix
	first    uint32 // first host address
	last     uint32 // last host address (broadcast excluded)
	dynStart uint32
	dynEnd   uint32
	hasDyn   bool
	reserved map[uint32]bool // gateway, DNS servers
}

func (p *pool) allocatable(a netip.Addr) bool {
	if !a.Is4() || !p.prefix.Contains(a) {
		return false
	}
	u := u32(a)
	if u < p.first || u > p.last || p.reserved[u] {
		return false
	}
	return !(p.hasDyn && u >= p.dynStart && u <= p.dynEnd)
}

// Allocate assigns a primary and a BMC address of the internal subnet to
// every node of rack (excluded ones too), starting from prev. Pinned
// addresses win; otherwise an entry with the same MAC keeps its address,
// then one with the same node and NIC (a replaced server), and only a NIC
// with neither gets the lowest free address — new primaries first, in spec
// order, then new BMCs. No address ever moves unless a pin or a change of the
// pool forces it. Entries whose MAC and node are both gone are released.
func Allocate(rack *schema.Rack, prev State) (next State, addrs map[string]Addrs, changes []Change, err error) {
	p, err := newPool(rack.Network.Internal)
	if err != nil {
		return State{}, nil, nil, err
	}
	slots, err := newSlots(rack, p)
	if err != nil {
		return State{}, nil, nil, err
	}
	used, err := claimPins(slots)
	if err != nil {
		return State{}, nil, nil, err
	}
	entries, claimed := matchPrevious(slots, prev)
	for _, s := range slots {
		keepPrevious(s, p, used)
	}
	if err := handOut(slots, p, used, len(rack.Nodes)); err != nil {
		return State{}, nil, nil, err
	}
	next, addrs = result(slots, len(rack.Nodes))
	return next, addrs, changesOf(slots, len(rack.Nodes), entries, claimed), nil
}

// newSlots makes a slot per NIC, all primaries (spec order) then all
// BMCs, with its canonical MAC and its pin, checked to be allocatable.
func newSlots(rack *schema.Rack, p *pool) ([]*slot, error) {
	slots := make([]*slot, 0, 2*len(rack.Nodes))
	for _, nic := range []NIC{Primary, BMC} {
		for i := range rack.Nodes {
			n := &rack.Nodes[i]
			s := &slot{node: n.Name, nic: nic}
			pin := n.IP
			s.mac = macaddr.Canon(n.MAC)
			if nic == BMC {
				pin = n.BMCIP
				s.mac = macaddr.Canon(n.BMCMAC)
			}
			if pin != "" {
				a, err := netip.ParseAddr(pin)
				if err != nil {
					return nil, fmt.Errorf("ipam: node %s: pinned %s address %q: %w", n.Name, nic, pin, err)
				}
				if !p.allocatable(a) {
					return nil, fmt.Errorf("ipam: node %s: pinned %s address %s is not allocatable in subnet %s (outside it, network/broadcast, gateway, DNS or dynamic range)", n.Name, nic, a, p.prefix)
				}
				s.pin = a
			}
			slots = append(slots, s)
		}
	}
	return slots, nil
}

// claimPins gives pinned slots their addresses first and returns the
// addresses in use; two NICs pinning one address is an error.
func claimPins(slots []*slot) (map[uint32]*slot, error) {
	used := make(map[uint32]*slot, len(slots))
	for _, s := range slots {
		if !s.pin.IsValid() {
			continue
		}
		if o := used[u32(s.pin)]; o != nil {
			return nil, fmt.Errorf("ipam: address %s pinned twice: node %s %s and node %s %s", s.pin, o.node, o.nic, s.node, s.nic)
		}
		s.ip = s.pin
		used[u32(s.pin)] = s
	}
	return used, nil
}

// matchPrevious gives each slot the previous entry it takes over: by MAC
// first (so a swap of MACs between names follows the MACs), then by node
// name and NIC. It returns the entries (MACs canonical) and which were
// taken.
func matchPrevious(slots []*slot, prev State) (entries []Entry, claimed []bool) {
	entries = slices.Clone(prev.Entries)
	claimed = make([]bool, len(entries))
	byMAC := make(map[string]int, len(entries))
	byName := make(map[string]int, len(entries))
	for i := range entries {
		e := &entries[i]
		e.MAC = macaddr.Canon(e.MAC)
		if e.MAC != "" {
			if _, dup := byMAC[string(e.NIC)+"/"+e.MAC]; !dup {
				byMAC[string(e.NIC)+"/"+e.MAC] = i
			}
		}
		if _, dup := byName[string(e.NIC)+"/"+e.Node]; !dup {
			byName[string(e.NIC)+"/"+e.Node] = i
		}
	}
	for _, s := range slots {
		if s.mac == "" {
			continue
		}
		if i, ok := byMAC[string(s.nic)+"/"+s.mac]; ok && !claimed[i] {
			claimed[i] = true
			s.prev = &entries[i]
		}
	}
	for _, s := range slots {
		if s.prev != nil {
			continue
		}
		if i, ok := byName[string(s.nic)+"/"+s.node]; ok && !claimed[i] {
			claimed[i] = true
			s.prev = &entries[i]
		}
	}
	return entries, claimed
}

// keepPrevious keeps a slot's previous address if it is still allocatable
// and not pinned by another NIC, and records why it moves otherwise (or
// that its MAC or node changed).
func keepPrevious(s *slot, p *pool, used map[uint32]*slot) {
	e := s.prev
	if e == nil {
		return
	}
	macNote := func(c *Change) {
		if e.MAC != s.mac {
			c.OldMAC = e.MAC
		}
	}
	if s.pin.IsValid() {
		switch {
		case e.IP != s.pin:
			s.change = &Change{Node: s.node, NIC: s.nic, MAC: s.mac, Old: e.IP, New: s.pin, Reason: ReasonPinned}
			macNote(s.change)
		case e.MAC != s.mac && e.Node == s.node:
			s.change = &Change{Node: s.node, NIC: s.nic, MAC: s.mac, OldMAC: e.MAC, Old: e.IP, New: e.IP, Reason: ReasonMACReplaced}
		case e.Node != s.node:
			s.change = &Change{Node: s.node, NIC: s.nic, MAC: s.mac, Old: e.IP, New: e.IP, Reason: ReasonRenamed}
		}
		return
	}
	switch o := used[u32(e.IP)]; {
	case !p.allocatable(e.IP):
		s.change = &Change{Node: s.node, NIC: s.nic, MAC: s.mac, Old: e.IP, Reason: ReasonOutOfPool}
	case o != nil && o.pin.IsValid():
		s.change = &Change{Node: s.node, NIC: s.nic, MAC: s.mac, Old: e.IP, Reason: ReasonMovedByPin}
	case o != nil:
		// A corrupt state with one address twice: the first keeps it.
		s.change = &Change{Node: s.node, NIC: s.nic, MAC: s.mac, Old: e.IP, Reason: ReasonNew}
	default:
		s.ip = e.IP
		used[u32(e.IP)] = s
		switch {
		case e.MAC != s.mac && e.Node == s.node:
			s.change = &Change{Node: s.node, NIC: s.nic, MAC: s.mac, OldMAC: e.MAC, Old: e.IP, New: e.IP, Reason: ReasonMACReplaced}
		case e.Node != s.node:
			s.change = &Change{Node: s.node, NIC: s.nic, MAC: s.mac, Old: e.IP, New: e.IP, Reason: ReasonRenamed}
		}
		return
	}
	macNote(s.change)
}

// handOut gives the slots still without an address the lowest free ones,
// primaries (spec order) before BMCs.
func handOut(slots []*slot, p *pool, used map[uint32]*slot, nodes int) error {
	cursor := p.first
	need := 0
	for _, s := range slots {
		if !s.ip.IsValid() {
			need++
		}
	}
	got := 0
	for _, s := range slots {
		if s.ip.IsValid() {
			continue
		}
		for cursor <= p.last {
			if p.hasDyn && cursor >= p.dynStart && cursor <= p.dynEnd {
				if p.dynEnd == p.last {
					cursor = p.last + 1 // avoid overflow at the top of the space
					break
				}
				cursor = p.dynEnd + 1
				continue
			}
			if used[cursor] == nil && !p.reserved[cursor] {
				break
			}
			cursor++
		}
		if cursor > p.last || cursor < p.first {
			return fmt.Errorf("ipam: subnet %s exhausted: %d nodes need %d addresses (primary and BMC each), %d of them new, but only %d are free (widen the subnet or shrink the dynamic range)",
				p.prefix, nodes, len(slots), need, got)
		}
		s.ip = ipOf(cursor)
		used[cursor] = s
		got++
		if s.change == nil {
			s.change = &Change{Node: s.node, NIC: s.nic, MAC: s.mac, Reason: ReasonNew}
		}
		s.change.New = s.ip
		cursor++
	}
	return nil
}

// result is the next state and each node's addresses.
func result(slots []*slot, nodes int) (next State, addrs map[string]Addrs) {
	addrs = make(map[string]Addrs, nodes)
	next = State{Version: StateVersion, Entries: make([]Entry, 0, len(slots))}
	for _, s := range slots {
		a := addrs[s.node]
		if s.nic == Primary {
			a.Primary = s.ip
		} else {
			a.BMC = s.ip
		}
		addrs[s.node] = a
		next.Entries = append(next.Entries, Entry{Node: s.node, NIC: s.nic, MAC: s.mac, IP: s.ip})
	}
	SortEntries(next.Entries)
	return next, addrs
}

// changesOf lists the changes in spec order, node by node (primary, then
// BMC), then the releases of entries no slot took, by address.
func changesOf(slots []*slot, nn int, entries []Entry, claimed []bool) (changes []Change) {
	for i := range nn {
		for _, s := range []*slot{slots[i], slots[nn+i]} {
			if s.change != nil {
				changes = append(changes, *s.change)
			}
		}
	}
	var released []Change
	for i, e := range entries {
		if !claimed[i] {
			released = append(released, Change{Node: e.Node, NIC: e.NIC, MAC: e.MAC, Old: e.IP, Reason: ReasonReleased})
		}
	}
	slices.SortFunc(released, func(a, b Change) int { return a.Old.Compare(b.Old) })
	changes = append(changes, released...)
	return changes
}

func newPool(in schema.InternalNetwork) (*pool, error) {
	prefix, err := netip.ParsePrefix(in.Subnet)
	if err != nil {
		return nil, fmt.Errorf("ipam: internal subnet %q: %w", in.Subnet, err)
	}
	prefix = prefix.Masked()
	if !prefix.Addr().Is4() {
		return nil, fmt.Errorf("ipam: internal subnet %s: only IPv4 is supported", prefix)
	}
	if prefix.Bits() > 30 {
		return nil, fmt.Errorf("ipam: internal subnet %s: too small, need at least a /30", prefix)
	}
	base := u32(prefix.Addr())
	size := uint32(1) << (32 - prefix.Bits())
	p := &pool{prefix: prefix, first: base + 1, last: base + size - 2, reserved: map[uint32]bool{}}
	for _, s := range append([]string{in.Gateway}, in.DNS...) {
		if s == "" {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("ipam: internal network address %q: %w", s, err)
		}
		if a.Is4() && prefix.Contains(a) {
			p.reserved[u32(a)] = true
		}
	}
	if in.DynamicRange.Start != "" || in.DynamicRange.End != "" {
		s, err := netip.ParseAddr(in.DynamicRange.Start)
		if err != nil {
			return nil, fmt.Errorf("ipam: dynamic range start %q: %w", in.DynamicRange.Start, err)
		}
		e, err := netip.ParseAddr(in.DynamicRange.End)
		if err != nil {
			return nil, fmt.Errorf("ipam: dynamic range end %q: %w", in.DynamicRange.End, err)
		}
		if !s.Is4() || !e.Is4() || e.Less(s) {
			return nil, fmt.Errorf("ipam: dynamic range %s-%s: not an ascending IPv4 range", s, e)
		}
		p.hasDyn, p.dynStart, p.dynEnd = true, u32(s), u32(e)
	}
	return p, nil
}

// SortEntries puts es in the order allocation.json keeps: by IP, then node
// and NIC, so the file is byte-stable.
func SortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return cmp.Compare(a.NIC, b.NIC)
	})
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func ipOf(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}
