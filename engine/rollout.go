package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// RolloutConfig says how plan, apply and watch split a disruptive plan
// into waves and follow them.
type RolloutConfig struct {
	// OnlyWave, when > 0, applies the shared changes and that wave alone.
	OnlyWave int
	// NoWaves plans no waves and applies a plan with waves in one step.
	NoWaves bool
	// MaxWorkersPercent and MaxNodesPercent are the management node's
	// blast-radius limits (--max-disruptive-workers-percent,
	// --max-disruptive-nodes-percent): the wave size of workers and
	// flatcar nodes when rack.yaml's rollout leaves maxUnavailable out,
	// and watch's limits. 0: schema.DefaultMaxUnavailable; negative: no
	// limit (one wave after the canary).
	MaxWorkersPercent, MaxNodesPercent int
}

// planning is how plans split disruptive changes into waves.
func (c RolloutConfig) planning() reconcile.WavePlanning {
	return reconcile.WavePlanning{Off: c.NoWaves,
		Limits: schema.MaxUnavailable{Worker: percentLimit(c.MaxWorkersPercent), Node: percentLimit(c.MaxNodesPercent)}}
}

// percentLimit is a limit in percent as a wave size.
func percentLimit(pct int) schema.Quantity {
	switch {
	case pct == 0:
		return ""
	case pct < 0 || pct > 100:
		return "100%"
	}
	return schema.Quantity(strconv.Itoa(pct) + "%")
}

// rolloutGate is the health gate between waves: a node is healthy when
// the verify layer's last outcome for it (installs.json) is installed
// and, on a Lokomotive rack, its Node is healthy (NodeHealth: Ready,
// kubelet version, labels). A node with no outcome recorded was not seen
// to come back: it is unknown, and unknown holds the rollout. Without a
// verify layer (skipInstalls) no outcome is recorded: the cluster alone
// is asked.
type rolloutGate struct {
	e    *Engine
	rack *schema.Rack
	// skipInstalls: no verify layer records the installs' outcomes.
	skipInstalls bool
}

var _ reconcile.HealthGate = rolloutGate{}

func (g rolloutGate) Unhealthy(ctx context.Context, nodes []string) (map[string]string, error) {
	bad := map[string]string{}
	if !g.skipInstalls {
		if err := g.installOutcomes(nodes, bad); err != nil {
			return nil, err
		}
	}
	if g.rack.Provisioner != schema.Lokomotive {
		return bad, nil
	}
	return bad, g.clusterHealth(ctx, nodes, bad)
}

// installOutcomes adds to bad the nodes whose last install outcome is not
// installed, or not recorded.
func (g rolloutGate) installOutcomes(nodes []string, bad map[string]string) error {
	installs, err := state.New(g.e.cfg.StateDir).LoadInstalls()
	if err != nil {
		return fmt.Errorf("rollout health: %w", err)
	}
	for _, n := range nodes {
		switch rec, ok := installs.Nodes[n]; {
		case !ok:
			bad[n] = "unknown: no verify outcome recorded"
		case rec.Outcome != state.InstallInstalled:
			bad[n] = "install " + string(rec.Outcome) + ": " + rec.Reason
		}
	}
	return nil
}

// clusterHealth adds to bad the nodes whose Node is missing or unhealthy.
func (g rolloutGate) clusterHealth(ctx context.Context, nodes []string, bad map[string]string) error {
	health, err := g.e.NodeHealth(ctx, g.rack)
	if errors.Is(err, cluster.ErrNoKubeconfig) {
		return fmt.Errorf("rollout health: %w: %w (or apply with --no-waves)", reconcile.ErrNoHealth, err)
	}
	if err != nil {
		return fmt.Errorf("rollout health: %w", err)
	}
	for _, n := range nodes {
		why := ""
		switch h, ok := health[n]; {
		case !ok:
			why = "no Node in the cluster"
		case !h.Healthy:
			why = strings.Join(h.Problems, "; ")
		}
		if why != "" && bad[n] != "" {
			why = bad[n] + "; " + why
		}
		if why != "" {
			bad[n] = why
		}
	}
	return nil
}

// waveOptions are the reconcile options of the config's rollout for rack.
// A Flatcar rack whose installs no verify layer records has no health to
// observe: its waves wait only until their changes succeeded (no gate),
// and the plan says so (healthNote).
func (e *Engine) waveOptions(rack *schema.Rack) reconcile.WaveOptions {
	c := e.cfg.Drivers.Rollout
	wo := reconcile.WaveOptions{Only: c.OnlyWave, Off: c.NoWaves}
	if e.recordsInstalls() || rack.Provisioner == schema.Lokomotive {
		wo.Health = rolloutGate{e: e, rack: rack, skipInstalls: !e.recordsInstalls()}
	}
	return wo
}

// recordsInstalls tells whether the verify layer records each install's
// outcome (verifyDriver: it records only installs rackctl drove).
func (e *Engine) recordsInstalls() bool {
	d := e.cfg.Drivers
	return d.Verify != "none" && d.ProvisionerRun == "auto"
}

// healthNote is the plan's note when its waves have no health to wait
// for; "" when they do or it has none.
func (e *Engine) healthNote(rack *schema.Rack, p *reconcile.Plan) string {
	if p.Rollout == nil || e.cfg.Drivers.Rollout.NoWaves || e.recordsInstalls() || rack.Provisioner == schema.Lokomotive {
		return ""
	}
	return "rollout: no install is verified (--verify none, or --provisioner-run never): rackctl observes no health between waves, each waits only until its changes succeeded"
}
