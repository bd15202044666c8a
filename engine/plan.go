package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
)

// Session is one plan and the apply that follows it, with the same
// drivers: `plan`, `apply` and every revision of `watch` run through one.
type Session struct {
	e *Engine
	// spec is the spec as loaded; rack is spec with the local
	// maintenance overrides applied, which the session plans and applies.
	spec, rack *schema.Rack
	local      []LocalMaintenance
	drv        *drivers
}

// Open applies the local maintenance overrides to spec and builds the
// drivers the Config selects for it.
func (e *Engine) Open(spec *schema.Rack) (*Session, error) {
	rack, local, err := e.localMaintenance(spec)
	if err != nil {
		return nil, err
	}
	drv, err := e.drivers(rack)
	if err != nil {
		return nil, err
	}
	return &Session{e: e, spec: spec, rack: rack, local: local, drv: drv}, nil
}

// LocalMaintenance are the local maintenance overrides the session met.
func (s *Session) LocalMaintenance() []LocalMaintenance { return s.local }

// Plan compares the spec with the live state. targets (node name, FQDN or
// MAC) limit it to those nodes; commit is recorded in the plan.
func (s *Session) Plan(ctx context.Context, targets []string, commit string) (*reconcile.Plan, error) {
	for _, t := range targets {
		if s.rack.Node(t) == nil {
			return nil, fmt.Errorf("-target %q: no node of that name, FQDN or MAC in %s", t, s.e.cfg.SpecFile)
		}
	}
	p, err := reconcile.Build(ctx, s.rack, reconcile.PlanOptions{
		LocalMaintenance: s.localNodes(), // the notes of these nodes name the override

		SpecFile: s.e.cfg.SpecFile,
		Root:     s.e.cfg.Root,
		StateDir: s.e.cfg.StateDir,
		Layout:   s.e.Layout(),
		Targets:  targets,
		Layers:   s.drv.layers,
		Waves:    s.e.cfg.Drivers.Rollout.planning(),
	})
	if err != nil {
		return nil, err
	}
	if note := s.e.healthNote(s.rack, p); note != "" {
		p.Notes = append(p.Notes, note)
	}
	if p.Commit == "" {
		p.Commit = commit
	}
	if err := s.noteLocalMaintenance(p); err != nil {
		return nil, err
	}
	return p, nil
}

// Apply carries out p, made by Plan or read from a saved plan of the same
// rack, reporting each step to progress (may be nil).
func (s *Session) Apply(ctx context.Context, p *reconcile.Plan, progress func(reconcile.Event)) (reconcile.Result, error) {
	return s.apply(ctx, p, progress, s.e.log)
}

// apply carries out p, then removes the spent maintenance overrides (not
// before: the plan observed maintenance.json as it was).
func (s *Session) apply(ctx context.Context, p *reconcile.Plan, progress func(reconcile.Event), log *slog.Logger) (reconcile.Result, error) {
	res, err := s.applyPlan(ctx, p, progress, log)
	if rerr := s.RemoveSpentMaintenance(); rerr != nil {
		log.Warn("spent maintenance overrides not removed", "err", rerr)
	}
	return res, err
}

func (s *Session) applyPlan(ctx context.Context, p *reconcile.Plan, progress func(reconcile.Event), log *slog.Logger) (reconcile.Result, error) {
	return reconcile.Apply(ctx, p, reconcile.ApplyOptions{
		Root:        s.e.cfg.Root,
		StateDir:    s.e.cfg.StateDir,
		Commit:      p.Commit,
		Log:         log,
		Progress:    progress,
		Executors:   s.drv.executors,
		Validate:    s.drv.validate,
		BeforePhase: s.e.cfg.BeforePhase,
		Waves:       s.e.waveOptions(s.rack),
	})
}

// CheckSaved runs the validators (dnsmasq --test) over the new content of
// the files a saved plan writes whole, before anything is written: a fresh
// plan was checked when it was made, a saved one meets the programs of
// today (dnsmasq, the site's own config), and the files phase checks each
// file only as it writes it, after the files before it.
func (s *Session) CheckSaved(ctx context.Context, planFile string, p *reconcile.Plan) error {
	for _, c := range p.Changes {
		if c.Layer != reconcile.LayerFiles || c.Block || (c.Action != reconcile.ActionCreate && c.Action != reconcile.ActionUpdate) {
			continue
		}
		path := strings.TrimPrefix(c.Address, "file:")
		v := s.drv.validate[path]
		if v == nil {
			continue
		}
		if err := v(ctx, c.Content); err != nil {
			return fmt.Errorf("plan %s not applied, nothing written: %s: %w", planFile, path, err)
		}
	}
	return nil
}

// ReadPlanFile reads a plan saved with SavePlan.
func ReadPlanFile(path string) (*reconcile.Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	p, err := reconcile.ReadPlan(f)
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	return p, nil
}

// SavePlan writes the plan 0600: it holds no secrets, but it does hold the
// full content of every file it will write.
func SavePlan(path string, p *reconcile.Plan) error {
	var buf bytes.Buffer
	if err := reconcile.WriteJSON(&buf, p); err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	return atomicfile.Write(path, buf.Bytes(), 0o600)
}
