package bmc_test

import (
	"context"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

// BenchmarkObservationBootDevice is what the web view's observation pays
// for each node's boot device (engine.StatusOptions.BootDevice): 32 BMCs
// behind 20 ms per datagram, power alone against power then boot device
// per BMC, in one loop, with fresh sessions (the API's own engine) and
// with kept ones (bmc.Config.KeepSessions).
func BenchmarkObservationBootDevice(b *testing.B) {
	needTools(b)
	rack := simrack.StartT(b, simrack.Options{N: benchRack, Delay: 20 * time.Millisecond})
	targets := benchTargets(rack)
	for name, keep := range map[string]bool{"fresh-sessions": false, "kept-sessions": true} {
		b.Run(name, func(b *testing.B) {
			c := newClient(b, bmc.Config{Timeout: benchTimeout, KeepSessions: keep})
			b.Cleanup(func() { c.Close() })
			powerOnly := func(ctx context.Context, t bmc.Target) error { _, err := c.PowerState(ctx, t); return err }
			withBoot := func(ctx context.Context, t bmc.Target) error {
				if _, err := c.PowerState(ctx, t); err != nil {
					return err
				}
				_, err := c.BootDevice(ctx, t)
				return err
			}
			run := func(op func(context.Context, bmc.Target) error) time.Duration {
				start := time.Now()
				for node, r := range c.Runner().Do(context.Background(), targets, op) {
					if r.Err != nil {
						b.Fatalf("%s: %v", node, r.Err)
					}
				}
				return time.Since(start)
			}
			run(withBoot) // opens the kept sessions
			var power, both time.Duration
			n := 0
			for b.Loop() {
				power += run(powerOnly)
				both += run(withBoot)
				n++
			}
			b.ReportMetric(ms(power)/float64(n), "power-ms/rack")
			b.ReportMetric(ms(both)/float64(n), "power+boot-ms/rack")
			b.ReportMetric(float64(both)/float64(power), "x-power")
			b.ReportMetric(0, "ns/op")
		})
	}
}
