package simnode

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kubeAgent plays the node's kubelet (register, Ready, heartbeat) and, for
// the time the node is off, the control plane's node lifecycle: past the
// grace period the Node goes Unknown, past twice that it is deleted.
type kubeAgent struct {
	cs               kubernetes.Interface
	heartbeat, grace time.Duration
	logf             func(string, ...any)

	mu     sync.Mutex
	name   string
	cancel context.CancelFunc // the running heartbeat or off-timer
	done   chan struct{}
}

// swap stops what runs and starts f (nil: nothing).
func (k *kubeAgent) swap(f func(ctx context.Context)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cancel != nil {
		k.cancel()
		<-k.done
		k.cancel = nil
	}
	if f == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	k.cancel, k.done = cancel, done
	go func() {
		defer close(done)
		f(ctx)
	}()
}

// start registers the Node (named after the host) and heartbeats it.
func (k *kubeAgent) start(name string) {
	k.swap(nil)
	k.mu.Lock()
	k.name = name
	k.mu.Unlock()
	k.swap(func(ctx context.Context) {
		registered := false
		t := time.NewTicker(k.heartbeat)
		defer t.Stop()
		for {
			err := k.post(ctx, name, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
			if err == nil && !registered {
				registered = true
				k.logf("kubelet: registered Node %s, Ready", name)
			} else if err != nil && ctx.Err() == nil {
				k.logf("kubelet: post Node %s: %v", name, err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// stop ends the heartbeat (the OS went down) and starts the off-timer.
func (k *kubeAgent) stop() {
	k.mu.Lock()
	name := k.name
	k.mu.Unlock()
	if name == "" {
		return
	}
	k.swap(func(ctx context.Context) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(k.grace):
		}
		if k.post(ctx, name, corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status.") == nil {
			k.logf("cluster: Node %s NotReady (no heartbeat for %s)", name, k.grace)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(k.grace):
		}
		err := k.cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			k.logf("cluster: Node %s deleted (off for %s)", name, 2*k.grace)
		}
	})
}

// close stops everything without touching the cluster.
func (k *kubeAgent) close() { k.swap(nil) }

// post creates the Node if needed and sets its Ready condition.
func (k *kubeAgent) post(ctx context.Context, name string, st corev1.ConditionStatus, reason, msg string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nodes := k.cs.CoreV1().Nodes()
	n, err := nodes.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, corev1.LabelOSStable: "linux",
		}}}, metav1.CreateOptions{})
	}
	if err != nil {
		return err
	}
	now := metav1.Now()
	cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: st, LastHeartbeatTime: now, LastTransitionTime: now, Reason: reason, Message: msg}
	kept := n.Status.Conditions[:0]
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == st {
				cond.LastTransitionTime = c.LastTransitionTime
			}
			continue
		}
		kept = append(kept, c)
	}
	n.Status.Conditions = append(kept, cond)
	n.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.0.0-simnode", OSImage: "Flatcar Container Linux (simnode)",
		OperatingSystem: "linux", Architecture: "amd64"}
	_, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}
