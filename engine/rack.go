package engine

import (
	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// Rack is a loaded spec with what the BMC, status and rotation commands
// need around it: addresses (read from the state dir, never written here)
// and the engine's host paths.
type Rack struct {
	e *Engine
	// Spec is the spec with the local maintenance overrides applied.
	Spec *schema.Rack
	// Local are the local maintenance overrides, as they meet the spec.
	Local []LocalMaintenance
	addrs map[string]ipam.Addrs
}

// Rack places a validated spec: the local maintenance overrides are
// applied to it, its addresses come from the state dir's allocation,
// extended in memory for new nodes.
func (e *Engine) Rack(spec *schema.Rack) (*Rack, error) {
	spec, local, err := e.localMaintenance(spec)
	if err != nil {
		return nil, err
	}
	prev, err := state.New(e.cfg.StateDir).LoadAllocation()
	if err != nil {
		return nil, err
	}
	_, addrs, _, err := ipam.Allocate(spec, prev)
	if err != nil {
		return nil, err
	}
	return &Rack{e: e, Spec: spec, Local: local, addrs: addrs}, nil
}

// Addrs are the node's allocated addresses.
func (r *Rack) Addrs(node string) ipam.Addrs { return r.addrs[node] }

// Credentials are the BMC credentials in force.
func (r *Rack) Credentials() (bmc.Credentials, error) {
	return r.e.credentials(r.Spec.BMC.UserFile, r.Spec.BMC.PasswordFile)
}

// BMC opens the driver of the rack's BMC protocol with the credentials in
// force.
func (r *Rack) BMC() (BMCClient, error) {
	creds, err := r.Credentials()
	if err != nil {
		return nil, err
	}
	return r.e.openBMC(r.Spec, creds)
}

// BMCAddress is where rackctl reaches a node's BMC (bmc.EndpointFor: the
// spec's override, or the BMC's allocated internal IP on its protocol's
// port).
func (r *Rack) BMCAddress(n *schema.Node) string {
	return bmc.EndpointFor(r.Spec, n, r.addrs[n.Name].BMC).Address()
}

// Target is n's BMC, with its protocol.
func (r *Rack) Target(n *schema.Node) bmc.Target {
	return bmc.EndpointFor(r.Spec, n, r.addrs[n.Name].BMC).Target(n.Name)
}

// Targets are the BMCs of nodes, in their order.
func (r *Rack) Targets(nodes []*schema.Node) []bmc.Target {
	out := make([]bmc.Target, len(nodes))
	for i, n := range nodes {
		out[i] = r.Target(n)
	}
	return out
}

// Nodes are all nodes of the spec, excluded ones too.
func (r *Rack) Nodes() []*schema.Node {
	out := make([]*schema.Node, len(r.Spec.Nodes))
	for i := range r.Spec.Nodes {
		out[i] = &r.Spec.Nodes[i]
	}
	return out
}

// FlagFile is the file whose presence marks a node as installed, as
// Racker's provisioners left it: a slash path relative to Root.
func (r *Rack) FlagFile(n *schema.Node) string {
	return render.FlagFilePath(r.e.Layout(), r.Spec.Provisioner, n.MAC)
}

// Provisioned tells whether n's flag file exists beneath Root. A link on
// its path is not followed: the node counts as not provisioned, with a
// warning naming the link.
func (r *Rack) Provisioned(n *schema.Node) bool {
	root, err := rootfs.New(r.e.cfg.Root)
	if err != nil {
		return false
	}
	there, err := root.Exists(r.FlagFile(n))
	if err != nil {
		r.e.log.Warn("flag file not read", "node", n.Name, "err", err)
		return false
	}
	return there
}

// Hostnames are the names the node answers to in the hosts block.
func (r *Rack) Hostnames(n *schema.Node) []string {
	names := []string{r.Spec.FQDN(n), n.Name}
	if n.Role == schema.RoleController && r.Spec.Cluster.APIServerName != "" {
		names = append(names, r.Spec.Cluster.APIServerName)
	}
	return names
}
