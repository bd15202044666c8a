package api

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Defaults of FleetConfig.
const (
	DefaultFleetTimeout = 5 * time.Second
	DefaultFleetCache   = 5 * time.Second
)

// FleetDoc is GET /api/fleet: every configured rack's GET /api/status, or
// why it could not be read, as one query saw them.
type FleetDoc struct {
	FormatVersion string `json:"format_version"`
	// QueriedAt is when the racks were read: the document is served from
	// a cache for CacheFor after that.
	QueriedAt time.Time `json:"queried_at"`
	// Timeout bounds each rack's answer; CacheFor is how long one query
	// serves every viewer.
	Timeout  string      `json:"timeout"`
	CacheFor string      `json:"cache_for"`
	Racks    []FleetRack `json:"racks"`
}

// FleetRack is one rack of the fleet, in the endpoints file's order.
type FleetRack struct {
	Name string `json:"name"` // the endpoints file's name
	URL  string `json:"url"`  // the base URL of the rack's own page
	// Reachable: Status was read; otherwise Error says why not.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Status is the rack's own document; null when not Reachable.
	Status *RackStatus `json:"status"`
}

// FleetQuery reads every rack's status, each within the timeout it was
// made with (package fleet's Query does): it must return in bounded time.
type FleetQuery func(ctx context.Context) []FleetRack

// FleetConfig configures a Fleet.
type FleetConfig struct {
	Query FleetQuery
	// Timeout is the per-rack bound Query was made with: the document
	// shows it, and a query that overruns it by far is abandoned.
	Timeout time.Duration
	// CacheFor is how long one query's answer serves every request, so
	// N viewers do not ask every rack N times.
	CacheFor time.Duration
	Now      func() time.Time
}

// Fleet serves GET /api/fleet over a FleetQuery, one query at a time,
// its answer cached for CacheFor.
type Fleet struct {
	cfg FleetConfig

	mu       sync.Mutex
	doc      *FleetDoc
	body     []byte        // doc encoded once: a cached answer costs no encoding
	inFlight chan struct{} // closed when the running query ends
}

// NewFleet fills cfg's defaults.
func NewFleet(cfg FleetConfig) *Fleet {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultFleetTimeout
	}
	if cfg.CacheFor < 0 {
		cfg.CacheFor = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Fleet{cfg: cfg}
}

// Doc returns the cached document while it is fresh; otherwise it joins
// (or starts) the one query running and waits for it, or for ctx.
func (f *Fleet) Doc(ctx context.Context) (FleetDoc, error) {
	doc, _, err := f.current(ctx)
	return doc, err
}

// current is the fresh document and its encoding.
func (f *Fleet) current(ctx context.Context) (FleetDoc, []byte, error) {
	f.mu.Lock()
	if f.doc != nil && f.cfg.Now().Sub(f.doc.QueriedAt) < f.cfg.CacheFor {
		doc, body := *f.doc, f.body
		f.mu.Unlock()
		return doc, body, nil
	}
	if f.inFlight == nil {
		f.inFlight = make(chan struct{})
		go f.refresh(f.inFlight)
	}
	done := f.inFlight
	f.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return FleetDoc{}, nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.doc, f.body, nil
}

// refresh runs the query apart from any request, so a viewer who leaves
// does not cancel it for the others. Its context ends a little after the
// per-rack timeout: a query that ignored its own bound still returns.
func (f *Fleet) refresh(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.Timeout+time.Second)
	defer cancel()
	racks := f.cfg.Query(ctx)
	if racks == nil {
		racks = []FleetRack{}
	}
	doc := &FleetDoc{FormatVersion: FormatVersion, QueriedAt: f.cfg.Now().UTC(), Timeout: f.cfg.Timeout.String(),
		CacheFor: f.cfg.CacheFor.String(), Racks: racks}
	body := encodeDoc(doc)
	f.mu.Lock()
	f.doc, f.body, f.inFlight = doc, body, nil
	f.mu.Unlock()
	close(done)
}

// ServeHTTP answers GET /api/fleet.
func (f *Fleet) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	_, body, err := f.current(r.Context())
	if err != nil {
		http.Error(rw, "reading the fleet: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeBody(rw, body)
}

// FleetOff answers GET /api/fleet where no fleet is configured: 404, with
// the setting that configures one.
func FleetOff(rw http.ResponseWriter, _ *http.Request) {
	http.Error(rw, "no fleet configured: set web.fleetEndpoints in the management node config "+
		"(or --fleet-endpoints FILE) to an endpoints file listing the racks (docs/fleet.md)", http.StatusNotFound)
}
