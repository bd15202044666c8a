package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
)

// Status is what the API server says about the cluster and the expected nodes.
type Status struct {
	// Reached is true when the API server answered GET /version.
	Reached bool
	// Reason says why the API server was not reached, or why the nodes could
	// not be listed; empty when all went well.
	Reason string
	// ServerVersion is the API server's gitVersion, e.g. "v1.24.4".
	ServerVersion string
	// Nodes has one entry per expected name, keyed by the name as given.
	Nodes map[string]NodeStatus
}

// NodeStatus is the state of one expected node.
type NodeStatus struct {
	// Joined is true when a Node object matches the expected name.
	Joined bool
	// Ready is true when the Node's Ready condition is True.
	Ready bool
	// Name is the matching Node object's name ("" when not joined).
	Name           string
	KubeletVersion string // nodeInfo.kubeletVersion, e.g. "v1.24.4"
	OSImage        string // nodeInfo.osImage, e.g. "Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)"
	OSVersion      string // parsed from OSImage, e.g. "3510.2.1"; "" for another OS
	// Reason says why the node is not joined or not Ready; empty when Ready.
	Reason string
}

// ReasonNotJoined is the NodeStatus.Reason of a node that has no Node object.
const ReasonNotJoined = "not joined: no Node object matches this name"

// Status reports whether the API server is reached and, for each of names, the
// node's state. An unreachable API server is not an error: Status returns
// Reached=false with the reason within the client's timeout. The error is
// non-nil when ctx ends or the nodes cannot be listed (Reason says it too).
func (c *Client) Status(ctx context.Context, names []string) (Status, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()

	st := Status{Nodes: map[string]NodeStatus{}}
	v, err := c.serverVersion(ctx)
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		// The server answered, if only with an error (e.g. 401): it is reached,
		// and listing the nodes below tells whether anything works.
		c.log.Info("api server answered /version with an error", "err", err)
		err = nil
	}
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
			return st, fmt.Errorf("cluster: status: %w", cerr)
		}
		st.Reason = unreachableReason(err, c.timeout)
		c.log.Info("api server not reached", "reason", st.Reason)
		for _, n := range names {
			st.Nodes[n] = NodeStatus{Reason: "unknown: api server not reached"}
		}
		return st, nil
	}
	st.Reached = true
	st.ServerVersion = v

	nodes, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		st.Reason = fmt.Sprintf("list nodes: %v", err)
		for _, n := range names {
			st.Nodes[n] = NodeStatus{Reason: "unknown: cannot list nodes"}
		}
		return st, fmt.Errorf("cluster: list nodes: %w", err)
	}
	idx := newNodeIndex(nodes.Items)
	for _, n := range names {
		st.Nodes[n] = idx.status(n)
	}
	return st, nil
}

// serverVersion asks GET /version under ctx (discovery's ServerVersion takes
// no context).
func (c *Client) serverVersion(ctx context.Context) (string, error) {
	raw, err := c.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", err
	}
	var info version.Info
	if err := json.Unmarshal(raw, &info); err != nil {
		return "", fmt.Errorf("decode /version: %w", err)
	}
	return info.GitVersion, nil
}

// unreachableReason turns a transport error into a short reason for humans.
func unreachableReason(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused: %v", innermostURLError(err))
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no answer within %s: %v", timeout, innermostURLError(err))
	default:
		return err.Error()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func innermostURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue
	}
	return err
}

// osVersionRE finds the version in a Flatcar or CoreOS Container Linux
// osImage: "Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)",
// "Container Linux by CoreOS 2512.3.0 (Oklo)", nightly builds like
// "3602.0.0+nightly-20230615-2100".
var osVersionRE = regexp.MustCompile(`Container Linux\b.*?\s(\d+\.\d+\.\d+(?:\+[0-9A-Za-z.-]+)?)\b`)

// ParseOSVersion returns the Flatcar (or CoreOS) Container Linux version in
// an osImage string, or "" when the image is another OS or has no version.
func ParseOSVersion(osImage string) string {
	m := osVersionRE.FindStringSubmatch(osImage)
	if m == nil {
		return ""
	}
	return m[1]
}

// nodeIndex matches expected names to Node objects.
type nodeIndex struct {
	full  map[string]*corev1.Node // node name and hostname label
	short map[string]*corev1.Node // their first DNS label
}

func newNodeIndex(nodes []corev1.Node) nodeIndex {
	idx := nodeIndex{full: map[string]*corev1.Node{}, short: map[string]*corev1.Node{}}
	// Names first so that a hostname label never shadows another node's name.
	for i := range nodes {
		n := &nodes[i]
		idx.full[strings.ToLower(n.Name)] = n
	}
	for i := range nodes {
		n := &nodes[i]
		if h := strings.ToLower(n.Labels[corev1.LabelHostname]); h != "" {
			if _, taken := idx.full[h]; !taken {
				idx.full[h] = n
			}
		}
	}
	for i := range nodes {
		n := &nodes[i]
		if s := shortName(strings.ToLower(n.Name)); idx.short[s] == nil {
			idx.short[s] = n
		}
	}
	for i := range nodes {
		n := &nodes[i]
		if h := strings.ToLower(n.Labels[corev1.LabelHostname]); h != "" && idx.short[shortName(h)] == nil {
			idx.short[shortName(h)] = n
		}
	}
	return idx
}

func (idx nodeIndex) find(name string) *corev1.Node {
	key := strings.ToLower(strings.TrimSuffix(name, "."))
	if n, ok := idx.full[key]; ok {
		return n
	}
	return idx.short[shortName(key)]
}

func (idx nodeIndex) status(name string) NodeStatus {
	n := idx.find(name)
	if n == nil {
		return NodeStatus{Reason: ReasonNotJoined}
	}
	return nodeStatus(n)
}

func shortName(name string) string {
	s, _, _ := strings.Cut(name, ".")
	return s
}

// nodeStatus reads the state of a joined node.
func nodeStatus(n *corev1.Node) NodeStatus {
	st := NodeStatus{
		Joined:         true,
		Name:           n.Name,
		KubeletVersion: n.Status.NodeInfo.KubeletVersion,
		OSImage:        n.Status.NodeInfo.OSImage,
		OSVersion:      ParseOSVersion(n.Status.NodeInfo.OSImage),
		Reason:         "not ready: no Ready condition reported yet",
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type != corev1.NodeReady {
			continue
		}
		if cond.Status == corev1.ConditionTrue {
			st.Ready = true
			st.Reason = ""
			break
		}
		st.Reason = "not ready: " + conditionText(cond)
		break
	}
	return st
}

func conditionText(c corev1.NodeCondition) string {
	parts := []string{"Ready=" + string(c.Status)}
	if c.Reason != "" {
		parts = append(parts, c.Reason)
	}
	if c.Message != "" {
		parts = append(parts, c.Message)
	}
	return strings.Join(parts, ": ")
}
