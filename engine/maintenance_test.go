package engine

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

func writeFile(p, content string) error { return os.WriteFile(p, []byte(content), 0o644) }

// Each override meets the spec as documented: applied when it differs,
// spent when rack.yaml says the same, ignored for a node rack.yaml lacks
// or excludes; the loaded spec itself is never changed; the gauge counts
// the applied ones.
func TestLocalMaintenanceStates(t *testing.T) {
	e, spec := newEngine(t, flatcarSpec, filesOnly)
	if len(spec.Nodes) < 4 {
		t.Fatalf("%s has %d nodes, the test needs 4", flatcarSpec, len(spec.Nodes))
	}
	spec.Nodes[1].Maintenance = true // rack.yaml: in maintenance
	spec.Nodes[2].Exclude = true
	n := func(i int) string { return spec.Nodes[i].Name }
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	on := state.MaintenanceOverride{Maintenance: true, By: "alice", At: at}
	off := state.MaintenanceOverride{Maintenance: false, By: "bob", At: at}
	m := state.Maintenance{Nodes: map[string]state.MaintenanceOverride{
		n(0): on, n(1): on, n(2): on, n(3): off, "gone": on,
	}}
	if err := state.New(e.cfg.StateDir).SaveMaintenance(m); err != nil {
		t.Fatal(err)
	}
	got, list, err := e.localMaintenance(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{n(0): OverrideActive, n(1): OverrideSpent, n(2): OverrideExcluded, n(3): OverrideSpent, "gone": OverrideUnknownNode}
	for _, lm := range list {
		if want[lm.Node] != lm.State {
			t.Errorf("override of %s: state %q, want %q", lm.Node, lm.State, want[lm.Node])
		}
		if !strings.Contains(lm.Note(), lm.Node) || !strings.Contains(lm.Note(), "by "+lm.By) {
			t.Errorf("note of %s does not name the node and who: %q", lm.Node, lm.Note())
		}
	}
	if len(list) != len(want) {
		t.Errorf("%d overrides listed, want %d: %+v", len(list), len(want), list)
	}
	if !got.Nodes[0].Maintenance || !got.Nodes[1].Maintenance || got.Nodes[2].Maintenance || got.Nodes[3].Maintenance {
		t.Errorf("applied maintenance: %v %v %v %v, want true true false false",
			got.Nodes[0].Maintenance, got.Nodes[1].Maintenance, got.Nodes[2].Maintenance, got.Nodes[3].Maintenance)
	}
	if spec.Nodes[0].Maintenance {
		t.Error("the loaded spec was changed: the next drift check would keep a removed override")
	}
	if v := gaugeValue(t, e.MaintenanceGauge(func() *schema.Rack { return spec })); v != 1 {
		t.Errorf("rackctl_maintenance_local_overrides = %v, want 1 (only %s's is applied)", v, n(0))
	}

	// Turning off a node rack.yaml has in maintenance is applied too.
	m.Nodes[n(1)] = off
	if err := state.New(e.cfg.StateDir).SaveMaintenance(m); err != nil {
		t.Fatal(err)
	}
	if got, _, err = e.localMaintenance(spec); err != nil || got.Nodes[1].Maintenance {
		t.Errorf("off over rack.yaml's maintenance: true: applied %v (%v), want false", got.Nodes[1].Maintenance, err)
	}
}

// An unreadable maintenance.json fails every command that opens the spec,
// naming the file; the gauge says NaN rather than a count.
func TestLocalMaintenanceUnreadable(t *testing.T) {
	e, spec := newEngine(t, flatcarSpec, filesOnly)
	dir := state.New(e.cfg.StateDir)
	if err := dir.Ensure(); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(dir.File(state.MaintenanceFile), "{"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Open(spec); err == nil || !strings.Contains(err.Error(), state.MaintenanceFile) {
		t.Errorf("Open with a broken %s: %v, want an error naming it", state.MaintenanceFile, err)
	}
	if _, err := e.Rack(spec); err == nil {
		t.Errorf("Rack with a broken %s: no error", state.MaintenanceFile)
	}
	if v := gaugeValue(t, e.MaintenanceGauge(func() *schema.Rack { return spec })); !math.IsNaN(v) {
		t.Errorf("gauge with a broken file = %v, want NaN", v)
	}
}

// gaugeValue collects the one gauge of c.
func gaugeValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
