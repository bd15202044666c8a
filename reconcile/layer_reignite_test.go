package reconcile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// fakeConfigs is a NodeConfigObserver answering from a table; it records
// which nodes it was asked about.
type fakeConfigs struct {
	mu    sync.Mutex
	seen  map[string]RunningConfig
	asked []string
}

func (f *fakeConfigs) RunningConfigs(_ context.Context, nodes []string) map[string]RunningConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, nodes...)
	out := map[string]RunningConfig{}
	for _, n := range nodes {
		if rc, ok := f.seen[n]; ok {
			out[n] = rc
		}
	}
	return out
}

var configHashRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// renderedHash is the hash node's CLC on disk records (written by converge).
func renderedHash(t *testing.T, e *rackEnv, node string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, render.DefaultLayout().FlatcarDir, "cl", node+"."+e.rack.Domain+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h := configHashRE.FindString(string(b))
	if h == "" {
		t.Fatalf("%s's CLC records no config hash", node)
	}
	return h
}

func (e *rackEnv) planObserved(obs NodeConfigObserver) *Plan {
	e.t.Helper()
	e.configs = obs
	return e.plan()
}

// TestReignitePlan: an installed node running another config than the
// rendered one gets a re-Ignition change (disruptive, from the config seen
// to the rendered one, at its installed-profile URL); a node whose config
// is not known is named in a note with why and the hint, and gets no
// change; a node running the rendered config and a node not installed get
// nothing, and the latter is not even asked about.
func TestReignitePlan(t *testing.T) {
	const old = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for name, tc := range map[string]struct {
		seen        func(rendered string) RunningConfig // node-1's observation
		uninstalled bool                                // node-1's flag file gone
		wantChange  string                              // its change's reason, "" for none
		wantNote    string                              // a plan note, "" for none
	}{
		"stale":         {seen: func(string) RunningConfig { return RunningConfig{Hash: old} }, wantChange: "re-run Ignition (config 0123456789ab → "},
		"current":       {seen: func(r string) RunningConfig { return RunningConfig{Hash: r} }},
		"unreachable":   {seen: func(string) RunningConfig { return RunningConfig{Unknown: "unreachable: connection refused"} }, wantNote: "reignite: node-1: running config unknown (unreachable: connection refused): Ignition is not re-run"},
		"no hash":       {seen: func(string) RunningConfig { return RunningConfig{Unknown: "no hash file"} }, wantNote: "reignite: node-1: running config unknown (no hash file)"},
		"not read":      {seen: nil, wantNote: "reignite: node-1: running config unknown (not observed)"},
		"not installed": {seen: func(string) RunningConfig { return RunningConfig{Hash: old} }, uninstalled: true},
	} {
		t.Run(name, func(t *testing.T) {
			e := newRackEnv(t, schema.Flatcar, 3)
			e.converge()
			rendered := renderedHash(t, e, "node-1")
			obs := &fakeConfigs{seen: map[string]RunningConfig{
				"node-0": {Hash: renderedHash(t, e, "node-0")}, "node-2": {Hash: renderedHash(t, e, "node-2")}}}
			if tc.seen != nil {
				obs.seen["node-1"] = tc.seen(rendered)
			}
			if tc.uninstalled {
				if err := os.Remove(filepath.Join(e.root, render.DefaultLayout().FlatcarDir, render.FlatcarAssetDir, e.rack.Nodes[1].MAC)); err != nil {
					t.Fatal(err)
				}
			}
			p := e.planObserved(obs)
			changes := layerAddrs(p.Changes, LayerReignite)
			i := slices.IndexFunc(p.Changes, func(c Change) bool { return c.Layer == LayerReignite })
			switch {
			case tc.wantChange == "" && len(changes) > 0:
				t.Fatalf("reignite changes %v, want none", changes)
			case tc.wantChange != "":
				if len(changes) != 1 || i < 0 {
					t.Fatalf("reignite changes %v, want one for node-1", changes)
				}
				c := p.Changes[i]
				want := tc.wantChange + ShortHash(rendered) + ")"
				if c.Node != "node-1" || c.Reason != want || !c.Disruptive {
					t.Errorf("change %s %q disruptive %v, want node-1 %q disruptive", c.Node, c.Reason, c.Disruptive, want)
				}
				if d := c.Detail.Config; d == nil || d.Rendered != rendered || d.Running != old ||
					d.URL != "http://172.24.213.1:8080/ignition?mac="+strings.ToLower(e.rack.Nodes[1].MAC)+"&os=installed" {
					t.Errorf("detail %+v, want the rendered hash, the old one and node-1's installed-profile URL", d)
				}
			}
			notes := strings.Join(p.Notes, "\n")
			if tc.wantNote != "" && (!strings.Contains(notes, tc.wantNote) || !strings.Contains(notes, ReprovisionHint)) {
				t.Errorf("notes %q, want %q with the hint", notes, tc.wantNote)
			}
			if tc.wantNote == "" && strings.Contains(notes, "reignite:") {
				t.Errorf("unexpected reignite note: %q", notes)
			}
			if asked := slices.Contains(obs.asked, "node-1"); asked == tc.uninstalled {
				t.Errorf("node-1 asked about: %v (uninstalled %v)", asked, tc.uninstalled)
			}
		})
	}
}

// TestReigniteLokomotiveUntouched: Lokomotive's node configs carry no
// hash (lokoctl re-runs Ignition itself): no change, no question asked.
func TestReigniteLokomotiveUntouched(t *testing.T) {
	e := lokoRack(t)
	e.converge()
	obs := &fakeConfigs{}
	p := e.planObserved(obs)
	if got := layerAddrs(p.Changes, LayerReignite); len(got) > 0 || len(obs.asked) > 0 {
		t.Fatalf("lokomotive: reignite changes %v, nodes asked %v; want neither", got, obs.asked)
	}
}

// TestReigniteUnobservedNote: with the nodes not observed (--verify flag),
// a plan that changes installed nodes' configs says they keep the old one,
// naming them and why; a plan that changes none says nothing.
func TestReigniteUnobservedNote(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 2)
	e.converge()
	if p := e.plan(); slices.ContainsFunc(p.Notes, func(n string) bool { return strings.HasPrefix(n, "reignite:") }) {
		t.Fatalf("no config changes, yet a note: %q", p.Notes)
	}
	e.rack.Cluster.SSHPubKeys = append(e.rack.Cluster.SSHPubKeys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc1Ipu0vTYCbDfcg1pNb7s0R7Kd4MFJvq1dZs0Z2rk5 new@example")
	p := e.plan()
	notes := strings.Join(p.Notes, "\n")
	if !strings.Contains(notes, "reignite: the config of node-0, node-1 changes, but only in what matchbox serves (nodes not observed)") {
		t.Fatalf("notes %q, want the unobserved nodes named", notes)
	}
	if got := layerAddrs(p.Changes, LayerReignite); len(got) > 0 {
		t.Fatalf("unobserved nodes got changes: %v", got)
	}
}

type fakeReigniter struct {
	calls []string
	err   error
}

func (f *fakeReigniter) Reignite(_ context.Context, node, url, want string) error {
	f.calls = append(f.calls, node+" "+url+" "+want)
	return f.err
}

// TestReigniteExecutor: the executor hands the node, URL and rendered hash
// to its Reigniter and names the node in a failure; a change without
// them, or without a Reigniter, is refused before any node is touched.
func TestReigniteExecutor(t *testing.T) {
	good := Change{Layer: LayerReignite, Action: ActionReignite, Address: "reignite:node-1", Node: "node-1",
		Detail: &Detail{Config: &ConfigDetail{URL: "http://m/ignition?mac=a&os=installed", Running: "sha256:a", Rendered: "sha256:b"}}}
	noURL := good
	noURL.Detail = &Detail{Config: &ConfigDetail{Rendered: "sha256:b"}}
	for name, tc := range map[string]struct {
		c       Change
		r       *fakeReigniter
		wantErr string
		calls   int
	}{
		"ok":           {c: good, r: &fakeReigniter{}, calls: 1},
		"node fails":   {c: good, r: &fakeReigniter{err: errors.New("unreachable")}, wantErr: "reignite node-1: unreachable", calls: 1},
		"no URL":       {c: noURL, r: &fakeReigniter{}, wantErr: "unsupported change"},
		"no reigniter": {c: good, wantErr: "--verify ssh"},
		"no detail":    {c: Change{Layer: LayerReignite, Action: ActionReignite, Address: "reignite:node-1"}, r: &fakeReigniter{}, wantErr: "unsupported change"},
	} {
		t.Run(name, func(t *testing.T) {
			x := &ReigniteExecutor{}
			if tc.r != nil {
				x.Reigniter = tc.r
			}
			err := x.Apply(context.Background(), tc.c)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if tc.r != nil && len(tc.r.calls) != tc.calls {
				t.Fatalf("calls %v, want %d", tc.r.calls, tc.calls)
			}
			if tc.calls == 1 && tc.r.calls[0] != "node-1 http://m/ignition?mac=a&os=installed sha256:b" {
				t.Errorf("call %q", tc.r.calls[0])
			}
		})
	}
}

// TestReigniteUnknownGrouped: nodes unknown for one reason share a note
// (a rack without an SSH key gets one line, not one per node); another
// reason gets its own.
func TestReigniteUnknownGrouped(t *testing.T) {
	e := newRackEnv(t, schema.Flatcar, 3)
	e.converge()
	p := e.planObserved(&fakeConfigs{seen: map[string]RunningConfig{
		"node-0": {Unknown: "not read: no key"}, "node-1": {Unknown: "no hash file"}, "node-2": {Unknown: "not read: no key"}}})
	var notes []string
	for _, n := range p.Notes {
		if strings.HasPrefix(n, "reignite:") {
			notes = append(notes, n)
		}
	}
	if len(notes) != 2 || !strings.HasPrefix(notes[0], "reignite: node-0, node-2: running config unknown (not read: no key)") ||
		!strings.HasPrefix(notes[1], "reignite: node-1: running config unknown (no hash file)") {
		t.Fatalf("notes %q, want one per reason naming its nodes", notes)
	}
}
