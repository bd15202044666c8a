package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/rackctl/rackctl/api"
)

// MaxStatusSize bounds one rack's GET /api/status body (a rack of a few
// thousand nodes is a few megabytes).
const MaxStatusSize = 64 << 20

// RackStatus is one rack of the fleet status (a row of `rackctl fleet
// status`, an element of its -o json): what the rack's API said, or why
// it could not be read. Only what was read is filled: an unreachable
// rack has no commit and no node counts.
type RackStatus struct {
	Endpoint
	Reachable bool `json:"reachable"`
	// Error says why the document could not be read; "" when Reachable.
	Error string `json:"error,omitempty"`
	// Rack is the name the rack's API reports (it may differ from Name).
	Rack string `json:"rack,omitempty"`
	// Commit is the commit the rack's watch last applied ("" none yet).
	Commit string `json:"commit,omitempty"`
	// Nodes counts the rack's nodes; nil when not Reachable.
	Nodes *NodeCounts `json:"nodes,omitempty"`
	// Held are the commits the rack's watch holds.
	Held []string `json:"held,omitempty"`
	// Observation is the state of the rack's node observation
	// (api.Observation*); the counts are all "other" until "observed".
	Observation string `json:"observation,omitempty"`
	// Status is the rack's whole document; nil when not Reachable.
	Status *api.RackStatus `json:"-"`
}

// NodeCounts are a rack's nodes by state: ok, failed, and every other
// state (pending, drift, unreachable, off, excluded, unknown).
type NodeCounts struct {
	Total  int `json:"total"`
	OK     int `json:"ok"`
	Failed int `json:"failed"`
	Other  int `json:"other"`
}

// Query reads every endpoint's GET /api/status at once, each request
// bounded by timeout, and returns the results in the endpoints' order. A
// rack that does not answer in time is unreachable and delays no other:
// the whole call takes about the slowest answer, at most timeout.
func Query(ctx context.Context, client *http.Client, endpoints []Endpoint, timeout time.Duration) []RackStatus {
	out := make([]RackStatus, len(endpoints))
	var wg sync.WaitGroup
	for i, e := range endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = query(ctx, client, e, timeout)
		}()
	}
	wg.Wait()
	return out
}

func query(ctx context.Context, client *http.Client, e Endpoint, timeout time.Duration) RackStatus {
	rs := RackStatus{Endpoint: e}
	doc, err := fetch(ctx, client, e.StatusURL(), timeout)
	if err != nil {
		rs.Error = err.Error()
		return rs
	}
	rs.Reachable, rs.Status, rs.Rack = true, doc, doc.Rack
	if doc.Watch != nil {
		rs.Commit = doc.Watch.LastApplied
	}
	sum := doc.Summary
	rs.Nodes = &NodeCounts{Total: sum.Total, OK: sum.OK, Failed: sum.Failed, Other: sum.Total - sum.OK - sum.Failed}
	for _, h := range doc.Held {
		rs.Held = append(rs.Held, h.Commit)
	}
	rs.Observation = doc.Observation.State
	return rs
}

// fetch GETs one status document within timeout.
func fetch(ctx context.Context, client *http.Client, url string, timeout time.Duration) (*api.RackStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("GET %s: no answer within %s", url, timeout)
		}
		return nil, err // *url.Error already names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxStatusSize+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("GET %s: body not read within %s", url, timeout)
		}
		return nil, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	if len(body) > MaxStatusSize {
		return nil, fmt.Errorf("GET %s: body over %d MiB", url, MaxStatusSize>>20)
	}
	var doc api.RackStatus
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("GET %s: not a status document: %w", url, err)
	}
	if doc.FormatVersion == "" || doc.FormatVersion[0] != api.FormatVersion[0] {
		return nil, fmt.Errorf("GET %s: format_version %q, want %s.x", url, doc.FormatVersion, api.FormatVersion[:1])
	}
	return &doc, nil
}

// APIQuery is Query as the web view's GET /api/fleet runs it (api.Fleet):
// each rack's document, or why it could not be read.
func APIQuery(client *http.Client, endpoints []Endpoint, timeout time.Duration) api.FleetQuery {
	return func(ctx context.Context) []api.FleetRack {
		racks := Query(ctx, client, endpoints, timeout)
		out := make([]api.FleetRack, len(racks))
		for i, r := range racks {
			out[i] = api.FleetRack{Name: r.Name, URL: r.URL, Reachable: r.Reachable, Error: r.Error, Status: r.Status}
		}
		return out
	}
}
