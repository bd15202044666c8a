package main

import (
	"context"

	"github.com/rackctl/rackctl/schema"
)

// clusterState fills the API line of st and returns, per node, whether it
// joined the cluster. Until the cluster layer is wired, it says "unknown".
func (e *rackEnv) clusterState(ctx context.Context, st *rackStatus) func(*schema.Node) string {
	return func(*schema.Node) string {
		if e.rack.Provisioner == schema.Flatcar {
			return "n/a"
		}
		return "unknown"
	}
}
