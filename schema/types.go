package schema

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rackctl/rackctl/internal/macaddr"
)

// APIVersion and Kind identify a rack.yaml document.
const (
	APIVersion = "rackctl/v1alpha1"
	Kind       = "Rack"
)

// Provisioner selects how nodes are installed and which cluster files are rendered.
type Provisioner string

const (
	Lokomotive Provisioner = "lokomotive"
	Flatcar    Provisioner = "flatcar"
)

// Roles a node can have; controller and worker are for lokomotive, node for flatcar.
const (
	RoleController = "controller"
	RoleWorker     = "worker"
	RoleNode       = "node"
)

// Rack is a validated rack.yaml. Every field is filled: Load applies the
// schema defaults, so callers never need to guess a default themselves.
type Rack struct {
	// Warnings are findings that do not make the spec invalid (a disabled
	// certificate check), positioned like errors; never serialized.
	Warnings    Errors      `json:"-"`
	APIVersion  string      `json:"apiVersion"`
	Kind        string      `json:"kind"`
	Name        string      `json:"name"`
	Provisioner Provisioner `json:"provisioner"`
	Domain      string      `json:"domain"` // empty (flatcar only): FQDN = name
	// FileFormat selects the formats of dnsmasq.conf, the /etc/hosts lines
	// and the vars file; empty means FormatRackctl.
	FileFormat FileFormat `json:"fileFormat,omitempty"`
	Network    Network    `json:"network"`
	Matchbox   Matchbox   `json:"matchbox"`
	BMC        BMC        `json:"bmc"`
	Install    Install    `json:"install"`
	Cluster    Cluster    `json:"cluster"`
	Nodes      []Node     `json:"nodes"`
	// Rollout says how disruptive plans are carried out in waves; nil
	// (no section) is DefaultRollout.
	Rollout *Rollout `json:"rollout,omitempty"`
}

// FileFormat is how rackctl writes the files it shares with Racker's
// layout. The content (addresses, names, settings) is the same in both;
// FormatRacker only changes how it is written, so that a rack taken over
// with `rackctl import racker` has these files unchanged by the first plan.
type FileFormat string

const (
	// FormatRackctl: files carry rackctl's header comment; /etc/hosts holds a
	// marked block of "IP FQDN NAME" lines; the vars file holds relative
	// paths, host:port endpoints and the SSH keys.
	FormatRackctl FileFormat = "rackctl"
	// FormatRacker: Racker's dnsmasq.conf (no header, no comments, no host
	// names unless network.internal.dhcp.hostNames), its "IP FQDN" hosts
	// lines (adopted without markers while unchanged, see render.MergeBlock),
	// its vars (absolute asset_dir, matchbox_addr without port, an
	// installer_clc_snippets entry for every node once one has a public IP;
	// endpoints and SSH keys written literally in the cluster config).
	FormatRacker FileFormat = "racker"
)

// Racker tells whether files are written in Racker's formats.
func (r *Rack) Racker() bool { return r.FileFormat == FormatRacker }

// Network describes the rack's internal (PXE/DHCP) network and the optional
// public network on the nodes' secondary NICs.
type Network struct {
	Internal InternalNetwork `json:"internal"`
	Public   *PublicNetwork  `json:"public,omitempty"`
}

// InternalNetwork is served by dnsmasq on the management node.
type InternalNetwork struct {
	Subnet  string   `json:"subnet"`  // CIDR, e.g. 172.24.213.0/24
	Gateway string   `json:"gateway"` // the management node: dnsmasq, matchbox
	DNS     []string `json:"dns"`
	// Interface is the management node's interface dnsmasq binds to; empty
	// means dnsmasq's default (all interfaces).
	Interface string `json:"interface,omitempty"`
	// DynamicRange is the pool dnsmasq hands to unknown MACs (PXE of a new
	// server before it is in rack.yaml). Allocation never uses it.
	DynamicRange IPRange `json:"dynamicRange"`
	// DefaultRoute (nil = true): nodes without a public IP get a default
	// route through the gateway and the DNS servers in their internal
	// networkd unit. False keeps Racker's unit: a link-scope address only.
	DefaultRoute *bool `json:"defaultRoute,omitempty"`
	// DHCP tunes the reservations dnsmasq serves.
	DHCP DHCP `json:"dhcp"`
}

// RoutesByDefault tells whether nodes without a public IP route through the
// internal gateway (network.internal.defaultRoute, default true).
func (n InternalNetwork) RoutesByDefault() bool { return n.DefaultRoute == nil || *n.DefaultRoute }

// DefaultReservationLease is the lease of dnsmasq reservations when
// network.internal.dhcp.reservationLease is not set.
const DefaultReservationLease = "1h"

// DHCP is network.internal.dhcp. The zero value is rackctl's default
// behaviour, so a Rack built in Go needs none of it.
type DHCP struct {
	// ReservationLease is the lease of every dhcp-host reservation
	// (dnsmasq syntax: 1h, 2m, infinite); empty means
	// DefaultReservationLease.
	ReservationLease string `json:"reservationLease,omitempty"`
	// HostNames (nil = true): reservations name their host (NAME and
	// NAME-bmc), which dnsmasq hands to the client and resolves.
	HostNames *bool `json:"hostNames,omitempty"`
	// AnnounceRouter (nil = true): the gateway is sent as router option;
	// false sends the option empty (Racker's dhcp-option=3).
	AnnounceRouter *bool `json:"announceRouter,omitempty"`
	// ReserveExcludedPrimary keeps the primary NIC's reservation of an
	// excluded node (Racker's exclude.sh left it); the BMC's is always kept.
	ReserveExcludedPrimary bool `json:"reserveExcludedPrimary,omitempty"`
}

// Lease is the reservation lease, defaulted.
func (d DHCP) Lease() string {
	if d.ReservationLease == "" {
		return DefaultReservationLease
	}
	return d.ReservationLease
}

// NamesHosts tells whether reservations carry host names (default true).
func (d DHCP) NamesHosts() bool { return d.HostNames == nil || *d.HostNames }

// SendsRouter tells whether the gateway is sent as router (default true).
func (d DHCP) SendsRouter() bool { return d.AnnounceRouter == nil || *d.AnnounceRouter }

// IPRange is an inclusive range of IPv4 addresses.
type IPRange struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// PublicNetwork is configured statically on the nodes' secondary NICs.
type PublicNetwork struct {
	Gateway string   `json:"gateway"`
	DNS     []string `json:"dns"`
}

// Matchbox locates the matchbox server the provisioners talk to.
type Matchbox struct {
	HTTPEndpoint  string `json:"httpEndpoint"`  // e.g. http://172.24.213.1:8080
	RPCEndpoint   string `json:"rpcEndpoint"`   // e.g. 172.24.213.1:8081
	ClientCertDir string `json:"clientCertDir"` // ca.crt, client.crt, client.key
}

// BMC holds how rackctl logs in to the nodes' BMCs. Secrets are only ever
// referenced by file path.
type BMC struct {
	UserFile     string     `json:"userFile"`
	PasswordFile string     `json:"passwordFile"`
	CipherSuite  int        `json:"cipherSuite"`
	Rotate       *BMCRotate `json:"rotate,omitempty"`
	// AddressSource is where every BMC's LAN channel should take its
	// address from: AddressSourceDHCP, or "" to leave it as it is.
	AddressSource string `json:"addressSource,omitempty"`
	// Protocol is how rackctl talks to the BMCs (ProtocolIPMI or
	// ProtocolRedfish); Node.BMCProtocol overrides it per node.
	Protocol string `json:"protocol"`
	// Redfish says how the HTTPS certificates of Redfish BMCs are checked;
	// nil: against the system's CA pool.
	Redfish *RedfishTLS `json:"redfish,omitempty"`
}

// BMC protocols.
const (
	ProtocolIPMI    = "ipmi"
	ProtocolRedfish = "redfish"
)

// RedfishTLS is how a Redfish BMC's certificate is checked: exactly one
// field is set.
type RedfishTLS struct {
	// CAFile holds the PEM CA certificates the BMCs' certificates must
	// chain to (read like bmc.userFile: beneath --root, or relative to the
	// spec's directory).
	CAFile string `json:"caFile,omitempty"`
	// Fingerprint pins the BMC's leaf certificate: "sha256:" and its
	// SHA-256 in hex (colons allowed).
	Fingerprint string `json:"fingerprint,omitempty"`
	// InsecureSkipVerify turns certificate checks off (warned).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// NodeProtocol is the BMC protocol of n: its override or the rack's.
func (r *Rack) NodeProtocol(n *Node) string {
	if n.BMCProtocol != "" {
		return n.BMCProtocol
	}
	if r.BMC.Protocol != "" {
		return r.BMC.Protocol
	}
	return ProtocolIPMI
}

// AddressSourceDHCP makes the BMCs take their address from DHCP (the
// reservation of their bmcMac), as `ipmitool lan set 1 ipsrc dhcp` does.
const AddressSourceDHCP = "dhcp"

// BMCRotate asks for the BMC credentials to be rotated to a new account.
type BMCRotate struct {
	User         string `json:"user"`
	PasswordFile string `json:"passwordFile"`
	// DeleteOld deletes the old account instead of only disabling it.
	DeleteOld bool `json:"deleteOld,omitempty"`
}

// Install holds the Flatcar installer settings shared by all nodes.
type Install struct {
	KernelConsole         []string `json:"kernelConsole"`
	KernelArgs            []string `json:"kernelArgs,omitempty"`
	InstallToSmallestDisk bool     `json:"installToSmallestDisk"`
	CachedInstall         bool     `json:"cachedInstall"`
	WipeAdditionalDisks   bool     `json:"wipeAdditionalDisks"`
	InstallPreRebootCmds  string   `json:"installPreRebootCmds,omitempty"`
	PXECommands           string   `json:"pxeCommands,omitempty"`
	// IPMIToolImage is the container image with ipmitool that the nodes'
	// boot workaround unit runs; empty means DefaultIPMIToolImage.
	IPMIToolImage string `json:"ipmitoolImage,omitempty"`
	// Via is how nodes to install are booted (InstallViaPXE or
	// InstallViaVirtualMedia); Node.InstallVia overrides it per node.
	Via string `json:"via,omitempty"`
	// VirtualMediaImage is the URL of the boot image a Redfish BMC
	// inserts as a virtual CD for a node installed via virtual media.
	VirtualMediaImage string `json:"virtualMediaImage,omitempty"`
}

// Install paths.
const (
	InstallViaPXE          = "pxe"
	InstallViaVirtualMedia = "virtualMedia"
)

// InstallVia is how n is booted to install: its override or the rack's.
func (r *Rack) InstallVia(n *Node) string {
	if n.InstallVia != "" {
		return n.InstallVia
	}
	if r.Install.Via != "" {
		return r.Install.Via
	}
	return InstallViaPXE
}

// DefaultIPMIToolImage is install.ipmitoolImage's default.
const DefaultIPMIToolImage = "quay.io/kinvolk/racker:latest"

// Image is the boot workaround's ipmitool image, defaulted.
func (i Install) Image() string {
	if i.IPMIToolImage == "" {
		return DefaultIPMIToolImage
	}
	return i.IPMIToolImage
}

// Cluster holds settings of the cluster the nodes form (lokomotive) or share
// (flatcar: SSH keys and update strategy only).
type Cluster struct {
	Name          string               `json:"name"`
	APIServerName string               `json:"apiServerName,omitempty"`
	SSHPubKeys    []string             `json:"sshPubKeys"`
	Updates       Updates              `json:"updates"`
	Components    map[string]Component `json:"components,omitempty"`
	// Labels are Kubernetes labels of every node (lokomotive).
	Labels map[string]string `json:"labels,omitempty"`
}

// Updates selects how Flatcar applies OS updates: locksmith's
// REBOOT_STRATEGY on flatcar nodes, the update operator on lokomotive.
type Updates struct {
	Strategy string `json:"strategy"` // reboot | etcd-lock | off
}

// Component is a lokomotive component's configuration: its attributes are
// written into the component block of <name>.lokocfg.
type Component map[string]any

// Node is one server of the rack.
type Node struct {
	Name         string `json:"name"`
	Role         string `json:"role"`
	MAC          string `json:"mac"`
	BMCMAC       string `json:"bmcMac"`
	SecondaryMAC string `json:"secondaryMac,omitempty"`
	PublicIP     string `json:"publicIP,omitempty"` // CIDR on the secondary NIC
	IP           string `json:"ip,omitempty"`       // pinned internal IP of the primary NIC
	BMCIP        string `json:"bmcIP,omitempty"`    // pinned internal IP of the BMC
	// BMCAddress overrides where rackctl reaches the BMC (host:port), e.g. a
	// simulator on loopback; by default the BMC's internal IP, port 623.
	BMCAddress string `json:"bmcAddress,omitempty"`
	// BMCProtocol overrides bmc.protocol for this node; "" for the rack's.
	BMCProtocol string `json:"bmcProtocol,omitempty"`
	// InstallVia overrides install.via for this node; "" for the rack's.
	InstallVia string `json:"installVia,omitempty"`
	Exclude    bool   `json:"exclude,omitempty"`
	// Maintenance keeps rackctl's hands off the node: no BMC or
	// provisioner change, no drift fix, no file of its own changed; it
	// keeps its place in every list, its reservations and IPs.
	Maintenance bool `json:"maintenance,omitempty"`
	// RackUnit is where the server sits (1 = bottom); 0 when not given.
	RackUnit    int               `json:"rackUnit,omitempty"`
	Reprovision string            `json:"reprovision,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	// ExtraCLC is a Container Linux Config snippet written verbatim to
	// cl/FQDN-extra.yaml, the node's last clc_snippet (hand edits carried
	// over by import).
	ExtraCLC string `json:"extraCLC,omitempty"`
}

// FQDN is the node's fully qualified name, also its name in cluster files.
// With an empty domain (flatcar) it is the name.
func (r *Rack) FQDN(n *Node) string {
	if r.Domain == "" {
		return n.Name
	}
	return n.Name + "." + r.Domain
}

// ActiveNodes returns the nodes that belong in the cluster files, in spec order.
func (r *Rack) ActiveNodes() []*Node {
	var out []*Node
	for i := range r.Nodes {
		if !r.Nodes[i].Exclude {
			out = append(out, &r.Nodes[i])
		}
	}
	return out
}

// NodesWithRole returns the active nodes of a role, in spec order.
func (r *Rack) NodesWithRole(role string) []*Node {
	var out []*Node
	for _, n := range r.ActiveNodes() {
		if n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

// Node finds a node by name, FQDN, primary MAC or BMC MAC.
func (r *Rack) Node(target string) *Node {
	t := macaddr.Canon(target)
	for i := range r.Nodes {
		n := &r.Nodes[i]
		if n.Name == target || r.FQDN(n) == target || n.MAC == t || n.BMCMAC == t {
			return n
		}
	}
	return nil
}

// Rollout is the spec's rollout: how a disruptive plan is carried out in
// waves gated on health. Nil (no rollout section): DefaultRollout's waves.
type Rollout struct {
	Canary         Canary         `json:"canary"`
	MaxUnavailable MaxUnavailable `json:"maxUnavailable"`
	// Settle and Timeout are Go durations (schema-checked, e.g. "30s").
	Settle  string `json:"settle"`
	Timeout string `json:"timeout"`
}

// Canary picks the first wave: Count disrupted nodes, or, when a
// selector field is set, the disrupted nodes matching all of them.
type Canary struct {
	// Count is nil when not given (DefaultCanaryCount, or the selector);
	// 0 asks for no canary.
	Count  *int              `json:"count,omitempty"`
	Names  []string          `json:"names,omitempty"`
	Role   string            `json:"role,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Defaults of rollout's fields, applied by Load when the section is there
// and by DefaultRollout when it is not. maxUnavailable left out is the
// management node's blast-radius limit (watch.maxDisruptive*Percent),
// resolved when a plan is made; DefaultMaxUnavailable when none is set.
const (
	DefaultCanaryCount    = 1
	DefaultMaxUnavailable = Quantity("25%")
	DefaultRolloutSettle  = "30s"
	DefaultRolloutTimeout = "15m"
)

// applyDefaults fills what the spec's rollout section leaves out.
func (r *Rollout) applyDefaults() {
	if r.Canary.Count == nil && !r.Canary.Selects() {
		n := DefaultCanaryCount
		r.Canary.Count = &n
	}
	r.MaxUnavailable.Controller = 1
	if r.Settle == "" {
		r.Settle = DefaultRolloutSettle
	}
	if r.Timeout == "" {
		r.Timeout = DefaultRolloutTimeout
	}
}

// DefaultRollout is the rollout of a rack without a rollout section: the
// same as `rollout: {}`. A disruptive plan is carried out in waves by
// default; `rackctl apply --no-waves` is the way to one step.
func DefaultRollout() *Rollout {
	r := &Rollout{}
	r.applyDefaults()
	return r
}

// Selects tells whether the canary is a selector rather than a count.
func (c Canary) Selects() bool { return len(c.Names) > 0 || c.Role != "" || len(c.Labels) > 0 }

// Matches tells whether n is selected: it matches every field set.
func (c Canary) Matches(n *Node) bool {
	if len(c.Names) > 0 && !slices.Contains(c.Names, n.Name) {
		return false
	}
	if c.Role != "" && n.Role != c.Role {
		return false
	}
	for k, v := range c.Labels {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// MaxUnavailable is rollout.maxUnavailable: per role, a number of nodes
// or a percentage ("25%"); empty when the spec leaves it to the
// management node's limit. Controllers always go one at a time.
type MaxUnavailable struct {
	Controller int      `json:"controller"`
	Worker     Quantity `json:"worker"`
	Node       Quantity `json:"node"`
}

// For is the limit of role.
func (m MaxUnavailable) For(role string) Quantity {
	switch role {
	case RoleController:
		return Quantity(strconv.Itoa(max(m.Controller, 1)))
	case RoleWorker:
		return cmp.Or(m.Worker, DefaultMaxUnavailable)
	default:
		return cmp.Or(m.Node, DefaultMaxUnavailable)
	}
}

// Quantity is a number of nodes ("2") or a percentage ("25%").
type Quantity string

// UnmarshalJSON takes a JSON number or string.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*q = Quantity(strconv.Itoa(n))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a number or a percentage: %w", err)
	}
	*q = Quantity(s)
	return nil
}

// Of is how many of total nodes the quantity allows: a percentage rounded
// down, never less than 1. An unreadable quantity allows 1.
func (q Quantity) Of(total int) int {
	s := string(q)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		pct, err := strconv.Atoi(p)
		if err != nil {
			return 1
		}
		return max(total*pct/100, 1)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 1
	}
	return max(n, 1)
}
