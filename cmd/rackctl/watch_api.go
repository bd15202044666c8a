package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/view"
	"github.com/rackctl/rackctl/watch"
	"github.com/rackctl/rackctl/web"
)

// watchHandler is what watch serves on --listen: the loop's /metrics,
// /healthz and /webhook, the rack's /api/ and the web view at "/", whose
// observation and plan run in the background until ctx ends. *onEvent is
// set to publish each outcome of the loop and ask for a new observation.
func (g *globals) watchHandler(ctx context.Context, w *watch.Watcher, wf *watchFlags, onEvent *func(watch.EventRecord)) (http.Handler, error) {
	if wf.statusInterval <= 0 {
		return nil, fmt.Errorf("--status-interval %s: want a positive duration", wf.statusInterval)
	}
	srv, err := g.apiServer(ctx, w, w.Spec, wf.statusInterval, &wf.drivers, wf.web)
	if err != nil {
		return nil, err
	}
	*onEvent = func(r watch.EventRecord) {
		srv.Publish(api.Event{Type: api.EventOutcome, Time: r.Time.UTC(), Commit: r.Commit, Outcome: string(r.Outcome), Message: r.Reason})
		srv.Kick()
	}
	fl, err := wf.web.fleet(ctx)
	if err != nil {
		return nil, err
	}
	go srv.Run(ctx)
	return rackMux(srv, w.Handler(), web.Config{API: srv, Fleet: fl})
}

// rackMux serves the API under /api/, the web view at "/" and its assets,
// the fleet page and its GET /api/fleet, and rest (watch's /metrics, /healthz, /webhook) for every other path.
func rackMux(srv *api.Server, rest http.Handler, wc web.Config) (http.Handler, error) {
	page, err := web.Handler(wc)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", srv.Handler())
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /ui/", page)
	mux.Handle("GET /fleet", page)
	mux.Handle("GET /api/fleet", page)
	mux.Handle("/", rest)
	return mux, nil
}

// apiServer is the rack API over spec (w nil: no loop). It observes and
// plans through engines of its own, so a status read never shares a BMC
// session or a lock with the loop's apply. Its plans never run terraform
// or lokoctl, which would contend with the loop's apply for their state
// and working directory: the plan notes the provisioner run instead. The
// observing engine keeps its BMC sessions until ctx ends.
func (g *globals) apiServer(ctx context.Context, w *watch.Watcher, spec func() *schema.Rack, interval time.Duration, d *engine.DriverConfig, wf webFlags) (*api.Server, error) {
	eng, err := g.engine(d)
	if err != nil {
		return nil, err
	}
	// The observation reads every BMC each interval: over sessions of its
	// own, kept until ctx ends (not the loop's: a status read never waits
	// for an apply's BMC call).
	eng.KeepBMCSessions()
	go func() {
		<-ctx.Done()
		if err := eng.Close(); err != nil {
			g.log.Debug("closing the API's BMC sessions", "err", err)
		}
	}()
	pd := *d
	pd.ProvisionerRun = string(reconcile.ProvisionerNever)
	planEng, err := g.engine(&pd)
	if err != nil {
		return nil, err
	}
	token, err := wf.approveToken()
	if err != nil {
		return nil, err
	}
	observe := func(ctx context.Context, s *schema.Rack) (*view.Status, error) {
		r, err := eng.Rack(s)
		if err != nil {
			return nil, err
		}
		st, err := eng.StatusWith(ctx, r, engine.StatusOptions{BootDevice: true})
		if err != nil {
			return nil, err
		}
		v := view.NewStatus(st)
		return &v, nil
	}
	plan := func(ctx context.Context, s *schema.Rack) (*reconcile.Plan, error) {
		sess, err := planEng.Open(s)
		if err != nil {
			return nil, err
		}
		commit := ""
		if w != nil {
			commit = w.Status().Current
		}
		return sess.Plan(ctx, nil, commit)
	}
	history := func(limit int) (*view.History, error) {
		entries, err := eng.History(limit)
		if err != nil {
			return nil, err
		}
		v := view.NewHistory(entries)
		return &v, nil
	}
	return api.New(api.Config{StateDir: g.stateDir, Watcher: w, Spec: spec, Observe: observe, Plan: plan, History: history,
		ApproveToken: token, Interval: interval, Log: g.log})
}
