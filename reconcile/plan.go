package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// FormatVersion is the version of the saved (JSON) plan. ReadPlan rejects
// any other. Version 2 added the layers after files (Change.Detail,
// Change.Notes, Plan.Notes, Plan.NextNodes) and moved bmc after provisioner.
// Version 3 keeps Observed as a list of typed keys (ObsKey) and adds
// Change.Phrase, Change.Summary and Detail.Provisioner.
const FormatVersion = 3

// Layer is the part of the rack a change touches. Apply runs the layers in
// the order of Layers.
type Layer string

const (
	LayerFiles       Layer = "files"
	LayerDHCP        Layer = "dhcp"
	LayerBMC         Layer = "bmc"
	LayerFlags       Layer = "flags"
	LayerProvisioner Layer = "provisioner"
	LayerVerify      Layer = "verify"
	// LayerCredentials rotates the BMC credentials (bmc.rotate). It runs
	// last: every earlier phase uses the credentials in force when the
	// plan was made, and only this one switches them.
	LayerCredentials Layer = "credentials"
)

// Action is what a change does.
type Action string

const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
	ActionNoop   Action = "noop"
	// Actions of the later layers; they count as changes in the summary.
	ActionReload     Action = "reload"
	ActionPowerCycle Action = "power-cycle"
	// ActionRelease drops a stale DHCP lease (dhcp_release).
	ActionRelease Action = "release-lease"
	// ActionRenew makes a BMC request its address again.
	ActionRenew Action = "bmc-dhcp-renew"
	// ActionPXEReinstall sets a node's next boot to PXE and power-cycles it
	// (powers it on when off).
	ActionPXEReinstall Action = "pxe-reinstall"
	// ActionMediaReinstall is the virtual-media twin of ActionPXEReinstall
	// (install.via: virtualMedia): the BMC inserts Detail.MediaImage, the
	// next boot is from that CD, then the node is power-cycled.
	ActionMediaReinstall Action = "virtual-media-reinstall"
	// ActionEjectMedia empties the virtual CD of an installed node.
	ActionEjectMedia Action = "eject-media"
	// ActionSetBootDisk sets a node's boot device to disk, persistent, EFI.
	ActionSetBootDisk Action = "set-boot-disk"
	// ActionRun runs the provisioner (terraform apply, lokoctl cluster apply).
	ActionRun Action = "run"
	// ActionVerify checks an installed node and records it (flag file).
	ActionVerify Action = "verify"
	// ActionRotateCredentials is one BMC's part of a credential rotation:
	// create, enable and prove the new account, then disable the old one.
	ActionRotateCredentials Action = "rotate-credentials"
	// ActionSwitchCredentials switches rackctl's credential files to the
	// new account once every BMC has it.
	ActionSwitchCredentials Action = "switch-credentials"
)

// Change is one action of a plan.
type Change struct {
	Layer   Layer  `json:"layer"`
	Action  Action `json:"action"`
	Address string `json:"address"` // e.g. "file:etc/hosts"
	Node    string `json:"node,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Disruptive marks changes that interrupt a node (power cycle, reinstall).
	Disruptive bool `json:"disruptive,omitempty"`
	// Diff is a unified diff for people; Apply never reads it.
	Diff string `json:"diff,omitempty"`
	// Content is what create and update write. For a Block change it is the
	// managed block (markers included; empty removes it), merged into the
	// file's current content when written.
	Content []byte      `json:"content,omitempty"`
	Mode    fs.FileMode `json:"mode,omitempty"`
	Block   bool        `json:"block,omitempty"`
	// Notes are remarks for the reviewer (warnings, manual steps).
	Notes []string `json:"notes,omitempty"`
	// Phrase, when set, is what the views say the change does in place of
	// the action's phrase ("will take its address from DHCP").
	Phrase string `json:"phrase,omitempty"`
	// Summary are lines the views show under the change, from the layer
	// that planned it (for example the terraform plan reviewed).
	Summary []SummaryLine `json:"summary,omitempty"`
	// Detail holds what the later layers' executors need.
	Detail *Detail `json:"detail,omitempty"`
}

// Interrupts are the nodes a disruptive change interrupts: its node, and
// the nodes a lokoctl run reboots.
func (c Change) Interrupts() []string {
	var out []string
	if c.Node != "" {
		out = append(out, c.Node)
	}
	if c.Detail != nil {
		out = append(out, c.Detail.Reboots...)
	}
	return out
}

// SummaryLine is one line of a change's Summary: Mark (highlighted, may be
// empty) and Text.
type SummaryLine struct {
	Mark string `json:"mark,omitempty"`
	Text string `json:"text"`
}

// Detail is the data of a change of the dhcp, flags, provisioner, bmc and
// verify layers. It never holds a secret.
type Detail struct {
	MAC        string `json:"mac,omitempty"`
	BMCAddress string `json:"bmcAddress,omitempty"` // host:port of the node's BMC
	// BMCProtocol is the protocol of the node's BMC (omitted for IPMI).
	BMCProtocol string `json:"bmcProtocol,omitempty"`
	FlagFile    string `json:"flagFile,omitempty"` // slash path relative to the root
	// FQDN is what a flag file holds: the node's name in the cluster files.
	// Lokomotive's matchbox-flatcar module (Racker's, and lokoctl's) takes
	// a node as installed only when its flag file holds that name.
	FQDN string `json:"fqdn,omitempty"`
	// Lease is the lease a release-lease change drops.
	Lease *LeaseRef `json:"lease,omitempty"`
	// Nodes are the nodes a provisioner run acts for.
	Nodes []string `json:"nodes,omitempty"`
	// Hosts are those nodes' FQDNs, the keys of the provisioner's
	// resources (a settle run).
	Hosts []string `json:"hosts,omitempty"`
	// Reboots are the installed nodes a lokoctl run reboots: Lokomotive's
	// bare-metal module re-runs Ignition, with a reboot, on every node
	// whose Ignition changed. The change is Disruptive when there are any.
	Reboots []string `json:"reboots,omitempty"`
	// Dir is the provisioner's working directory, relative to the root.
	Dir string `json:"dir,omitempty"`
	// Provisioner is the spec's provisioner a provisioner change runs.
	Provisioner schema.Provisioner `json:"provisioner,omitempty"`
	// Terraform is the terraform plan reviewed at plan time, when one
	// could be made (the flatcar dir already matched the rendered one).
	Terraform *TerraformSummary `json:"terraform,omitempty"`
	// Rotation is the credential rotation step reviewed (credentials layer).
	Rotation *RotationDetail `json:"rotation,omitempty"`
	// MediaImage is the boot image URL a virtual-media-reinstall inserts.
	MediaImage string `json:"mediaImage,omitempty"`
	// Config is the config a re-Ignition brings a node to (reignite layer).
	Config *ConfigDetail `json:"config,omitempty"`
}

// RotationDetail is what a credentials change was planned as: the account
// names and, for one BMC, the slots. Never a password.
type RotationDetail struct {
	User    string `json:"user"`
	OldUser string `json:"oldUser,omitempty"`
	// Slot is the user ID the new account takes, OldSlot the current
	// account's (0 when unknown).
	Slot    int  `json:"slot,omitempty"`
	Reuse   bool `json:"reuse,omitempty"`
	OldSlot int  `json:"oldSlot,omitempty"`
	// Switched: the credential files held the new account already.
	Switched bool `json:"switched,omitempty"`
}

// LeaseRef names one dnsmasq lease.
type LeaseRef struct {
	MAC      string `json:"mac"`
	IP       string `json:"ip"`
	ClientID string `json:"clientId,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

// TerraformSummary is a terraform plan as a reviewer sees it. Digest is
// TerraformDigest of Resources: the saved plan is stale when terraform,
// planning again at apply time, would do something else.
type TerraformSummary struct {
	Add       int                 `json:"add"`
	Change    int                 `json:"change"`
	Destroy   int                 `json:"destroy"`
	Resources []TerraformResource `json:"resources,omitempty"`
	Digest    string              `json:"digest"`
}

// TerraformResource is one resource change of a terraform plan.
type TerraformResource struct {
	Address string   `json:"address"`
	Actions []string `json:"actions"`
	Node    string   `json:"node,omitempty"`
}

// Plan is everything Apply needs, and all a reviewer sees: the human view
// is rendered from it.
type Plan struct {
	FormatVersion int    `json:"formatVersion"`
	RackName      string `json:"rackName"`
	Provisioner   string `json:"provisioner"`
	SpecHash      string `json:"specHash"`
	SpecFile      string `json:"specFile,omitempty"`
	// Targets, when set, limited the node-specific changes to these nodes.
	Targets     []string      `json:"targets,omitempty"`
	Commit      string        `json:"commit,omitempty"`
	CreatedAt   time.Time     `json:"createdAt"`
	Changes     []Change      `json:"changes"`
	Allocations []ipam.Change `json:"allocations,omitempty"`
	// Observed holds what the plan was made from: input → value, e.g.
	// FileKey("etc/hosts") → "sha256:…" or Absent. Apply refuses the plan
	// if any of them differs.
	Observed Observations `json:"observed"`
	// NextState is the allocation Apply saves.
	NextState ipam.State `json:"nextState"`
	// Managed is the file manifest Apply saves: every file rackctl manages
	// after this plan is applied.
	Managed Manifest `json:"managed"`
	// NextNodes is the per-node record Apply saves (nodes.json) once the
	// flags phase has succeeded; Version 0 leaves the saved one alone.
	NextNodes NodeState `json:"nextNodes"`
	// Notes are plan-wide remarks: skipped layers, drift left alone,
	// manual steps.
	Notes []string `json:"notes,omitempty"`
	// Rollout, when the spec has a rollout section and the plan disrupts
	// installed nodes, is the waves Apply carries them out in.
	Rollout *Rollout `json:"rollout,omitempty"`
}

// HasChanges tells whether applying p would change anything: an action
// other than noop, or a change of the IP allocation.
func (p *Plan) HasChanges() bool {
	if len(p.Allocations) > 0 {
		return true
	}
	for _, c := range p.Changes {
		if c.Action != ActionNoop {
			return true
		}
	}
	return false
}

// Counts is the terraform-style summary of a plan.
type Counts = state.Counts

// Counts counts p's changes: creates add, deletes destroy, everything else
// but noop changes.
func (p *Plan) Counts() Counts { return countChanges(p.Changes) }

func countChanges(cs []Change) Counts {
	var n Counts
	for _, c := range cs {
		switch c.Action {
		case ActionNoop:
		case ActionCreate:
			n.Add++
		case ActionDelete:
			n.Destroy++
		default:
			n.Change++
		}
	}
	return n
}

// WriteJSON writes p in its saved form (the `-out` file).
func WriteJSON(w io.Writer, p *Plan) error {
	q := *p
	q.FormatVersion = FormatVersion
	if q.Changes == nil {
		q.Changes = []Change{}
	}
	if q.Observed == nil {
		q.Observed = Observations{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&q); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// ReadPlan reads a plan saved by WriteJSON.
func ReadPlan(r io.Reader) (*Plan, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var probe struct {
		FormatVersion *int `json:"formatVersion"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if probe.FormatVersion == nil {
		return nil, fmt.Errorf("read plan: no formatVersion: not a rackctl plan")
	}
	if *probe.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("read plan: format version %d is not supported (this rackctl reads version %d): make the plan again with this rackctl", *probe.FormatVersion, FormatVersion)
	}
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return &p, nil
}

// BMCTarget is node's BMC as the change's detail names it.
func (d *Detail) BMCTarget(node string) bmc.Target {
	return bmc.Target{Node: node, Address: d.BMCAddress, Protocol: d.BMCProtocol}
}
