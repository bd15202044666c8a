package schema

import (
	"fmt"
	"time"
)

// checkRollout: rollout.canary.names name nodes of the rack, a canary
// role is one the provisioner has, and rollout.timeout is not zero (a
// wave could never become healthy).
func checkRollout(ix *index, nodes []string) {
	if _, ok := ix.entries["rollout"]; !ok {
		return
	}
	names := map[string]bool{}
	for _, n := range nodes {
		if name, ok := ix.str(n + ".name"); ok {
			names[name] = true
		}
	}
	for i := 0; ; i++ {
		p := joinIndex("rollout.canary.names", i)
		if _, ok := ix.entries[p]; !ok {
			break
		}
		if name, ok := ix.str(p); ok && !names[name] {
			ix.addAt(p, fmt.Sprintf("no node is named %q: name a node of nodes, or drop it from the canary", name))
		}
	}
	prov, _ := ix.str("provisioner")
	if role, ok := ix.str("rollout.canary.role"); ok {
		flatcarRole := role == RoleNode
		if (prov == string(Flatcar)) != flatcarRole && (prov == string(Flatcar) || prov == string(Lokomotive)) {
			ix.addAt("rollout.canary.role", fmt.Sprintf("%q is not a role of a %s rack", role, prov))
		}
	}
	if s, ok := ix.str("rollout.timeout"); ok {
		if d, err := time.ParseDuration(s); err == nil && d <= 0 {
			ix.addAt("rollout.timeout", "must be longer than 0s: a wave needs time to become healthy")
		}
	}
}
