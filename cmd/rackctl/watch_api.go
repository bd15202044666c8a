package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/view"
	"github.com/rackctl/rackctl/watch"
)

// watchHandler is what watch serves on --listen: the loop's /metrics,
// /healthz and /webhook, and the rack's /api/status, whose node
// observation runs in the background until ctx ends. *kick is set to ask
// for a new observation (after each outcome of the loop).
func (g *globals) watchHandler(ctx context.Context, w *watch.Watcher, wf *watchFlags, kick *func()) (http.Handler, error) {
	if wf.statusInterval <= 0 {
		return nil, fmt.Errorf("--status-interval %s: want a positive duration", wf.statusInterval)
	}
	srv, err := g.apiServer(w, w.Spec, wf)
	if err != nil {
		return nil, err
	}
	*kick = srv.Kick
	go srv.Run(ctx)
	mux := http.NewServeMux()
	mux.Handle("/api/", srv.Handler())
	mux.Handle("/", w.Handler())
	return mux, nil
}

// apiServer is the rack API over spec (w nil: no loop). It observes through
// an engine of its own, so a status read never shares a BMC session or a
// lock with the loop's apply.
func (g *globals) apiServer(w *watch.Watcher, spec func() *schema.Rack, wf *watchFlags) (*api.Server, error) {
	eng, err := g.engine(&wf.drivers)
	if err != nil {
		return nil, err
	}
	observe := func(ctx context.Context, s *schema.Rack) (*view.Status, error) {
		r, err := eng.Rack(s)
		if err != nil {
			return nil, err
		}
		st, err := eng.Status(ctx, r, false)
		if err != nil {
			return nil, err
		}
		v := view.NewStatus(st)
		return &v, nil
	}
	return api.New(api.Config{StateDir: g.stateDir, Watcher: w, Spec: spec, Observe: observe,
		Interval: wf.statusInterval, Log: g.log})
}
