package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// What a local maintenance override (state.MaintenanceFile, `rackctl
// maintenance NODE on|off`) is to the spec it meets.
const (
	// OverrideActive: it differs from rack.yaml and is applied: drift
	// from git until committed or turned off.
	OverrideActive = "active"
	// OverrideSpent: rack.yaml says the same; nothing to apply, the next
	// apply (or watch's next plan) removes it.
	OverrideSpent = "spent"
	// OverrideUnknownNode: rack.yaml has no node of that name (removed
	// since); ignored until `rackctl maintenance NODE off` removes it.
	OverrideUnknownNode = "unknown-node"
	// OverrideExcluded: the node is excluded in rack.yaml, which
	// maintenance cannot be at the same time; ignored.
	OverrideExcluded = "excluded"
)

// LocalMaintenance is one override and what it is to the spec.
type LocalMaintenance struct {
	Node string `json:"node"`
	state.MaintenanceOverride
	State string `json:"state"`
}

// localMaintenance reads the overrides and returns spec with the active
// ones applied as if rack.yaml set nodes[].maintenance, and every
// override with its state, sorted by node. spec itself is not changed:
// the watch loop plans the same revision again at each drift check, with
// the overrides of that moment. Every command that loads a spec for
// plan, apply, watch, status or the API comes through here (Open, Rack).
func (e *Engine) localMaintenance(spec *schema.Rack) (*schema.Rack, []LocalMaintenance, error) {
	m, err := state.New(e.cfg.StateDir).LoadMaintenance()
	if err != nil {
		return nil, nil, err
	}
	if len(m.Nodes) == 0 {
		return spec, nil, nil
	}
	out := *spec
	out.Nodes = slices.Clone(spec.Nodes)
	var list []LocalMaintenance
	for _, name := range m.Names() {
		lm := LocalMaintenance{Node: name, MaintenanceOverride: m.Nodes[name], State: OverrideActive}
		i := slices.IndexFunc(out.Nodes, func(n schema.Node) bool { return n.Name == name })
		switch {
		case i < 0:
			lm.State = OverrideUnknownNode
		case out.Nodes[i].Maintenance == lm.Maintenance:
			lm.State = OverrideSpent
		case out.Nodes[i].Exclude && lm.Maintenance:
			lm.State = OverrideExcluded
		default:
			out.Nodes[i].Maintenance = lm.Maintenance
		}
		list = append(list, lm)
	}
	return &out, list, nil
}

// Note is the plan note of the override: drift from git, and what to do.
func (lm LocalMaintenance) Note() string {
	since := fmt.Sprintf("since %s by %s", lm.At.UTC().Format("2006-01-02 15:04 UTC"), lm.By)
	if lm.Reason != "" {
		since += " (" + lm.Reason + ")"
	}
	onOff := "on"
	if !lm.Maintenance {
		onOff = "off"
	}
	switch lm.State {
	case OverrideSpent:
		return fmt.Sprintf("maintenance: %s: the local override (%s %s) is now in rack.yaml: spent, the next apply removes it", lm.Node, onOff, since)
	case OverrideUnknownNode:
		return fmt.Sprintf("maintenance: %s: the local override (%s %s) names no node of rack.yaml: ignored; remove it with `rackctl maintenance %s off`", lm.Node, onOff, since, lm.Node)
	case OverrideExcluded:
		return fmt.Sprintf("maintenance: %s: the local override (on %s) is ignored: rack.yaml excludes the node; remove it with `rackctl maintenance %s off`", lm.Node, since, lm.Node)
	}
	if lm.Maintenance {
		return fmt.Sprintf("maintenance: %s on locally %s, not in rack.yaml: commit `maintenance: true` or run `rackctl maintenance %s off`", lm.Node, since, lm.Node)
	}
	return fmt.Sprintf("maintenance: %s off locally %s, rack.yaml says `maintenance: true`: commit its removal or run `rackctl maintenance %s on`", lm.Node, since, lm.Node)
}

// noteLocalMaintenance adds the overrides' notes to p and the digest of
// maintenance.json to what p observed: a saved plan made under other
// overrides is stale.
func (s *Session) noteLocalMaintenance(p *reconcile.Plan) error {
	h, found, err := state.New(s.e.cfg.StateDir).Digest(state.MaintenanceFile)
	if err != nil {
		return fmt.Errorf("state %s: %w", state.MaintenanceFile, err)
	}
	if !found {
		h = reconcile.Absent
	}
	p.Observed[reconcile.StateKey(state.MaintenanceFile)] = h
	for _, lm := range s.local {
		p.Notes = append(p.Notes, lm.Note())
	}
	return nil
}

// RemoveSpentMaintenance removes the overrides the session found spent
// (rack.yaml says the same) and still as they were, so an override set
// meanwhile stays. Apply calls it; so do `rackctl apply` and watch after a
// plan with nothing to apply.
func (s *Session) RemoveSpentMaintenance() error {
	var spent []LocalMaintenance
	for _, lm := range s.local {
		if lm.State == OverrideSpent {
			spent = append(spent, lm)
		}
	}
	if len(spent) == 0 {
		return nil
	}
	return state.New(s.e.cfg.StateDir).UpdateMaintenance(func(m *state.Maintenance) error {
		for _, lm := range spent {
			if cur, ok := m.Nodes[lm.Node]; ok && sameOverride(cur, lm.MaintenanceOverride) {
				delete(m.Nodes, lm.Node)
				s.e.log.Info("spent maintenance override removed: rack.yaml says the same", "node", lm.Node, "maintenance", lm.Maintenance)
			}
		}
		return nil
	})
}

// localNodes are the nodes an active override put in maintenance.
func (s *Session) localNodes() map[string]bool {
	out := map[string]bool{}
	for _, lm := range s.local {
		out[lm.Node] = lm.State == OverrideActive && lm.Maintenance
	}
	return out
}

// CountActive is how many overrides are applied (drift from git).
func CountActive(list []LocalMaintenance) int {
	n := 0
	for _, lm := range list {
		if lm.State == OverrideActive {
			n++
		}
	}
	return n
}

// LocalMaintenance reads the overrides as they meet spec, for `rackctl
// maintenance` to list.
func (e *Engine) LocalMaintenance(spec *schema.Rack) ([]LocalMaintenance, error) {
	_, list, err := e.localMaintenance(spec)
	return list, err
}

func sameOverride(a, b state.MaintenanceOverride) bool {
	return a.Maintenance == b.Maintenance && a.By == b.By && a.At.Equal(b.At) && a.Reason == b.Reason
}

// MaintenanceGauge is the gauge rackctl_maintenance_local_overrides: the
// local maintenance overrides applied over spec() (active, not in
// rack.yaml), read from the state dir at each scrape, so an alert can say
// "uncommitted maintenance". Before a valid spec (spec() nil) every
// override counts; an unreadable maintenance.json is NaN.
func (e *Engine) MaintenanceGauge(spec func() *schema.Rack) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rackctl_maintenance_local_overrides",
		Help: "Nodes in or out of maintenance by a local override (rackctl maintenance) that rack.yaml does not say: uncommitted maintenance. NaN: maintenance.json unreadable.",
	}, func() float64 {
		s := spec()
		if s == nil {
			m, err := state.New(e.cfg.StateDir).LoadMaintenance()
			if err != nil {
				return math.NaN()
			}
			return float64(len(m.Nodes))
		}
		_, list, err := e.localMaintenance(s)
		if err != nil {
			return math.NaN()
		}
		return float64(CountActive(list))
	})
}
