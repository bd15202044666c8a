package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/state"
)

// rolloutSpec is the rollout section of TestE2ERolloutWaves: a canary of
// one, then waves of two; settle and timeout short, for a shared machine.
const rolloutSpec = "rollout:\n  canary: {count: 1}\n  maxUnavailable: {node: 2}\n  settle: 1s\n  timeout: 30s\n"

// TestE2ERolloutWaves: 8 installed servers reinstalled by one commit with
// a rollout (canary 1, waves of 2). A canary that never comes back stops
// the rollout: apply exits 1 naming it, the history records the wave and
// the node, and the other 7 servers are untouched (their install
// generation and their BMCs' power calls unchanged). Once the canary is
// fixed, the next apply tries it first again, then reinstalls the others
// wave by wave: each wave's servers are power-cycled only after the wave
// before became healthy (apply's events, in the order they happened), and
// each server's install generation went up by one.
func TestE2ERolloutWaves(t *testing.T) {
	const n = 8
	b := startBootRack(t, n)
	writeRollout := func(reprovision string) {
		rp := map[int]string{}
		for i := range n {
			if reprovision != "" {
				rp[i] = reprovision
			}
		}
		b.writeSpec(rp)
		f, err := os.OpenFile(b.spec, os.O_APPEND|os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteString(rolloutSpec)
		must(t, err)
		must(t, f.Close())
	}
	// --timeout: 8 servers' firmware talk to their ipmi_sims beside
	// rackctl on a shared machine; 5s was seen to run out.
	apply := func(verifyTimeout string) []string {
		return append([]string{"--auto-approve", "--parallel", "8", "--timeout", "15s"}, b.sshArgs(verifyTimeout)...)
	}
	writeRollout("")
	// First installs interrupt nothing: no waves.
	r := b.run("apply (first installs)", 0, "apply", apply("120s")...)
	if strings.Contains(r.stdout, "rollout: wave") {
		t.Errorf("first installs ran in waves:\n%s", r.stdout)
	}
	gens, sets := b.generations(t), b.chassisCallCounts()

	writeRollout("r2")
	p := b.run("plan (reprovision all)", 0, "plan", b.sshArgs("120s")...)
	for _, want := range []string{"Rollout in 5 waves", "canary wave 1: node-0", "wave 2: node-1, node-2", "wave 5: node-7"} {
		if !strings.Contains(p.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, p.stdout)
		}
	}

	b.nodes.Nodes[0].SetKnobs(simnode.Knobs{InstallHangs: true})
	r = b.run("apply (canary hangs)", 1, "apply", apply("20s")...)
	if !strings.Contains(r.stderr, "rollout stopped at wave 1 of 5") || !strings.Contains(r.stderr, "node-0") {
		t.Errorf("apply's error does not name the wave and node-0:\n%s", r.stderr)
	}
	now, nowSets := b.generations(t), b.chassisCallCounts()
	for i := 1; i < n; i++ {
		if now[i] != gens[i] || nowSets[i] != sets[i] {
			t.Errorf("node-%d touched by a stopped rollout: install generation %d → %d, BMC power calls %d → %d", i, gens[i], now[i], sets[i], nowSets[i])
		}
	}
	hist, err := state.New(filepath.Join(b.root, "var/lib/rackctl")).ReadHistory()
	must(t, err)
	last := hist[len(hist)-1]
	if last.Outcome != state.OutcomeRolloutStopped || last.Rollout == nil || last.Rollout.StoppedAt != 1 || last.Rollout.Unhealthy["node-0"] == "" {
		t.Errorf("history %+v (rollout %+v): want rollout-stopped at wave 1 with node-0 unhealthy", last, last.Rollout)
	}

	b.nodes.Nodes[0].SetKnobs(simnode.Knobs{})
	r = b.run("apply (canary fixed)", 0, "apply", apply("120s")...)
	assertWaveOrder(t, r.stdout, [][]string{{"node-0"}, {"node-1", "node-2"}, {"node-3", "node-4"}, {"node-5", "node-6"}, {"node-7"}})
	now = b.generations(t)
	for i := range n {
		if now[i] != gens[i]+1 {
			t.Errorf("node-%d: install generation %d, want %d (one reinstall)", i, now[i], gens[i]+1)
		}
	}
}

// generations are the servers' install generations, read from their disks.
func (b *bootRack) generations(t *testing.T) []int {
	out := make([]int, len(b.nodes.Nodes))
	for i, nd := range b.nodes.Nodes {
		g, err := nd.InstallGeneration()
		must(t, err)
		out[i] = g
	}
	return out
}

var waveEvent = regexp.MustCompile(`(?m)^rollout: wave (\d+) \(([^)]*)\): (started|done)$`)

// assertWaveOrder checks apply's progress: the waves start and become
// healthy in order with the given nodes, and each node is power-cycled
// (its bmc change started) inside its own wave, after the wave before was
// healthy.
func assertWaveOrder(t *testing.T, out string, waves [][]string) {
	t.Helper()
	ev := waveEvent.FindAllStringSubmatchIndex(out, -1)
	if len(ev) != 2*len(waves) {
		t.Fatalf("%d wave events, want started and done for %d waves:\n%s", len(ev), len(waves), out)
	}
	for w, nodes := range waves {
		start, done := ev[2*w], ev[2*w+1]
		if got := out[start[2]:start[3]]; got != fmt.Sprint(w+1) || out[start[4]:start[5]] != strings.Join(nodes, ", ") || out[done[6]:done[7]] != "done" {
			t.Errorf("wave %d events %q, %q: want wave %d of %v started then done", w+1, out[start[0]:start[1]], out[done[0]:done[1]], w+1, nodes)
		}
		for _, nd := range nodes {
			at := strings.Index(out, "bmc: pxe-reinstall "+nd+": started")
			if at < start[1] || at > done[0] {
				t.Errorf("%s power-cycled at offset %d, outside its wave %d (%d..%d)", nd, at, w+1, start[1], done[0])
			}
		}
	}
}

// TestRolloutWaveFlags: --wave N and --no-waves through the CLI, on a rack
// of ipmi_sim BMCs whose servers do not boot (installs assumed, --verify
// flag, recorded as installed). 4 nodes reinstalled by one commit run in
// waves node-0 | node-1, node-2 | node-3 (plan -o json shows them);
// --wave 2 power-cycles node-1 and node-2 alone; a wave the plan does not
// have is refused before anything runs; --no-waves then reinstalls the
// rest in one step.
func TestRolloutWaveFlags(t *testing.T) {
	e := newE2ERack(t, filepath.Join(t.TempDir(), "rack.yaml"), 4, "wave-secret-pw", "wave")
	writeSpec := func(rp map[int]string) {
		e.writeSpec(rp)
		f, err := os.OpenFile(e.spec, os.O_APPEND|os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteString(rolloutSpec)
		must(t, err)
		must(t, f.Close())
	}
	writeSpec(map[int]string{})
	e.run("apply (first installs)", 0, "apply", "--auto-approve", "--timeout", "15s")
	writeSpec(map[int]string{0: "r2", 1: "r2", 2: "r2", 3: "r2"})

	var view struct {
		Rollout *struct {
			Waves []struct {
				Number int      `json:"number"`
				Canary bool     `json:"canary"`
				Nodes  []string `json:"nodes"`
			} `json:"waves"`
		} `json:"rollout"`
	}
	p := e.run("plan -o json", 0, "plan", "-o", "json")
	must(t, json.Unmarshal([]byte(p.stdout), &view))
	if view.Rollout == nil || fmt.Sprint(view.Rollout.Waves) != "[{1 true [node-0]} {2 false [node-1 node-2]} {3 false [node-3]}]" {
		t.Fatalf("plan -o json rollout %+v, want node-0 (canary) | node-1, node-2 | node-3", view.Rollout)
	}

	before := e.chassisCallCounts()
	r := e.run("apply --wave 9", 1, "apply", "--auto-approve", "--timeout", "15s", "--wave", "9")
	if !strings.Contains(r.stderr, "--wave 9: the plan has 3 waves") {
		t.Errorf("apply --wave 9: stderr %q, want the number of waves", r.stderr)
	}
	if got := e.chassisCallCounts(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("a refused --wave touched BMCs: calls %v → %v", before, got)
	}

	r = e.run("apply --wave 2", 0, "apply", "--auto-approve", "--timeout", "15s", "--wave", "2")
	after := e.chassisCallCounts()
	for i, want := range []bool{false, true, true, false} {
		if touched := after[i] > before[i]; touched != want {
			t.Errorf("apply --wave 2: node-%d power-cycled %v, want %v (calls %d → %d)\n%s", i, touched, want, before[i], after[i], r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "rollout: wave 2 (node-1, node-2): done") || strings.Contains(r.stdout, "rollout: wave 1") {
		t.Errorf("apply --wave 2 ran other waves, or wave 2 did not become healthy:\n%s", r.stdout)
	}

	powerBefore := e.powerCallCounts()
	r = e.run("apply --no-waves", 0, "apply", "--auto-approve", "--timeout", "15s", "--no-waves")
	power := e.powerCallCounts()
	if strings.Contains(r.stdout, "rollout: wave") || power[0] == powerBefore[0] || power[3] == powerBefore[3] || power[1] != powerBefore[1] || power[2] != powerBefore[2] {
		t.Errorf("apply --no-waves: power calls %v → %v, want node-0 and node-3 alone, in one step without wave events:\n%s", powerBefore, power, r.stdout)
	}
}

// chassisCallCounts are how many chassis calls (power, reset, boot
// device) each BMC got.
func (e *e2eRack) chassisCallCounts() []int {
	return e.countChassisSets(func(string) bool { return true })
}

// powerCallCounts are how many power or reset calls each BMC got.
func (e *e2eRack) powerCallCounts() []int {
	return e.countChassisSets(func(call string) bool {
		return strings.HasPrefix(call, "set power") || strings.HasPrefix(call, "set reset")
	})
}

func (e *e2eRack) countChassisSets(match func(string) bool) []int {
	out := make([]int, len(e.bmcs.BMCs))
	for i := range e.bmcs.BMCs {
		for _, call := range e.chassisSets(i) {
			if match(call) {
				out[i]++
			}
		}
	}
	return out
}

// TestDefaultWavesFollowTheLimits: without a rollout section a commit
// that reinstalls 4 installed nodes is planned in waves: a canary, then
// waves of the management node's limit, 25% (one node) by default; the
// config file's watch.maxDisruptiveNodesPercent (the setting watch holds
// commits by) makes them 50% (two), and the flag wins over the file.
// The plan says how the waves were made.
func TestDefaultWavesFollowTheLimits(t *testing.T) {
	e := newE2ERack(t, filepath.Join(t.TempDir(), "rack.yaml"), 4, "defwave-secret-pw", "defwave")
	e.writeSpec(map[int]string{})
	e.run("apply (first installs)", 0, "apply", "--auto-approve", "--timeout", "15s")
	e.writeSpec(map[int]string{0: "r2", 1: "r2", 2: "r2", 3: "r2"})

	waves := func(what string, extra ...string) string {
		var view struct {
			Rollout *struct {
				Rule  string `json:"rule"`
				Waves []struct {
					Canary bool     `json:"canary"`
					Nodes  []string `json:"nodes"`
				} `json:"waves"`
			} `json:"rollout"`
		}
		p := e.run(what, 0, "plan", append([]string{"-o", "json"}, extra...)...)
		must(t, json.Unmarshal([]byte(p.stdout), &view))
		if view.Rollout == nil {
			return "no waves"
		}
		if !strings.HasPrefix(view.Rollout.Rule, "the default rollout (no rollout: section)") {
			t.Errorf("%s: rule %q does not say the waves are the default's", what, view.Rollout.Rule)
		}
		return fmt.Sprint(view.Rollout.Waves)
	}
	if got, want := waves("plan (default limit)"), "[{true [node-0]} {false [node-1]} {false [node-2]} {false [node-3]}]"; got != want {
		t.Errorf("default waves %s, want %s", got, want)
	}
	cfg := filepath.Join(e.root, "etc/rackctl/config.yaml")
	must(t, os.MkdirAll(filepath.Dir(cfg), 0o755))
	must(t, os.WriteFile(cfg, []byte("apiVersion: rackctl/v1alpha1\nkind: Config\nwatch:\n  maxDisruptiveNodesPercent: 50\n"), 0o644))
	if got, want := waves("plan (config 50%)"), "[{true [node-0]} {false [node-1 node-2]} {false [node-3]}]"; got != want {
		t.Errorf("waves with watch.maxDisruptiveNodesPercent 50: %s, want %s", got, want)
	}
	if got, want := waves("plan (flag 100%)", "--max-disruptive-nodes-percent", "100"), "[{true [node-0]} {false [node-1 node-2 node-3]}]"; got != want {
		t.Errorf("waves with --max-disruptive-nodes-percent 100: %s, want %s", got, want)
	}
	p := e.run("plan (human)", 0, "plan")
	for _, want := range []string{"Rollout in 3 waves, gated on health:", "waves by the default rollout (no rollout: section): a canary of 1, controllers one at a time, then waves of at most node 50% (2)", "healthy for 30s (at most 15m"} {
		if !strings.Contains(p.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, p.stdout)
		}
	}
}

// TestWatchRolloutMetricsLive: `rackctl watch` carrying out a commit that
// reinstalls 4 installed servers (ipmi_sim BMCs) in the default waves
// (canary, then one node a wave: 25% of 4; settle 3s so each wave waits a
// while) shows the wave it is waiting on in /metrics: scraped while wave 2
// settles, rackctl_rollout_wave_in_progress is 2 with one node healthy,
// one in progress and two pending; once the commit is applied no wave is
// in progress and the 4 are healthy.
func TestWatchRolloutMetricsLive(t *testing.T) {
	e := newE2ERack(t, filepath.Join(t.TempDir(), "rack.yaml"), 4, "livewave-secret-pw", "livewave")
	writeSpec := func(rp map[int]string) {
		e.writeSpec(rp)
		f, err := os.OpenFile(e.spec, os.O_APPEND|os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteString("rollout: {settle: 3s, timeout: 1m}\n")
		must(t, err)
		must(t, f.Close())
	}
	writeSpec(map[int]string{})
	e.run("apply (first installs)", 0, "apply", "--auto-approve", "--timeout", "15s")
	writeSpec(map[int]string{0: "r2", 1: "r2", 2: "r2", 3: "r2"})

	listen := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	g := &globals{stdin: strings.NewReader(""), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	go func() {
		done <- execute(ctx, g, e.args("watch", "--listen", listen, "--timeout", "15s", "--drift-interval", "0"))
	}()
	t.Cleanup(func() { cancel(); <-done })

	const (
		inWave2 = "rackctl_rollout_wave_in_progress 2\n"
		applied = `rackctl_rollout_wave_nodes{state="healthy"} 4` + "\n"
	)
	var during, after string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline) && after == ""; time.Sleep(100 * time.Millisecond) {
		body := scrape("http://" + listen + "/metrics")
		switch {
		case strings.Contains(body, inWave2) && during == "":
			during = body
		case strings.Contains(body, applied):
			after = body
		}
	}
	if during == "" || after == "" {
		t.Fatalf("wave 2 seen in /metrics: %v; the rollout seen done: %v\nstderr:\n%s", during != "", after != "", lastLines(g.stderr.(*syncBuffer).String(), 30))
	}
	for _, want := range []string{`rackctl_rollout_wave_nodes{state="healthy"} 1`, `rackctl_rollout_wave_nodes{state="in_progress"} 1`,
		`rackctl_rollout_wave_nodes{state="pending"} 2`, `rackctl_rollout_wave_nodes{state="unhealthy"} 0`} {
		if !strings.Contains(during, want+"\n") {
			t.Errorf("while wave 2 settles, /metrics lacks %s", want)
		}
	}
	for _, want := range []string{"rackctl_rollout_wave_in_progress 0", `rackctl_rollout_wave_nodes{state="in_progress"} 0`, "rackctl_rollout_wave 4"} {
		if !strings.Contains(after, want+"\n") {
			t.Errorf("after the rollout, /metrics lacks %s", want)
		}
	}
}

// scrape is the body of url, "" while it does not answer.
func scrape(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
