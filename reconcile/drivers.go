package reconcile

import (
	"context"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/rotate"
)

// The interfaces below are what the layers after files need from the live
// systems; *dhcp.Server, *bmc.Client, *provision.Terraform and
// *provision.Lokoctl implement them as they are, tests use fakes.

// DHCPServer checks, reloads and reads the leases of dnsmasq.
type DHCPServer interface {
	Check(ctx context.Context, conf []byte) error
	Reload(ctx context.Context) error
	Leases() ([]dhcp.Lease, error)
	Release(ctx context.Context, l dhcp.Lease) error
}

// BMC switches a node's power and boot device.
type BMC interface {
	PowerState(ctx context.Context, t bmc.Target) (string, error)
	SetPower(ctx context.Context, t bmc.Target, action string) error
	BootDevice(ctx context.Context, t bmc.Target) (bmc.BootParam, error)
	SetBootDevice(ctx context.Context, t bmc.Target, device string, persistent, efi bool) error
}

// BMCMedia is a BMC with a virtual CD (bmc.VirtualMedia): the bmc and
// settle layers ask their BMC for it where a node installs via virtual
// media, so drivers without one need not say so.
type BMCMedia interface {
	MediaImage(ctx context.Context, t bmc.Target) (string, error)
	InsertMedia(ctx context.Context, t bmc.Target, image string) error
	EjectMedia(ctx context.Context, t bmc.Target) error
}

// BMCRenewer makes a BMC request its address from DHCP again.
type BMCRenewer interface {
	DHCPRenew(ctx context.Context, t bmc.Target) error
}

// BMCAddressing reads where a BMC's LAN channel takes its address from
// (bmc.AddrSource*) and moves it to DHCP.
type BMCAddressing interface {
	LANAddressSource(ctx context.Context, t bmc.Target) (string, error)
	DHCPRenew(ctx context.Context, t bmc.Target) error
}

// CredentialRotator rotates the BMC credentials of a set of BMCs to the
// spec's bmc.rotate (package rotate); *Rotation is the real one. It holds
// the passwords; nothing it returns does.
type CredentialRotator interface {
	// PlanRotation is rotate.MakePlan for targets, with the saved state.
	PlanRotation(ctx context.Context, targets []bmc.Target) (*rotate.Plan, error)
	// ApplyRotation is rotate.Apply of a plan PlanRotation made for targets.
	ApplyRotation(ctx context.Context, targets []bmc.Target, p *rotate.Plan) (*rotate.Report, error)
	// Users reads a BMC's user list as the account the rotation reads it
	// with (the old one before the switch, the new one after).
	Users(ctx context.Context, t bmc.Target) ([]bmc.User, error)
}

// Terraformer is the flatcar provisioner: terraform in the flatcar dir.
type Terraformer interface {
	Init(ctx context.Context) error
	Plan(ctx context.Context) (*provision.TerraformPlan, error)
	Apply(ctx context.Context, planFile string) error
}

// ClusterApplier is the lokomotive provisioner: lokoctl cluster apply.
type ClusterApplier interface {
	Apply(ctx context.Context) error
}

// Verifier tells whether a freshly installed node is up (for example
// joined and Ready in the cluster). The verify layer records the install
// (writes the flag file) only after Verify returns nil; without a
// Verifier it records it right away.
type Verifier interface {
	Verify(ctx context.Context, node string) error
}

// NodeConfigObserver reads which config installed nodes run (the hash
// their config wrote), for the reignite layer. It reports only what it
// saw: a node it did not read has no Hash and says why in Unknown.
type NodeConfigObserver interface {
	RunningConfigs(ctx context.Context, nodes []string) map[string]RunningConfig
}

// RunningConfig is what was observed of one node's config: its hash, or
// why it is not known ("unreachable: …", "no hash file: …").
type RunningConfig struct {
	Hash    string
	Unknown string
}

// Reigniter makes an installed node run Ignition again from url without a
// PXE boot, and returns nil only once the node was seen running the config
// whose hash is want.
type Reigniter interface {
	Reignite(ctx context.Context, node, url, want string) error
}

var (
	_ DHCPServer     = (*dhcp.Server)(nil)
	_ BMC            = (*bmc.Client)(nil)
	_ BMCRenewer     = (*bmc.Client)(nil)
	_ BMCAddressing  = (*bmc.Client)(nil)
	_ BMCMedia       = (*bmc.Drivers)(nil)
	_ Terraformer    = (*provision.Terraform)(nil)
	_ ClusterApplier = (*provision.Lokoctl)(nil)
)
