package engine

import (
	"context"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// Status is what `rackctl status` shows: the rack, its Kubernetes API and
// one row per node.
type Status struct {
	Rack          string       `json:"rack"`
	Provisioner   string       `json:"provisioner"`
	APIReached    string       `json:"kubernetesAPIReached"` // yes | no | unknown | n/a
	APIReason     string       `json:"kubernetesAPIReason,omitempty"`
	ServerVersion string       `json:"kubernetesVersion,omitempty"`
	Nodes         []NodeStatus `json:"nodes"`
	// Pin is the rollback pin watch follows (pin.json), nil when none.
	Pin *state.Pin `json:"pin,omitempty"`
	// PinError says why pin.json could not be read (watch applies nothing
	// meanwhile).
	PinError string `json:"pinError,omitempty"`
	// LocalMaintenance are the local maintenance overrides
	// (maintenance.json), active or not.
	LocalMaintenance []LocalMaintenance `json:"localMaintenance,omitempty"`
}

// NodeStatus is one node's row.
type NodeStatus struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	MAC        string `json:"mac"`
	BMCMAC     string `json:"bmcMac"`
	BMCAddress string `json:"bmcAddress"`
	IP         string `json:"ip"`
	Excluded   bool   `json:"excluded,omitempty"`
	// Maintenance: maintenance: true in the spec; rackctl leaves the node
	// alone (its other columns are still observed).
	Maintenance bool      `json:"maintenance,omitempty"`
	BMCReached  bool      `json:"bmcReached"`
	BMCError    string    `json:"bmcError,omitempty"`
	Power       string    `json:"power,omitempty"`
	Provisioned bool      `json:"provisioned"`
	Joined      string    `json:"joined"` // yes | not ready | no | unknown | n/a
	Hostnames   []string  `json:"hostnames"`
	Kubelet     string    `json:"kubeletVersion,omitempty"`
	OSImage     string    `json:"osImage,omitempty"`
	OSVersion   string    `json:"osVersion,omitempty"`
	Diag        *NodeDiag `json:"diag,omitempty"`
	// MaintenanceLocal: Maintenance (true or false) comes from a local
	// override (rackctl maintenance), not from rack.yaml: drift from git.
	MaintenanceLocal bool `json:"maintenanceLocal,omitempty"`
	// Install is the INSTALL column (status_install.go).
	Install InstallStatus `json:"install"`
	// Config is which config the node runs: NodeConfig.String.
	Config string `json:"config"`
	// Lease is its DHCP lease; Boot its BMC's boot device (status_boot.go).
	Lease LeaseStatus `json:"lease"`
	Boot  BootStatus  `json:"boot"`
}

// NodeDiag is a node's BMC diagnostics (status --full): the BMC's own
// text of its chassis status and boot flags, and the server's inventory
// and health as far as its protocol reports them (empty: not reported).
type NodeDiag struct {
	ChassisStatus string        `json:"chassisStatus,omitempty"`
	BootParam5    string        `json:"bootParam5,omitempty"`
	Inventory     bmc.Inventory `json:"inventory"`
	Error         string        `json:"error,omitempty"`
}

// observations are what status read from the live systems; statusOf
// turns them into a Status without any I/O.
type observations struct {
	power       map[string]bmc.Result[string]
	boot        map[string]bmc.Result[bmc.BootParam] // of the nodes whose power was read; nil: not asked
	leases      leaseObservation
	diags       map[string]bmc.Result[bmc.DiagReport] // nil without --full
	provisioned map[string]bool
	cluster     clusterObservation
	installs    installObservation
	configs     map[string]NodeConfig
}

// clusterObservation is the answer of the Kubernetes API, or why there is
// none.
type clusterObservation struct {
	skipped   bool  // plain Flatcar: no cluster to ask
	clientErr error // no client: nothing was asked
	err       error // the API's failure
	status    cluster.Status
}

// StatusOptions say what Status reads beyond power, the lease file,
// installs, configs and the cluster.
type StatusOptions struct {
	// Full adds each BMC's diagnostics and inventory (status --full).
	Full bool
	// BootDevice reads each BMC's boot device after its power: one more
	// BMC call per node (the API's observation; status --full).
	BootDevice bool
}

// Status is StatusWith, the boot device read only with full: plain
// `rackctl status` stays one BMC call per node.
func (e *Engine) Status(ctx context.Context, r *Rack, full bool) (*Status, error) {
	return e.StatusWith(ctx, r, StatusOptions{Full: full, BootDevice: full})
}

// StatusWith reads every BMC in parallel (a dead BMC costs one timeout):
// its power, and its boot device if asked; the lease file, the flag
// files and the cluster; opts.Full adds each BMC's diagnostics.
func (e *Engine) StatusWith(ctx context.Context, r *Rack, opts StatusOptions) (*Status, error) {
	client, err := r.BMC()
	if err != nil {
		return nil, err
	}
	nodes := r.Nodes()
	targets := r.Targets(nodes)
	obs := observations{provisioned: map[string]bool{}, leases: e.observeLeases()}
	obs.power, obs.boot = e.readBMCs(ctx, client, targets, opts.BootDevice)
	obs.cluster = e.observeCluster(ctx, r.Spec)
	if opts.Full {
		obs.diags = bmc.ForEach(ctx, e.cfg.Parallel, targets, func(ctx context.Context, t bmc.Target) (bmc.DiagReport, error) {
			d := client.Diag(ctx, t)
			return d, d.Err
		})
	}
	for _, n := range nodes {
		obs.provisioned[n.Name] = r.Provisioned(n)
	}
	obs.installs.records, obs.installs.err = state.New(e.cfg.StateDir).LoadInstalls()
	if obs.configs, err = e.nodeConfigsOf(ctx, r); err != nil {
		return nil, err
	}
	st := statusOf(r, obs)
	if st.Pin, err = state.New(e.cfg.StateDir).LoadPin(); err != nil {
		st.PinError = err.Error()
	}
	return st, nil
}

func (e *Engine) observeCluster(ctx context.Context, rack *schema.Rack) clusterObservation {
	if rack.Provisioner == schema.Flatcar {
		return clusterObservation{skipped: true}
	}
	client, err := e.ClusterClient()
	if err != nil {
		return clusterObservation{clientErr: err}
	}
	var names []string
	for _, n := range rack.ActiveNodes() {
		names = append(names, rack.FQDN(n))
	}
	cs, err := client.Status(ctx, names)
	return clusterObservation{status: cs, err: err}
}

// statusOf is the status model of what was observed.
func statusOf(r *Rack, obs observations) *Status {
	st := &Status{Rack: r.Spec.Name, Provisioner: string(r.Spec.Provisioner), LocalMaintenance: r.Local}
	local := map[string]bool{}
	for _, lm := range r.Local {
		local[lm.Node] = lm.State == OverrideActive
	}
	joined := st.setCluster(r.Spec, obs.cluster)
	for _, n := range r.Nodes() {
		row := NodeStatus{
			Name: n.Name, Role: n.Role, MAC: n.MAC, BMCMAC: n.BMCMAC,
			BMCAddress: r.BMCAddress(n), IP: r.Addrs(n.Name).Primary.String(),
			Excluded: n.Exclude, Maintenance: n.Maintenance, Provisioned: obs.provisioned[n.Name],
			Hostnames: r.Hostnames(n), MaintenanceLocal: local[n.Name],
		}
		row.Joined, row.Kubelet, row.OSImage, row.OSVersion = joined(n)
		row.Install = installOf(n, row.Provisioned, obs.installs)
		if p, ok := obs.power[n.Name]; !ok {
			row.BMCError = "not read"
		} else if p.Err != nil {
			row.BMCError = p.Err.Error()
		} else {
			row.BMCReached, row.Power = true, p.Value
		}
		row.Boot = bootOf(obs.boot, n.Name, row.BMCError)
		row.Lease = obs.leases.of(n.MAC)
		if obs.diags != nil {
			d := obs.diags[n.Name].Value
			row.Diag = &NodeDiag{ChassisStatus: d.ChassisStatus, BootParam5: d.BootParam5, Inventory: d.Inventory, Error: errString(d.Err)}
		}
		row.Config = obs.configs[n.Name].String()
		st.Nodes = append(st.Nodes, row)
	}
	return st
}

// setCluster fills the API line of st and returns, per node, whether it
// joined the cluster and the versions the cluster reports for it.
func (st *Status) setCluster(rack *schema.Rack, c clusterObservation) func(*schema.Node) (joined, kubelet, osImage, osVersion string) {
	unknown := func(*schema.Node) (string, string, string, string) { return "unknown", "", "", "" }
	switch {
	case c.skipped:
		st.APIReached = "n/a"
		return func(*schema.Node) (string, string, string, string) { return "n/a", "", "", "" }
	case c.clientErr != nil:
		st.APIReached, st.APIReason = "unknown", c.clientErr.Error()
		return unknown
	case c.err != nil && !c.status.Reached:
		st.APIReached, st.APIReason = "no", c.err.Error()
		return unknown
	case !c.status.Reached:
		st.APIReached, st.APIReason = "no", c.status.Reason
		return unknown
	case c.err != nil:
		st.APIReached, st.APIReason = "yes", c.err.Error()
		return unknown
	}
	st.APIReached, st.ServerVersion = "yes", c.status.ServerVersion
	return func(n *schema.Node) (string, string, string, string) {
		ns, ok := c.status.Nodes[rack.FQDN(n)]
		if !ok {
			return "n/a", "", "", ""
		}
		joined := "no"
		switch {
		case ns.Joined && ns.Ready:
			joined = "yes"
		case ns.Joined:
			joined = "not ready"
		}
		return joined, ns.KubeletVersion, ns.OSImage, ns.OSVersion
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
