package state

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMaintenanceRoundTrip(t *testing.T) {
	d := New(t.TempDir())
	at := time.Date(2026, 12, 3, 1, 2, 3, 0, time.FixedZone("CET", 3600))
	in := Maintenance{Nodes: map[string]MaintenanceOverride{
		"node-3": {Maintenance: true, By: "root (sudo alice)", At: at, Reason: strings.Repeat("x", 2000)},
	}}
	if err := d.SaveMaintenance(in); err != nil {
		t.Fatal(err)
	}
	got, err := d.LoadMaintenance()
	if err != nil {
		t.Fatal(err)
	}
	o := got.Nodes["node-3"]
	if got.Version != MaintenanceVersion || !o.Maintenance || o.By != "root (sudo alice)" || !o.At.Equal(at) || o.At.Location() != time.UTC {
		t.Errorf("loaded %+v, want version 1, node-3 on by root (sudo alice) at %s UTC", got, at)
	}
	if len(o.Reason) > MaxMaintenanceReason {
		t.Errorf("reason of %d bytes kept, want at most %d", len(o.Reason), MaxMaintenanceReason)
	}
	// The last override gone, the file goes: missing and empty never differ.
	if err := d.SaveMaintenance(Maintenance{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.File(MaintenanceFile)); !os.IsNotExist(err) {
		t.Errorf("%s after saving no override: %v, want it removed", MaintenanceFile, err)
	}
}

func TestMaintenanceRefusesBadFiles(t *testing.T) {
	for name, content := range map[string]string{
		"not json":      "{",
		"other version": `{"version":2,"nodes":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			d := New(t.TempDir())
			if err := os.WriteFile(d.File(MaintenanceFile), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := d.LoadMaintenance(); err == nil || !strings.Contains(err.Error(), d.File(MaintenanceFile)) {
				t.Errorf("LoadMaintenance of %q: %v, want an error naming the file", content, err)
			}
		})
	}
	d := New(t.TempDir())
	big := Maintenance{Nodes: map[string]MaintenanceOverride{}}
	for i := range MaxMaintenanceOverrides + 1 {
		big.Nodes[fmt.Sprintf("node-%d", i)] = MaintenanceOverride{}
	}
	if err := d.SaveMaintenance(big); err == nil {
		t.Errorf("SaveMaintenance of %d overrides: no error, want the bound refused", len(big.Nodes))
	}
}

// Concurrent read-change-writes (each with its own open of the lock file,
// as two processes have) lose no override.
func TestUpdateMaintenanceLosesNoWrite(t *testing.T) {
	d := New(t.TempDir())
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- d.UpdateMaintenance(func(m *Maintenance) error {
				m.Nodes[fmt.Sprintf("node-%d", i)] = MaintenanceOverride{Maintenance: true, By: "t", At: time.Now()}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := d.LoadMaintenance()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Nodes) != n {
		t.Errorf("%d overrides after %d concurrent updates, want %d: %v", len(m.Nodes), n, n, m.Names())
	}
	// A change that fails saves nothing.
	boom := errors.New("boom")
	if err := d.UpdateMaintenance(func(m *Maintenance) error { clear(m.Nodes); return boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateMaintenance of a failing change: %v, want it returned", err)
	}
	if m, _ := d.LoadMaintenance(); len(m.Nodes) != n {
		t.Errorf("a failed change saved: %d overrides left, want %d", len(m.Nodes), n)
	}
}
