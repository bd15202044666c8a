package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Ready Node proves an install only when it is Ready anew: a Node left
// from before the install (its kubelet still heartbeating the old system,
// or a status nobody has updated since) says nothing about the boot the
// apply caused. The reference is a Baseline: the nodes as listed before
// the apply power-cycled anything. Against it a Ready node counts when
//
//   - no Node of its name existed then, or the Node was re-created (a new
//     UID): it registered after the baseline;
//   - else, when both report a boot ID (every kubelet reports
//     /proc/sys/kernel/random/boot_id), the boot ID changed: the node
//     booted since — the same boot ID is the old system, Ready or not;
//   - else (no boot IDs to compare) its Ready condition came about since
//     the baseline: it was not Ready then, or its Ready condition's
//     lastTransitionTime is later.
//
// Times are compared only with times the same kubelet wrote, never with
// rackctl's clock, so a skewed node clock cannot make a stale Ready look
// fresh. A Ready node proves the node came back and joined; which config
// it runs is what --verify ssh (its config hash) answers.
//
// When the baseline could not be taken, nothing counts: rackctl cannot
// tell a node that rebooted from one that did not, so the install is not
// recorded (fail closed) and the next apply tries again.

// Baseline is the cluster's nodes before an apply acted on them.
type Baseline struct {
	idx nodeIndex
	err error
}

// Baseline lists the nodes once. A failure is kept in the Baseline (every
// node then counts as not rebooted) and returned.
func (c *Client) Baseline(ctx context.Context) (*Baseline, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	list, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		err = fmt.Errorf("cluster: list nodes before the apply: %w", err)
		return &Baseline{err: err}, err
	}
	return &Baseline{idx: newNodeIndex(list.Items)}, nil
}

// Fresh tells whether node now, matched to the expected name, shows a boot
// after the baseline (see the rules above); why says what is missing when
// not. now must be non-nil.
func (b *Baseline) Fresh(name string, now *corev1.Node) (ok bool, why string) {
	if b.err != nil {
		return false, fmt.Sprintf("the nodes could not be read before the apply (%v), so a Ready node cannot be told from one that did not reboot", b.err)
	}
	old := b.idx.find(name)
	switch {
	case old == nil || old.UID != now.UID:
		return true, ""
	case old.Status.NodeInfo.BootID != "" && now.Status.NodeInfo.BootID != "":
		if old.Status.NodeInfo.BootID == now.Status.NodeInfo.BootID {
			return false, "same boot ID as before the apply: the node has not rebooted yet"
		}
		return true, ""
	}
	oc := readyCondition(old)
	if oc == nil || oc.Status != corev1.ConditionTrue {
		return true, ""
	}
	if nc := readyCondition(now); nc != nil && nc.LastTransitionTime.After(oc.LastTransitionTime.Time) {
		return true, ""
	}
	return false, "Ready since before the apply and no boot ID to tell a reboot"
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
