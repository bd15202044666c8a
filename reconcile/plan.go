package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/rackctl/rackctl/ipam"
)

// FormatVersion is the version of the saved (JSON) plan. ReadPlan rejects
// any other.
const FormatVersion = 1

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
)

// Layers is the order Apply runs its phases in.
var Layers = []Layer{LayerFiles, LayerDHCP, LayerBMC, LayerFlags, LayerProvisioner, LayerVerify}

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
	// Observed holds what the plan was made from: input key → hash, e.g.
	// "file:etc/hosts" → "sha256:…" or "absent". Apply refuses the plan if
	// any of them differs.
	Observed map[string]string `json:"observed"`
	// NextState is the allocation Apply saves.
	NextState ipam.State `json:"nextState"`
	// Managed is the file manifest Apply saves: every file rackctl manages
	// after this plan is applied.
	Managed Manifest `json:"managed"`
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
type Counts struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

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
		q.Observed = map[string]string{}
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
		return nil, fmt.Errorf("read plan: format version %d is not supported (this rackctl reads version %d)", *probe.FormatVersion, FormatVersion)
	}
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return &p, nil
}
