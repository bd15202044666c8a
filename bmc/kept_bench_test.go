package bmc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

// driftReads are a drift check's reads of one BMC (reconcile's bmc
// layer): the boot device of an installed node and, with
// bmc.addressSource: dhcp, the LAN channel's address source.
const driftReads = 2

// minimalSessions opens the floor's bare session to every BMC of rack.
func minimalSessions(b *testing.B, rack *simrack.Rack) []*bmc.MinimalSession {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	ss := make([]*bmc.MinimalSession, len(rack.BMCs))
	for i, m := range rack.BMCs {
		s, err := bmc.OpenMinimalSession(ctx, m.Addr, m.User, m.Password)
		if err != nil {
			b.Fatalf("floor session, %s: %v", m.Name, err)
		}
		b.Cleanup(s.Close)
		ss[i] = s
	}
	return ss
}

// floorDriftCheck makes a drift check's reads in the bare sessions, all
// BMCs at once: the floor.
func floorDriftCheck(b *testing.B, rack *simrack.Rack, ss []*bmc.MinimalSession) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	errs := make([]error, len(ss))
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() { errs[i] = s.MinimalDriftReads(ctx) })
	}
	wg.Wait()
	took := time.Since(start)
	for i, err := range errs {
		if err != nil {
			b.Fatalf("floor, %s: %v", rack.BMCs[i].Name, err)
		}
	}
	return took
}

// driftCheck reads every BMC as a drift check does, through the Runner's
// parallelism.
func driftCheck(b *testing.B, c *bmc.Client, targets []bmc.Target) {
	b.Helper()
	res := c.Runner().Do(context.Background(), targets, func(ctx context.Context, t bmc.Target) error {
		if _, err := c.BootDevice(ctx, t); err != nil {
			return err
		}
		_, err := c.LANAddressSource(ctx, t)
		return err
	})
	for node, r := range res {
		if r.Err != nil {
			b.Fatalf("drift check, %s: %v", node, r.Err)
		}
	}
}

// BenchmarkDriftCheckKeptSessions is issue 17's target 5: watch's drift
// check of 32 BMCs behind 20 ms per datagram with sessions kept from the
// check before (bmc.Config.KeepSessions), against its floor measured in
// the same loop: the same two reads in bare sessions (two round trips and
// the BMC's own time, which on ipmi_sim includes a shell script per boot
// flags read). It fails unless each check stayed within two exchanges per
// BMC, counted at the delay relay.
func BenchmarkDriftCheckKeptSessions(b *testing.B) {
	needTools(b)
	rack := simrack.StartT(b, simrack.Options{N: benchRack, Delay: 20 * time.Millisecond})
	targets := benchTargets(rack)
	c := newClient(b, bmc.Config{Timeout: benchTimeout, KeepSessions: true})
	b.Cleanup(func() { c.Close() })
	driftCheck(b, c, targets) // the first check opens the sessions
	floorSessions := minimalSessions(b, rack)
	var floor, check time.Duration
	n, most := 0, 0
	for b.Loop() {
		floor += floorDriftCheck(b, rack, floorSessions)
		rack.ResetCounts()
		start := time.Now()
		driftCheck(b, c, targets)
		check += time.Since(start)
		n++
		for i, m := range rack.BMCs {
			x := rack.Proxy(i).Counts().Exchanges
			most = max(most, x)
			if x > driftReads {
				b.Fatalf("drift check, %s: %d exchanges, want at most %d (kept session)", m.Name, x, driftReads)
			}
		}
	}
	floorMS, checkMS := ms(floor)/float64(n), ms(check)/float64(n)
	b.ReportMetric(floorMS, "floor-ms/rack")
	b.ReportMetric(checkMS, "check-ms/rack")
	b.ReportMetric(checkMS/floorMS, "x-floor")
	b.ReportMetric(float64(most), "max-exchanges/bmc")
	b.ReportMetric(0, "ns/op")
}
