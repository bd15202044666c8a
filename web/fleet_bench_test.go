package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/fleet"
)

// BenchmarkFleetDoc is what one viewer of the fleet page costs: GET
// /api/fleet over 10 racks (real API servers on loopback, 40 nodes each),
// answered from the cache (the JSON encoded) against a fresh query of
// every rack. It fails
// unless the cached answers asked no rack.
func BenchmarkFleetDoc(b *testing.B) {
	const racks = 10
	var eps []fleet.Endpoint
	var hits []func() int32
	for i := range racks {
		nodes := make([]string, 40)
		for j := range nodes {
			nodes[j] = fmt.Sprintf("r%d-%d", i, j)
		}
		url, h := rackAPI(b, fmt.Sprintf("rack-%d", i), nodes...)
		eps = append(eps, fleet.Endpoint{Name: fmt.Sprintf("rack-%d", i), URL: url})
		hits = append(hits, h.Load)
	}
	query := fleet.APIQuery(&http.Client{}, eps, 5*time.Second)
	clock := &fakeClock{now: time.Now()}
	f := api.NewFleet(api.FleetConfig{Query: query, Timeout: 5 * time.Second, CacheFor: time.Hour, Now: clock.Now})
	if _, err := f.Doc(context.Background()); err != nil {
		b.Fatal(err)
	}
	var cached, fresh time.Duration
	n := 0
	for b.Loop() {
		before := hits[0]()
		start := time.Now()
		for range 100 {
			rec := httptest.NewRecorder()
			f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/fleet", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("GET /api/fleet: %d", rec.Code)
			}
		}
		cached += time.Since(start) / 100
		if hits[0]() != before {
			b.Fatal("a cached answer asked the racks")
		}
		start = time.Now()
		for _, r := range query(context.Background()) {
			if !r.Reachable {
				b.Fatalf("%s: %s", r.Name, r.Error)
			}
		}
		fresh += time.Since(start)
		n++
	}
	b.ReportMetric(float64(cached.Microseconds())/float64(n), "cached-µs/request")
	b.ReportMetric(float64(fresh.Microseconds())/1000/float64(n), "fresh-ms/query")
	b.ReportMetric(0, "ns/op")
}
