package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// TestInstallStatus: every INSTALL state from the flag file and the
// verify layer's record, and its cell text; no I/O.
func TestInstallStatus(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 15, 40, 0, 0, time.UTC)
	const mac = "02:00:00:00:00:01"
	node := schema.Node{Name: "node-0", MAC: mac}
	excluded := node
	excluded.Exclude = true
	rec := func(o state.InstallOutcome, verify, reason string) installObservation {
		return installObservation{records: state.Installs{Nodes: map[string]state.InstallRecord{
			"node-0": {Outcome: o, MAC: mac, Verify: verify, Time: t0, Reason: reason, Commit: "abc1234"}}}}
	}
	none := installObservation{records: state.Installs{Nodes: map[string]state.InstallRecord{}}}
	timeout := "verify node-0: timed out after 25s: node node-0 did not report a finished Ignition run in time: last seen: dial tcp: refused; the install is not recorded: the next apply boots it again"
	tests := map[string]struct {
		node  schema.Node
		flag  bool
		obs   installObservation
		state string
		text  string
	}{
		"observed over ssh":     {node, true, rec(state.InstallInstalled, "ssh", ""), InstallInstalled, "installed"},
		"observed in cluster":   {node, true, rec(state.InstallInstalled, "cluster", ""), InstallInstalled, "installed"},
		"assumed":               {node, true, rec(state.InstallInstalled, "flag", ""), InstallInstalled, "installed (assumed: --verify flag)"},
		"flag without a record": {node, true, none, InstallInstalled, "installed (not observed by rackctl)"},
		"flag after a failure":  {node, true, rec(state.InstallFailed, "ssh", timeout), InstallInstalled, "installed (not observed by rackctl)"},
		"pending, never tried":  {node, false, none, InstallPending, "install pending"},
		"pending, flag removed": {node, false, rec(state.InstallInstalled, "ssh", ""), InstallPending, "install pending"},
		"failed":                {node, false, rec(state.InstallFailed, "ssh", timeout), InstallFailed, "install failed (timed out after 25s: … refused, Dec 2 15:40 UTC)"},
		"failed, long cause":    {node, false, rec(state.InstallFailed, "ssh", "verify node-0: timed out after 3m0s: x: "+strings.Repeat("y", 80)), InstallFailed, "install failed (timed out after 3m0s: … " + strings.Repeat("y", 35) + "…, Dec 2 15:40 UTC)"},
		"failed, no reason":     {node, false, rec(state.InstallFailed, "ssh", ""), InstallFailed, "install failed (no reason recorded, Dec 2 15:40 UTC)"},
		"failed, short reason":  {node, false, rec(state.InstallFailed, "cluster", "verify node-0: node not Ready"), InstallFailed, "install failed (node not Ready, Dec 2 15:40 UTC)"},
		"failure of old server": {schema.Node{Name: "node-0", MAC: "02:00:00:00:99:01"}, false, rec(state.InstallFailed, "ssh", timeout), InstallPending, "install pending"},
		"install of old server": {schema.Node{Name: "node-0", MAC: "02:00:00:00:99:01"}, true, rec(state.InstallInstalled, "ssh", ""), InstallInstalled, "installed (not observed by rackctl)"},
		"MAC case differs":      {schema.Node{Name: "node-0", MAC: strings.ToUpper(mac)}, true, rec(state.InstallInstalled, "ssh", ""), InstallInstalled, "installed"},
		"excluded":              {excluded, false, rec(state.InstallFailed, "ssh", timeout), InstallExcluded, "excluded"},
		"records unreadable":    {node, true, installObservation{err: errors.New("read install records: parse: bad")}, InstallUnknown, "unknown (install records unreadable)"},
		"other node's record":   {schema.Node{Name: "node-1", MAC: mac}, false, rec(state.InstallFailed, "ssh", timeout), InstallPending, "install pending"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := installOf(&tc.node, tc.flag, tc.obs)
			if got.State != tc.state || got.Text() != tc.text {
				t.Errorf("install = %q, %q; want %q, %q", got.State, got.Text(), tc.state, tc.text)
			}
			if got.State == InstallFailed && (got.Reason == "" && tc.obs.records.Nodes["node-0"].Reason != "" || !got.Since.Equal(t0)) {
				t.Errorf("failed install without its reason or time: %+v", got)
			}
		})
	}
}

// TestStatusModelInstall: statusOf fills each row's INSTALL from the flag
// files and the records.
func TestStatusModelInstall(t *testing.T) {
	e, rack := newEngine(t, lokomotiveSpec, filesOnly)
	r, err := e.Rack(rack)
	if err != nil {
		t.Fatal(err)
	}
	nodes := r.Nodes()
	failed := nodes[1]
	st := statusOf(r, observations{
		provisioned: map[string]bool{nodes[0].Name: true},
		cluster:     clusterObservation{skipped: true},
		installs: installObservation{records: state.Installs{Nodes: map[string]state.InstallRecord{
			nodes[0].Name: {Outcome: state.InstallInstalled, MAC: nodes[0].MAC, Verify: "ssh"},
			failed.Name:   {Outcome: state.InstallFailed, MAC: failed.MAC, Verify: "ssh", Reason: "verify x: timed out after 1s"},
		}}},
	})
	if got := st.Nodes[0].Install; got.State != InstallInstalled || got.Verify != "ssh" {
		t.Errorf("%s: %+v, want installed over ssh", nodes[0].Name, got)
	}
	if got := st.Nodes[1].Install; got.State != InstallFailed || got.Reason != "verify x: timed out after 1s" {
		t.Errorf("%s: %+v, want failed with the reason", failed.Name, got)
	}
	for _, row := range st.Nodes[2:] {
		want := InstallPending
		if row.Excluded {
			want = InstallExcluded
		}
		if row.Install.State != want {
			t.Errorf("%s: %+v, want %s", row.Name, row.Install, want)
		}
	}
}
