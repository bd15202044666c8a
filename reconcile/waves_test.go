package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// waveRack is a rack of the given roles (names c1.., w1.., n1..) with a
// rollout of canary and maxUnavailable q for workers and flatcar nodes.
func waveRack(roles map[string]int, canary schema.Canary, q schema.Quantity) *schema.Rack {
	r := &schema.Rack{Rollout: &schema.Rollout{Canary: canary, Settle: "0s", Timeout: "1s",
		MaxUnavailable: schema.MaxUnavailable{Controller: 1, Worker: q, Node: q}}}
	for _, role := range []string{schema.RoleController, schema.RoleWorker, schema.RoleNode} {
		for i := 1; i <= roles[role]; i++ {
			r.Nodes = append(r.Nodes, schema.Node{Name: fmt.Sprintf("%c%d", role[0], i), Role: role,
				Labels: map[string]string{"canary": fmt.Sprint(i == 2)}})
		}
	}
	return r
}

func count(n int) schema.Canary { return schema.Canary{Count: &n} }

func TestComputeWaves(t *testing.T) {
	tests := map[string]struct {
		rack      *schema.Rack
		disrupted []string
		want      string // waves as "canary:a,b | c | ...", "!" marks Await
	}{
		"8 workers limit 2": {waveRack(map[string]int{"controller": 1, "worker": 8}, count(1), "2"),
			[]string{"w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"},
			"canary:w1 | w2,w3 | w4,w5 | w6,w7 | w8"},
		"percent rounds down": {waveRack(map[string]int{"node": 10}, count(1), "25%"),
			[]string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10"},
			"canary:n1 | n2,n3 | n4,n5 | n6,n7 | n8,n9 | n10"},
		"percent at least one": {waveRack(map[string]int{"node": 3}, count(0), "25%"),
			[]string{"n1", "n2", "n3"}, "n1 | n2 | n3"},
		"percent of the role's active nodes, not of the disrupted": {waveRack(map[string]int{"node": 8}, count(0), "50%"),
			[]string{"n3", "n4", "n5", "n6", "n7"}, "n3,n4,n5,n6 | n7"},
		"controllers one at a time, after the canary": {waveRack(map[string]int{"controller": 3, "worker": 2}, count(1), "100%"),
			[]string{"c1", "c2", "c3", "w1", "w2"},
			"canary:w1 | c1!c2,c3 | c2!c1,c3 | c3!c1,c2 | w2"},
		"canary count takes workers before controllers": {waveRack(map[string]int{"controller": 2, "worker": 1}, count(2), "1"),
			[]string{"c1", "c2", "w1"}, "canary:w1,c1!c2 | c2!c1"},
		"canary selector by label": {waveRack(map[string]int{"worker": 4}, schema.Canary{Labels: map[string]string{"canary": "true"}}, "2"),
			[]string{"w1", "w2", "w3", "w4"}, "canary:w2 | w1,w3 | w4"},
		"canary selector takes one controller only": {waveRack(map[string]int{"controller": 3}, schema.Canary{Role: "controller"}, "1"),
			[]string{"c1", "c2", "c3"}, "canary:c1!c2,c3 | c2!c1,c3 | c3!c1,c2"},
		"canary selector by name not disrupted": {waveRack(map[string]int{"worker": 3}, schema.Canary{Names: []string{"w3"}}, "2"),
			[]string{"w1", "w2"}, "w1,w2"},
		"nothing disrupted": {waveRack(map[string]int{"worker": 3}, count(1), "2"), nil, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := wavesString(ComputeWaves(tc.rack, tc.disrupted))
			if got != tc.want {
				t.Errorf("waves = %q, want %q", got, tc.want)
			}
		})
	}
	if w := ComputeWaves(&schema.Rack{Nodes: []schema.Node{{Name: "a"}}}, []string{"a"}); w != nil {
		t.Errorf("no rollout section: waves = %v, want none", w)
	}
}

func wavesString(ws []Wave) string {
	var parts []string
	for i, w := range ws {
		if w.Number != i+1 {
			return fmt.Sprintf("wave %d numbered %d", i+1, w.Number)
		}
		s := strings.Join(w.Nodes, ",")
		if w.Canary {
			s = "canary:" + s
		}
		if len(w.Await) > 0 {
			s += "!" + strings.Join(w.Await, ",")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// recordingExecutor records the nodes of the changes it runs, in order,
// across layers (its layer set per instance).
type recordingExecutor struct {
	layer Layer
	mu    *sync.Mutex
	log   *[]string
}

func (e recordingExecutor) Layer() Layer { return e.layer }
func (e recordingExecutor) Apply(_ context.Context, c Change) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	*e.log = append(*e.log, string(c.Layer)+":"+c.Node+strings.Join(nodesOf(c), ","))
	return nil
}

func nodesOf(c Change) []string {
	if c.Detail == nil {
		return nil
	}
	return c.Detail.Nodes
}

// gateFunc is a HealthGate of a func. A fake: the real gates (installs.json
// and the cluster's Nodes) are the engine's, tested on the simulated rack.
type gateFunc func(nodes []string) map[string]string

func (g gateFunc) Unhealthy(_ context.Context, nodes []string) (map[string]string, error) {
	return g(nodes), nil
}

// wavePlan: n1..n4 reinstalled (bmc + verify) in waves n1 | n2,n3 | n4,
// n9 a first install before the waves, a settle run for all.
func wavePlan() *Plan {
	p := &Plan{FormatVersion: FormatVersion, RackName: "r", Observed: Observations{}}
	for _, n := range []string{"n1", "n2", "n3", "n4", "n9"} {
		p.Changes = append(p.Changes,
			Change{Layer: LayerBMC, Action: ActionPXEReinstall, Address: "bmc:" + n, Node: n, Disruptive: true},
			Change{Layer: LayerVerify, Action: ActionVerify, Address: "verify:" + n, Node: n})
	}
	p.Changes = append(p.Changes,
		Change{Layer: LayerSettle, Action: ActionSettle, Address: "settle:terraform", Detail: &Detail{Nodes: []string{"n1", "n2", "n3", "n4", "n9"}, Hosts: []string{"h1", "h2", "h3", "h4", "h9"}}},
		Change{Layer: LayerDHCP, Action: ActionReload, Address: "dhcp:reload"})
	p.Rollout = &Rollout{Settle: "0s", Timeout: "50ms", First: []string{"n9"}, Waves: []Wave{
		{Number: 1, Canary: true, Nodes: []string{"n1"}}, {Number: 2, Nodes: []string{"n2", "n3"}}, {Number: 3, Nodes: []string{"n4"}}}}
	return p
}

// waveRun is what applyWaves saw: the result and error, the changes run
// (recordingExecutor), the rollout events and the state dir.
type waveRun struct {
	res      Result
	err      error
	log      []string
	events   []Event
	stateDir string
}

func applyWaves(t *testing.T, p *Plan, wo WaveOptions) waveRun {
	t.Helper()
	var mu sync.Mutex
	var log []string
	var execs []Executor
	for _, l := range []Layer{LayerDHCP, LayerBMC, LayerVerify, LayerSettle} {
		execs = append(execs, recordingExecutor{layer: l, mu: &mu, log: &log})
	}
	var events []Event
	stateDir := t.TempDir()
	wo.Poll = 1
	res, err := Apply(context.Background(), p, ApplyOptions{Root: t.TempDir(), StateDir: stateDir, Executors: execs, Waves: wo,
		Progress: func(e Event) {
			if e.Layer == LayerRollout {
				events = append(events, e)
			}
		}})
	return waveRun{res, err, log, events, stateDir}
}

func TestApplyFollowsWaves(t *testing.T) {
	w := applyWaves(t, wavePlan(), WaveOptions{Health: gateFunc(func([]string) map[string]string { return nil })})
	res, err, log, events := w.res, w.err, w.log, w.events
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dhcp:", "bmc:n9", "verify:n9", "settle:n9",
		"bmc:n1", "verify:n1", "settle:n1",
		"bmc:n2", "bmc:n3", "verify:n2", "verify:n3", "settle:n2,n3",
		"bmc:n4", "verify:n4", "settle:n4"}
	if !slices.Equal(log, want) {
		t.Errorf("changes ran in order\n%q\nwant\n%q", log, want)
	}
	if res.Outcome != OutcomeSuccess || res.Rollout == nil || res.Rollout.Completed != 3 {
		t.Errorf("outcome %s, rollout %+v: want success, 3 waves completed", res.Outcome, res.Rollout)
	}
	if len(events) != 6 || events[5].Wave != 3 || events[5].Status != StatusDone {
		t.Errorf("rollout events %v: want started and done for each of 3 waves", events)
	}
}

func TestApplyWaveUnhealthyStops(t *testing.T) {
	unhealthy := gateFunc(func(nodes []string) map[string]string {
		if slices.Contains(nodes, "n1") {
			return map[string]string{"n1": "not Ready"}
		}
		return nil
	})
	w := applyWaves(t, wavePlan(), WaveOptions{Health: unhealthy})
	res, err, log, stateDir := w.res, w.err, w.log, w.stateDir
	if err == nil || !strings.Contains(err.Error(), "rollout stopped at wave 1 of 3 (not healthy in ") || !strings.Contains(err.Error(), "n1 (not Ready)") {
		t.Fatalf("err = %v, want the rollout stopped at wave 1 naming n1", err)
	}
	for _, l := range log {
		if strings.Contains(l, "n2") || strings.Contains(l, "n3") || strings.Contains(l, "n4") {
			t.Errorf("a later wave's change ran: %s", l)
		}
	}
	if len(res.NotAttempted) != 8 { // bmc, verify of n2..n4; settle of waves 2 and 3
		t.Errorf("not attempted: %v, want 8", addresses(res.NotAttempted))
	}
	hist, herr := state.New(stateDir).ReadHistory()
	if herr != nil || len(hist) != 1 {
		t.Fatalf("history %v, %v", hist, herr)
	}
	h := hist[0]
	if h.Outcome != OutcomeRolloutStopped || h.Rollout == nil || h.Rollout.StoppedAt != 1 || h.Rollout.Unhealthy["n1"] != "not Ready" {
		t.Errorf("history record %+v rollout %+v: want rollout-stopped at wave 1, n1 not Ready", h, h.Rollout)
	}
}

func TestApplyWaveFailedChangeStops(t *testing.T) {
	tests := map[string]struct {
		fail, wantWave, why string
		notRun              []string
	}{
		"in wave 2":          {"n2", "wave 2 of 3", "a change of this wave failed", []string{"bmc:n4"}},
		"before the waves":   {"n9", "wave 1 of 3", "changes before this wave failed", []string{"bmc:n1", "bmc:n4"}},
		"in the canary wave": {"n1", "wave 1 of 3", "a change of this wave failed", []string{"bmc:n2", "bmc:n4"}},
		"before --wave 3":    {"n9", "wave 3 of 3", "changes before this wave failed", []string{"bmc:n4"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var log []string
			failBMC := &failingExecutor{recordingExecutor{layer: LayerBMC, mu: &mu, log: &log}, tc.fail}
			var wo WaveOptions
			if strings.Contains(name, "--wave 3") {
				wo.Only = 3
			}
			res, err := Apply(context.Background(), wavePlan(), ApplyOptions{Root: t.TempDir(), StateDir: t.TempDir(), Waves: wo,
				Executors: []Executor{recordingExecutor{layer: LayerDHCP, mu: &mu, log: &log}, failBMC,
					recordingExecutor{layer: LayerVerify, mu: &mu, log: &log}, recordingExecutor{layer: LayerSettle, mu: &mu, log: &log}}})
			if res.Outcome != OutcomeRolloutStopped || err == nil || !strings.Contains(err.Error(), tc.wantWave+" ("+tc.why+")") || res.Rollout.Unhealthy[tc.fail] == "" {
				t.Fatalf("outcome %s, err %v, rollout %+v: want stopped at %s (%s) naming %s", res.Outcome, err, res.Rollout, tc.wantWave, tc.why, tc.fail)
			}
			for _, c := range tc.notRun {
				if slices.Contains(log, c) {
					t.Errorf("%s ran after the rollout stopped: %q", c, log)
				}
			}
		})
	}
}

type failingExecutor struct {
	recordingExecutor
	node string
}

func (e *failingExecutor) Apply(ctx context.Context, c Change) error {
	if c.Node == e.node {
		return errors.New("bmc unreachable")
	}
	return e.recordingExecutor.Apply(ctx, c)
}

func TestApplyOneWaveOrNone(t *testing.T) {
	w := applyWaves(t, wavePlan(), WaveOptions{Only: 2})
	err, log := w.err, w.log
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dhcp:", "bmc:n9", "verify:n9", "settle:n9", "bmc:n2", "bmc:n3", "verify:n2", "verify:n3", "settle:n2,n3"}
	if !slices.Equal(log, want) {
		t.Errorf("--wave 2 ran %q, want %q", log, want)
	}
	w = applyWaves(t, wavePlan(), WaveOptions{Off: true})
	err, log, events := w.err, w.log, w.events
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 0 || len(log) != 12 || !slices.Contains(log, "settle:n1,n2,n3,n4,n9") {
		t.Errorf("--no-waves ran %q with wave events %v, want every change in one step", log, events)
	}
}

// TestRolloutViews: the human view shows how the plan is split (golden
// testdata/plan-waves.txt); the JSON view has the waves and each change's
// wave; a saved plan keeps its rollout.
func TestRolloutViews(t *testing.T) {
	p := wavePlan()
	var b bytes.Buffer
	if err := WriteHuman(&b, p, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-waves.txt", b.Bytes())
	v := NewPlanView(p)
	if v.Rollout == nil || len(v.Rollout.Waves) != 3 || !v.Rollout.Waves[0].Canary || !slices.Equal(v.Rollout.FirstNodes, []string{"n9"}) {
		t.Fatalf("view rollout %+v", v.Rollout)
	}
	waves := map[string]int{}
	for _, c := range v.Changes {
		if c.Wave == nil {
			t.Fatalf("change %s has no wave", c.Address)
		}
		waves[c.Address] = *c.Wave
	}
	want := map[string]int{"bmc/bmc:n1": 1, "verify/verify:n3": 2, "bmc/bmc:n4": 3, "bmc/bmc:n9": 0, "dhcp/dhcp:reload": 0, "settle/settle:terraform": 0}
	for addr, w := range want {
		if waves[addr] != w {
			t.Errorf("%s in wave %d, want %d", addr, waves[addr], w)
		}
	}
	var saved bytes.Buffer
	if err := WriteJSON(&saved, p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadPlan(&saved)
	if err != nil {
		t.Fatal(err)
	}
	if wavesString(back.Rollout.Waves) != wavesString(p.Rollout.Waves) {
		t.Errorf("saved plan's waves %q, want %q", wavesString(back.Rollout.Waves), wavesString(p.Rollout.Waves))
	}
}

// TestApplyControllerWaitsForTheOthers: a wave that disrupts a controller
// starts only once the other controllers are healthy; when one stays
// unhealthy the rollout stops before the wave touches its controller.
func TestApplyControllerWaitsForTheOthers(t *testing.T) {
	p := &Plan{FormatVersion: FormatVersion, RackName: "r", Observed: Observations{}}
	for _, n := range []string{"c1", "c2"} {
		p.Changes = append(p.Changes, Change{Layer: LayerBMC, Action: ActionPXEReinstall, Address: "bmc:" + n, Node: n, Disruptive: true})
	}
	p.Rollout = &Rollout{Settle: "0s", Timeout: "50ms", Waves: []Wave{
		{Number: 1, Canary: true, Nodes: []string{"c1"}, Await: []string{"c2"}}, {Number: 2, Nodes: []string{"c2"}, Await: []string{"c1"}}}}
	c2Down := gateFunc(func(nodes []string) map[string]string {
		if slices.Contains(nodes, "c2") {
			return map[string]string{"c2": "not ready"}
		}
		return nil
	})
	w := applyWaves(t, p, WaveOptions{Health: c2Down})
	res, err, log := w.res, w.err, w.log
	if err == nil || !strings.Contains(err.Error(), "another controller is not healthy") || res.Rollout.StoppedAt != 1 {
		t.Fatalf("err %v, rollout %+v: want the rollout stopped at wave 1 for c2", err, res.Rollout)
	}
	if len(log) != 0 {
		t.Errorf("controllers touched while another was unhealthy: %q", log)
	}
}

// BenchmarkWaves1000: planning the waves of 1000 reinstalled nodes in
// waves of one, and splitting a plan's 3000 changes among them as Apply
// does (narrowToWave for every change in every wave).
func BenchmarkWaves1000(b *testing.B) {
	rack := waveRack(map[string]int{"node": 1000}, count(1), "1")
	var names []string
	p := &Plan{}
	for _, n := range rack.Nodes {
		names = append(names, n.Name)
		p.Changes = append(p.Changes,
			Change{Layer: LayerBMC, Node: n.Name}, Change{Layer: LayerVerify, Node: n.Name}, Change{Layer: LayerFiles, Node: n.Name})
	}
	for b.Loop() {
		r := &Rollout{Waves: ComputeWaves(rack, names)}
		ran := 0
		for w := 0; w <= len(r.Waves); w++ {
			for _, c := range p.Changes {
				if _, ok := r.narrowToWave(c, w); ok {
					ran++
				}
			}
		}
		if ran != len(p.Changes) {
			b.Fatalf("%d changes ran, want %d", ran, len(p.Changes))
		}
	}
}

// TestDriftPowerCyclesInWaves: DHCP drift that power-cycles nodes
// (--drift-fix power-cycle) is disruptive as a reinstall is, and goes
// through the same default waves (no rollout section, 4 flatcar nodes:
// canary, then waves of 25%): each wave is power-cycled only once the one
// before is healthy, the stale leases are released first, for all. A
// canary whose power cycle fails stops the rollout and no other node is
// power-cycled.
func TestDriftPowerCyclesInWaves(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 4)
	e.converge()
	e.driftFix = DriftPowerCycle
	for i, n := range e.rack.Nodes {
		stray := netip.AddrFrom4([4]byte{172, 24, 213, byte(200 + i)}) // in the subnet, no node's
		e.dhcp.leases = append(e.dhcp.leases, dhcp.Lease{Expiry: e.now.Add(time.Hour), MAC: n.MAC, IP: stray, Hostname: n.Name})
	}
	p := e.plan()
	if p.Rollout == nil || wavesString(p.Rollout.Waves) != "canary:node-0 | node-1 | node-2 | node-3" {
		t.Fatalf("plan rollout %+v, want canary:node-0 | node-1 | node-2 | node-3; changes %v", p.Rollout, layerAddrs(p.Changes, LayerDHCP))
	}
	if !strings.Contains(p.Rollout.Rule, "the default rollout") || !strings.Contains(p.Rollout.Rule, "node 25% (1)") {
		t.Errorf("rollout rule %q does not say it is the default with waves of 25%% (1)", p.Rollout.Rule)
	}

	e.bmc.fail["node-0"] = errors.New("bmc unreachable")
	res, err := e.apply(p)
	if res.Outcome != OutcomeRolloutStopped || err == nil || !strings.Contains(err.Error(), "rollout stopped at wave 1 of 4") || res.Rollout.Unhealthy["node-0"] == "" {
		t.Fatalf("outcome %s, err %v, rollout %+v: want stopped at wave 1 naming node-0", res.Outcome, err, res.Rollout)
	}
	if got := e.bmc.mutations(); len(got) != 0 {
		t.Errorf("a stopped rollout power-cycled %v", got)
	}
	if len(e.dhcp.released) != 4 {
		t.Errorf("released %v: want the 4 stale leases released before the waves", e.dhcp.released)
	}

	delete(e.bmc.fail, "node-0")
	e.rack.Rollout = schema.DefaultRollout()
	e.rack.Rollout.Settle = "0s" // the default's 30s, without the wait
	var asked []string           // per health check: the wave asked about, then the nodes power-cycled by then
	e.waves = WaveOptions{Health: gateFunc(func(nodes []string) map[string]string {
		e.bmc.mu.Lock()
		defer e.bmc.mu.Unlock()
		asked = append(asked, strings.Join(nodes, ",")+" after "+strings.Join(e.bmc.calls, ","))
		return nil
	})}
	for i, n := range e.rack.Nodes { // the leases drift still: released leases come back
		e.dhcp.leases = append(e.dhcp.leases, dhcp.Lease{Expiry: e.now.Add(time.Hour), MAC: n.MAC, IP: netip.AddrFrom4([4]byte{172, 24, 213, byte(200 + i)}), Hostname: n.Name})
	}
	e.mustApply(e.plan())
	want := []string{
		"node-0 after node-0 power cycle",
		"node-1 after node-0 power cycle,node-1 power cycle",
		"node-2 after node-0 power cycle,node-1 power cycle,node-2 power cycle",
		"node-3 after node-0 power cycle,node-1 power cycle,node-2 power cycle,node-3 power cycle",
	}
	if !slices.Equal(asked, want) {
		t.Errorf("health asked\n%q\nwant each wave power-cycled after the one before was healthy\n%q", asked, want)
	}
}

// TestDefaultRollout: without a rollout section a plan that reinstalls
// installed nodes runs in waves: a canary of one, then waves of the
// management node's limit (WavePlanning.Limits; 25% when none is set),
// controllers one at a time. `rollout: {}` means the same; a plan that
// disrupts one node runs in one step; WavePlanning.Off plans no waves.
func TestDefaultRollout(t *testing.T) {
	tests := map[string]struct {
		reinstall []int
		section   *schema.Rollout
		planning  WavePlanning
		want      string // waves; "" for none
	}{
		"no section, 25% of 8":        {reinstall: []int{0, 1, 2, 3, 4, 5, 6, 7}, want: "canary:node-0 | node-1,node-2 | node-3,node-4 | node-5,node-6 | node-7"},
		"rollout: {} is the same":     {reinstall: []int{0, 1, 2, 3, 4, 5, 6, 7}, section: schema.DefaultRollout(), want: "canary:node-0 | node-1,node-2 | node-3,node-4 | node-5,node-6 | node-7"},
		"the management node's limit": {reinstall: []int{0, 1, 2, 3, 4, 5, 6, 7}, planning: WavePlanning{Limits: schema.MaxUnavailable{Node: "50%"}}, want: "canary:node-0 | node-1,node-2,node-3,node-4 | node-5,node-6,node-7"},
		"the spec's maxUnavailable wins": {reinstall: []int{0, 1, 2, 3}, section: &schema.Rollout{Canary: count(1), MaxUnavailable: schema.MaxUnavailable{Node: "3"}, Settle: "1s", Timeout: "1m"},
			planning: WavePlanning{Limits: schema.MaxUnavailable{Node: "50%"}}, want: "canary:node-0 | node-1,node-2,node-3"},
		"two nodes: a canary, then the other": {reinstall: []int{2, 5}, want: "canary:node-2 | node-5"},
		"one node: one step":                  {reinstall: []int{3}, want: ""},
		"--no-waves":                          {reinstall: []int{0, 1, 2, 3}, planning: WavePlanning{Off: true}, want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newRackEnv(t, schema.Flatcar, 8)
			e.converge()
			e.rack.Rollout = tc.section
			for _, i := range tc.reinstall {
				e.rack.Nodes[i].Reprovision = "r2"
			}
			p, err := Build(context.Background(), e.rack, PlanOptions{Root: e.root, StateDir: e.st, Layers: e.layers(), Now: func() time.Time { return e.now }, Waves: tc.planning})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if p.Rollout != nil {
				got = wavesString(p.Rollout.Waves)
			}
			if got != tc.want {
				t.Fatalf("waves %q, want %q", got, tc.want)
			}
			if p.Rollout == nil {
				return
			}
			if p.Rollout.Settle != schema.DefaultRolloutSettle && tc.section == nil || p.Rollout.Timeout == "" {
				t.Errorf("settle %q, timeout %q: want the defaults", p.Rollout.Settle, p.Rollout.Timeout)
			}
			var b bytes.Buffer
			if err := WriteHuman(&b, p, false); err != nil {
				t.Fatal(err)
			}
			from := "waves by the default rollout (no rollout: section): a canary of 1, controllers one at a time, then waves of at most node "
			if tc.section != nil {
				from = "waves by the rollout: section:"
			}
			if !strings.Contains(b.String(), from) || !strings.Contains(b.String(), "healthy for "+p.Rollout.Settle) {
				t.Errorf("plan does not show how the waves were made (%q) and the settle time:\n%s", from, b.String())
			}
		})
	}
}

// TestDefaultRolloutLokoctlReboots: a lokoctl run reboots the nodes it
// re-ignites in that one run: the default rollout claims no waves for
// them, and the plan says why.
func TestDefaultRolloutLokoctlReboots(t *testing.T) {
	e := lokoRack(t)
	e.converge()
	e.rack.Cluster.Labels = map[string]string{"topology.kubernetes.io/zone": "a"}
	p := e.plan()
	if p.Rollout != nil {
		t.Errorf("a lokoctl run that reboots every node is planned in waves %q", wavesString(p.Rollout.Waves))
	}
	if !slices.ContainsFunc(p.Notes, func(n string) bool {
		return strings.HasPrefix(n, "rollout: the lokoctl run reboots") && strings.HasSuffix(n, "at once: one run cannot be split into waves")
	}) {
		t.Errorf("notes %q do not say the lokoctl run cannot be split into waves", p.Notes)
	}
}

// TestApplyWaveNoHealthStops: a health gate with nothing to ask
// (ErrNoHealth: no kubeconfig) stops the rollout at its first wave at
// once, naming why, rather than waiting for the timeout (1h here: the
// test would hang) for an answer that cannot come.
func TestApplyWaveNoHealthStops(t *testing.T) {
	p := wavePlan()
	p.Rollout.Timeout = "1h"
	w := applyWaves(t, p, WaveOptions{Health: noHealth{}})
	if w.res.Outcome != OutcomeRolloutStopped || w.err == nil || !strings.Contains(w.err.Error(), "rollout stopped at wave 1 of 3") ||
		!strings.Contains(w.res.Rollout.Unhealthy["n1"], "unknown: no kubeconfig: health cannot be asked") {
		t.Fatalf("outcome %s, err %v, rollout %+v: want stopped at wave 1 with n1 unknown", w.res.Outcome, w.err, w.res.Rollout)
	}
}

type noHealth struct{}

func (noHealth) Unhealthy(context.Context, []string) (map[string]string, error) {
	return nil, fmt.Errorf("no kubeconfig: %w", ErrNoHealth)
}
