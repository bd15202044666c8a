package ipam

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/macaddr"
	"github.com/rackctl/rackctl/schema"
)

func mac(kind byte, i int) string {
	return fmt.Sprintf("02:%02x:00:00:%02x:%02x", kind, byte(i>>8), byte(i))
}

func testNode(i int) schema.Node {
	return schema.Node{Name: fmt.Sprintf("node-%d", i), Role: schema.RoleNode, MAC: mac(1, i), BMCMAC: mac(2, i)}
}

func testRack(subnet string, n int) *schema.Rack {
	r := &schema.Rack{Name: "rack-a"}
	pfx := netip.MustParsePrefix(subnet)
	gw := pfx.Addr().Next()
	r.Network.Internal = schema.InternalNetwork{Subnet: subnet, Gateway: gw.String(), DNS: []string{gw.String()}}
	if pfx.Bits() == 24 {
		b := pfx.Addr().As4()
		r.Network.Internal.DynamicRange = schema.IPRange{
			Start: netip.AddrFrom4([4]byte{b[0], b[1], b[2], 200}).String(),
			End:   netip.AddrFrom4([4]byte{b[0], b[1], b[2], 250}).String(),
		}
	}
	for i := range n {
		r.Nodes = append(r.Nodes, testNode(i))
	}
	return r
}

func mustAllocate(t testing.TB, r *schema.Rack, prev State) (State, map[string]Addrs, []Change) {
	t.Helper()
	next, addrs, changes, err := Allocate(r, prev)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	checkInvariants(t, r, next, addrs)
	return next, addrs, changes
}

// checkInvariants: every node has two distinct addresses in the pool, no
// address is used twice, and the state mirrors addrs.
func checkInvariants(t testing.TB, r *schema.Rack, next State, addrs map[string]Addrs) {
	t.Helper()
	p, err := newPool(r.Network.Internal)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]string{}
	for _, n := range r.Nodes {
		a, ok := addrs[n.Name]
		if !ok {
			t.Fatalf("node %s has no addresses", n.Name)
		}
		for nic, ip := range map[NIC]netip.Addr{Primary: a.Primary, BMC: a.BMC} {
			if !p.allocatable(ip) {
				t.Fatalf("node %s %s got %v, not allocatable", n.Name, nic, ip)
			}
			if o, dup := seen[ip]; dup {
				t.Fatalf("address %v given to %s and %s %s", ip, o, n.Name, nic)
			}
			seen[ip] = n.Name + " " + string(nic)
		}
	}
	if len(next.Entries) != 2*len(r.Nodes) {
		t.Fatalf("state has %d entries, want %d", len(next.Entries), 2*len(r.Nodes))
	}
	for _, e := range next.Entries {
		a := addrs[e.Node]
		want := a.Primary
		if e.NIC == BMC {
			want = a.BMC
		}
		if e.IP != want {
			t.Fatalf("state entry %+v disagrees with addrs %+v", e, a)
		}
	}
}

func TestFreshDeterministic(t *testing.T) {
	r := testRack("172.24.213.0/24", 3)
	_, addrs, changes := mustAllocate(t, r, State{})
	want := map[string]Addrs{
		"node-0": {Primary: netip.MustParseAddr("172.24.213.2"), BMC: netip.MustParseAddr("172.24.213.5")},
		"node-1": {Primary: netip.MustParseAddr("172.24.213.3"), BMC: netip.MustParseAddr("172.24.213.6")},
		"node-2": {Primary: netip.MustParseAddr("172.24.213.4"), BMC: netip.MustParseAddr("172.24.213.7")},
	}
	if !reflect.DeepEqual(addrs, want) {
		t.Fatalf("addrs = %v, want %v", addrs, want)
	}
	if len(changes) != 6 {
		t.Fatalf("changes = %v, want 6 new", changes)
	}
	for _, c := range changes {
		if c.Reason != ReasonNew {
			t.Errorf("change %v: want reason new", c)
		}
	}
	// Same input, same output, every time.
	for range 5 {
		next2, addrs2, _ := mustAllocate(t, r, State{})
		if !reflect.DeepEqual(addrs2, want) {
			t.Fatalf("not deterministic: %v", addrs2)
		}
		// And allocating again from the result changes nothing.
		_, _, again := mustAllocate(t, r, next2)
		if len(again) != 0 {
			t.Fatalf("second allocation changed %v", again)
		}
	}
}

func TestSkipsReserved(t *testing.T) {
	r := testRack("10.1.0.0/24", 0)
	r.Network.Internal.Gateway = "10.1.0.1"
	r.Network.Internal.DNS = []string{"10.1.0.2", "10.1.0.3", "8.8.8.8"}
	r.Network.Internal.DynamicRange = schema.IPRange{Start: "10.1.0.5", End: "10.1.0.9"}
	r.Nodes = []schema.Node{testNode(0), testNode(1), testNode(2)}
	r.Nodes[0].IP = "10.1.0.10"
	_, addrs, _ := mustAllocate(t, r, State{})
	got := []string{}
	for _, n := range r.Nodes {
		got = append(got, addrs[n.Name].Primary.String(), addrs[n.Name].BMC.String())
	}
	want := []string{"10.1.0.10", "10.1.0.12", "10.1.0.4", "10.1.0.13", "10.1.0.11", "10.1.0.14"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestStability: operations on the spec never move the address of a node
// that stays.
func TestStability(t *testing.T) {
	tests := map[string]func(r *schema.Rack){
		"add at start":  func(r *schema.Rack) { r.Nodes = slices.Insert(r.Nodes, 0, testNode(100)) },
		"add in middle": func(r *schema.Rack) { r.Nodes = slices.Insert(r.Nodes, 5, testNode(100), testNode(101)) },
		"add at end":    func(r *schema.Rack) { r.Nodes = append(r.Nodes, testNode(100)) },
		"remove first":  func(r *schema.Rack) { r.Nodes = r.Nodes[1:] },
		"remove middle": func(r *schema.Rack) { r.Nodes = slices.Delete(r.Nodes, 3, 6) },
		"exclude":       func(r *schema.Rack) { r.Nodes[4].Exclude = true },
		"reverse":       func(r *schema.Rack) { slices.Reverse(r.Nodes) },
		"remove and add": func(r *schema.Rack) {
			r.Nodes = slices.Delete(r.Nodes, 2, 3)
			r.Nodes = slices.Insert(r.Nodes, 0, testNode(100))
		},
		"rename (same MACs)": func(r *schema.Rack) { r.Nodes[2].Name = "renamed" },
		"replace MAC":        func(r *schema.Rack) { r.Nodes[2].MAC = mac(9, 2); r.Nodes[2].BMCMAC = mac(9, 3) },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			r := testRack("172.24.213.0/24", 10)
			prev, before, _ := mustAllocate(t, r, State{})
			mutate(r)
			_, after, changes := mustAllocate(t, r, prev)
			assertNoMoves(t, r, prev, before, after)
			for _, c := range changes {
				if c.Reason == ReasonMovedByPin || c.Reason == ReasonOutOfPool || c.Reason == ReasonPinned {
					t.Errorf("unexpected move %v", c)
				}
			}
		})
	}
}

// assertNoMoves checks that every NIC of the new spec that matches a previous
// entry (by MAC, else by name) kept its address.
func assertNoMoves(t *testing.T, r *schema.Rack, prev State, before, after map[string]Addrs) {
	t.Helper()
	byMAC := map[string]netip.Addr{}
	for _, e := range prev.Entries {
		byMAC[string(e.NIC)+e.MAC] = e.IP
	}
	for _, n := range r.Nodes {
		for nic, m := range map[NIC]string{Primary: n.MAC, BMC: n.BMCMAC} {
			got := after[n.Name].Primary
			old, hadName := before[n.Name]
			oldIP := old.Primary
			if nic == BMC {
				got, oldIP = after[n.Name].BMC, old.BMC
			}
			if ip, ok := byMAC[string(nic)+macaddr.Canon(m)]; ok {
				if got != ip {
					t.Errorf("node %s %s (mac %s) moved %v -> %v", n.Name, nic, m, ip, got)
				}
			} else if hadName && got != oldIP {
				t.Errorf("node %s %s (replaced mac) moved %v -> %v", n.Name, nic, oldIP, got)
			}
		}
	}
}

func TestRemovedReleasedAndReused(t *testing.T) {
	r := testRack("172.24.213.0/24", 3)
	prev, before, _ := mustAllocate(t, r, State{})
	r.Nodes = slices.Delete(r.Nodes, 1, 2) // node-1 gone
	next, _, changes := mustAllocate(t, r, prev)
	want := []Change{
		{Node: "node-1", NIC: Primary, MAC: mac(1, 1), Old: before["node-1"].Primary, Reason: ReasonReleased},
		{Node: "node-1", NIC: BMC, MAC: mac(2, 1), Old: before["node-1"].BMC, Reason: ReasonReleased},
	}
	if !reflect.DeepEqual(changes, want) {
		t.Fatalf("changes = %v, want %v", changes, want)
	}
	// A new node then gets the lowest free address: node-1's old primary.
	r.Nodes = append(r.Nodes, testNode(7))
	_, after, _ := mustAllocate(t, r, next)
	if after["node-7"].Primary != before["node-1"].Primary {
		t.Fatalf("node-7 primary = %v, want freed %v", after["node-7"].Primary, before["node-1"].Primary)
	}
}

func TestExcludedKeepAddresses(t *testing.T) {
	r := testRack("172.24.213.0/24", 4)
	prev, before, _ := mustAllocate(t, r, State{})
	r.Nodes[1].Exclude = true
	_, after, changes := mustAllocate(t, r, prev)
	if len(changes) != 0 || !reflect.DeepEqual(before, after) {
		t.Fatalf("excluding moved addresses: %v", changes)
	}
}

func TestPinnedWins(t *testing.T) {
	r := testRack("172.24.213.0/24", 3)
	prev, before, _ := mustAllocate(t, r, State{})
	// node-2 pins node-0's primary address: node-0 moves, says why.
	r.Nodes[2].IP = before["node-0"].Primary.String()
	_, after, changes := mustAllocate(t, r, prev)
	if after["node-2"].Primary != before["node-0"].Primary {
		t.Fatalf("pin lost: node-2 = %v", after["node-2"].Primary)
	}
	if after["node-0"].Primary == before["node-0"].Primary {
		t.Fatal("node-0 kept a pinned address")
	}
	var reasons []string
	for _, c := range changes {
		reasons = append(reasons, c.Node+"/"+string(c.NIC)+"/"+c.Reason)
		if c.Node == "node-0" && (c.Old != before["node-0"].Primary || c.New != after["node-0"].Primary) {
			t.Errorf("node-0 change %v lacks old/new", c)
		}
	}
	if want := []string{"node-0/primary/moved-by-pin", "node-2/primary/pinned"}; !slices.Equal(reasons, want) {
		t.Fatalf("reasons = %v, want %v", reasons, want)
	}
	// Nobody else moved.
	for _, n := range []string{"node-1"} {
		if before[n] != after[n] {
			t.Errorf("%s moved: %v -> %v", n, before[n], after[n])
		}
	}
	if before["node-2"].BMC != after["node-2"].BMC || before["node-0"].BMC != after["node-0"].BMC {
		t.Error("BMC addresses moved")
	}
}

func TestPinErrors(t *testing.T) {
	tests := map[string]struct {
		mutate func(r *schema.Rack)
		want   string
	}{
		"outside subnet":    {func(r *schema.Rack) { r.Nodes[0].IP = "10.9.9.9" }, "not allocatable"},
		"gateway":           {func(r *schema.Rack) { r.Nodes[0].BMCIP = "172.24.213.1" }, "not allocatable"},
		"dynamic range":     {func(r *schema.Rack) { r.Nodes[0].IP = "172.24.213.210" }, "not allocatable"},
		"broadcast":         {func(r *schema.Rack) { r.Nodes[0].IP = "172.24.213.255" }, "not allocatable"},
		"garbage":           {func(r *schema.Rack) { r.Nodes[0].IP = "nope" }, "node-0: pinned primary address"},
		"pinned twice":      {func(r *schema.Rack) { r.Nodes[0].IP = "172.24.213.9"; r.Nodes[1].BMCIP = "172.24.213.9" }, "pinned twice"},
		"bad subnet":        {func(r *schema.Rack) { r.Network.Internal.Subnet = "x" }, "internal subnet"},
		"ipv6 subnet":       {func(r *schema.Rack) { r.Network.Internal.Subnet = "fd00::/64" }, "only IPv4"},
		"bad dynamic range": {func(r *schema.Rack) { r.Network.Internal.DynamicRange.End = "172.24.213.2" }, "ascending"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := testRack("172.24.213.0/24", 2)
			tc.mutate(r)
			_, _, _, err := Allocate(r, State{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestReplacedMACKeepsIP(t *testing.T) {
	r := testRack("172.24.213.0/24", 3)
	prev, before, _ := mustAllocate(t, r, State{})
	r.Nodes[1].MAC = "AA:BB:CC:DD:EE:FF" // not canonical on purpose
	next, after, changes := mustAllocate(t, r, prev)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("addresses moved: %v -> %v", before, after)
	}
	want := []Change{{Node: "node-1", NIC: Primary, MAC: "aa:bb:cc:dd:ee:ff", OldMAC: mac(1, 1), Old: before["node-1"].Primary, New: before["node-1"].Primary, Reason: ReasonMACReplaced}}
	if !reflect.DeepEqual(changes, want) {
		t.Fatalf("changes = %v, want %v", changes, want)
	}
	for _, e := range next.Entries {
		if e.Node == "node-1" && e.NIC == Primary && e.MAC != "aa:bb:cc:dd:ee:ff" {
			t.Fatalf("new MAC not recorded: %+v", e)
		}
	}
}

func TestOutOfPoolMoves(t *testing.T) {
	r := testRack("172.24.213.0/24", 3)
	prev, before, _ := mustAllocate(t, r, State{})
	// The dynamic range grows over node-2's BMC (.7).
	r.Network.Internal.DynamicRange.Start = "172.24.213.7"
	_, after, changes := mustAllocate(t, r, prev)
	if len(changes) != 1 || changes[0].Reason != ReasonOutOfPool || changes[0].Old != before["node-2"].BMC || changes[0].New != after["node-2"].BMC {
		t.Fatalf("changes = %v", changes)
	}
}

func TestExhausted(t *testing.T) {
	r := testRack("10.0.0.0/28", 7) // 14 hosts, gateway takes one: 13 free, 14 needed
	_, _, _, err := Allocate(r, State{})
	if err == nil {
		t.Fatal("want an exhaustion error")
	}
	for _, want := range []string{"10.0.0.0/28", "exhausted", "7 nodes need 14 addresses", "14 of them new", "only 13 are free"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	r.Nodes = r.Nodes[:6]
	mustAllocate(t, r, State{})
}

// TestRandomOperations applies random spec edits to a 200-node rack and
// checks after each that no address of a remaining NIC moved.
func TestRandomOperations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := testRack("10.20.0.0/20", 200)
	state, addrs, _ := mustAllocate(t, r, State{})
	nextID := 1000
	for step := range 300 {
		op := rng.IntN(7)
		n := len(r.Nodes)
		switch {
		case op == 0 || n < 10: // add
			r.Nodes = slices.Insert(r.Nodes, rng.IntN(n+1), testNode(nextID))
			nextID++
		case op == 1: // remove
			i := rng.IntN(n)
			r.Nodes = slices.Delete(r.Nodes, i, i+1)
		case op == 2: // exclude toggle
			i := rng.IntN(n)
			r.Nodes[i].Exclude = !r.Nodes[i].Exclude
		case op == 3: // shuffle
			rng.Shuffle(n, func(i, j int) { r.Nodes[i], r.Nodes[j] = r.Nodes[j], r.Nodes[i] })
		case op == 4: // replace a server
			i := rng.IntN(n)
			r.Nodes[i].MAC, r.Nodes[i].BMCMAC = mac(7, nextID), mac(8, nextID)
			nextID++
		case op == 5: // rename
			i := rng.IntN(n)
			r.Nodes[i].Name = fmt.Sprintf("renamed-%d", nextID)
			nextID++
		case op == 6: // role change
			i := rng.IntN(n)
			r.Nodes[i].Role = schema.RoleWorker
		}
		next, after, _, err := Allocate(r, state)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		checkInvariants(t, r, next, after)
		assertNoMoves(t, r, state, addrs, after)
		if t.Failed() {
			t.Fatalf("step %d (op %d) moved addresses", step, op)
		}
		state, addrs = next, after
	}
}

func BenchmarkAllocate1000(b *testing.B) {
	r := testRack("10.20.0.0/20", 1000)
	prev, _, _, err := Allocate(r, State{})
	if err != nil {
		b.Fatal(err)
	}
	r.Nodes = slices.Insert(r.Nodes, 500, testNode(5000))
	b.Run("fresh", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, err := Allocate(r, State{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("incremental", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, err := Allocate(r, prev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
