package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/render"
)

// timeNow is the clock of lease activity checks.
var timeNow = time.Now

// Preparer is implemented by executors that need to see the whole plan
// before Apply checks it (for example to learn the BMC addresses their
// Observe calls need).
type Preparer interface {
	Prepare(p *Plan) error
}

// Concurrent is implemented by executors whose changes of one phase may
// run at once, at most Concurrency() at a time. Their Apply must be safe
// for concurrent use.
type Concurrent interface {
	Concurrency() int
}

func discard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// DHCPExecutor applies the dhcp layer: reload dnsmasq, release stale
// leases, and the drift fixes that reach a BMC.
type DHCPExecutor struct {
	Server DHCPServer
	BMC    BMC        // for power-cycle drift fixes; may be nil
	Renew  BMCRenewer // for bmc-dhcp-renew drift fixes; may be nil
	Log    *slog.Logger
}

var (
	_ Executor = (*DHCPExecutor)(nil)
	_ Observer = (*DHCPExecutor)(nil)
)

func (e *DHCPExecutor) Layer() Layer { return LayerDHCP }

// Observe reads the leases digest (KeyLeases).
func (e *DHCPExecutor) Observe(ctx context.Context, key string) (string, bool, error) {
	if key != KeyLeases {
		return "", false, nil
	}
	leases, err := e.Server.Leases()
	if errors.Is(err, fs.ErrNotExist) {
		return Absent, true, nil
	}
	if err != nil {
		return "", true, err
	}
	return leaseDigest(leases, timeNow()), true, nil
}

func (e *DHCPExecutor) Apply(ctx context.Context, c Change) error {
	switch c.Action {
	case ActionNoop:
		return nil
	case ActionReload:
		if err := e.Server.Reload(ctx); err != nil {
			return fmt.Errorf("dhcp: reload dnsmasq: %w", err)
		}
		return nil
	case ActionRelease:
		if c.Detail == nil || c.Detail.Lease == nil {
			return fmt.Errorf("dhcp: %s: no lease in the change", c.Address)
		}
		ip, err := netip.ParseAddr(c.Detail.Lease.IP)
		if err != nil {
			return fmt.Errorf("dhcp: %s: %w", c.Address, err)
		}
		l := dhcp.Lease{MAC: c.Detail.Lease.MAC, IP: ip, ClientID: c.Detail.Lease.ClientID, Hostname: c.Detail.Lease.Hostname}
		// Idempotent: a lease gone already is released.
		if cur, err := e.Server.Leases(); err == nil && !hasLease(cur, l) {
			return nil
		}
		if err := e.Server.Release(ctx, l); err != nil {
			return fmt.Errorf("dhcp: release lease %s of %s: %w", l.IP, l.MAC, err)
		}
		return nil
	case ActionRenew:
		if e.Renew == nil || c.Detail == nil {
			return fmt.Errorf("dhcp: %s: no BMC driver for a DHCP renewal", c.Address)
		}
		return e.Renew.DHCPRenew(ctx, bmc.Target{Node: c.Node, Address: c.Detail.BMCAddress})
	case ActionPowerCycle:
		if e.BMC == nil || c.Detail == nil {
			return fmt.Errorf("dhcp: %s: no BMC driver for a power cycle", c.Address)
		}
		return powerCycle(ctx, e.BMC, bmc.Target{Node: c.Node, Address: c.Detail.BMCAddress})
	}
	return fmt.Errorf("dhcp: %s: unsupported action %q", c.Address, c.Action)
}

func hasLease(ls []dhcp.Lease, l dhcp.Lease) bool {
	for _, x := range ls {
		if x.MAC == l.MAC && x.IP == l.IP && x.Active(timeNow()) {
			return true
		}
	}
	return false
}

// FlagExecutor applies the flags layer: it deletes flag files.
type FlagExecutor struct {
	Root string
	Log  *slog.Logger
}

var _ Executor = (*FlagExecutor)(nil)

func (e *FlagExecutor) Layer() Layer { return LayerFlags }

func (e *FlagExecutor) Apply(ctx context.Context, c Change) error {
	p, ok := strings.CutPrefix(c.Address, FilePrefix)
	if !ok || c.Action != ActionDelete {
		return fmt.Errorf("flags: %s: unsupported %s", c.Address, c.Action)
	}
	if err := checkPath(p); err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	root, err := rootfs.New(e.Root)
	if err != nil {
		return fmt.Errorf("flags: %w", err)
	}
	// A link at the flag path is removed itself; a linked directory on the
	// way is refused (rootfs), so nothing outside the root is deleted.
	if err := root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("flags: delete: %w", err)
	}
	discard(e.Log).Info("flag file deleted", "path", p, "node", c.Node)
	return nil
}

// ProvisionerExecutor applies the provisioner layer: terraform init, plan
// and apply of that plan in the flatcar dir, or lokoctl cluster apply.
type ProvisionerExecutor struct {
	Terraform Terraformer    // the flatcar provisioner
	Lokoctl   ClusterApplier // the lokomotive provisioner
	Log       *slog.Logger

	mu     sync.Mutex
	inited bool
}

var (
	_ Executor = (*ProvisionerExecutor)(nil)
	_ Observer = (*ProvisionerExecutor)(nil)
)

func (e *ProvisionerExecutor) Layer() Layer { return LayerProvisioner }

func (e *ProvisionerExecutor) init(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inited {
		return nil
	}
	if err := e.Terraform.Init(ctx); err != nil {
		return fmt.Errorf("terraform init: %w", err)
	}
	e.inited = true
	return nil
}

// Observe plans again for KeyTerraformPlan and returns the plan's digest.
func (e *ProvisionerExecutor) Observe(ctx context.Context, key string) (string, bool, error) {
	if key != KeyTerraformPlan {
		return "", false, nil
	}
	if e.Terraform == nil {
		return "", true, errors.New("no terraform driver")
	}
	if err := e.init(ctx); err != nil {
		return "", true, err
	}
	tp, err := e.Terraform.Plan(ctx)
	if err != nil {
		return "", true, fmt.Errorf("terraform plan: %w", err)
	}
	return SummarizeTerraform(tp).Digest, true, nil
}

func (e *ProvisionerExecutor) Apply(ctx context.Context, c Change) error {
	if c.Action != ActionRun {
		return fmt.Errorf("provisioner: %s: unsupported action %q", c.Address, c.Action)
	}
	switch c.Address {
	case "provisioner:terraform":
		if e.Terraform == nil {
			return errors.New("provisioner: no terraform driver")
		}
		if err := e.init(ctx); err != nil {
			return fmt.Errorf("provisioner: %w", err)
		}
		tp, err := e.Terraform.Plan(ctx)
		if err != nil {
			return fmt.Errorf("provisioner: terraform plan: %w", err)
		}
		if c.Detail != nil && c.Detail.Terraform != nil {
			if got := SummarizeTerraform(tp).Digest; got != c.Detail.Terraform.Digest {
				return fmt.Errorf("provisioner: %w (reviewed %s, now %s)", provision.ErrPlanChanged, c.Detail.Terraform.Digest, got)
			}
		}
		if cmds := provision.RackerStateMoves(tp, render.FlatcarModule); len(cmds) > 0 {
			dir := "the flatcar directory"
			if c.Detail != nil && c.Detail.Dir != "" {
				dir = c.Detail.Dir + " (under --root)"
			}
			return fmt.Errorf("provisioner: the terraform state still holds Racker's %s, whose matchbox objects share IDs with rackctl's: "+
				"destroying them in this run could delete the new ones. Run once in %s, then apply again:\n  %s",
				provision.RackerModule, dir, strings.Join(cmds, "\n  "))
		}
		if !tp.HasChanges() {
			discard(e.Log).Info("terraform plan has no changes")
			return nil
		}
		if err := e.Terraform.Apply(ctx, tp.PlanFile); err != nil {
			return fmt.Errorf("provisioner: terraform apply: %w", err)
		}
		return nil
	case "provisioner:lokoctl":
		if e.Lokoctl == nil {
			return errors.New("provisioner: no lokoctl driver")
		}
		if err := e.Lokoctl.Apply(ctx); err != nil {
			return fmt.Errorf("provisioner: lokoctl cluster apply: %w", err)
		}
		return nil
	}
	return fmt.Errorf("provisioner: unknown provisioner %q", c.Address)
}

// BMCExecutor applies the bmc layer, many nodes at once. A failing BMC
// fails its node's change only.
type BMCExecutor struct {
	BMC BMC
	// Addressing moves BMCs to DHCP (bmc.addressSource); may be nil when
	// no plan asks for it.
	Addressing BMCAddressing
	Parallel   int // bmc.DefaultParallel when zero
	Log        *slog.Logger

	targets map[string]string          // node -> BMC address, from the plan
	others  map[string]*sync.WaitGroup // node -> its bmc changes other than the address source's
}

var (
	_ Executor   = (*BMCExecutor)(nil)
	_ Observer   = (*BMCExecutor)(nil)
	_ Preparer   = (*BMCExecutor)(nil)
	_ Concurrent = (*BMCExecutor)(nil)
)

func (e *BMCExecutor) Layer() Layer { return LayerBMC }

func (e *BMCExecutor) Concurrency() int {
	if e.Parallel <= 0 {
		return bmc.DefaultParallel
	}
	return e.Parallel
}

// Prepare learns the nodes' BMC addresses from the plan.
// A node's address source change waits for its other bmc changes: the
// BMC may move address.
func (e *BMCExecutor) Prepare(p *Plan) error {
	e.targets = map[string]string{}
	e.others = map[string]*sync.WaitGroup{}
	for _, c := range p.Changes {
		if c.Node != "" && c.Detail != nil && c.Detail.BMCAddress != "" {
			e.targets[c.Node] = c.Detail.BMCAddress
		}
		if c.Layer == LayerBMC && c.Action != ActionNoop && c.Action != ActionRenew && c.Node != "" {
			wg := e.others[c.Node]
			if wg == nil {
				wg = &sync.WaitGroup{}
				e.others[c.Node] = wg
			}
			wg.Add(1)
		}
	}
	return nil
}

// Observe reads "bmc:NODE:power" and "bmc:NODE:ipsrc".
func (e *BMCExecutor) Observe(ctx context.Context, key string) (string, bool, error) {
	rest, ok := strings.CutPrefix(key, BMCPowerPrefix)
	if !ok {
		return "", false, nil
	}
	if node, ok := strings.CutSuffix(rest, BMCAddressSourceSuffix); ok {
		if e.Addressing == nil {
			return "", true, fmt.Errorf("no BMC driver to read the address source of %s", node)
		}
		addr, ok := e.targets[node]
		if !ok {
			return "", true, fmt.Errorf("no BMC address for node %s in the plan", node)
		}
		src, err := e.Addressing.LANAddressSource(ctx, bmc.Target{Node: node, Address: addr})
		if err != nil {
			return Unreachable, true, nil
		}
		return src, true, nil
	}
	node, ok := strings.CutSuffix(rest, ":power")
	if !ok {
		return "", false, nil
	}
	addr, ok := e.targets[node]
	if !ok {
		return "", true, fmt.Errorf("no BMC address for node %s in the plan", node)
	}
	s, err := e.BMC.PowerState(ctx, bmc.Target{Node: node, Address: addr})
	if err != nil {
		return Unreachable, true, nil
	}
	return s, true, nil
}

func (e *BMCExecutor) Apply(ctx context.Context, c Change) error {
	if c.Action != ActionRenew {
		if wg := e.others[c.Node]; wg != nil {
			defer wg.Done()
		}
	}
	if c.Detail == nil || c.Detail.BMCAddress == "" {
		return fmt.Errorf("bmc %s: no BMC address in the change", c.Node)
	}
	t := bmc.Target{Node: c.Node, Address: c.Detail.BMCAddress}
	switch c.Action {
	case ActionRenew:
		return e.renew(ctx, t)
	case ActionPXEReinstall:
		if err := e.BMC.SetBootDevice(ctx, t, bmc.BootPXE, false, false); err != nil {
			return fmt.Errorf("bmc %s: set next boot to pxe: %w", c.Node, err)
		}
		if err := powerCycle(ctx, e.BMC, t); err != nil {
			return err
		}
		discard(e.Log).Info("node PXE-booted", "node", c.Node)
		return nil
	case ActionSetBootDisk:
		err := e.BMC.SetBootDevice(ctx, t, bmc.BootDisk, true, true)
		var mm *bmc.BootParamMismatchError
		if errors.As(err, &mm) && mm.Got.Device == bmc.BootDisk {
			// The device is right; this BMC does not keep the persistent
			// or EFI flag (ipmi_sim does not). The node's boot workaround
			// unit sets them at every boot.
			discard(e.Log).Warn("boot flags not kept by the BMC", "node", c.Node, "got", mm.Got.String())
			return nil
		}
		if err != nil {
			return fmt.Errorf("bmc %s: set boot device disk: %w", c.Node, err)
		}
		return nil
	}
	return fmt.Errorf("bmc %s: unsupported action %q", c.Node, c.Action)
}

// renew moves t's LAN channel to DHCP, once the node's other bmc changes
// are through; a BMC on DHCP already is left alone.
func (e *BMCExecutor) renew(ctx context.Context, t bmc.Target) error {
	if e.Addressing == nil {
		return fmt.Errorf("bmc %s: no BMC driver to set the address source", t.Node)
	}
	if wg := e.others[t.Node]; wg != nil {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("bmc %s: wait for its other changes: %w", t.Node, ctx.Err())
		}
	}
	if src, err := e.Addressing.LANAddressSource(ctx, t); err == nil && src == bmc.AddrSourceDHCP {
		return nil
	}
	if err := e.Addressing.DHCPRenew(ctx, t); err != nil {
		return fmt.Errorf("bmc %s: set address source dhcp: %w", t.Node, err)
	}
	discard(e.Log).Info("BMC moved to DHCP", "node", t.Node)
	return nil
}

// powerCycle power-cycles a node that is on and powers on one that is off.
func powerCycle(ctx context.Context, b BMC, t bmc.Target) error {
	state, err := b.PowerState(ctx, t)
	if err != nil {
		return fmt.Errorf("bmc %s: power state: %w", t.Node, err)
	}
	action := bmc.PowerCycle
	if state == bmc.PowerOff {
		action = bmc.PowerOn
	}
	if err := b.SetPower(ctx, t, action); err != nil {
		return fmt.Errorf("bmc %s: power %s: %w", t.Node, action, err)
	}
	return waitPowerOn(ctx, b, t, action)
}

// powerOnWait bounds how long a node may take to report power on after a
// cycle; BMCs switch it back on asynchronously, seconds later.
var powerOnWait = 60 * time.Second

// waitPowerOn returns once the BMC reports the node on, so the apply ends
// with the node booting, not mid-cycle (and the next plan sees it on).
func waitPowerOn(ctx context.Context, b BMC, t bmc.Target, action string) error {
	deadline := time.Now().Add(powerOnWait)
	for {
		state, err := b.PowerState(ctx, t)
		if err == nil && state == bmc.PowerOn {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("bmc %s: power state after power %s: %w", t.Node, action, err)
			}
			return fmt.Errorf("bmc %s: still %s %v after power %s", t.Node, state, powerOnWait, action)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bmc %s: waiting for power on after power %s: %w", t.Node, action, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// VerifyExecutor applies the verify layer: it asks the Verifier, if any,
// then records the install by writing the node's flag file (Racker's
// convention: flag file = installed).
type VerifyExecutor struct {
	Root     string
	Verifier Verifier // nil records right away
	Log      *slog.Logger
}

var _ Executor = (*VerifyExecutor)(nil)

func (e *VerifyExecutor) Layer() Layer { return LayerVerify }

func (e *VerifyExecutor) Apply(ctx context.Context, c Change) error {
	if c.Action != ActionVerify || c.Detail == nil || c.Detail.FlagFile == "" {
		return fmt.Errorf("verify: %s: unsupported change", c.Address)
	}
	if err := checkPath(c.Detail.FlagFile); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if e.Verifier != nil {
		if err := e.Verifier.Verify(ctx, c.Node); err != nil {
			return fmt.Errorf("verify %s: %w", c.Node, err)
		}
	}
	root, err := rootfs.New(e.Root)
	if err != nil {
		return fmt.Errorf("verify %s: %w", c.Node, err)
	}
	switch there, err := root.Exists(c.Detail.FlagFile); {
	case err != nil:
		return fmt.Errorf("verify %s: flag file: %w", c.Node, err)
	case there:
		return nil
	}
	cleanTemp(root, c.Detail.FlagFile, discard(e.Log))
	var content []byte
	if c.Detail.FQDN != "" {
		content = []byte(c.Detail.FQDN + "\n") // as the module's `echo $domain > flag`
	}
	if err := root.WriteFile(c.Detail.FlagFile, content, 0o644); err != nil {
		return fmt.Errorf("verify %s: write flag file: %w", c.Node, err)
	}
	discard(e.Log).Info("install recorded", "node", c.Node, "flag", c.Detail.FlagFile)
	return nil
}
