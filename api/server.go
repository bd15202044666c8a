package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/view"
	"github.com/rackctl/rackctl/watch"
)

// Defaults of Config.
const (
	DefaultInterval       = time.Minute
	DefaultObserveTimeout = 2 * time.Minute
)

// Observer reads the live state of spec's nodes: `rackctl status -o
// json`'s document (the command wires engine.Engine.Status to it).
type Observer func(ctx context.Context, spec *schema.Rack) (*view.Status, error)

// Config configures a Server.
type Config struct {
	// StateDir holds watch-events.jsonl (held commits, last errors).
	StateDir string
	// Watcher, when set, is the loop whose state is served; nil for a rack
	// without watch (`rackctl serve`).
	Watcher *watch.Watcher
	// Spec returns the spec to observe (nil: none valid yet). With a
	// Watcher it is the loop's newest valid revision.
	Spec func() *schema.Rack
	// Observe reads the nodes; required.
	Observe Observer
	// Interval between observations (default DefaultInterval); Kick asks
	// for one sooner.
	Interval time.Duration
	// ObserveTimeout bounds one observation, and one plan (default
	// DefaultObserveTimeout).
	ObserveTimeout time.Duration
	// Plan, when set, plans the spec after each observation for GET
	// /api/plan; nil: the document says "off".
	Plan Planner
	// History, when set, serves GET /api/history.
	History HistoryReader
	// ApproveToken, when set, lets POST /api/approve release a held commit
	// for a request that carries it; nil: approving from the web is off.
	ApproveToken []byte
	Log          *slog.Logger
	Now          func() time.Time
}

// Server serves one rack's API and keeps its node observation fresh.
type Server struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}

	mu      sync.Mutex
	obs     Observation
	status  *view.Status
	planDoc PlanDoc

	subMu sync.Mutex
	subs  map[chan Event]struct{}
	done  chan struct{} // closed when Run ends: open event streams end too
}

// New checks cfg and returns a Server; Run keeps it observing.
func New(cfg Config) (*Server, error) {
	if cfg.Observe == nil || cfg.Spec == nil {
		return nil, fmt.Errorf("api: Observe and Spec are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.ObserveTimeout <= 0 {
		cfg.ObserveTimeout = DefaultObserveTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, kick: make(chan struct{}, 1), obs: Observation{State: ObservationPending},
		planDoc: PlanDoc{State: PlanPending}, subs: map[chan Event]struct{}{}, done: make(chan struct{})}, nil
}

// Kick asks Run for an observation now (after the loop applied or found
// drift); it never blocks.
func (s *Server) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run observes (then plans) at once, then every Interval and after each
// Kick, until ctx ends. One observation runs at a time.
func (s *Server) Run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.Observe(ctx)
		s.PlanNow(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Observe reads the nodes once and keeps the result.
func (s *Server) Observe(ctx context.Context) {
	spec := s.cfg.Spec()
	if spec == nil {
		return // stays pending: there is nothing valid to observe
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ObserveTimeout)
	defer cancel()
	start := s.cfg.Now()
	st, err := s.observe(ctx, spec)
	end := s.cfg.Now().UTC()
	s.mu.Lock()
	if err != nil {
		s.log.Warn("observing the rack for /api/status", "err", err)
		s.obs.State, s.obs.Error = ObservationFailed, err.Error()
	} else {
		s.status = st
		s.obs = Observation{State: ObservationObserved, ObservedAt: &end, Duration: end.Sub(start).Round(time.Millisecond).String()}
	}
	ev := Event{Type: EventObservation, Time: end, Outcome: s.obs.State, Message: s.obs.Error}
	s.mu.Unlock()
	s.Publish(ev)
}

// observe calls the Observer; a panic in it (a bug) is an error, not the
// end of the watch process that serves the API.
func (s *Server) observe(ctx context.Context, spec *schema.Rack) (st *view.Status, err error) {
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, fmt.Errorf("observe: panic: %v", r)
		}
	}()
	return s.cfg.Observe(ctx, spec)
}

// Status builds the document as of now.
func (s *Server) Status() (RackStatus, error) {
	evs, err := state.New(s.cfg.StateDir).ReadWatchEvents()
	if err != nil {
		return RackStatus{}, err
	}
	s.mu.Lock()
	obs, st := s.obs, s.status
	s.mu.Unlock()
	spec := s.cfg.Spec()
	doc := RackStatus{FormatVersion: FormatVersion, GeneratedAt: s.cfg.Now().UTC(), Held: []HeldCommit{},
		LastErrors: lastErrors(evs), Observation: obs, Status: st}
	switch {
	case spec != nil:
		doc.Rack = spec.Name
	case st != nil:
		doc.Rack = st.Rack
	}
	held := lastHeld(evs)
	if w := s.cfg.Watcher; w != nil {
		ws := w.Status()
		doc.Watch = watchState(ws)
		held = ws.Held
	}
	if h := heldCommit(evs, held); h != nil {
		doc.Held = append(doc.Held, *h)
	}
	why := "not observed yet"
	if obs.State == ObservationFailed {
		why = "observation failed: " + obs.Error
	}
	doc.Nodes = nodeStates(st, spec, why)
	doc.Summary = summarize(doc.Nodes)
	return doc, nil
}

func watchState(ws watch.Status) *WatchState {
	out := &WatchState{Running: ws.Running, LastApplied: ws.LastApplied, Current: ws.Current,
		Failures: ws.Failures, LastError: ws.LastError}
	if !ws.NextRetry.IsZero() {
		t := ws.NextRetry.UTC()
		out.NextRetry = &t
	}
	if p := ws.Pin; p != nil {
		out.Pin = &Pin{Commit: p.Commit, By: p.By, At: p.At.UTC(), Reason: p.Reason, Rollback: p.Rollback, Error: p.Error}
	}
	return out
}

// Handler serves the endpoints of docs/api.md under /api/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/status", func(rw http.ResponseWriter, _ *http.Request) {
		doc, err := s.Status()
		if err != nil {
			s.log.Warn("/api/status", "err", err)
			http.Error(rw, "reading the watch records: "+err.Error(), http.StatusInternalServerError)
			return
		}
		writeDoc(rw, doc)
	})
	mux.HandleFunc("GET /api/plan", func(rw http.ResponseWriter, _ *http.Request) { writeDoc(rw, s.Plan()) })
	mux.HandleFunc("GET /api/history", s.serveHistory)
	mux.HandleFunc("GET /api/events", s.serveEvents)
	mux.HandleFunc("POST /api/approve", s.approve)
	return mux
}

func writeDoc(rw http.ResponseWriter, doc any) { writeBody(rw, encodeDoc(doc)) }

// encodeDoc is a document as every endpoint sends it: indented JSON.
func encodeDoc(doc any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		// Only a programmer's error (a type JSON cannot hold) gets here.
		return []byte(fmt.Sprintf("{\"error\": %q}\n", "encoding the document: "+err.Error()))
	}
	return buf.Bytes()
}

// writeBody sends an encoded document.
func writeBody(rw http.ResponseWriter, body []byte) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	_, _ = rw.Write(body)
}
