package simnode

import (
	"context"
	"crypto/rand"
	"fmt"
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

	verOnce sync.Once
	version string

	mu     sync.Mutex
	name   string
	bootID string             // this boot's, as a kubelet reads /proc/sys/kernel/random/boot_id
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

// start registers the Node (named after the host) and heartbeats it. Every
// start is a new boot: a new boot ID, which is how verify tells a node that
// came back from one that never went away.
func (k *kubeAgent) start(name string) {
	k.swap(nil)
	k.mu.Lock()
	k.name, k.bootID = name, newBootID()
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
	k.mu.Lock()
	bootID := k.bootID
	k.mu.Unlock()
	n.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: k.kubeletVersion(), OSImage: OSImage,
		OperatingSystem: "linux", Architecture: "amd64", BootID: bootID}
	_, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

// OSImage is the osImage a simulated node's kubelet reports.
const OSImage = "Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)"

// kubeletVersion is the control plane's version, as the kubelets of a
// Lokomotive cluster run the release of their control plane; asked once.
func (k *kubeAgent) kubeletVersion() string {
	k.verOnce.Do(func() {
		k.version = "v0.0.0-unknown"
		if v, err := k.cs.Discovery().ServerVersion(); err == nil && v.GitVersion != "" {
			k.version = v.GitVersion
		}
	})
	return k.version
}

func newBootID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
