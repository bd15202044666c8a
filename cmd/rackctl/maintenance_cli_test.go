package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/view"
	"github.com/rackctl/rackctl/watch"
)

func (m *maintRack) stateDir() state.Dir { return state.New(filepath.Join(m.root, state.DefaultDir)) }

func (m *maintRack) overrides() map[string]state.MaintenanceOverride {
	m.t.Helper()
	o, err := m.stateDir().LoadMaintenance()
	if err != nil {
		m.t.Fatal(err)
	}
	return o.Nodes
}

// nodeChanges are "layer:action" of the plan's changes of node.
func nodeChanges(t *testing.T, planJSON, node string) []string {
	t.Helper()
	var out []string
	for _, c := range jsonPlan(t, planJSON).Changes {
		if c.Node == node {
			out = append(out, c.Layer+":"+c.Action)
		}
	}
	return out
}

var reinstall = []string{string(reconcile.LayerFlags) + ":" + string(reconcile.ActionDelete), string(reconcile.LayerBMC) + ":" + string(reconcile.ActionPXEReinstall)}

// `rackctl maintenance node-1 on` against three ipmi_sim BMCs: the
// override file says who (with $SUDO_USER), when and why, the history has
// it, plan notes it as drift from git, status marks it, a reinstall of
// every node leaves node-1's BMC alone (its chassis calls counted), and
// `off` lets the next plan reinstall it.
func TestMaintenanceCommandOnOff(t *testing.T) {
	t.Setenv("SUDO_USER", "alice")
	m := newMaintRack(t)
	before := time.Now().UTC().Add(-time.Second)

	r := m.run("maintenance", "node-1", "on", "--reason", "disk swap")
	if r.code != 0 || !strings.Contains(r.stdout, "node-1: maintenance on locally") {
		t.Fatalf("maintenance node-1 on: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	o, ok := m.overrides()["node-1"]
	if !ok || !o.Maintenance || o.By != operatorName() || !strings.Contains(o.By, "sudo alice") || o.Reason != "disk swap" ||
		o.At.Before(before) || o.At.After(time.Now().Add(time.Second)) {
		t.Errorf("maintenance.json for node-1: %+v (found %v), want on by %q (sudo alice), reason %q, at now", o, ok, operatorName(), "disk swap")
	}
	ev := eventFor(t, m.stateDir().Path(), "", watch.OutcomeMaintenance)
	if ev == nil || ev.Author != operatorName() || !strings.Contains(ev.Reason, "node-1 on") || !strings.Contains(ev.Reason, "disk swap") {
		t.Errorf("history record of the override: %+v, want outcome maintenance by %q naming node-1 on and the reason", ev, operatorName())
	}

	r = m.run("maintenance")
	if r.code != 0 || !regexpLine(r.stdout, `node-1\s+on\s+active\s+.*sudo alice.*disk swap`) {
		t.Errorf("maintenance (list): exit %d, want node-1 on active by alice:\n%s%s", r.code, r.stdout, r.stderr)
	}
	var list struct {
		Overrides []view.MaintenanceOverride `json:"maintenance_overrides"`
	}
	r = m.run("maintenance", "list", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Overrides) != 1 || list.Overrides[0].Node != "node-1" ||
		list.Overrides[0].State != "active" {
		t.Errorf("maintenance list -o json: %v %+v\n%s", err, list, r.stdout)
	}

	// Drift from git: plan says so, and what to do.
	r = m.run("plan")
	wantNote := "maintenance: node-1 on locally since "
	if r.code != 0 || !strings.Contains(r.stdout, wantNote) || !strings.Contains(r.stdout, "not in rack.yaml: commit `maintenance: true` or run `rackctl maintenance node-1 off`") {
		t.Errorf("plan lacks the drift note %q…:\n%s%s", wantNote, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "maintenance: node-1 (local override: rackctl maintenance): no BMC, provisioner or drift change") {
		t.Errorf("plan's maintenance note for node-1 does not name the local override:\n%s", r.stdout)
	}
	if r := m.run("status"); !strings.Contains(r.stdout, "node-1 (maintenance, local)") {
		t.Errorf("status lacks node-1 (maintenance, local):\n%s", r.stdout)
	}
	var st statusView
	if err := json.Unmarshal([]byte(m.run("status", "-o", "json").stdout), &st); err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.Maintenance != (n.Name == "node-1") || n.MaintenanceLocal != (n.Name == "node-1") {
			t.Errorf("status -o json %s: maintenance %v, maintenance_local %v; want both on node-1 only", n.Name, n.Maintenance, n.MaintenanceLocal)
		}
	}
	if len(st.MaintenanceOverrides) != 1 || st.MaintenanceOverrides[0].By != operatorName() {
		t.Errorf("status -o json maintenance_overrides: %+v", st.MaintenanceOverrides)
	}

	// Reinstall every node: the override keeps node-1's BMC untouched.
	for i := range 3 {
		name := "{name: node-" + string(rune('0'+i)) + ","
		editSpec(t, m.spec, name, name+" reprovision: r2,")
	}
	calls := [][]string{chassisSets(m.bmcs.BMCs[0]), chassisSets(m.bmcs.BMCs[1]), chassisSets(m.bmcs.BMCs[2])}
	if r := m.run("apply", "--auto-approve"); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i := range 3 {
		got := chassisSets(m.bmcs.BMCs[i])[len(calls[i]):]
		if i == 1 && len(got) != 0 {
			t.Errorf("node-1 in maintenance by the CLI: its BMC got %d writes %q, want none", len(got), got)
		}
		if i != 1 && (len(got) < 2 || got[0] != "set boot pxe") {
			t.Errorf("node-%d: its BMC got %q, want next boot PXE and a power cycle", i, got)
		}
	}

	// Off: the override goes, and the next plan reinstalls node-1.
	if r := m.run("maintenance", "node-1", "off"); r.code != 0 {
		t.Fatalf("maintenance node-1 off: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(m.stateDir().File(state.MaintenanceFile)); !os.IsNotExist(err) {
		t.Errorf("maintenance.json after the last override went off: %v, want it removed", err)
	}
	r = m.run("plan", "-o", "json")
	if got := nodeChanges(t, r.stdout, "node-1"); !slices.Equal(intersect(got, reinstall), reinstall) {
		t.Errorf("plan after maintenance node-1 off: node-1's changes %q, want %q", got, reinstall)
	}
}

// regexpLine reports whether a line of out matches pattern.
func regexpLine(out, pattern string) bool {
	return regexp.MustCompile(`(?m)^` + pattern).MatchString(out)
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range b {
		if slices.Contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}

// Unknown nodes are refused before anything is written; an override of a
// node rack.yaml no longer has is a note, not an error, and `off` removes
// it; `off` on a node rack.yaml has in maintenance takes it out locally;
// a saved plan made before an override changed is stale; an override
// rack.yaml then says too is spent and the next apply removes it.
func TestMaintenanceCommandSpecCases(t *testing.T) {
	m := newMaintRack(t)
	r := m.run("maintenance", "node-0", "node-7", "on")
	if r.code != 1 || !strings.Contains(r.stderr, `node "node-7"`) || !strings.Contains(r.stderr, m.spec) {
		t.Errorf("maintenance node-7 on: exit %d, want 1 naming node-7 and %s\n%s%s", r.code, m.spec, r.stdout, r.stderr)
	}
	if len(m.overrides()) != 0 {
		t.Errorf("a refused command wrote overrides: %+v", m.overrides())
	}

	// A node gone from rack.yaml: a note, never an error.
	gone := state.Maintenance{Nodes: map[string]state.MaintenanceOverride{"node-9": {Maintenance: true, By: "bob", At: time.Now()}}}
	if err := m.stateDir().SaveMaintenance(gone); err != nil {
		t.Fatal(err)
	}
	r = m.run("plan", "--detailed-exitcode")
	if r.code != 0 || !strings.Contains(r.stdout, "maintenance: node-9: the local override (on since") || !strings.Contains(r.stdout, "names no node of rack.yaml") {
		t.Errorf("plan with an override of a removed node: exit %d, want 0 (no changes) with a note\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := m.run("maintenance", "node-9", "off"); r.code != 0 || len(m.overrides()) != 0 {
		t.Errorf("maintenance node-9 off: exit %d, overrides %+v; want it removed\n%s%s", r.code, m.overrides(), r.stdout, r.stderr)
	}

	// rack.yaml says maintenance: true for node-2; off takes it out locally.
	editSpec(t, m.spec, "{name: node-2,", "{name: node-2, maintenance: true,")
	editSpec(t, m.spec, "{name: node-2,", "{name: node-2, reprovision: r2,")
	if got := nodeChanges(t, m.run("plan", "-o", "json").stdout, "node-2"); len(got) != 0 {
		t.Fatalf("node-2 in maintenance by rack.yaml has changes %q", got)
	}
	if r := m.run("maintenance", "node-2", "off"); r.code != 0 || !strings.Contains(r.stdout, "maintenance off locally") {
		t.Fatalf("maintenance node-2 off: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = m.run("plan", "-o", "json")
	if got := nodeChanges(t, r.stdout, "node-2"); !slices.Equal(intersect(got, reinstall), reinstall) {
		t.Errorf("plan with node-2 off locally: its changes %q, want %q", got, reinstall)
	}
	if r := m.run("status"); !strings.Contains(r.stdout, "node-2 (out of maintenance, local)") {
		t.Errorf("status lacks node-2 (out of maintenance, local):\n%s", r.stdout)
	}

	// node-0 on locally, then committed: spent, removed by the next apply.
	if r := m.run("maintenance", "node-0", "on"); r.code != 0 {
		t.Fatalf("maintenance node-0 on: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	editSpec(t, m.spec, "{name: node-0,", "{name: node-0, maintenance: true,")
	r = m.run("plan")
	if !strings.Contains(r.stdout, "maintenance: node-0: the local override (on since") || !strings.Contains(r.stdout, "spent, the next apply removes it") {
		t.Errorf("plan lacks the spent note for node-0:\n%s%s", r.stdout, r.stderr)
	}
	// A saved plan made under other overrides is stale.
	planFile := filepath.Join(t.TempDir(), "plan.bin")
	if r := m.run("plan", "-out", planFile); r.code != 0 {
		t.Fatalf("plan -out: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := m.run("maintenance", "node-1", "on"); r.code != 0 {
		t.Fatalf("maintenance node-1 on: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := m.run("apply", planFile); r.code == 0 || !strings.Contains(r.stderr, state.MaintenanceFile) {
		t.Errorf("apply of a plan saved before maintenance node-1 on: exit %d, want a stale plan naming %s\n%s%s", r.code, state.MaintenanceFile, r.stdout, r.stderr)
	}
	if r := m.run("maintenance", "node-1", "off"); r.code != 0 {
		t.Fatalf("maintenance node-1 off: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := m.run("apply", "--auto-approve"); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if o := m.overrides(); len(o) != 1 || o["node-2"].Maintenance || o["node-2"].By == "" {
		t.Errorf("overrides after the apply: %+v, want node-0's spent one gone and node-2's (off, active) kept", o)
	}

	// An excluded node cannot be in maintenance: refused, nothing written.
	editSpec(t, m.spec, "{name: node-1,", "{name: node-1, exclude: true,")
	if r := m.run("maintenance", "node-1", "on"); r.code != 1 || !strings.Contains(r.stderr, "node-1: excluded in") {
		t.Errorf("maintenance on an excluded node: exit %d, want 1 saying it is excluded\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, ok := m.overrides()["node-1"]; ok {
		t.Error("maintenance on an excluded node wrote an override")
	}
}

// revisionHandled is watch's record of the spec's revision, if any.
func revisionHandled(t *testing.T, stateDir string) *watch.EventRecord {
	evs, err := state.New(stateDir).ReadWatchEvents()
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if evs[i].Trigger == watch.TriggerRevision {
			return &evs[i]
		}
	}
	return nil
}

// driftApplied finds the first drift fix watch recorded after since.
func driftApplied(t *testing.T, stateDir string, since time.Time) *watch.EventRecord {
	evs, err := state.New(stateDir).ReadWatchEvents()
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if evs[i].Trigger == watch.TriggerDrift && !evs[i].Time.Before(since) && evs[i].Outcome != watch.OutcomeUnchanged {
			return &evs[i]
		}
	}
	return nil
}

// A running watch sees an override set after it started, without a new
// revision: its next drift check reinstalls the nodes whose flag files
// went, but not node-1 (no BMC write), and /metrics counts the override.
func TestMaintenanceWatchDriftSkipsNode(t *testing.T) {
	m := newMaintRack(t)
	stateDir := m.stateDir().Path()
	listen := freePort(t)
	startRackctl(t, "watch", "-f", m.spec, "--root", m.root, "--listen", listen, "--status-interval", "1h",
		"--drift-interval", "300ms", "--max-disruptive-nodes-percent", "-1", "--timeout", "5s",
		"--dhcp", "none", "--provisioner-run", "never", "--verify", "flag")
	waitFor(t, "watch's first revision", func() bool { return revisionHandled(t, stateDir) != nil })
	if ev := revisionHandled(t, stateDir); ev.Outcome != watch.OutcomeUnchanged {
		t.Fatalf("watch's first revision of the converged rack: %+v, want unchanged", ev)
	}
	if got := getBody(t, "http://"+listen+"/metrics"); !strings.Contains(got, "rackctl_maintenance_local_overrides 0") {
		t.Errorf("/metrics before the override lacks rackctl_maintenance_local_overrides 0:\n%s", got)
	}

	if r := m.run("maintenance", "node-1", "on"); r.code != 0 {
		t.Fatalf("maintenance node-1 on: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	since := time.Now()
	calls := [][]string{chassisSets(m.bmcs.BMCs[0]), chassisSets(m.bmcs.BMCs[1]), chassisSets(m.bmcs.BMCs[2])}
	for i := range 3 { // drift: every node's install is gone
		flag := filepath.Join(m.root, "home/core/flatcar-container-linux/assets", "02:00:00:00:0"+string(rune('0'+i))+":01")
		if err := os.Remove(flag); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a drift check that fixed something", func() bool { return driftApplied(t, stateDir, since) != nil })
	if ev := driftApplied(t, stateDir, since); ev.Outcome != watch.OutcomeApplied {
		t.Fatalf("drift check: %+v, want applied", ev)
	}
	for i := range 3 {
		got := chassisSets(m.bmcs.BMCs[i])[len(calls[i]):]
		if i == 1 && len(got) != 0 {
			t.Errorf("node-1 in maintenance by the CLI: watch's drift fix wrote %q to its BMC, want nothing", got)
		}
		if i != 1 && (len(got) < 2 || got[0] != "set boot pxe") {
			t.Errorf("node-%d: watch's drift fix wrote %q to its BMC, want next boot PXE and a power cycle", i, got)
		}
	}
	if got := getBody(t, "http://"+listen+"/metrics"); !strings.Contains(got, "rackctl_maintenance_local_overrides 1") {
		t.Errorf("/metrics with node-1 on locally lacks rackctl_maintenance_local_overrides 1:\n%s", got)
	}
}

// With drift checks off, a running watch still sees an override at its
// next poll: the flag files removed before it are reinstalled at once for
// every node but node-1, and the operator's record reaches the
// notification targets as maintenance.changed.
func TestMaintenanceWatchPollsOverrides(t *testing.T) {
	m := newMaintRack(t)
	stateDir := m.stateDir().Path()
	events := filepath.Join(t.TempDir(), "events.jsonl")
	writeConfig(t, m.root, `apiVersion: rackctl/v1alpha1
kind: Config
notifications:
  - name: log
    kind: command
    command: [sh, -c, 'cat >> "$0"', `+events+`]
`)
	startRackctl(t, "watch", "-f", m.spec, "--root", m.root, "--listen", "", "--drift-interval", "0", "--approval-poll", "100ms",
		"--max-disruptive-nodes-percent", "-1", "--timeout", "5s", "--dhcp", "none", "--provisioner-run", "never", "--verify", "flag")
	waitFor(t, "watch's first revision", func() bool { return revisionHandled(t, stateDir) != nil })

	calls := [][]string{chassisSets(m.bmcs.BMCs[0]), chassisSets(m.bmcs.BMCs[1]), chassisSets(m.bmcs.BMCs[2])}
	for i := range 3 { // drift nothing looks for: drift checks are off
		flag := filepath.Join(m.root, "home/core/flatcar-container-linux/assets", "02:00:00:00:0"+string(rune('0'+i))+":01")
		if err := os.Remove(flag); err != nil {
			t.Fatal(err)
		}
	}
	since := time.Now()
	if r := m.run("maintenance", "node-1", "on", "--reason", "fan"); r.code != 0 {
		t.Fatalf("maintenance node-1 on: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	waitFor(t, "the drift check the override started", func() bool { return driftApplied(t, stateDir, since) != nil })
	if ev := driftApplied(t, stateDir, since); ev.Outcome != watch.OutcomeApplied {
		t.Fatalf("drift check: %+v, want applied", ev)
	}
	for i := range 3 {
		got := chassisSets(m.bmcs.BMCs[i])[len(calls[i]):]
		if i == 1 && len(got) != 0 {
			t.Errorf("node-1 in maintenance by the CLI: watch wrote %q to its BMC, want nothing", got)
		}
		if i != 1 && (len(got) < 2 || got[0] != "set boot pxe") {
			t.Errorf("node-%d: watch wrote %q to its BMC, want next boot PXE and a power cycle", i, got)
		}
	}
	waitFor(t, "the maintenance.changed notification", func() bool {
		b, _ := os.ReadFile(events)
		return strings.Contains(string(b), `"maintenance.changed"`)
	})
	if b, _ := os.ReadFile(events); !strings.Contains(string(b), "node-1 on locally") || !strings.Contains(string(b), "fan") {
		t.Errorf("the notification does not name node-1, on and the reason:\n%s", b)
	}
}

// An override rack.yaml came to say too is removed by `apply` also when
// the plan has nothing to do (files layer only: no BMC needed).
func TestMaintenanceSpentRemovedByEmptyApply(t *testing.T) {
	src, err := os.ReadFile("../../spec-examples/flatcar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, root := filepath.Join(t.TempDir(), "rack.yaml"), t.TempDir()
	if err := os.WriteFile(spec, src, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) cliResult {
		t.Helper()
		r := cli(t, append([]string{"-f", spec, "--root", root}, args...)...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return r
	}
	run(append([]string{"apply", "--auto-approve"}, filesOnly...)...)
	run("maintenance", "node-1", "on")
	editSpec(t, spec, "  - name: node-1\n", "  - name: node-1\n    maintenance: true\n")
	if r := run(append([]string{"plan", "--detailed-exitcode"}, filesOnly...)...); !strings.Contains(r.stdout, "spent, the next apply removes it") {
		t.Errorf("plan lacks the spent note:\n%s", r.stdout)
	}
	run(append([]string{"apply", "--auto-approve"}, filesOnly...)...)
	if m, err := state.New(filepath.Join(root, state.DefaultDir)).LoadMaintenance(); err != nil || len(m.Nodes) != 0 {
		t.Errorf("overrides after an apply with nothing to do: %+v (%v), want the spent one removed", m.Nodes, err)
	}
}
