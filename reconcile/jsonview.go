package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ViewFormatVersion is the version of the external JSON view of a plan
// (`plan -o json`, `show PLANFILE -o json`), documented in docs/json.md.
// Within one major version changes are additive only: new fields, new
// actions, new layers. Removing or renaming a field, or changing a field's
// meaning, raises the major version. It is independent of FormatVersion,
// the saved plan's own format, which may change at any release.
const ViewFormatVersion = "1.0"

// PlanView is the external JSON view of a plan: what a script or a CI job
// reviews. Unlike the saved plan it holds no file contents, diffs,
// allocation state or observed-input digests; the fields are those
// docs/json.md documents.
type PlanView struct {
	FormatVersion string    `json:"format_version"`
	Rack          string    `json:"rack"`
	Provisioner   string    `json:"provisioner"`
	SpecFile      string    `json:"spec_file,omitempty"`
	Commit        string    `json:"commit,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	// Targets is never null so that scripts can test its length.
	Targets        []string            `json:"targets"`
	HasChanges     bool                `json:"has_changes"`
	Counts         CountsView          `json:"counts"`
	Changes        []ChangeView        `json:"changes"`
	AddressChanges []AddressChangeView `json:"address_changes"`
	Disruption     PlanDisruptionView  `json:"disruption"`
	Notes          []string            `json:"notes"`
	// Rollout is null unless the plan runs in waves (spec rollout:).
	Rollout *RolloutView `json:"rollout"`
}

// RolloutView is how apply splits the plan: the changes before the waves,
// then each wave, gated on health.
type RolloutView struct {
	Settle     string     `json:"settle"`
	Timeout    string     `json:"timeout"`
	FirstNodes []string   `json:"first_nodes"`
	Waves      []WaveView `json:"waves"`
	// Rule says how the waves were made: from the spec's rollout section
	// or the default one, with which limits.
	Rule string `json:"rule,omitempty"`
	// Split says the same for people, one line per step.
	Split []string `json:"split"`
}

// WaveView is one wave of a rollout.
type WaveView struct {
	Number int      `json:"number"`
	Canary bool     `json:"canary"`
	Nodes  []string `json:"nodes"`
	Await  []string `json:"await"`
}

// CountsView counts a plan's changes the way the human summary does.
type CountsView struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
	Noop    int `json:"noop"`
}

// ChangeView is one change: Address is unique within a plan.
type ChangeView struct {
	Address  string `json:"address"`
	Layer    string `json:"layer"`
	Resource string `json:"resource"`
	Node     string `json:"node,omitempty"`
	Action   string `json:"action"`
	Reason   string `json:"reason,omitempty"`
	// Before and After summarise a file (files and flags layers); null for
	// changes that do not write a file.
	Before *FileStateView `json:"before"`
	After  *FileStateView `json:"after"`
	// Lines counts the diff's added and removed lines, when there is one.
	Lines      *LinesView            `json:"lines,omitempty"`
	Detail     *DetailView           `json:"detail,omitempty"`
	Disruption *ChangeDisruptionView `json:"disruption"`
	Notes      []string              `json:"notes"`
	// Wave is the rollout wave the change runs in (0: before the waves);
	// absent when the plan has no rollout.
	Wave *int `json:"wave,omitempty"`
}

// FileStateView is a file as a hash and a size, never its bytes.
type FileStateView struct {
	Exists bool `json:"exists"`
	// SHA256 is the hex digest of the whole file (before) or of what
	// rackctl writes (after: the managed block alone when ManagedBlock).
	SHA256       string `json:"sha256,omitempty"`
	Size         *int   `json:"size,omitempty"`
	Mode         string `json:"mode,omitempty"`
	ManagedBlock bool   `json:"managed_block,omitempty"`
}

// LinesView is the size of a file change's diff.
type LinesView struct {
	Added   int `json:"added"`
	Removed int `json:"removed"`
}

// DetailView is what a change of the later layers acts on.
type DetailView struct {
	MAC        string             `json:"mac,omitempty"`
	BMCAddress string             `json:"bmc_address,omitempty"`
	FlagFile   string             `json:"flag_file,omitempty"`
	FQDN       string             `json:"fqdn,omitempty"`
	Lease      *LeaseView         `json:"lease,omitempty"`
	Nodes      []string           `json:"nodes,omitempty"`
	Dir        string             `json:"dir,omitempty"`
	Terraform  *TerraformPlanView `json:"terraform,omitempty"`
	Rotation   *RotationView      `json:"rotation,omitempty"`
	MediaImage string             `json:"media_image,omitempty"`
	Config     *ConfigView        `json:"config,omitempty"`
}

// ConfigView is the config a reignite change brings a node to.
type ConfigView struct {
	Running  string `json:"running"`
	Rendered string `json:"rendered"`
	URL      string `json:"url"`
}

// LeaseView names the DHCP lease a release-lease change drops.
type LeaseView struct {
	MAC      string `json:"mac"`
	IP       string `json:"ip"`
	ClientID string `json:"client_id,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

// TerraformPlanView is the terraform plan reviewed at plan time.
type TerraformPlanView struct {
	Add       int                     `json:"add"`
	Change    int                     `json:"change"`
	Destroy   int                     `json:"destroy"`
	Resources []TerraformResourceView `json:"resources"`
}

// TerraformResourceView is one resource change of a terraform plan.
type TerraformResourceView struct {
	Address string   `json:"address"`
	Actions []string `json:"actions"`
	Node    string   `json:"node,omitempty"`
}

// RotationView is a credential rotation step: account names and slots,
// never a password.
type RotationView struct {
	User     string `json:"user"`
	OldUser  string `json:"old_user,omitempty"`
	Slot     int    `json:"slot,omitempty"`
	OldSlot  int    `json:"old_slot,omitempty"`
	Reuse    bool   `json:"reuse,omitempty"`
	Switched bool   `json:"switched,omitempty"`
}

// ChangeDisruptionView is set on changes that interrupt nodes.
type ChangeDisruptionView struct {
	Interrupts []string `json:"interrupts"`
	Reboots    []string `json:"reboots"`
}

// PlanDisruptionView sums up the plan's disruptive changes.
type PlanDisruptionView struct {
	Disruptive  bool     `json:"disruptive"`
	Interrupted []string `json:"interrupted_nodes"`
	Rebooted    []string `json:"rebooted_nodes"`
}

// AddressChangeView is one change of a node's IP allocation.
type AddressChangeView struct {
	Node   string `json:"node"`
	NIC    string `json:"nic"`
	MAC    string `json:"mac,omitempty"`
	OldMAC string `json:"old_mac,omitempty"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	Reason string `json:"reason"`
}

// NewPlanView builds the external view of p. It copies no file content
// and no internal state, whatever p holds.
func NewPlanView(p *Plan) PlanView {
	v := PlanView{
		FormatVersion:  ViewFormatVersion,
		Rack:           p.RackName,
		Provisioner:    p.Provisioner,
		SpecFile:       p.SpecFile,
		Commit:         p.Commit,
		CreatedAt:      p.CreatedAt.UTC(),
		Targets:        nonNil(slices.Clone(p.Targets)),
		HasChanges:     p.HasChanges(),
		Changes:        make([]ChangeView, 0, len(p.Changes)),
		AddressChanges: []AddressChangeView{},
		Notes:          nonNil(slices.Clone(p.Notes)),
		Disruption:     PlanDisruptionView{Interrupted: []string{}, Rebooted: []string{}},
	}
	n := p.Counts()
	v.Counts = CountsView{Add: n.Add, Change: n.Change, Destroy: n.Destroy}
	for _, c := range p.Changes {
		if c.Action == ActionNoop {
			v.Counts.Noop++
		}
		cv := changeView(c, p.Observed)
		if p.Rollout != nil {
			w := p.Rollout.waveOfChange(c)
			cv.Wave = &w
		}
		if d := cv.Disruption; d != nil {
			v.Disruption.Disruptive = true
			v.Disruption.Interrupted = append(v.Disruption.Interrupted, d.Interrupts...)
			v.Disruption.Rebooted = append(v.Disruption.Rebooted, d.Reboots...)
		}
		v.Changes = append(v.Changes, cv)
	}
	v.Rollout = rolloutView(p.Rollout)
	v.Disruption.Interrupted = sortedSet(v.Disruption.Interrupted)
	v.Disruption.Rebooted = sortedSet(v.Disruption.Rebooted)
	for _, a := range p.Allocations {
		ac := AddressChangeView{Node: a.Node, NIC: string(a.NIC), MAC: a.MAC, OldMAC: a.OldMAC, Reason: a.Reason}
		if a.Old.IsValid() {
			ac.Old = a.Old.String()
		}
		if a.New.IsValid() {
			ac.New = a.New.String()
		}
		v.AddressChanges = append(v.AddressChanges, ac)
	}
	return v
}

func rolloutView(r *Rollout) *RolloutView {
	if r == nil {
		return nil
	}
	v := &RolloutView{Settle: r.Settle, Timeout: r.Timeout, Rule: r.Rule, FirstNodes: nonNil(slices.Clone(r.First)), Split: r.Split()}
	for _, w := range r.Waves {
		v.Waves = append(v.Waves, WaveView{Number: w.Number, Canary: w.Canary, Nodes: nonNil(slices.Clone(w.Nodes)), Await: nonNil(slices.Clone(w.Await))})
	}
	return v
}

func changeView(c Change, observed Observations) ChangeView {
	cv := ChangeView{
		Address:  string(c.Layer) + "/" + c.Address,
		Layer:    string(c.Layer),
		Resource: c.Address,
		Node:     c.Node,
		Action:   string(c.Action),
		Reason:   c.Reason,
		Notes:    nonNil(slices.Clone(c.Notes)),
	}
	if strings.HasPrefix(c.Address, FilePrefix) {
		cv.Before = observedFile(observed[FileKey(strings.TrimPrefix(c.Address, FilePrefix))])
		cv.After = afterFile(c, cv.Before)
	}
	if c.Diff != "" {
		cv.Lines = diffLines(c.Diff)
	}
	cv.Detail = detailView(c.Detail)
	if c.Disruptive {
		d := &ChangeDisruptionView{Interrupts: []string{}, Reboots: []string{}}
		if c.Node != "" {
			d.Interrupts = append(d.Interrupts, c.Node)
		}
		if c.Detail != nil {
			d.Reboots = append(d.Reboots, c.Detail.Reboots...)
		}
		cv.Disruption = d
	}
	return cv
}

// observedFile reads the digest the plan was made from ("absent" or
// "sha256:HEX"); nil when the plan did not look at the file.
func observedFile(h string) *FileStateView {
	switch {
	case h == Absent:
		return &FileStateView{}
	case strings.HasPrefix(h, "sha256:"):
		return &FileStateView{Exists: true, SHA256: strings.TrimPrefix(h, "sha256:")}
	}
	return nil
}

func afterFile(c Change, before *FileStateView) *FileStateView {
	switch c.Action {
	case ActionCreate, ActionUpdate:
		sum := sha256.Sum256(c.Content)
		size := len(c.Content)
		after := &FileStateView{Exists: true, SHA256: hex.EncodeToString(sum[:]), Size: &size, ManagedBlock: c.Block}
		if c.Mode != 0 {
			after.Mode = fmt.Sprintf("%04o", c.Mode.Perm())
		}
		return after
	case ActionDelete:
		return &FileStateView{}
	case ActionNoop:
		return before
	}
	return nil
}

// diffLines counts a unified diff's lines without its file headers.
func diffLines(diff string) *LinesView {
	var l LinesView
	for line := range strings.Lines(diff) {
		switch {
		case strings.HasPrefix(line, "+++ "), strings.HasPrefix(line, "--- "):
		case strings.HasPrefix(line, "+"):
			l.Added++
		case strings.HasPrefix(line, "-"):
			l.Removed++
		}
	}
	return &l
}

func detailView(d *Detail) *DetailView {
	if d == nil {
		return nil
	}
	v := &DetailView{MAC: d.MAC, BMCAddress: d.BMCAddress, FlagFile: d.FlagFile, FQDN: d.FQDN,
		Nodes: slices.Clone(d.Nodes), Dir: d.Dir, MediaImage: d.MediaImage}
	if d.Lease != nil {
		v.Lease = &LeaseView{MAC: d.Lease.MAC, IP: d.Lease.IP, ClientID: d.Lease.ClientID, Hostname: d.Lease.Hostname}
	}
	if t := d.Terraform; t != nil {
		tv := &TerraformPlanView{Add: t.Add, Change: t.Change, Destroy: t.Destroy, Resources: []TerraformResourceView{}}
		for _, r := range t.Resources {
			tv.Resources = append(tv.Resources, TerraformResourceView{Address: r.Address, Actions: slices.Clone(r.Actions), Node: r.Node})
		}
		v.Terraform = tv
	}
	if c := d.Config; c != nil {
		v.Config = &ConfigView{Running: c.Running, Rendered: c.Rendered, URL: c.URL}
	}
	if r := d.Rotation; r != nil {
		v.Rotation = &RotationView{User: r.User, OldUser: r.OldUser, Slot: r.Slot, OldSlot: r.OldSlot, Reuse: r.Reuse, Switched: r.Switched}
	}
	return v
}

// WritePlanView writes p's external view (see NewPlanView), indented.
func WritePlanView(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(NewPlanView(p)); err != nil {
		return fmt.Errorf("write plan view: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
