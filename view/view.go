package view

import (
	"maps"
	"slices"
	"time"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/reconcile"
)

// Status is `status -o json`. Its Go field names follow engine.Status.
type Status struct {
	FormatVersion string       `json:"format_version"`
	Rack          string       `json:"rack"`
	Provisioner   string       `json:"provisioner"`
	APIReached    string       `json:"kubernetes_api_reached"` // yes | no | unknown | n/a
	APIReason     string       `json:"kubernetes_api_reason,omitempty"`
	ServerVersion string       `json:"kubernetes_version,omitempty"`
	Nodes         []NodeStatus `json:"nodes"`
	Pin           *Pin         `json:"pin,omitempty"`
	// MaintenanceOverrides are the local maintenance overrides
	// (rackctl maintenance), active or not; absent when none.
	MaintenanceOverrides []MaintenanceOverride `json:"maintenance_overrides,omitempty"`
}

// MaintenanceOverride is one local maintenance override: the flag an
// operator set for a node without a commit, who, when and why, and what it
// is to rack.yaml (engine.OverrideActive, …).
type MaintenanceOverride struct {
	Node        string    `json:"node"`
	Maintenance bool      `json:"maintenance"`
	By          string    `json:"by"`
	At          time.Time `json:"at"`
	Reason      string    `json:"reason,omitempty"`
	State       string    `json:"state"`
}

// Pin is the rollback pin watch follows (pin.json): who pinned which
// commit, when and why; only Error when pin.json cannot be read.
type Pin struct {
	Commit   string    `json:"commit,omitempty"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	Rollback bool      `json:"rollback,omitempty"`
	Error    string    `json:"error,omitempty"`
}

type NodeStatus struct {
	// MaintenanceLocal: Maintenance (true or false) comes from a local
	// override (rackctl maintenance), not from rack.yaml: drift from git.
	// Omitted unless set.
	MaintenanceLocal bool `json:"maintenance_local,omitempty"`

	Name        string   `json:"name"`
	Role        string   `json:"role"`
	MAC         string   `json:"mac"`
	BMCMAC      string   `json:"bmc_mac"`
	BMCAddress  string   `json:"bmc_address"`
	IP          string   `json:"ip"`
	Excluded    bool     `json:"excluded"`
	Maintenance bool     `json:"maintenance"`
	BMCReached  bool     `json:"bmc_reached"`
	BMCError    string   `json:"bmc_error,omitempty"`
	Power       string   `json:"power,omitempty"`
	Provisioned bool     `json:"provisioned"`
	Joined      string   `json:"joined"` // yes | no | unknown
	Hostnames   []string `json:"hostnames"`
	Kubelet     string   `json:"kubelet_version,omitempty"`
	OSImage     string   `json:"os_image,omitempty"`
	OSVersion   string   `json:"os_version,omitempty"`
	Diag        *Diag    `json:"diag,omitempty"`
	Install     Install  `json:"install"`
	Config      string   `json:"config"` // current | stale (…) | unknown (why) | n/a
	// DHCPLease is its lease in dnsmasq's lease file; BootDevice what its
	// BMC reports as the boot device.
	DHCPLease  Lease      `json:"dhcp_lease"`
	BootDevice BootDevice `json:"boot_device"`
}

// Lease is a node's DHCP lease, by its primary MAC.
type Lease struct {
	State   string     `json:"state"` // leased | none | unknown
	IP      string     `json:"ip,omitempty"`
	MAC     string     `json:"mac,omitempty"`
	Expires *time.Time `json:"expires,omitempty"` // absent with state leased: never expires
	Reason  string     `json:"reason,omitempty"`  // why none or unknown
}

// BootDevice is the boot device override a node's BMC reports.
type BootDevice struct {
	State      string `json:"state"`            // read | unknown
	Device     string `json:"device,omitempty"` // pxe, disk, cdrom, bios, none (no override)...
	Persistent bool   `json:"persistent,omitempty"`
	EFI        bool   `json:"efi,omitempty"`
	Reason     string `json:"reason,omitempty"` // why unknown
}

func newLease(l engine.LeaseStatus) Lease {
	return Lease{State: l.State, IP: l.IP, MAC: l.MAC, Reason: l.Reason, Expires: utcOrNil(l.Expiry)}
}

// utcOrNil is t in UTC, or nil (left out of the JSON) when t is zero.
func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// Install is a node's install (the INSTALL column).
type Install struct {
	State  string     `json:"state"` // installed | pending | failed | excluded | unknown
	Verify string     `json:"verify,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
	Reason string     `json:"reason,omitempty"`
	Commit string     `json:"commit,omitempty"`
}

func newInstall(in engine.InstallStatus) Install {
	return Install{State: in.State, Verify: in.Verify, Reason: in.Reason, Commit: in.Commit, Since: utcOrNil(in.Since)}
}

type Diag struct {
	ChassisStatus string    `json:"chassis_status,omitempty"`
	BootParam5    string    `json:"boot_param_5,omitempty"`
	Inventory     Inventory `json:"inventory"`
	Error         string    `json:"error,omitempty"`
}

// Inventory: a field the BMC does not report is left out, never
// guessed (IPMI has no BIOS version and no health).
type Inventory struct {
	Manufacturer  string `json:"manufacturer,omitempty"`
	Model         string `json:"model,omitempty"`
	Serial        string `json:"serial,omitempty"`
	BIOSVersion   string `json:"bios_version,omitempty"`
	BMCFirmware   string `json:"bmc_firmware_version,omitempty"`
	SystemHealth  string `json:"system_health,omitempty"`
	ChassisHealth string `json:"chassis_health,omitempty"`
}

func NewStatus(st *engine.Status) Status {
	v := Status{FormatVersion: reconcile.ViewFormatVersion, Rack: st.Rack, Provisioner: st.Provisioner,
		APIReached: st.APIReached, APIReason: st.APIReason, ServerVersion: st.ServerVersion,
		Nodes: make([]NodeStatus, 0, len(st.Nodes))}
	for _, n := range st.Nodes {
		nv := NodeStatus{Name: n.Name, Role: n.Role, MAC: n.MAC, BMCMAC: n.BMCMAC, BMCAddress: n.BMCAddress,
			IP: n.IP, Excluded: n.Excluded, Maintenance: n.Maintenance, BMCReached: n.BMCReached, BMCError: n.BMCError, Power: n.Power,
			Provisioned: n.Provisioned, Joined: n.Joined, Hostnames: n.Hostnames, Kubelet: n.Kubelet,
			OSImage: n.OSImage, OSVersion: n.OSVersion, Install: newInstall(n.Install), Config: n.Config,
			DHCPLease: newLease(n.Lease), BootDevice: BootDevice(n.Boot)}
		if nv.Hostnames == nil {
			nv.Hostnames = []string{}
		}
		nv.MaintenanceLocal = n.MaintenanceLocal
		if d := n.Diag; d != nil {
			inv := d.Inventory
			nv.Diag = &Diag{ChassisStatus: d.ChassisStatus, BootParam5: d.BootParam5, Error: d.Error,
				Inventory: Inventory{Manufacturer: inv.Manufacturer, Model: inv.Model, Serial: inv.Serial, BIOSVersion: inv.BIOSVersion,
					BMCFirmware: inv.BMCVersion, SystemHealth: inv.SystemHealth, ChassisHealth: inv.ChassisHealth}}
		}
		v.Nodes = append(v.Nodes, nv)
	}
	if p := st.Pin; p != nil {
		v.Pin = &Pin{Commit: p.Commit, By: p.By, At: p.At.UTC(), Reason: p.Reason, Rollback: p.Rollback}
	} else if st.PinError != "" {
		v.Pin = &Pin{Error: st.PinError}
	}
	for _, lm := range st.LocalMaintenance {
		v.MaintenanceOverrides = append(v.MaintenanceOverrides, MaintenanceOverride{Node: lm.Node, Maintenance: lm.Maintenance,
			By: lm.By, At: lm.At.UTC(), Reason: lm.Reason, State: lm.State})
	}
	return v
}

// History is `history -o json`: the records oldest first.
type History struct {
	FormatVersion string         `json:"format_version"`
	Entries       []HistoryEntry `json:"entries"`
}

type HistoryEntry struct {
	Time    time.Time    `json:"time"`
	Source  string       `json:"source"` // apply | watch
	Commit  string       `json:"commit,omitempty"`
	Author  string       `json:"author,omitempty"`
	Outcome string       `json:"outcome"`
	Detail  string       `json:"detail,omitempty"`
	Planned *Counts      `json:"planned"`
	Apply   *ApplyRecord `json:"apply,omitempty"`
	Watch   *WatchRecord `json:"watch,omitempty"`
}

type Counts struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

type ApplyRecord struct {
	Finished       time.Time `json:"finished"`
	Rack           string    `json:"rack,omitempty"`
	AddressChanges int       `json:"address_changes"`
	Done           int       `json:"done"`
	Failed         int       `json:"failed"`
	NotAttempted   int       `json:"not_attempted"`
	Verified       int       `json:"verified"`
	BackupDir      string    `json:"backup_dir,omitempty"`
	// Rollout is set when the plan ran in waves.
	Rollout *RolloutRecord `json:"rollout,omitempty"`
}

// RolloutRecord is what an apply did of its waves.
type RolloutRecord struct {
	Waves     int               `json:"waves"`
	Completed int               `json:"completed"`
	StoppedAt int               `json:"stopped_at,omitempty"`
	Unhealthy map[string]string `json:"unhealthy,omitempty"`
}

type WatchRecord struct {
	Trigger       string       `json:"trigger"`
	AuthorEmail   string       `json:"author_email,omitempty"`
	CommitTime    *time.Time   `json:"commit_time,omitempty"`
	SignedBy      string       `json:"signed_by,omitempty"`
	Disruptive    []RoleNodes  `json:"disruptive,omitempty"`
	OverLimit     []string     `json:"over_limit,omitempty"`
	OutsideWindow bool         `json:"outside_window,omitempty"`
	Approved      bool         `json:"approved,omitempty"`
	Diagnostics   []Diagnostic `json:"diagnostics,omitempty"`
}

// RoleNodes lists the nodes of one role (a list, not an object keyed
// by role, so that every key of the view is a documented field name).
type RoleNodes struct {
	Role  string   `json:"role"`
	Nodes []string `json:"nodes"`
}

// Diagnostic is one positioned validation error of a rejected spec.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func NewHistory(entries []engine.HistoryEntry) History {
	v := History{FormatVersion: reconcile.ViewFormatVersion, Entries: make([]HistoryEntry, 0, len(entries))}
	for _, e := range entries {
		ev := HistoryEntry{Time: e.Time.UTC(), Source: e.Source, Commit: e.Commit, Author: e.Author,
			Outcome: e.Outcome, Detail: e.Detail}
		if r := e.Apply; r != nil {
			ev.Planned = &Counts{r.Planned.Add, r.Planned.Change, r.Planned.Destroy}
			ev.Apply = &ApplyRecord{Finished: r.Finished.UTC(), Rack: r.RackName, AddressChanges: r.Allocations,
				Done: r.Done, Failed: r.Failed, NotAttempted: r.NotAttempted, Verified: r.Verified, BackupDir: r.BackupDir}
			if ro := r.Rollout; ro != nil {
				ev.Apply.Rollout = &RolloutRecord{Waves: ro.Waves, Completed: ro.Completed, StoppedAt: ro.StoppedAt, Unhealthy: ro.Unhealthy}
			}
		}
		if w := e.Watch; w != nil {
			if w.Planned != nil {
				ev.Planned = &Counts{w.Planned.Add, w.Planned.Change, w.Planned.Destroy}
			}
			wv := &WatchRecord{Trigger: string(w.Trigger), AuthorEmail: w.AuthorEmail, SignedBy: w.SignedBy,
				CommitTime: utcOrNil(w.CommitTime)}
			if d := w.Policy; d != nil {
				wv.OverLimit, wv.OutsideWindow, wv.Approved = d.OverLimit, d.OutsideWindow, d.Approved
				for _, role := range slices.Sorted(maps.Keys(d.Disruptive)) {
					wv.Disruptive = append(wv.Disruptive, RoleNodes{Role: role, Nodes: d.Disruptive[role]})
				}
			}
			for _, d := range w.Diagnostics {
				wv.Diagnostics = append(wv.Diagnostics, Diagnostic{File: d.File, Line: d.Line, Col: d.Col, Field: d.Field, Message: d.Message})
			}
			ev.Watch = wv
		}
		v.Entries = append(v.Entries, ev)
	}
	return v
}
