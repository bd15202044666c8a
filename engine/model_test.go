package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/watch"
)

// TestStatusModel: the status rows and the API line from what was
// observed, for each way the cluster answers (or does not).
func TestStatusModel(t *testing.T) {
	e, rack := newEngine(t, lokomotiveSpec, filesOnly)
	r, err := e.Rack(rack)
	if err != nil {
		t.Fatal(err)
	}
	ctrl := r.Nodes()[0]
	fqdn := rack.FQDN(ctrl)
	reached := cluster.Status{Reached: true, ServerVersion: "v1.37.2", Nodes: map[string]cluster.NodeStatus{
		fqdn: {Joined: true, Ready: true, KubeletVersion: "v1.37.1", OSImage: "Flatcar", OSVersion: "4152.2.0"},
	}}
	for name, tc := range map[string]struct {
		obs                        clusterObservation
		api, reason, version, join string
		kubelet                    string
	}{
		"flatcar":         {obs: clusterObservation{skipped: true}, api: "n/a", join: "n/a"},
		"no kubeconfig":   {obs: clusterObservation{clientErr: cluster.ErrNoKubeconfig}, api: "unknown", reason: cluster.ErrNoKubeconfig.Error(), join: "unknown"},
		"api down":        {obs: clusterObservation{err: errors.New("dial: refused")}, api: "no", reason: "dial: refused", join: "unknown"},
		"api not reached": {obs: clusterObservation{status: cluster.Status{Reason: "403"}}, api: "no", reason: "403", join: "unknown"},
		"nodes unlisted":  {obs: clusterObservation{status: cluster.Status{Reached: true}, err: errors.New("list nodes: forbidden")}, api: "yes", reason: "list nodes: forbidden", join: "unknown"},
		"ready":           {obs: clusterObservation{status: reached}, api: "yes", version: "v1.37.2", join: "yes", kubelet: "v1.37.1"},
		"not ready": {obs: clusterObservation{status: cluster.Status{Reached: true, Nodes: map[string]cluster.NodeStatus{fqdn: {Joined: true}}}},
			api: "yes", join: "not ready"},
		"not joined": {obs: clusterObservation{status: cluster.Status{Reached: true, Nodes: map[string]cluster.NodeStatus{fqdn: {}}}},
			api: "yes", join: "no"},
		"not expected": {obs: clusterObservation{status: cluster.Status{Reached: true, Nodes: map[string]cluster.NodeStatus{}}}, api: "yes", join: "n/a"},
	} {
		t.Run(name, func(t *testing.T) {
			st := statusOf(r, observations{
				power:       map[string]bmc.Result[string]{ctrl.Name: {Value: "off"}},
				provisioned: map[string]bool{ctrl.Name: true},
				cluster:     tc.obs,
			})
			if st.APIReached != tc.api || st.APIReason != tc.reason || st.ServerVersion != tc.version {
				t.Errorf("API line %q (%q) %q, want %q (%q) %q", st.APIReached, st.APIReason, st.ServerVersion, tc.api, tc.reason, tc.version)
			}
			row := st.Nodes[0]
			if row.Joined != tc.join || row.Kubelet != tc.kubelet {
				t.Errorf("row joined %q kubelet %q, want %q %q", row.Joined, row.Kubelet, tc.join, tc.kubelet)
			}
			if !row.BMCReached || row.Power != "off" || !row.Provisioned || row.Diag != nil {
				t.Errorf("row %+v: want the BMC reached, off, provisioned, no diagnostics", row)
			}
			if row.BMCAddress != r.BMCAddress(ctrl) || row.IP != r.Addrs(ctrl.Name).Primary.String() || row.Hostnames[0] != fqdn {
				t.Errorf("row addresses %q %q %v", row.BMCAddress, row.IP, row.Hostnames)
			}
			if other := st.Nodes[1]; other.BMCReached || other.BMCError == "" {
				t.Errorf("a node whose BMC was not read: %+v, want not reached with a reason", other)
			}
		})
	}
}

// TestMergeHistory: applies and the commits watch did not apply, oldest
// first; watch's applied, apply-failed and unchanged events add no line,
// but an apply takes its author from them.
func TestMergeHistory(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	applies := []reconcile.HistoryRecord{
		{Time: at(2), Commit: "aaa", Outcome: reconcile.OutcomeSuccess, Planned: reconcile.Counts{Add: 3}},
		{Time: at(5), Commit: "ccc", Outcome: reconcile.OutcomeFailed, Error: "bmc: timeout"},
	}
	events := []watch.EventRecord{
		{Time: at(1), Commit: "zzz", Author: "eve", Outcome: watch.OutcomeRejected, Reason: "spec not valid"},
		{Time: at(3), Commit: "aaa", Author: "ann", Outcome: watch.OutcomeApplied},
		{Time: at(4), Commit: "bbb", Author: "bob", Outcome: watch.OutcomeHeld, Reason: "3 controllers", Planned: &reconcile.Counts{Add: 1, Change: 2}},
		{Time: at(6), Commit: "ccc", Author: "cat", Outcome: watch.OutcomeApplyFailed},
		{Time: at(7), Commit: "ccc", Outcome: watch.OutcomeUnchanged},
	}
	got := mergeHistory(applies, events)
	want := []struct{ source, commit, author, outcome, changes, detail string }{
		{"watch", "zzz", "eve", "rejected", "", "spec not valid"},
		{"apply", "aaa", "ann", "success", "+3 ~0 -0", ""},
		{"watch", "bbb", "bob", "held", "+1 ~2 -0", "3 controllers"},
		{"apply", "ccc", "cat", "failed", "+0 ~0 -0", "bmc: timeout"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Source != w.source || g.Commit != w.commit || g.Author != w.author || g.Outcome != w.outcome || g.Changes != w.changes || g.Detail != w.detail {
			t.Errorf("entry %d = %s %s %s %s %q %q, want %+v", i, g.Source, g.Commit, g.Author, g.Outcome, g.Changes, g.Detail, w)
		}
		if (g.Apply == nil) == (g.Watch == nil) {
			t.Errorf("entry %d carries apply %v and watch %v: want exactly one record", i, g.Apply != nil, g.Watch != nil)
		}
	}
}
