package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/schema"
)

// NodeHealth is the rollout gate of a Lokomotive rack, for watch to ask
// between disruptive steps: every active node judged by its Node — Ready,
// its kubelet on the control plane's minor release (the skew a rollout
// must not leave behind), the labels the spec gives it (cluster.Health) —
// keyed by the node's name in the spec. The error is non-nil when the
// API cannot be asked; a rollout must then hold, as with an unhealthy node.
func (e *Engine) NodeHealth(ctx context.Context, rack *schema.Rack) (map[string]cluster.NodeHealth, error) {
	if rack.Provisioner != schema.Lokomotive {
		return nil, fmt.Errorf("node health: %s rack has no cluster to ask", rack.Provisioner)
	}
	client, err := e.ClusterClient()
	if err != nil {
		return nil, fmt.Errorf("node health: %w", err)
	}
	st, err := client.Status(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("node health: %w", err)
	}
	if !st.Reached {
		return nil, fmt.Errorf("node health: api server not reached: %s", st.Reason)
	}
	want := map[string]cluster.HealthWant{}
	byFQDN := map[string]string{}
	for _, n := range rack.ActiveNodes() {
		fqdn := rack.FQDN(n)
		byFQDN[fqdn] = n.Name
		want[fqdn] = cluster.HealthWant{KubeletVersion: minorRelease(st.ServerVersion), Labels: cluster.ExpectedLabels(rack, n)}
	}
	got, err := client.Health(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("node health: %w", err)
	}
	out := make(map[string]cluster.NodeHealth, len(got))
	for fqdn, h := range got {
		out[byFQDN[fqdn]] = h
	}
	return out, nil
}

// minorRelease is "v1.37" of "v1.37.2" (or of "v1.37.2+build"); "" when
// the version has no minor, which then checks no kubelet version.
func minorRelease(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return ""
	}
	return "v" + parts[0] + "." + parts[1]
}
