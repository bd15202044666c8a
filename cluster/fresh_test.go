package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rackctl/rackctl/internal/kubefake"
	"github.com/rackctl/rackctl/internal/testenv"
)

// kubeletState is what a kubelet posts: its boot ID and Ready condition
// (status "" for none), the condition's transition at the given offset from
// the test's start (whole seconds: the API keeps seconds).
type kubeletState struct {
	bootID     string
	ready      corev1.ConditionStatus
	transition time.Duration
}

func postKubelet(t *testing.T, k *testenv.Kube, name string, s kubeletState, epoch time.Time) {
	t.Helper()
	n := testenv.Node(name, "", kubelet, flatcarImage)
	n.Status.NodeInfo.BootID = s.bootID
	if s.ready != "" {
		at := metav1.NewTime(epoch.Add(s.transition))
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: s.ready,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: at, Reason: "KubeletReady"}}
	}
	if err := k.PutNode(t.Context(), n); err != nil {
		t.Fatal(err)
	}
}

// TestWaitReadySince runs against a real kube-apiserver: with a baseline,
// a node counts only when it is Ready anew — a Node Ready from before the
// install, or the same boot still heartbeating, does not. One case per
// class of evidence (Baseline.Fresh's rules).
func TestWaitReadySince(t *testing.T) {
	k := testenv.StartKube(t)
	epoch := time.Now().Truncate(time.Second).Add(-time.Hour)
	nope := kubeletState{} // no Node at the baseline
	tests := map[string]struct {
		before, after kubeletState
		recreate      bool // delete the Node and register it anew (new UID)
		wantReady     bool
		wantWhy       string
	}{
		"registered after the baseline":  {before: nope, after: kubeletState{"b", corev1.ConditionTrue, 2 * time.Second}, wantReady: true},
		"new boot ID, Ready":             {before: kubeletState{"a", corev1.ConditionTrue, 0}, after: kubeletState{"b", corev1.ConditionTrue, 0}, wantReady: true},
		"new boot ID, not Ready":         {before: kubeletState{"a", corev1.ConditionTrue, 0}, after: kubeletState{"b", corev1.ConditionFalse, time.Second}, wantWhy: "not ready: Ready=False"},
		"same boot ID, still heartbeats": {before: kubeletState{"a", corev1.ConditionTrue, 0}, after: kubeletState{"a", corev1.ConditionTrue, 0}, wantWhy: "same boot ID as before the apply"},
		"same boot ID, Ready again":      {before: kubeletState{"a", corev1.ConditionFalse, 0}, after: kubeletState{"a", corev1.ConditionTrue, time.Second}, wantWhy: "same boot ID as before the apply"},
		"re-registered Node":             {before: kubeletState{"a", corev1.ConditionTrue, 0}, after: kubeletState{"a", corev1.ConditionTrue, 0}, recreate: true, wantReady: true},
		"no boot ID, Ready all along":    {before: kubeletState{"", corev1.ConditionTrue, 0}, after: kubeletState{"", corev1.ConditionTrue, 0}, wantWhy: "no boot ID to tell a reboot"},
		"no boot ID, Ready since later":  {before: kubeletState{"", corev1.ConditionTrue, 0}, after: kubeletState{"", corev1.ConditionTrue, 5 * time.Second}, wantReady: true},
		"no boot ID, was not Ready":      {before: kubeletState{"", corev1.ConditionUnknown, 0}, after: kubeletState{"", corev1.ConditionTrue, 0}, wantReady: true},
	}
	for name, tc := range tests {
		node := "since-" + strings.ToLower(strings.NewReplacer(" ", "-", ",", "").Replace(name))
		t.Run(name, func(t *testing.T) {
			if tc.before != nope {
				postKubelet(t, k, node, tc.before, epoch)
			}
			c := newClient(t, k.Kubeconfig, 5*time.Second, nil)
			base, err := c.Baseline(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tc.recreate {
				if err := k.Client().CoreV1().Nodes().Delete(t.Context(), node, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			postKubelet(t, k, node, tc.after, epoch)
			var last NodeStatus
			notReady, err := c.WaitReady(context.Background(), []string{node}, WaitOptions{
				Timeout: 1500 * time.Millisecond, Poll: 100 * time.Millisecond, Since: base,
				Progress: func(_ string, st NodeStatus) { last = st },
			})
			if tc.wantReady {
				if err != nil || len(notReady) != 0 {
					t.Fatalf("WaitReady = %v, %v; want Ready anew", notReady, err)
				}
				return
			}
			if !errors.Is(err, ErrNotReady) || len(notReady) != 1 {
				t.Fatalf("WaitReady = %v, %v; want %s not ready", notReady, err, node)
			}
			if !last.Joined || !strings.Contains(last.Reason, tc.wantWhy) {
				t.Errorf("last status %+v, want joined with a reason containing %q", last, tc.wantWhy)
			}
		})
	}

	// Without a baseline nothing counts: a Ready node cannot be told from
	// one that never rebooted.
	t.Run("no baseline", func(t *testing.T) {
		dead := newClient(t, kubefake.WriteKubeconfig(t, kubefake.ClosedPort(t), nil), time.Second, nil)
		base, err := dead.Baseline(t.Context())
		if err == nil {
			t.Fatal("Baseline against a closed port: want an error")
		}
		postKubelet(t, k, "since-no-baseline", kubeletState{"b", corev1.ConditionTrue, 0}, epoch)
		var last NodeStatus
		_, err = newClient(t, k.Kubeconfig, 5*time.Second, nil).WaitReady(context.Background(), []string{"since-no-baseline"},
			WaitOptions{Timeout: time.Second, Poll: 100 * time.Millisecond, Since: base,
				Progress: func(_ string, st NodeStatus) { last = st }})
		if !errors.Is(err, ErrNotReady) || !strings.Contains(last.Reason, "could not be read before the apply") {
			t.Errorf("WaitReady without a baseline = %v, last %+v; want not ready, saying why", err, last)
		}
	})
}
