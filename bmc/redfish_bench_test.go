package bmc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/bmc/bmctest"
	"github.com/rackctl/rackctl/internal/simrack"
)

// BenchmarkMixedRackStatus: power status of 32 Redfish BMCs (the mock of
// tools/redfishmock, over HTTPS with a session each) against 32 IPMI BMCs
// (ipmi_sim, RMCP+), and of the 64 together, in one run through one
// bmc.Drivers. "cold" includes opening the Redfish sessions, the
// iterations after it reuse them, as one rackctl run does.
func BenchmarkMixedRackStatus(b *testing.B) {
	needTools(b)
	rack := simrack.StartT(b, simrack.Options{N: benchRack})
	ipmiTargets := benchTargets(rack)
	for i := range ipmiTargets {
		ipmiTargets[i].Protocol = bmc.ProtocolIPMI
	}
	var rfTargets []bmc.Target
	var mocks []*bmctest.RedfishMock
	for i := range benchRack {
		m := bmctest.StartRedfishMock(b)
		mocks = append(mocks, m)
		rfTargets = append(rfTargets, bmc.Target{Node: fmt.Sprintf("rf-%02d", i), Address: m.Addr, Protocol: bmc.ProtocolRedfish,
			Credentials: bmc.Credentials{User: bmctest.AdminUser, Password: bmctest.AdminPassword}})
	}
	pool := mocks[0].Pool()
	for _, m := range mocks[1:] {
		pool.AddCert(m.Cert)
	}
	d := bmc.NewDrivers(bmc.Config{Timeout: benchTimeout, Redfish: bmc.RedfishOptions{RootCAs: pool},
		Credentials: bmc.Credentials{User: "unused", Password: "unused"}})
	b.Cleanup(func() { d.Close() })
	status := func(targets []bmc.Target) time.Duration {
		start := time.Now()
		res := bmc.ForEach(context.Background(), bmc.DefaultParallel, targets, func(ctx context.Context, t bmc.Target) (string, error) {
			return d.PowerState(ctx, t)
		})
		for node, r := range res {
			if r.Err != nil || (r.Value != "on" && r.Value != "off") {
				b.Fatalf("%s: %q, %v", node, r.Value, r.Err)
			}
		}
		return time.Since(start)
	}
	cold := status(rfTargets)
	var rf, ipmi, both time.Duration
	n := 0
	for b.Loop() {
		rf += status(rfTargets)
		ipmi += status(ipmiTargets)
		both += status(append(append([]bmc.Target{}, rfTargets...), ipmiTargets...))
		n++
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	b.ReportMetric(float64(cold.Microseconds())/1000, "redfish-cold-ms/rack")
	b.ReportMetric(ms(rf), "redfish-ms/rack")
	b.ReportMetric(ms(ipmi), "ipmi-ms/rack")
	b.ReportMetric(ms(both), "mixed64-ms/rack")
	b.ReportMetric(0, "ns/op")
}
