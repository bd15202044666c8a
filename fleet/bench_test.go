package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rackctl/rackctl/api"
)

// BenchmarkLoadFleet: validate --all of 10 racks of 100 nodes each, the
// cross-rack rules included; reported per rack.
func BenchmarkLoadFleet(b *testing.B) {
	const racks, nodes = 10, 100
	specs := map[string]string{}
	for r := range racks {
		var ns [][3]string
		for n := range nodes {
			ns = append(ns, [3]string{fmt.Sprintf("r%d-n%d", r, n),
				fmt.Sprintf("02:00:%02x:00:%02x:%02x", r, n>>8, n&0xff), fmt.Sprintf("02:01:%02x:00:%02x:%02x", r, n>>8, n&0xff)})
		}
		name := fmt.Sprintf("r%d", r)
		specs[name] = rackSpec(name, fmt.Sprintf("10.%d.0.0/23", 2*r), ns...)
	}
	dir := writeFleet(b, specs)
	for b.Loop() {
		f, diags, err := Load(context.Background(), dir)
		if err != nil || len(diags) != 0 || len(f.Valid()) != racks {
			b.Fatalf("load: %v %v", err, diags)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/racks, "ms/rack")
}

// BenchmarkQuery: fleet status of 50 racks (one loopback server standing
// in for their watches, a 100-node document each): the whole query
// against the per-rack request time.
func BenchmarkQuery(b *testing.B) {
	doc := api.RackStatus{FormatVersion: api.FormatVersion, Rack: "r", Watch: &api.WatchState{Running: true, LastApplied: "c"}}
	for i := range 100 {
		doc.Nodes = append(doc.Nodes, api.NodeState{Name: fmt.Sprintf("n%d", i), Role: "node", State: api.StateOK})
	}
	doc.Summary = api.Summary{Total: 100, OK: 100}
	body, _ := json.Marshal(doc)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }))
	b.Cleanup(srv.Close)
	var eps []Endpoint
	for i := range 50 {
		eps = append(eps, Endpoint{Name: fmt.Sprintf("r%d", i), URL: srv.URL})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for b.Loop() {
		for _, r := range Query(context.Background(), client, eps, 5*time.Second) {
			if !r.Reachable || r.Nodes.OK != 100 {
				b.Fatalf("%+v", r)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/fleet-of-50")
}
