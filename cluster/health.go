package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rackctl/rackctl/schema"
)

// HealthWant is what a node must show to count as healthy after a rollout
// step: Ready, and running what the rack asks for.
type HealthWant struct {
	// KubeletVersion, when set, is the kubelet release the node must run:
	// "v1.37.2" matches that release and builds of it ("v1.37.2+lokomotive.1");
	// "v1.37" any patch release of 1.37. A pre-release ("v1.37.2-rc.1") or
	// another minor ("v1.370.0") does not match.
	KubeletVersion string
	// Labels must all be on the Node with exactly these values.
	Labels map[string]string
}

// NodeHealth is the health verdict on one expected node.
type NodeHealth struct {
	Healthy bool
	Status  NodeStatus
	// Problems says why the node is not healthy, one entry per failed check
	// (not joined, not Ready, kubelet version, each missing or different
	// label); empty when healthy.
	Problems []string
}

// ExpectedLabels are the Kubernetes labels the spec gives node n: the
// cluster's labels, then the node's own (which win), as rendered into the
// Lokomotive configuration.
func ExpectedLabels(r *schema.Rack, n *schema.Node) map[string]string {
	out := maps.Clone(r.Cluster.Labels)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, n.Labels)
	return out
}

// Health lists the nodes once and judges each expected node (the keys of
// want, matched like Status matches names) against its HealthWant. It is
// the gate of a rollout: the error is non-nil when the API server cannot be
// asked (a node whose health is unknown is not healthy), and then the map
// is nil.
func (c *Client) Health(ctx context.Context, want map[string]HealthWant) (map[string]NodeHealth, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	list, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cluster: node health: list nodes: %w", err)
	}
	idx := newNodeIndex(list.Items)
	out := make(map[string]NodeHealth, len(want))
	for name, w := range want {
		out[name] = CheckHealth(idx.find(name), w)
	}
	return out, nil
}

// CheckHealth judges one Node (nil when none matched the expected name).
func CheckHealth(n *corev1.Node, want HealthWant) NodeHealth {
	if n == nil {
		return NodeHealth{Status: NodeStatus{Reason: ReasonNotJoined}, Problems: []string{ReasonNotJoined}}
	}
	h := NodeHealth{Status: nodeStatus(n)}
	if !h.Status.Ready {
		h.Problems = append(h.Problems, h.Status.Reason)
	}
	if want.KubeletVersion != "" && !KubeletVersionMatches(h.Status.KubeletVersion, want.KubeletVersion) {
		got := h.Status.KubeletVersion
		if got == "" {
			got = "none reported"
		}
		h.Problems = append(h.Problems, fmt.Sprintf("kubelet %s, want %s", got, want.KubeletVersion))
	}
	for _, k := range slices.Sorted(maps.Keys(want.Labels)) {
		got, ok := n.Labels[k]
		switch {
		case !ok:
			h.Problems = append(h.Problems, fmt.Sprintf("label %s missing, want %q", k, want.Labels[k]))
		case got != want.Labels[k]:
			h.Problems = append(h.Problems, fmt.Sprintf("label %s=%q, want %q", k, got, want.Labels[k]))
		}
	}
	h.Healthy = len(h.Problems) == 0
	return h
}

// KubeletVersionMatches tells whether a reported kubelet version is the
// wanted release (see HealthWant.KubeletVersion). Both may omit the "v".
func KubeletVersionMatches(got, want string) bool {
	got, want = strings.TrimPrefix(got, "v"), strings.TrimPrefix(want, "v")
	if got == "" || want == "" {
		return false
	}
	if got == want {
		return true
	}
	rest, ok := strings.CutPrefix(got, want)
	if !ok {
		return false
	}
	switch rest[0] {
	case '+': // build metadata of the same release
		return true
	case '.': // a patch release of a wanted minor ("1.37" → "1.37.2")
		if strings.Count(want, ".") != 1 {
			return false
		}
		patch, _, _ := strings.Cut(rest[1:], "+")
		return patch != "" && strings.Trim(patch, "0123456789") == ""
	}
	return false
}
