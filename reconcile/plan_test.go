package reconcile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// samplePlan has a create, an update of a Block file, a delete, allocation
// changes and a disruptive change of a later layer.
func samplePlan(t *testing.T) *Plan {
	root, state := t.TempDir(), t.TempDir()
	writeFile(t, root, "etc/hosts", "127.0.0.1 localhost\n", 0o644)
	writeFile(t, root, "home/core/lokomotive/cl/node-2.yaml", "storage: {}\n", 0o644)
	if err := saveManifest(state, Manifest{Files: []ManagedFile{{Path: "home/core/lokomotive/cl/node-2.yaml"}}}); err != nil {
		t.Fatal(err)
	}
	p := mustPlan(t, []render.File{
		block("etc/hosts", hostsBlock),
		{Path: "home/core/lokomotive/cl/node-0.yaml", Content: []byte("systemd:\n  units: []\n"), Mode: 0o644, Node: "node-0"},
	}, root, state)
	p.Provisioner = "lokomotive"
	p.CreatedAt = time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	p.Allocations = []ipam.Change{
		{Node: "node-0", NIC: ipam.Primary, MAC: "02:00:00:00:00:01", New: mustAddr("10.0.0.2"), Reason: ipam.ReasonNew},
		{Node: "node-1", NIC: ipam.Primary, MAC: "02:00:00:00:00:09", OldMAC: "02:00:00:00:00:03", Old: mustAddr("10.0.0.3"), New: mustAddr("10.0.0.3"), Reason: ipam.ReasonMACReplaced},
		{Node: "node-2", NIC: ipam.BMC, MAC: "02:00:00:00:00:05", Old: mustAddr("10.0.0.7"), Reason: ipam.ReasonReleased},
	}
	p.Changes = append(p.Changes, Change{Layer: LayerBMC, Action: ActionPowerCycle, Address: "bmc:node-0", Node: "node-0", Reason: "reprovision requested", Disruptive: true})
	p.NextState = ipam.State{Version: 1, Entries: []ipam.Entry{{Node: "node-0", NIC: ipam.Primary, MAC: "02:00:00:00:00:01", IP: mustAddr("10.0.0.2")}}}
	return p
}

func TestWriteHumanGolden(t *testing.T) {
	p := samplePlan(t)
	for name, color := range map[string]bool{"plan.txt": false, "plan-color.txt": true} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteHuman(&b, p, color); err != nil {
				t.Fatal(err)
			}
			if !color && strings.Contains(b.String(), "\x1b[") {
				t.Fatal("colors without color")
			}
			golden(t, name, b.Bytes())
		})
	}
}

func TestWriteHumanNoChanges(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHuman(&b, &Plan{FormatVersion: FormatVersion, Changes: []Change{{Layer: LayerFiles, Action: ActionNoop, Address: "file:x"}}}, false); err != nil {
		t.Fatal(err)
	}
	if b.String() != "No changes. Your rack matches the configuration.\n" {
		t.Fatalf("got %q", b.String())
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	p := samplePlan(t)
	var b bytes.Buffer
	if err := WriteJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPlan(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip differs:\n%+v\n%+v", got, p)
	}
	// The human view of the read plan is the same as of the original.
	var h1, h2 bytes.Buffer
	WriteHuman(&h1, p, false)
	WriteHuman(&h2, got, false)
	if h1.String() != h2.String() {
		t.Fatal("human views differ after a round trip")
	}
}

func TestReadPlanRejects(t *testing.T) {
	tests := map[string]struct {
		in, want string
	}{
		"future version": {`{"formatVersion": 4, "changes": []}`, "format version 4 is not supported"},
		// Version 2 kept Observed as a map of strings ("bmc:n1:power"):
		// refused with what to do, not misread.
		"old version":     {`{"formatVersion": 2, "changes": [], "observed": {"file:etc/hosts": "absent"}}`, "format version 2 is not supported (this rackctl reads version 3): make the plan again"},
		"no version":      {`{"changes": []}`, "no formatVersion"},
		"not json":        {`plan`, "read plan"},
		"unknown field":   {`{"formatVersion": 3, "bogus": true}`, "bogus"},
		"observed map":    {`{"formatVersion": 3, "observed": {"file:etc/hosts": "absent"}}`, "observed"},
		"key twice":       {`{"formatVersion": 3, "observed": [{"layer": "files", "path": "a", "value": "x"}, {"layer": "files", "path": "a", "value": "y"}]}`, "file a twice"},
		"key of no layer": {`{"formatVersion": 3, "observed": [{"path": "a", "value": "x"}]}`, "observed[0]: no layer"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ReadPlan(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCounts(t *testing.T) {
	p := samplePlan(t)
	if got, want := p.Counts(), (Counts{Add: 1, Change: 2, Destroy: 1}); got != want {
		t.Fatalf("counts = %+v, want %+v", got, want)
	}
	if !p.HasChanges() {
		t.Fatal("HasChanges false")
	}
	if (&Plan{Allocations: []ipam.Change{{Reason: ipam.ReasonRenamed}}}).HasChanges() == false {
		t.Fatal("an allocation change alone is a change")
	}
}
