package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rackctl/rackctl/state"
)

// LayerRollout names the events of a rollout's waves (Event.Wave); it is
// no layer of Plugins.
const LayerRollout Layer = "rollout"

// OutcomeRolloutStopped: a wave did not become healthy in time; the
// nodes of the later waves were left untouched.
const OutcomeRolloutStopped = state.OutcomeRolloutStopped

// RolloutReport is what an apply did of its plan's rollout.
type RolloutReport = state.RolloutRecord

// HealthGate tells which of nodes are not healthy now, with why. An error
// means health could not be asked: the nodes are unknown, and a rollout
// holds as for unhealthy nodes. An error wrapping ErrNoHealth says it
// never can be (nothing to ask: no kubeconfig): the rollout stops at once
// rather than after its timeout.
type HealthGate interface {
	Unhealthy(ctx context.Context, nodes []string) (map[string]string, error)
}

// ErrNoHealth: a HealthGate has nothing to ask about the nodes' health.
var ErrNoHealth = errors.New("health cannot be asked")

// WaveOptions says how Apply follows a plan's rollout.
type WaveOptions struct {
	// Only, when > 0, runs the shared changes and wave Only alone (the
	// other waves' changes are not attempted).
	Only int
	// Off runs the plan in one step, as without a rollout section.
	Off bool
	// Health is asked after each wave (and, before a wave of a controller,
	// about the other controllers). Nil: a wave is healthy when all its
	// changes succeeded (verify included).
	Health HealthGate
	// Poll is how often Health is asked (default: a quarter of the
	// settle time, between 100ms and 2s).
	Poll time.Duration
}

// checkWaves refuses wave options the plan cannot follow.
func checkWaves(p *Plan, wo WaveOptions) error {
	if wo.Only <= 0 {
		return nil
	}
	switch {
	case wo.Off:
		return fmt.Errorf("apply: --wave %d and --no-waves: pick one", wo.Only)
	case p.Rollout == nil:
		return fmt.Errorf("apply: --wave %d: the plan has no waves (it disrupts at most one installed node)", wo.Only)
	case wo.Only > len(p.Rollout.Waves):
		return fmt.Errorf("apply: --wave %d: the plan has %d waves", wo.Only, len(p.Rollout.Waves))
	}
	return nil
}

// runPhases runs every layer's phase: in one step, or following p's
// rollout (see waves.go).
func (a *Applier) runPhases(ctx context.Context, p *Plan, execs map[Layer]Executor, run *applyRun) {
	ro, wo := p.Rollout, a.opts.Waves
	if ro == nil || wo.Off {
		for _, l := range a.plugins {
			a.runLayer(ctx, p, l, execs[l.Layer()], run)
		}
		return
	}
	first := slices.IndexFunc(a.plugins, inWaves)
	if first < 0 {
		first = len(a.plugins)
	}
	last := first
	for last < len(a.plugins) && inWaves(a.plugins[last]) {
		last++
	}
	run.only = func(c Change) (Change, bool) { return ro.inWave(c, 0) }
	for _, l := range a.plugins[:first] {
		a.runLayer(ctx, p, l, execs[l.Layer()], run)
	}
	run.res.Rollout = &RolloutReport{Waves: len(ro.Waves)}
	for wave := 0; wave <= len(ro.Waves); wave++ {
		run.only = func(c Change) (Change, bool) { return ro.inWave(c, wave) }
		if wave == 0 {
			a.runLayers(ctx, p, a.plugins[first:last], execs, run)
			continue
		}
		if wo.Only > 0 && wave != wo.Only {
			a.skipWave(p, a.plugins[:last], run)
			continue
		}
		a.runWave(ctx, p, ro.Waves[wave-1], a.plugins[:last], execs, run)
	}
	run.only = nil
	a.runLayers(ctx, p, a.plugins[last:], execs, run)
}

// runWave runs wave w: its changes of the layers before the wave layers
// (a DHCP drift fix's power cycles), then of the wave layers, then waits
// for its nodes to be healthy.
func (a *Applier) runWave(ctx context.Context, p *Plan, w Wave, layers []Plugin, execs map[Layer]Executor, run *applyRun) {
	stoppedBefore := run.stopped
	if !run.stopped {
		a.startWave(ctx, p, w, run)
	}
	for _, l := range layers {
		// A layer before the wave layers has run its phase: it runs
		// again only for changes of this wave (a second AfterPhase of a
		// layer with none would persist its state twice).
		if inWaves(l) || a.hasChanges(p, l, run) {
			a.runLayer(ctx, p, l, execs[l.Layer()], run)
		}
	}
	// A wave layer fails a change per node and goes on; a layer before
	// them (the drift fix's power cycle) stops everything: either way the
	// rollout stops at this wave, naming its failed nodes.
	if !stoppedBefore && (!run.stopped || a.waveFailed(w, run)) {
		a.gateWave(ctx, p.Rollout, w, run)
	}
}

// runLayers runs layers' phases in order.
func (a *Applier) runLayers(ctx context.Context, p *Plan, layers []Plugin, execs map[Layer]Executor, run *applyRun) {
	for _, l := range layers {
		a.runLayer(ctx, p, l, execs[l.Layer()], run)
	}
}

// hasChanges tells whether l has a change to run (or to skip) in the
// current step of run.
func (a *Applier) hasChanges(p *Plan, l Plugin, run *applyRun) bool {
	return slices.ContainsFunc(p.Changes, func(c Change) bool {
		if c.Layer != l.Layer() || c.Action == ActionNoop {
			return false
		}
		_, ok := run.only(c)
		return ok
	})
}

// waveFailed tells whether a change of a node of w failed, with the
// apply not cancelled.
func (a *Applier) waveFailed(w Wave, run *applyRun) bool {
	return run.res.Outcome != OutcomeCancelled && slices.ContainsFunc(run.res.Failed, func(f ChangeError) bool {
		return slices.Contains(w.Nodes, f.Change.Node)
	})
}

// skipWave reports the changes of a wave not run (--wave N).
func (a *Applier) skipWave(p *Plan, layers []Plugin, run *applyRun) {
	for _, l := range layers {
		var cs []Change
		for _, c := range p.Changes {
			if c.Layer != l.Layer() || c.Action == ActionNoop {
				continue
			}
			if c, ok := run.only(c); ok {
				cs = append(cs, c)
			}
		}
		a.skip(l.Layer(), cs, run)
	}
}

// startWave stops the rollout when a change before the wave failed, and
// waits, before a wave that disrupts a controller, until the other
// controllers are healthy: a cluster must never lose two.
func (a *Applier) startWave(ctx context.Context, p *Plan, w Wave, run *applyRun) {
	a.emit(Event{Layer: LayerRollout, Wave: w.Number, Nodes: w.Nodes, Status: StatusStarted})
	if len(run.res.Failed) > 0 {
		// Whatever failed before this wave, no node is disrupted on top.
		a.stopRollout(w, failedBy(run.res.Failed), "changes before this wave failed", run)
		return
	}
	if len(w.Await) == 0 {
		return
	}
	if bad := a.awaitHealthy(ctx, p.Rollout, w.Await, nil); len(bad) > 0 {
		a.stopRollout(w, bad, "another controller is not healthy", run)
	}
}

// gateWave waits until w's nodes are healthy for the rollout's settle
// time, or stops the rollout.
func (a *Applier) gateWave(ctx context.Context, ro *Rollout, w Wave, run *applyRun) {
	failed := failedBy(slices.DeleteFunc(slices.Clone(run.res.Failed), func(f ChangeError) bool {
		return !slices.Contains(w.Nodes, f.Change.Node)
	}))
	if bad := a.awaitHealthy(ctx, ro, w.Nodes, failed); len(bad) > 0 {
		why := "not healthy in " + ro.Timeout
		if len(failed) > 0 {
			why = "a change of this wave failed" // no wait: it cannot become healthy
		}
		a.stopRollout(w, bad, why, run)
		return
	}
	run.res.Rollout.Completed = w.Number
	a.emit(Event{Layer: LayerRollout, Wave: w.Number, Nodes: w.Nodes, Status: StatusDone})
}

// failedBy is the failed changes' errors by node ("" for a change of no
// node), for a rollout's report.
func failedBy(failed []ChangeError) map[string]string {
	out := map[string]string{}
	for _, f := range failed {
		out[f.Change.Node] = f.Err.Error()
	}
	return out
}

// awaitHealthy asks the health gate about nodes until all have been
// healthy for the rollout's settle time; it returns the unhealthy ones
// (node → why) when the timeout comes first. failed are already known
// unhealthy.
func (a *Applier) awaitHealthy(ctx context.Context, ro *Rollout, nodes []string, failed map[string]string) map[string]string {
	if len(failed) > 0 {
		return failed
	}
	gate := a.opts.Waves.Health
	if gate == nil {
		return nil
	}
	settle, _ := time.ParseDuration(ro.Settle)
	timeout, _ := time.ParseDuration(ro.Timeout)
	poll := a.opts.Waves.Poll
	if poll <= 0 {
		poll = min(max(settle/4, 100*time.Millisecond), 2*time.Second)
	}
	deadline := time.Now().Add(timeout)
	var healthySince time.Time
	for {
		bad, err := gate.Unhealthy(ctx, nodes)
		if err != nil {
			bad = map[string]string{}
			for _, n := range nodes {
				bad[n] = "unknown: " + err.Error()
			}
			if errors.Is(err, ErrNoHealth) {
				return bad
			}
		}
		now := time.Now()
		switch {
		case len(bad) > 0:
			healthySince = time.Time{}
		case healthySince.IsZero():
			healthySince = now
		}
		if len(bad) == 0 && now.Sub(healthySince) >= settle {
			return nil
		}
		if now.After(deadline) || ctx.Err() != nil {
			if len(bad) == 0 { // healthy, but not yet for settle
				for _, n := range nodes {
					bad[n] = "healthy for less than " + ro.Settle
				}
			}
			return bad
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(poll, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// stopRollout records that wave w stopped the rollout: every later change
// is not attempted.
func (a *Applier) stopRollout(w Wave, bad map[string]string, why string, run *applyRun) {
	rep := run.res.Rollout
	rep.StoppedAt, rep.Unhealthy = w.Number, bad
	names := slices.Sorted(maps.Keys(bad))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " (" + bad[n] + ")"
	}
	err := fmt.Errorf("rollout stopped at wave %d of %d (%s): %s: the nodes of the later waves were left untouched; fix them and apply again, or 'rackctl apply --wave N' / '--no-waves'",
		w.Number, rep.Waves, why, strings.Join(parts, ", "))
	a.emit(Event{Layer: LayerRollout, Wave: w.Number, Nodes: names, Status: StatusFailed, Err: err})
	run.err = joinErr(run.err, err)
	run.res.Outcome = OutcomeRolloutStopped
	run.stopped = true
}

func joinErr(old, err error) error {
	if old == nil {
		return err
	}
	return fmt.Errorf("%w; %w", err, old)
}
