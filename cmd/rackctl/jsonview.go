package main

import (
	"maps"
	"slices"
	"time"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/reconcile"
)

// The JSON views of status and history (docs/json.md). They are kept
// apart from the models they are built from, so that a model can change
// (or move) while the documented shape stays: a field is only ever added
// within a major version of reconcile.ViewFormatVersion.

// statusView is `status -o json`. Its Go field names follow engine.Status.
type statusView struct {
	FormatVersion string           `json:"format_version"`
	Rack          string           `json:"rack"`
	Provisioner   string           `json:"provisioner"`
	APIReached    string           `json:"kubernetes_api_reached"` // yes | no | unknown | n/a
	APIReason     string           `json:"kubernetes_api_reason,omitempty"`
	ServerVersion string           `json:"kubernetes_version,omitempty"`
	Nodes         []nodeStatusView `json:"nodes"`
}

type nodeStatusView struct {
	Name        string      `json:"name"`
	Role        string      `json:"role"`
	MAC         string      `json:"mac"`
	BMCMAC      string      `json:"bmc_mac"`
	BMCAddress  string      `json:"bmc_address"`
	IP          string      `json:"ip"`
	Excluded    bool        `json:"excluded"`
	BMCReached  bool        `json:"bmc_reached"`
	BMCError    string      `json:"bmc_error,omitempty"`
	Power       string      `json:"power,omitempty"`
	Provisioned bool        `json:"provisioned"`
	Joined      string      `json:"joined"` // yes | no | unknown
	Hostnames   []string    `json:"hostnames"`
	Kubelet     string      `json:"kubelet_version,omitempty"`
	OSImage     string      `json:"os_image,omitempty"`
	OSVersion   string      `json:"os_version,omitempty"`
	Diag        *diagView   `json:"diag,omitempty"`
	Install     installView `json:"install"`
	Config      string      `json:"config"` // current | stale (…) | unknown (why) | n/a
}

// installView is a node's install (the INSTALL column).
type installView struct {
	State  string     `json:"state"` // installed | pending | failed | excluded | unknown
	Verify string     `json:"verify,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Commit string     `json:"commit,omitempty"`
}

func newInstallView(in engine.InstallStatus) installView {
	v := installView{State: in.State, Verify: in.Verify, Reason: in.Reason, Commit: in.Commit}
	if !in.Since.IsZero() {
		t := in.Since.UTC()
		v.Since = &t
	}
	return v
}

type diagView struct {
	ChassisStatus string        `json:"chassis_status,omitempty"`
	BootParam5    string        `json:"boot_param_5,omitempty"`
	Inventory     inventoryView `json:"inventory"`
	Error         string        `json:"error,omitempty"`
}

// inventoryView: a field the BMC does not report is left out, never
// guessed (IPMI has no BIOS version and no health).
type inventoryView struct {
	Manufacturer  string `json:"manufacturer,omitempty"`
	Model         string `json:"model,omitempty"`
	Serial        string `json:"serial,omitempty"`
	BIOSVersion   string `json:"bios_version,omitempty"`
	BMCFirmware   string `json:"bmc_firmware_version,omitempty"`
	SystemHealth  string `json:"system_health,omitempty"`
	ChassisHealth string `json:"chassis_health,omitempty"`
}

func newStatusView(st *engine.Status) statusView {
	v := statusView{FormatVersion: reconcile.ViewFormatVersion, Rack: st.Rack, Provisioner: st.Provisioner,
		APIReached: st.APIReached, APIReason: st.APIReason, ServerVersion: st.ServerVersion,
		Nodes: make([]nodeStatusView, 0, len(st.Nodes))}
	for _, n := range st.Nodes {
		nv := nodeStatusView{Name: n.Name, Role: n.Role, MAC: n.MAC, BMCMAC: n.BMCMAC, BMCAddress: n.BMCAddress,
			IP: n.IP, Excluded: n.Excluded, BMCReached: n.BMCReached, BMCError: n.BMCError, Power: n.Power,
			Provisioned: n.Provisioned, Joined: n.Joined, Hostnames: n.Hostnames, Kubelet: n.Kubelet,
			OSImage: n.OSImage, OSVersion: n.OSVersion, Install: newInstallView(n.Install), Config: n.Config}
		if nv.Hostnames == nil {
			nv.Hostnames = []string{}
		}
		if d := n.Diag; d != nil {
			inv := d.Inventory
			nv.Diag = &diagView{ChassisStatus: d.ChassisStatus, BootParam5: d.BootParam5, Error: d.Error,
				Inventory: inventoryView{Manufacturer: inv.Manufacturer, Model: inv.Model, Serial: inv.Serial, BIOSVersion: inv.BIOSVersion,
					BMCFirmware: inv.BMCVersion, SystemHealth: inv.SystemHealth, ChassisHealth: inv.ChassisHealth}}
		}
		v.Nodes = append(v.Nodes, nv)
	}
	return v
}

// historyView is `history -o json`: the records oldest first.
type historyView struct {
	FormatVersion string             `json:"format_version"`
	Entries       []historyEntryView `json:"entries"`
}

type historyEntryView struct {
	Time    time.Time        `json:"time"`
	Source  string           `json:"source"` // apply | watch
	Commit  string           `json:"commit,omitempty"`
	Author  string           `json:"author,omitempty"`
	Outcome string           `json:"outcome"`
	Detail  string           `json:"detail,omitempty"`
	Planned *countsView      `json:"planned"`
	Apply   *applyRecordView `json:"apply,omitempty"`
	Watch   *watchRecordView `json:"watch,omitempty"`
}

type countsView struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

type applyRecordView struct {
	Finished       time.Time `json:"finished"`
	Rack           string    `json:"rack,omitempty"`
	AddressChanges int       `json:"address_changes"`
	Done           int       `json:"done"`
	Failed         int       `json:"failed"`
	NotAttempted   int       `json:"not_attempted"`
	BackupDir      string    `json:"backup_dir,omitempty"`
	// Rollout is set when the plan ran in waves.
	Rollout *rolloutRecordView `json:"rollout,omitempty"`
}

type rolloutRecordView struct {
	Waves     int               `json:"waves"`
	Completed int               `json:"completed"`
	StoppedAt int               `json:"stopped_at,omitempty"`
	Unhealthy map[string]string `json:"unhealthy,omitempty"`
}

type watchRecordView struct {
	Trigger       string           `json:"trigger"`
	AuthorEmail   string           `json:"author_email,omitempty"`
	CommitTime    *time.Time       `json:"commit_time,omitempty"`
	SignedBy      string           `json:"signed_by,omitempty"`
	Disruptive    []roleNodesView  `json:"disruptive,omitempty"`
	OverLimit     []string         `json:"over_limit,omitempty"`
	OutsideWindow bool             `json:"outside_window,omitempty"`
	Approved      bool             `json:"approved,omitempty"`
	Diagnostics   []diagnosticView `json:"diagnostics,omitempty"`
}

// roleNodesView lists the nodes of one role (a list, not an object keyed
// by role, so that every key of the view is a documented field name).
type roleNodesView struct {
	Role  string   `json:"role"`
	Nodes []string `json:"nodes"`
}

// diagnosticView is one positioned validation error of a rejected spec.
type diagnosticView struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func newHistoryView(entries []engine.HistoryEntry) historyView {
	v := historyView{FormatVersion: reconcile.ViewFormatVersion, Entries: make([]historyEntryView, 0, len(entries))}
	for _, e := range entries {
		ev := historyEntryView{Time: e.Time.UTC(), Source: e.Source, Commit: e.Commit, Author: e.Author,
			Outcome: e.Outcome, Detail: e.Detail}
		if r := e.Apply; r != nil {
			ev.Planned = &countsView{r.Planned.Add, r.Planned.Change, r.Planned.Destroy}
			ev.Apply = &applyRecordView{Finished: r.Finished.UTC(), Rack: r.RackName, AddressChanges: r.Allocations,
				Done: r.Done, Failed: r.Failed, NotAttempted: r.NotAttempted, BackupDir: r.BackupDir}
			if ro := r.Rollout; ro != nil {
				ev.Apply.Rollout = &rolloutRecordView{Waves: ro.Waves, Completed: ro.Completed, StoppedAt: ro.StoppedAt, Unhealthy: ro.Unhealthy}
			}
		}
		if w := e.Watch; w != nil {
			if w.Planned != nil {
				ev.Planned = &countsView{w.Planned.Add, w.Planned.Change, w.Planned.Destroy}
			}
			wv := &watchRecordView{Trigger: string(w.Trigger), AuthorEmail: w.AuthorEmail, SignedBy: w.SignedBy}
			if !w.CommitTime.IsZero() {
				t := w.CommitTime.UTC()
				wv.CommitTime = &t
			}
			if d := w.Policy; d != nil {
				wv.OverLimit, wv.OutsideWindow, wv.Approved = d.OverLimit, d.OutsideWindow, d.Approved
				for _, role := range slices.Sorted(maps.Keys(d.Disruptive)) {
					wv.Disruptive = append(wv.Disruptive, roleNodesView{Role: role, Nodes: d.Disruptive[role]})
				}
			}
			for _, d := range w.Diagnostics {
				wv.Diagnostics = append(wv.Diagnostics, diagnosticView{File: d.File, Line: d.Line, Col: d.Col, Field: d.Field, Message: d.Message})
			}
			ev.Watch = wv
		}
		v.Entries = append(v.Entries, ev)
	}
	return v
}
