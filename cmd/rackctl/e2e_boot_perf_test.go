package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simnode"
)

// bootTimeline is one apply on a rack of booting servers: when the apply
// started and ended, and per node when its server powered on, came up
// installed (SSH up after "installed"), and was reported verified.
type bootTimeline struct {
	start, end       time.Time
	on, up, verified []time.Time
	code             int
	stdout, stderr   string
	// verifyStart and verifyEnd: the first "waiting for it" line and the
	// last verify event (done or failed), when the verify phase ran.
	verifyStart, verifyEnd time.Time
}

// stampedLines records when each line of a command's output was written.
type stampedLines struct {
	mu    sync.Mutex
	buf   strings.Builder
	part  string
	lines []stampedLine
}

type stampedLine struct {
	at   time.Time
	text string
}

func (s *stampedLines) Write(p []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	s.part += string(p)
	for {
		i := strings.IndexByte(s.part, '\n')
		if i < 0 {
			break
		}
		s.lines = append(s.lines, stampedLine{now, s.part[:i]})
		s.part = s.part[i+1:]
	}
	return len(p), nil
}

// busyBMCTimeout bounds each BMC call of these tests, rackctl's and the
// simulated firmware's: the default 5s is for racks, not for 32 ipmi_sims
// sharing two busy cores with other tests.
const busyBMCTimeout = 30 * time.Second

// startBusyBootRack is startBootRack with the firmware's BMC calls bounded
// by busyBMCTimeout (and each node's steps by twice that): a firmware call
// that times out fails the boot, and at 32 nodes ipmi_sim takes more than
// the default 20s to set a boot device on a busy machine.
func startBusyBootRack(t *testing.T, n int) *bootRack {
	t.Helper()
	e := newE2ERack(t, filepath.Join(t.TempDir(), "rack.yaml"), n, "boot-secret-pw", "boot")
	b := &bootRack{e2eRack: e, keyFile: filepath.Join(t.TempDir(), "id_ed25519")}
	e.sshPub = writeOpsKey(t, b.keyFile, "ops@boot")
	e.writeSpec(map[int]string{})
	ms, err := simnode.IPMIMachines(e.bmcs)
	must(t, err)
	for i, m := range ms {
		fw := m.Firmware.(simnode.IPMIFirmware)
		fw.Client, err = bmc.New(bmc.Config{Timeout: busyBMCTimeout,
			Credentials: bmc.Credentials{User: e.bmcs.BMCs[i].User, Password: e.bmcs.BMCs[i].Password}})
		must(t, err)
		ms[i].Firmware = fw
	}
	b.nodes, err = simnode.StartMachines(ms, e.dhcp, simnode.RackOptions{
		Dir: t.TempDir(), MAC: func(i int) string { return e.macs[i] }, Log: testLog{t},
		Timeout: 2 * busyBMCTimeout, // a step is a BMC call, or a fetch
	})
	must(t, err)
	t.Cleanup(func() { b.nodes.Close() })
	return b
}

// timedApply runs one apply in process, its output timestamped line by
// line, while watching every node's log for its boot steps.
func (b *bootRack) timedApply(t *testing.T, extra ...string) *bootTimeline {
	t.Helper()
	n := len(b.nodes.Nodes)
	tl := &bootTimeline{on: make([]time.Time, n), up: make([]time.Time, n), verified: make([]time.Time, n)}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i, node := range b.nodes.Nodes {
		from := len(node.Log())
		wg.Go(func() {
			at, err := node.WaitLog(ctx, from, simnode.LogPowerOn)
			if err != nil {
				return
			}
			tl.on[i] = time.Now()
			if at, err = node.WaitLog(ctx, at, simnode.LogInstalled); err != nil {
				return
			}
			if _, err = node.WaitLog(ctx, at, simnode.LogSSHUp); err == nil {
				tl.up[i] = time.Now()
			}
		})
	}
	extra = append([]string{"--auto-approve", "--timeout", busyBMCTimeout.String()}, extra...)
	var out, errb stampedLines
	g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: io.Writer(&errb)}
	tl.start = time.Now()
	tl.code = execute(context.Background(), g, b.args("apply", extra...))
	tl.end = time.Now()
	cancel()
	wg.Wait()
	tl.stdout, tl.stderr = out.buf.String(), errb.buf.String()
	for _, l := range out.lines {
		var i int
		if _, err := fmt.Sscanf(l.text, "verify: node-%d: ran its config", &i); err == nil && i >= 0 && i < n {
			tl.verified[i] = l.at
		}
		if strings.Contains(l.text, ": waiting for it to run its config") && tl.verifyStart.IsZero() {
			tl.verifyStart = l.at
		}
		if strings.HasPrefix(l.text, "verify: verify node-") && (strings.Contains(l.text, ": done") || strings.Contains(l.text, ": failed")) {
			tl.verifyEnd = l.at
		}
	}
	return tl
}

// bootFigures are what issue 16 asks of an apply on booting servers.
type bootFigures struct {
	n                 int
	allVerified       time.Duration // apply start to the last node verified
	beforePower       time.Duration // apply start to the first server powered on (validate, plan, files, dhcp, terraform)
	powerSpread       time.Duration // first to last server powered on (the bmc phase)
	bootMedian, boot  time.Duration // the servers' own steps: power on to SSH up installed (median, longest)
	lagMedian, lagMax time.Duration // SSH up to rackctl reporting the node verified
	overhead          time.Duration // allVerified minus the longest server boot
	exitAfterVerified time.Duration // last verified to apply exit (settle)
}

func (tl *bootTimeline) figures(t *testing.T) bootFigures {
	t.Helper()
	n := len(tl.on)
	f := bootFigures{n: n}
	var boots, lags []time.Duration
	first, lastOn, last := tl.end, tl.start, tl.start
	for i := range n {
		if tl.on[i].IsZero() || tl.up[i].IsZero() || tl.verified[i].IsZero() {
			t.Fatalf("node-%d: powered on %v, up %v, verified %v: not every step seen\nstdout:\n%s", i, tl.on[i], tl.up[i], tl.verified[i], tl.stdout)
		}
		if tl.verified[i].Before(tl.up[i]) {
			t.Fatalf("node-%d reported verified (%v) before its server was up (%v)", i, tl.verified[i], tl.up[i])
		}
		boots = append(boots, tl.up[i].Sub(tl.on[i]))
		lags = append(lags, tl.verified[i].Sub(tl.up[i]))
		first = earliest(first, tl.on[i])
		lastOn, last = latest(lastOn, tl.on[i]), latest(last, tl.verified[i])
	}
	slices.Sort(boots)
	slices.Sort(lags)
	f.allVerified = last.Sub(tl.start)
	f.beforePower = first.Sub(tl.start)
	f.powerSpread = lastOn.Sub(first)
	f.bootMedian, f.boot = boots[n/2], boots[n-1]
	f.lagMedian, f.lagMax = lags[n/2], lags[n-1]
	f.overhead = f.allVerified - f.boot
	f.exitAfterVerified = tl.end.Sub(last)
	return f
}

const bootFiguresHeader = "| N | apply → all verified | apply → first power on | first → last power on | server boot, median / longest | SSH up → verified, median / longest | overhead (all verified − longest boot) | overhead per node | last verified → apply exit (settle) |\n" +
	"|---|---|---|---|---|---|---|---|---|\n"

func (f bootFigures) row() string {
	s := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s" }
	return fmt.Sprintf("| %d | %s | %s | %s | %s / %s | %s / %s | %s | %s | %s |", f.n, s(f.allVerified), s(f.beforePower), s(f.powerSpread),
		s(f.bootMedian), s(f.boot), s(f.lagMedian), s(f.lagMax), s(f.overhead), s(f.overhead/time.Duration(f.n)), s(f.exitAfterVerified))
}

// TestBootFigures measures apply → all N nodes verified on N booting
// servers (install duration 0) for the N in RACKCTL_BOOT_BENCH (e.g.
// "8,32"), and what one dead node costs at N = the first of them; it
// writes the figures, a markdown table, to RACKCTL_BOOT_BENCH_OUT. make
// bench runs it (scripts/bench.sh); make test does not: a 32-server rack
// is minutes of a busy 2-core machine.
func TestBootFigures(t *testing.T) {
	spec := os.Getenv("RACKCTL_BOOT_BENCH")
	if spec == "" {
		t.Skip("RACKCTL_BOOT_BENCH (e.g. 8,32) not set: the boot figures are make bench's")
	}
	var sizes []int
	for _, s := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			t.Fatalf("RACKCTL_BOOT_BENCH=%q: want a list of rack sizes ≥ 2, like 8,32", spec)
		}
		sizes = append(sizes, n)
	}
	// --parallel bounds the BMC calls and the verify waits at once. At
	// 32 the default (32) sets 32 boot devices at once, which these ipmi_sims
	// on a busy machine do not answer in time; make bench uses 8.
	var extra []string
	if par := os.Getenv("RACKCTL_BOOT_BENCH_PARALLEL"); par != "" {
		if n, err := strconv.Atoi(par); err != nil || n < 1 {
			t.Fatalf("RACKCTL_BOOT_BENCH_PARALLEL=%q: want a number ≥ 1", par)
		}
		extra = []string{"--parallel", par}
	}
	var rows []string
	var alive time.Duration
	for i, n := range sizes {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			b := startBusyBootRack(t, n)
			tl := b.timedApply(t, append(b.sshArgs("300s"), extra...)...)
			if tl.code != 0 {
				t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", tl.code, tl.stdout, tl.stderr)
			}
			f := tl.figures(t)
			t.Logf("figures: %s", f.row())
			rows = append(rows, f.row())
			if i == 0 {
				alive = tl.end.Sub(tl.start)
			}
		})
	}
	const timeout = 30 * time.Second
	var dead string
	t.Run(fmt.Sprintf("n=%d one dead", sizes[0]), func(t *testing.T) {
		tl := deadNodes(t, sizes[0], 1, timeout, extra...)
		// The verify phase within this run: the dead node's wait began
		// with the others', so the phase lasts about one timeout.
		phase := tl.verifyEnd.Sub(tl.verifyStart)
		if tl.verifyStart.IsZero() || tl.verifyEnd.IsZero() {
			t.Fatalf("no verify phase seen in the output:\n%s", tl.stdout)
		}
		dead = fmt.Sprintf("| one dead node of %d, --verify-timeout %v | verify phase %.2f s (%.2f× the timeout); whole apply %.2f s (the all-alive N=%d apply above: %.2f s) |",
			sizes[0], timeout, phase.Seconds(), phase.Seconds()/timeout.Seconds(), tl.end.Sub(tl.start).Seconds(), sizes[0], alive.Seconds())
		if phase > 2*timeout {
			t.Errorf("the verify phase with one dead node took %v, more than twice the %v --verify-timeout", phase, timeout)
		}
		t.Logf("figures: %s", dead)
	})
	if out := os.Getenv("RACKCTL_BOOT_BENCH_OUT"); out != "" && !t.Failed() {
		body := bootFiguresHeader + strings.Join(rows, "\n") + "\n\n" +
			"| dead node | cost |\n|---|---|\n" + dead + "\n"
		if err := os.WriteFile(out, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestE2EDeadNodesCostOneTimeout: servers that never finish installing
// are waited for in parallel, so however many there are they cost one
// --verify-timeout together, not one each: with two of four hung, the
// verify phase (first wait to last outcome) lasts between one and 1.6
// timeouts (waited one after the other it would take at least two).
func TestE2EDeadNodesCostOneTimeout(t *testing.T) {
	const timeout = 30 * time.Second
	tl := deadNodes(t, 4, 2, timeout)
	if tl.verifyStart.IsZero() || tl.verifyEnd.IsZero() {
		t.Fatalf("no verify phase seen in the output:\n%s", tl.stdout)
	}
	phase := tl.verifyEnd.Sub(tl.verifyStart)
	t.Logf("2 of 4 hung, --verify-timeout %v: verify phase %v (%.2f× the timeout)", timeout, phase, phase.Seconds()/timeout.Seconds())
	if phase < timeout || phase > timeout*16/10 {
		t.Fatalf("the verify phase with 2 of 4 nodes hung took %v, want between 1 and 1.6 × the %v --verify-timeout", phase, timeout)
	}
}

// deadNodes applies a rack of n booting servers whose last dead ones hang
// installing, and checks that only they failed.
func deadNodes(t *testing.T, n, dead int, timeout time.Duration, extra ...string) *bootTimeline {
	t.Helper()
	b := startBusyBootRack(t, n)
	for i := n - dead; i < n; i++ {
		b.nodes.Nodes[i].SetKnobs(simnode.Knobs{InstallHangs: true})
	}
	tl := b.timedApply(t, append(b.sshArgs(timeout.String()), extra...)...)
	if tl.code != 1 {
		t.Fatalf("apply with %d hung nodes: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", dead, tl.code, tl.stdout, tl.stderr)
	}
	live := 0
	for i := range n {
		hung := i >= n-dead
		if tl.on[i].IsZero() {
			t.Fatalf("node-%d never powered on", i)
		}
		switch {
		case hung && !tl.verified[i].IsZero():
			t.Fatalf("node-%d hangs installing but was verified\nstdout:\n%s", i, tl.stdout)
		case !hung && tl.verified[i].IsZero():
			// Its waits ran in parallel all the same: the bound holds.
			t.Logf("node-%d booted later than the %v --verify-timeout (a busy machine)", i, timeout)
		case !hung:
			live++
		}
		if hung && !strings.Contains(tl.stderr, fmt.Sprintf("node-%d", i)) {
			t.Fatalf("apply's error does not name hung node-%d:\n%s", i, tl.stderr)
		}
	}
	if live == 0 {
		t.Fatalf("no live node was verified: the rack did not work\nstdout:\n%s", tl.stdout)
	}
	return tl
}

// latest is the later of a and b.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// earliest is the earlier of a and b, ignoring a zero b (not seen).
func earliest(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}
