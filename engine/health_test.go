package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/state"
)

// TestNodeHealth runs against a real kube-apiserver: the rollout gate
// judges every active node of the spec by its Node — Ready, the control
// plane's minor release, the spec's labels — and says why one is not
// healthy; an excluded node is not asked about.
func TestNodeHealth(t *testing.T) {
	k := testenv.StartKube(t)
	e, rack := newEngine(t, lokomotiveSpec, filesOnly)
	e.cfg.Kubeconfig = k.Kubeconfig
	const img = "Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)"
	put := func(name string, ready corev1.ConditionStatus, kubelet string, labels map[string]string) {
		n := testenv.Node(name+".k8s.localdomain", ready, kubelet, img)
		for key, v := range labels {
			n.Labels[key] = v
		}
		if err := k.PutNode(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	worker := map[string]string{"metadata.node-type": "worker"}
	put("lokomotive-controller-0", corev1.ConditionTrue, testenv.KubeVersion, nil)
	put("lokomotive-controller-1", corev1.ConditionFalse, testenv.KubeVersion, nil)
	put("lokomotive-controller-2", corev1.ConditionTrue, "v1.36.4", nil) // a minor behind
	put("lokomotive-worker-0", corev1.ConditionTrue, testenv.KubeVersion+"+lokomotive.1", worker)
	put("lokomotive-worker-1", corev1.ConditionTrue, testenv.KubeVersion, nil) // label missing
	put("lokomotive-worker-2", corev1.ConditionTrue, testenv.KubeVersion, worker)
	put("lokomotive-worker-4", corev1.ConditionTrue, testenv.KubeVersion, nil) // excluded
	// lokomotive-worker-3 never joined.

	got, err := e.NodeHealth(context.Background(), rack)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // "" = healthy, else a part of the problem
		"lokomotive-controller-0": "",
		"lokomotive-controller-1": "not ready",
		"lokomotive-controller-2": "kubelet v1.36.4, want v1.37",
		"lokomotive-worker-0":     "",
		"lokomotive-worker-1":     "label metadata.node-type missing",
		"lokomotive-worker-2":     `label metadata.node-type="worker", want "storage"`,
		"lokomotive-worker-3":     "not joined",
	}
	if len(got) != len(want) {
		t.Errorf("judged %d nodes, want %d (no excluded node): %v", len(got), len(want), got)
	}
	for name, problem := range want {
		h, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s not judged", name)
		case problem == "" && (!h.Healthy || len(h.Problems) > 0):
			t.Errorf("%s: %+v, want healthy", name, h)
		case problem != "" && (h.Healthy || !slices.ContainsFunc(h.Problems, func(p string) bool { return strings.Contains(p, problem) })):
			t.Errorf("%s: healthy %v problems %q, want one containing %q", name, h.Healthy, h.Problems, problem)
		}
	}

	// The gate between a rollout's waves adds each node's last verify
	// outcome (installs.json): a node rackctl never saw installed is
	// unknown, whatever its Node says.
	st := state.New(e.cfg.StateDir)
	for node, out := range map[string]state.InstallOutcome{"lokomotive-controller-0": state.InstallInstalled,
		"lokomotive-controller-1": state.InstallInstalled, "lokomotive-worker-2": state.InstallFailed} {
		if err := st.RecordInstall(node, state.InstallRecord{Outcome: out, Reason: "timed out"}); err != nil {
			t.Fatal(err)
		}
	}
	gate := rolloutGate{e: e, rack: rack}
	bad, err := gate.Unhealthy(context.Background(), []string{"lokomotive-controller-0", "lokomotive-controller-1", "lokomotive-worker-0", "lokomotive-worker-2"})
	if err != nil {
		t.Fatal(err)
	}
	wantBad := map[string]string{
		"lokomotive-controller-1": "not ready",
		"lokomotive-worker-0":     "unknown: no verify outcome recorded",
		"lokomotive-worker-2":     "install failed: timed out; label",
	}
	if len(bad) != len(wantBad) {
		t.Errorf("gate found %v, want %d unhealthy nodes", bad, len(wantBad))
	}
	for n, why := range wantBad {
		if !strings.Contains(bad[n], why) {
			t.Errorf("gate: %s %q, want %q", n, bad[n], why)
		}
	}
	// Without a verify layer (--verify none) no outcome is recorded: the
	// cluster alone is asked, and a Ready node is healthy.
	bad, err = rolloutGate{e: e, rack: rack, skipInstalls: true}.Unhealthy(context.Background(), []string{"lokomotive-controller-1", "lokomotive-worker-0"})
	if err != nil || len(bad) != 1 || !strings.Contains(bad["lokomotive-controller-1"], "not ready") {
		t.Errorf("gate without installs: %v, %v; want lokomotive-controller-1 not ready alone", bad, err)
	}

	// An API server that cannot be asked gates the rollout too.
	e.cfg.Kubeconfig = k.KubeconfigFor(t, "wrong-token")
	if _, err := e.NodeHealth(context.Background(), rack); err == nil {
		t.Error("NodeHealth with a refused credential: want an error")
	}
	if _, err := gate.Unhealthy(context.Background(), []string{"lokomotive-controller-0"}); err == nil {
		t.Error("gate with a refused credential: want an error (the nodes are unknown)")
	}
}
