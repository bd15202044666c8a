package bmc_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

const benchRack = 32

// benchTimeout is generous: the benchmark measures speed, and a loaded
// 2-core machine must not turn slowness into failures.
const benchTimeout = 20 * time.Second

// sequentialIpmitool is the baseline: one `ipmitool chassis power status`
// after another, as a shell loop over the rack does.
func sequentialIpmitool(b *testing.B, rack *simrack.Rack) time.Duration {
	b.Helper()
	start := time.Now()
	for _, m := range rack.BMCs {
		host, port, _ := net.SplitHostPort(m.Addr)
		cmd := exec.Command("ipmitool", "-C", "3", "-I", "lanplus", "-H", host, "-p", port, "-U", m.User, "-E", "chassis", "power", "status")
		cmd.Env = append(os.Environ(), "IPMI_PASSWORD="+m.Password)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sequential ipmitool %s: %v: %s", m.Name, err, out)
		}
	}
	return time.Since(start)
}

func benchTargets(rack *simrack.Rack) []bmc.Target {
	var ts []bmc.Target
	for _, m := range rack.BMCs {
		ts = append(ts, target(m))
	}
	return ts
}

// parallelStatus runs the Runner over the rack b.N times and reports
// ms per full-rack status.
func parallelStatus(b *testing.B, c *bmc.Client, targets []bmc.Target, wantErrs int) float64 {
	b.Helper()
	r := c.Runner()
	var total time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		res := r.PowerStates(context.Background(), targets)
		total += time.Since(start)
		n++
		errs := 0
		for node, x := range res {
			if x.Err != nil {
				errs++
				if wantErrs == 0 {
					b.Fatalf("%s: %v", node, x.Err)
				}
			}
		}
		if errs != wantErrs {
			b.Fatalf("%d errors, want %d", errs, wantErrs)
		}
	}
	return float64(total.Microseconds()) / 1000 / float64(n)
}

func reportRatio(b *testing.B, parallelMS float64, seq time.Duration) {
	seqMS := float64(seq.Microseconds()) / 1000
	b.ReportMetric(parallelMS, "parallel-ms/rack")
	b.ReportMetric(seqMS, "sequential-ms/rack")
	b.ReportMetric(seqMS/parallelMS, "speedup")
	b.ReportMetric(0, "ns/op") // the per-rack metrics above are the result
}

// BenchmarkRackStatusDelay20ms: 32 BMCs each behind a 20 ms delay proxy.
func BenchmarkRackStatusDelay20ms(b *testing.B) {
	needTools(b)
	rack := simrack.StartT(b, simrack.Options{N: benchRack, Delay: 20 * time.Millisecond})
	seq := sequentialIpmitool(b, rack)
	c := newClient(b, bmc.Config{Timeout: benchTimeout})
	reportRatio(b, parallelStatus(b, c, benchTargets(rack), 0), seq)
}

// BenchmarkRackStatus: 32 BMCs, no delay. The ipmitool variant shows what
// spawning ipmitool in parallel gives on this machine.
func BenchmarkRackStatus(b *testing.B) {
	needTools(b)
	rack := simrack.StartT(b, simrack.Options{N: benchRack})
	targets := benchTargets(rack)
	for _, impl := range []string{"rmcp", "ipmitool"} {
		b.Run(impl, func(b *testing.B) {
			seq := sequentialIpmitool(b, rack)
			c := newClient(b, bmc.Config{PowerStatus: impl, Timeout: benchTimeout})
			reportRatio(b, parallelStatus(b, c, targets, 0), seq)
		})
	}
}

// BenchmarkRackStatusOneDead: 32 BMCs, one silent (stopped behind a
// proxy); the rack status must take at most the healthy time plus one
// timeout.
func BenchmarkRackStatusOneDead(b *testing.B) {
	needTools(b)
	rack := simrack.StartT(b, simrack.Options{N: benchRack})
	if _, err := rack.Slow(7, time.Millisecond); err != nil {
		b.Fatal(err)
	}
	targets := benchTargets(rack)
	const timeout = 2 * time.Second
	c := newClient(b, bmc.Config{Timeout: timeout})
	// Healthy time first (all answer), measured outside the timed loop.
	healthyStart := time.Now()
	const rounds = 3
	for range rounds {
		for node, x := range c.Runner().PowerStates(context.Background(), targets) {
			if x.Err != nil {
				b.Fatalf("%s: %v", node, x.Err)
			}
		}
	}
	healthy := float64(time.Since(healthyStart).Microseconds()) / 1000 / rounds
	if err := rack.Stop(7); err != nil {
		b.Fatal(err)
	}
	withDead := parallelStatus(b, c, targets, 1)
	b.ReportMetric(healthy, "healthy-ms/rack")
	b.ReportMetric(withDead, "one-dead-ms/rack")
	b.ReportMetric(float64(timeout.Milliseconds()), "timeout-ms")
	b.ReportMetric(0, "ns/op")
	if withDead > healthy+float64(timeout.Milliseconds())+100 {
		b.Errorf("one dead BMC: %.0f ms per rack > healthy %.0f ms + timeout %s", withDead, healthy, timeout)
	}
	// Less than the timeout means the BMC answered or failed fast: the
	// figure would not be the cost of a dead one.
	if withDead < float64(timeout.Milliseconds()) {
		b.Errorf("one dead BMC: %.0f ms per rack < timeout %s: it did not wait for a dead BMC", withDead, timeout)
	}
}

// TestDeadBMCsCostOneTimeout is the claim of BenchmarkRackStatusOneDead,
// checked in every test run against the timeout rather than a wall-clock
// target: with several silent BMCs in a rack, a rack status takes at least
// one timeout (it waited for them) and less than two (they were waited for
// side by side, not one after another: serially they would take 4×), each
// silent BMC fails as a timeout and every other one answers.
func TestDeadBMCsCostOneTimeout(t *testing.T) {
	needTools(t)
	const n, timeout = 16, 2 * time.Second
	dead := map[int]bool{1: true, 6: true, 10: true, 15: true}
	rack := simrack.StartT(t, simrack.Options{N: n})
	for i := range dead {
		if _, err := rack.Slow(i, time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	targets := benchTargets(rack)
	// The default power status path (pure-Go RMCP+), as rackctl status
	// runs it.
	c := newClient(t, bmc.Config{Timeout: timeout})
	// All answer while alive: the later failures are the deaths.
	for node, x := range c.Runner().PowerStates(t.Context(), targets) {
		if x.Err != nil {
			t.Fatalf("%s before any BMC died: %v", node, x.Err)
		}
	}
	for i := range dead {
		if err := rack.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	res := c.Runner().PowerStates(t.Context(), targets)
	took := time.Since(start)
	for i, m := range rack.BMCs {
		x, ok := res[m.Name]
		switch {
		case !ok:
			t.Errorf("%s: no result", m.Name)
		case dead[i] && !errors.Is(x.Err, bmc.ErrTimeout):
			t.Errorf("%s (silent): err = %v, want a timeout", m.Name, x.Err)
		case !dead[i] && x.Err != nil:
			t.Errorf("%s: %v", m.Name, x.Err)
		}
	}
	t.Logf("%d of %d BMCs silent, timeout %v: rack status took %v", len(dead), n, timeout, took.Round(time.Millisecond))
	if took < timeout {
		t.Errorf("rack status took %v, less than the timeout %v: it did not wait for the silent BMCs", took, timeout)
	}
	if took >= 2*timeout {
		t.Errorf("rack status took %v, two timeouts (%v) or more: silent BMCs were waited for one after another", took, 2*timeout)
	}
}
