package engine

import (
	"context"

	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

// reconciler is the watch loop's way into the engine: the same sessions
// as `rackctl apply`, progress to the log.
type reconciler struct {
	e    *Engine
	last *Session // of the last Plan, for the Apply that follows it
}

var _ watch.Reconciler = (*reconciler)(nil)

// Reconciler is the watch loop's Reconciler. It makes the state dir,
// where the loop keeps its own records too. From then on the engine keeps
// its BMC drivers and their sessions from one plan to the next, so a
// drift check reads each BMC in a round trip per read; Close ends them
// when the loop stops.
func (e *Engine) Reconciler() (watch.Reconciler, error) {
	if err := state.New(e.cfg.StateDir).Ensure(); err != nil {
		return nil, err
	}
	e.kept.keep()
	return &reconciler{e: e}, nil
}

func (r *reconciler) Plan(ctx context.Context, rack *schema.Rack, commit string) (*reconcile.Plan, error) {
	s, err := r.e.Open(rack)
	if err != nil {
		return nil, err
	}
	p, err := s.Plan(ctx, nil, commit)
	if err != nil {
		return nil, err
	}
	if !p.HasChanges() {
		// No apply follows to remove what rack.yaml now says too.
		if err := s.RemoveSpentMaintenance(); err != nil {
			r.e.log.Warn("spent maintenance overrides not removed", "err", err)
		}
	}
	r.last = s
	return p, nil
}

var _ watch.ProgressReconciler = (*reconciler)(nil)

func (r *reconciler) Apply(ctx context.Context, rack *schema.Rack, p *reconcile.Plan) (reconcile.Result, error) {
	return r.ApplyProgress(ctx, rack, p, nil)
}

// ApplyProgress is Apply, reporting each step to progress (may be nil) as
// well as to the log.
func (r *reconciler) ApplyProgress(ctx context.Context, rack *schema.Rack, p *reconcile.Plan, progress func(reconcile.Event)) (reconcile.Result, error) {
	s := r.last
	if s == nil || s.spec != rack {
		var err error
		if s, err = r.e.Open(rack); err != nil {
			return reconcile.Result{}, err
		}
	}
	log := r.e.log.With("commit", p.Commit)
	return s.apply(ctx, p, func(ev reconcile.Event) {
		if progress != nil {
			progress(ev)
		}
		attrs := []any{"layer", string(ev.Layer), "status", string(ev.Status)}
		if ev.Change != nil {
			attrs = append(attrs, "action", string(ev.Change.Action), "address", ev.Change.Address)
			if ev.Change.Node != "" {
				attrs = append(attrs, "node", ev.Change.Node)
			}
		}
		if ev.Err != nil {
			log.Warn("apply", append(attrs, "err", ev.Err)...)
			return
		}
		log.Info("apply", attrs...)
	}, log)
}
