package dhcp

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// The integration test runs the real dnsmasq in one network namespace and
// busybox udhcpc in another, joined by a veth pair (internal/testenv).
// Addresses exist only inside the two namespaces.

// rackConf renders the dnsmasq config of a one-node rack with
// render.DnsmasqConf, bound to the test's veth iface. It is installed as
// rendered; testenv runs dnsmasq with two test-only changes: the TFTP root
// is a temporary directory (dnsmasq refuses to start without it) and DNS is
// off (port=0).
func rackConf(t *testing.T, iface, mac, bmcMAC, ip, bmcIP string) []byte {
	t.Helper()
	r := &schema.Rack{
		APIVersion:  schema.APIVersion,
		Kind:        schema.Kind,
		Name:        "dhcp-test",
		Provisioner: schema.Flatcar,
		Domain:      "example.com",
		Network: schema.Network{Internal: schema.InternalNetwork{
			Subnet:       "172.24.213.0/24",
			Gateway:      "172.24.213.1",
			DNS:          []string{"172.24.213.1"},
			Interface:    iface,
			DynamicRange: schema.IPRange{Start: "172.24.213.128", End: "172.24.213.254"},
		}},
		Matchbox: schema.Matchbox{HTTPEndpoint: "http://172.24.213.1:8080", RPCEndpoint: "172.24.213.1:8081"},
		Nodes:    []schema.Node{{Name: nodeName, Role: schema.RoleNode, MAC: mac, BMCMAC: bmcMAC}},
	}
	conf, err := render.DnsmasqConf(render.Input{
		Rack:  r,
		Addrs: map[string]ipam.Addrs{nodeName: {Primary: netip.MustParseAddr(ip), BMC: netip.MustParseAddr(bmcIP)}},
	})
	if err != nil {
		t.Fatalf("render dnsmasq config: %v", err)
	}
	return conf
}

const nodeName = "node-0"

func TestDnsmasqInNetns(t *testing.T) {
	needTools(t, "dhcp_release") // StartDHCP checks ip, dnsmasq and busybox
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// dnsmasq starts once its config exists, as a Racker node's
	// dnsmasq.service does; the reload command restarts it.
	d := testenv.StartDHCPT(t, testenv.DHCPOptions{Purpose: "dhcptest"})
	// request runs one DHCP exchange; it returns the bound IP, or the zero
	// Addr when no lease was obtained.
	request := func(mac string) netip.Addr {
		t.Helper()
		a, err := d.Request(ctx, mac)
		if errors.Is(err, testenv.ErrNoLease) {
			t.Logf("udhcpc %s: %v", mac, err)
			return netip.Addr{}
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("udhcpc %s: bound %s", mac, a)
		return a
	}

	const (
		macA   = "aa:bb:cc:dd:ee:11"
		macA2  = "aa:bb:cc:dd:ee:21" // node-0's replacement NIC
		macBMC = "aa:bb:cc:dd:ee:12"
		ipA    = "172.24.213.3"
		ipBMC  = "172.24.213.4"
	)
	conf1 := rackConf(t, d.ServerIface, macA, macBMC, ipA, ipBMC)
	if err := d.WriteConf(conf1); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	s := New(Config{
		ConfPath:   d.ConfPath,
		LeasePath:  d.LeaseFile,
		Interface:  d.ServerIface,
		ReloadCmd:  d.ReloadCmd,
		ExecPrefix: []string{"ip", "netns", "exec", d.ServerNS},
		Log:        testLogger(t),
	})

	// The config in place: Install changes nothing and does not restart.
	if changed, err := s.Install(ctx, conf1); err != nil || changed {
		t.Fatalf("Install same config = %v, %v; want false, nil", changed, err)
	}
	if got := d.Starts(); got != 1 {
		t.Fatalf("dnsmasq started %d times, want 1 (no reload for an unchanged config)", got)
	}

	// The reserved host gets exactly its reserved IP, BMC too.
	if got := request(macA); got != netip.MustParseAddr(ipA) {
		t.Fatalf("%s got %v, want reserved %s", macA, got, ipA)
	}
	if got := request(macBMC); got != netip.MustParseAddr(ipBMC) {
		t.Fatalf("%s got %v, want reserved %s", macBMC, got, ipBMC)
	}
	leases := mustLeases(t, s)
	if l, ok := findLease(leases, macA); !ok || l.IP.String() != ipA || l.Expiry.IsZero() {
		t.Fatalf("lease file: %+v, want %s on %s with an expiry", leases, macA, ipA)
	}
	live, err := os.ReadFile(d.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ParseReservations(live)
	if err != nil {
		t.Fatal(err)
	}
	if f := Drift(res, leases, time.Now()); len(f) != 0 {
		t.Fatalf("drift on a settled rack: %v", f)
	}

	// A failing check leaves the live file and dnsmasq alone.
	bad := append(slices.Clone(conf1), "dhcp-range=172.24.213.300\n"...)
	var ce *CheckError
	if changed, err := s.Install(ctx, bad); changed || !errors.As(err, &ce) {
		t.Fatalf("Install bad config = %v, %v; want false and a CheckError", changed, err)
	}
	assertFile(t, d.ConfPath, string(conf1))
	if got := d.Starts(); got != 1 {
		t.Fatalf("dnsmasq restarted after a failed check")
	}

	// Replace node-0's NIC: same IP, new MAC. Install restarts dnsmasq.
	conf2 := rackConf(t, d.ServerIface, macA2, macBMC, ipA, ipBMC)
	if changed, err := s.Install(ctx, conf2); err != nil || !changed {
		t.Fatalf("Install new MAC = %v, %v; want true, nil", changed, err)
	}
	if got := d.Starts(); got != 2 {
		t.Fatalf("dnsmasq started %d times, want 2 (one reload)", got)
	}

	// The old MAC's active lease wins over the changed reservation.
	got := request(macA2)
	if got == netip.MustParseAddr(ipA) || !inDynamicRange(got) {
		t.Fatalf("new MAC %s got %v while the old lease is active, want a dynamic-range IP", macA2, got)
	}
	// Drift sees it: the reserved IP is held by the old MAC.
	live, _ = os.ReadFile(d.ConfPath)
	res, err = ParseReservations(live)
	if err != nil {
		t.Fatal(err)
	}
	var taken *Finding
	findings := Drift(res, mustLeases(t, s), time.Now())
	for i, f := range findings {
		if f.Kind == IPTaken {
			taken = &findings[i]
		}
	}
	if taken == nil || taken.MAC != macA2 || taken.Lease.MAC != macA || taken.Lease.IP.String() != ipA ||
		!slices.Equal(taken.Fixes, []Fix{Release}) {
		t.Fatalf("drift = %v, want ip-taken: %s held by %s", findings, ipA, macA)
	}
	t.Logf("drift before release: %v", findings)

	// Still true on a second try: nothing but the release changes it.
	if got := request(macA2); got == netip.MustParseAddr(ipA) {
		t.Fatalf("new MAC got the reserved IP before the stale lease was released")
	}

	// Release the stale lease: it leaves the lease file ...
	if err := s.Release(ctx, taken.Lease); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if l, ok := findLease(mustLeases(t, s), macA); ok && l.IP.String() == ipA {
		t.Fatalf("lease %+v still present after Release", l)
	}
	// ... the new MAC gets the reserved IP, the old MAC no longer does.
	if got := request(macA2); got != netip.MustParseAddr(ipA) {
		t.Fatalf("new MAC %s got %v after release, want %s", macA2, got, ipA)
	}
	if got := request(macA); got == netip.MustParseAddr(ipA) || (got.IsValid() && !inDynamicRange(got)) {
		t.Fatalf("old MAC %s got %v, want a dynamic-range IP or none", macA, got)
	}
	live, _ = os.ReadFile(d.ConfPath)
	res, _ = ParseReservations(live)
	for _, f := range Drift(res, mustLeases(t, s), time.Now()) {
		if f.Kind == IPTaken || f.Kind == WrongIP && f.MAC == macA2 {
			t.Errorf("drift after release: %v", f)
		}
	}

	// Change the BMC's IP (same MAC): drift reports its lease on the old IP;
	// after the release the BMC gets the new IP.
	const ipBMC2 = "172.24.213.5"
	conf3 := rackConf(t, d.ServerIface, macA2, macBMC, ipA, ipBMC2)
	if changed, err := s.Install(ctx, conf3); err != nil || !changed {
		t.Fatalf("Install new BMC IP = %v, %v; want true, nil", changed, err)
	}
	res, _ = ParseReservations(conf3)
	for i := range res {
		res[i].BMC = res[i].MAC == macBMC
	}
	var wrong *Finding
	findings = Drift(res, mustLeases(t, s), time.Now())
	for i, f := range findings {
		if f.Kind == WrongIP && f.MAC == macBMC {
			wrong = &findings[i]
		}
	}
	if wrong == nil || wrong.LeaseIP.String() != ipBMC || !slices.Equal(wrong.Fixes, []Fix{Release, BMCRenew}) {
		t.Fatalf("drift = %v, want wrong-ip for the BMC (%s, want %s) with release + BMC renew", findings, ipBMC, ipBMC2)
	}
	if err := s.Release(ctx, wrong.Lease); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got := request(macBMC); got != netip.MustParseAddr(ipBMC2) {
		t.Fatalf("BMC %s got %v, want new reserved %s", macBMC, got, ipBMC2)
	}

	// A release that cannot reach dnsmasq is reported, not silent.
	s2 := New(Config{LeasePath: d.LeaseFile, Interface: d.ServerIface, ReleaseWait: 300 * time.Millisecond,
		ExecPrefix: []string{"ip", "netns", "exec", d.ClientNS}})
	l, _ := findLease(mustLeases(t, s), macA2)
	if err := s2.Release(ctx, l); err == nil {
		t.Fatalf("Release from the wrong namespace succeeded")
	}
}

func inDynamicRange(a netip.Addr) bool {
	lo, hi := netip.MustParseAddr("172.24.213.128"), netip.MustParseAddr("172.24.213.254")
	return a.IsValid() && a.Compare(lo) >= 0 && a.Compare(hi) <= 0
}

func mustLeases(t *testing.T, s *Server) []Lease {
	t.Helper()
	ls, err := s.Leases()
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func findLease(ls []Lease, mac string) (Lease, bool) {
	for _, l := range ls {
		if l.MAC == mac {
			return l, true
		}
	}
	return Lease{}, false
}
