package api

import (
	"context"
	"fmt"
	"time"

	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
)

// Planner plans spec against the live rack, as `rackctl plan` would (the
// command wires engine.Session.Plan to it). It changes nothing.
type Planner func(ctx context.Context, spec *schema.Rack) (*reconcile.Plan, error)

// Plan states (PlanDoc.State).
const (
	PlanPending = "pending" // no plan finished yet
	PlanPlanned = "planned" // PlannedAt is when the plan in the document finished
	PlanFailed  = "failed"  // the last plan failed; Error says why (the one before stays)
	PlanOff     = "off"     // this server does not plan
)

// PlanDoc is GET /api/plan: what the newest valid spec would change.
type PlanDoc struct {
	FormatVersion string     `json:"format_version"`
	State         string     `json:"state"`
	PlannedAt     *time.Time `json:"planned_at,omitempty"`
	Duration      string     `json:"duration,omitempty"`
	Error         string     `json:"error,omitempty"`
	// Plan is `rackctl plan -o json`'s document (docs/json.md); null
	// until a plan finished.
	Plan *reconcile.PlanView `json:"plan"`
	// Layers are the plan's changes (no-ops left out) grouped by layer,
	// then by node, in plan order, each with its diff.
	Layers []PlanLayer `json:"layers"`
}

// PlanLayer is the changes of one layer.
type PlanLayer struct {
	Layer string      `json:"layer"`
	Nodes []PlanGroup `json:"nodes"`
}

// PlanGroup is the changes of one layer to one node ("" for the rack's
// own files and runs).
type PlanGroup struct {
	Node    string       `json:"node"`
	Changes []PlanChange `json:"changes"`
}

// PlanChange is one change, its diff included (plans hold no secrets).
type PlanChange struct {
	Address    string `json:"address"` // as in plan.changes[].address
	Action     string `json:"action"`
	Reason     string `json:"reason,omitempty"`
	Disruptive bool   `json:"disruptive"`
	Diff       string `json:"diff,omitempty"`
}

// planLayers groups p's changes by layer and node, in order of first
// appearance.
func planLayers(p *reconcile.Plan) []PlanLayer {
	out := []PlanLayer{}
	layerAt := map[string]int{}
	nodeAt := map[[2]string]int{}
	for _, c := range p.Changes {
		if c.Action == reconcile.ActionNoop {
			continue
		}
		layer := string(c.Layer)
		li, ok := layerAt[layer]
		if !ok {
			li = len(out)
			layerAt[layer] = li
			out = append(out, PlanLayer{Layer: layer})
		}
		key := [2]string{layer, c.Node}
		ni, ok := nodeAt[key]
		if !ok {
			ni = len(out[li].Nodes)
			nodeAt[key] = ni
			out[li].Nodes = append(out[li].Nodes, PlanGroup{Node: c.Node})
		}
		g := &out[li].Nodes[ni]
		g.Changes = append(g.Changes, PlanChange{Address: layer + "/" + c.Address, Action: string(c.Action),
			Reason: c.Reason, Disruptive: c.Disruptive, Diff: c.Diff})
	}
	return out
}

// PlanNow plans once and keeps the result; Run calls it after each
// observation.
func (s *Server) PlanNow(ctx context.Context) {
	spec := s.cfg.Spec()
	if s.cfg.Plan == nil || spec == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ObserveTimeout)
	defer cancel()
	start := s.cfg.Now()
	p, err := s.plan(ctx, spec)
	end := s.cfg.Now().UTC()
	s.mu.Lock()
	d := &s.planDoc
	if err != nil {
		s.log.Warn("planning the rack for /api/plan", "err", err)
		d.State, d.Error = PlanFailed, err.Error()
	} else {
		v := reconcile.NewPlanView(p)
		*d = PlanDoc{State: PlanPlanned, PlannedAt: &end, Duration: end.Sub(start).Round(time.Millisecond).String(),
			Plan: &v, Layers: planLayers(p)}
	}
	ev := Event{Type: EventPlan, Time: end, Outcome: d.State, Message: d.Error}
	s.mu.Unlock()
	s.Publish(ev)
}

func (s *Server) plan(ctx context.Context, spec *schema.Rack) (p *reconcile.Plan, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("plan: panic: %v", r)
		}
	}()
	return s.cfg.Plan(ctx, spec)
}

// Plan is the document of GET /api/plan as of now.
func (s *Server) Plan() PlanDoc {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.planDoc
	d.FormatVersion = FormatVersion
	if s.cfg.Plan == nil {
		d.State = PlanOff
	}
	if d.Layers == nil {
		d.Layers = []PlanLayer{}
	}
	return d
}
