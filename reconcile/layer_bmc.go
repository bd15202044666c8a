package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/fanout"
	"github.com/rackctl/rackctl/schema"
)

// Unreachable is the observed power state of a BMC that did not answer.
const Unreachable = "unreachable"

// bmcLayer PXE-boots (or boots from virtual media, install.via) and
// power-cycles every node to install, sets the boot device of installed
// nodes back to disk, ejects their virtual media and moves BMCs to DHCP
// (bmc.addressSource). A BMC that fails stops its own node only.
type bmcLayer struct{ persistNothing }

func (bmcLayer) Layer() Layer          { return LayerBMC }
func (bmcLayer) Policy() FailurePolicy { return PerNode }

func (bmcLayer) Plan(ctx context.Context, pl *planner) error {
	if !pl.cfg.Enabled {
		return nil
	}
	if pl.cfg.BMC == nil {
		if pl.cfg.BMCOff != "" {
			pl.note(pl.cfg.BMCOff)
		}
		if len(pl.installs()) > 0 {
			pl.note("bmc layer off: PXE-boot the nodes to install by hand")
		}
		return nil
	}
	selfBoot := pl.prov.BootsInstalls(pl.rack)
	var active []*nodeInfo
	for _, ni := range pl.nodes {
		// A node the provisioner boots itself is not read at all.
		if !ni.n.Exclude && (ni.install == "" || !selfBoot) {
			active = append(active, ni)
		}
	}
	results := readBMCs(ctx, pl, active)
	var unreached []string
	for i, ni := range active {
		if !planNodeBoot(pl, ni, results[i]) {
			unreached = append(unreached, ni.n.Name)
		}
	}
	if selfBoot && len(pl.installs()) > 0 {
		pl.note(pl.prov.Tool() + " PXE-boots the nodes to install itself (install.pxeCommands)")
	}
	if len(unreached) > 0 {
		pl.note(fmt.Sprintf("boot device not checked, BMC not reached: %s", summarize(unreached, 10)))
	}
	planAddressSources(ctx, pl)
	return nil
}

// bmcRead is what the bmc layer read of one node's BMC: the power state of
// a node to install, the boot device of an installed one.
type bmcRead struct {
	power string
	boot  bmc.BootParam
	// media is the image still in the virtual CD of an installed node
	// that installs via virtual media ("" when empty or not read).
	media string
	err   error
}

// readBMCs reads the BMCs of nodes, BMCParallel at a time.
func readBMCs(ctx context.Context, pl *planner, nodes []*nodeInfo) []bmcRead {
	results := make([]bmcRead, len(nodes))
	limit := pl.cfg.BMCParallel
	if limit <= 0 {
		limit = bmc.DefaultParallel
	}
	errs := fanout.Each(ctx, limit, nodes, func(ctx context.Context, i int, ni *nodeInfo) error {
		t := pl.bmcTarget(ni.n)
		if ni.install != "" {
			results[i].power, results[i].err = pl.cfg.BMC.PowerState(ctx, t)
			return nil
		}
		results[i].boot, results[i].err = pl.cfg.BMC.BootDevice(ctx, t)
		if vm, ok := pl.cfg.BMC.(BMCMedia); ok && results[i].err == nil && pl.rack.InstallVia(ni.n) == schema.InstallViaVirtualMedia {
			// Unread media is no change: the node boots from disk anyway.
			results[i].media, _ = vm.MediaImage(ctx, t)
		}
		return nil
	})
	for i, err := range errs {
		if err != nil { // not started: the plan was cancelled
			results[i].err = err
		}
	}
	return results
}

// planNodeBoot plans the PXE install of a node to install, or the boot
// device of an installed one; false when the latter's BMC was not reached.
func planNodeBoot(pl *planner, ni *nodeInfo, r bmcRead) bool {
	if ni.install != "" {
		reason := ni.install
		power := r.power
		if r.err != nil {
			power = Unreachable
			reason += fmt.Sprintf(" (warning: BMC not reached at plan time: %v)", r.err)
		}
		pl.observe(NodeKey(LayerBMC, ni.n.Name, AspectPower), power)
		c := Change{
			Layer: LayerBMC, Action: ActionPXEReinstall, Address: "bmc:" + ni.n.Name, Node: ni.n.Name, Disruptive: true,
			Reason: reason, Detail: pl.bmcDetail(ni.n, ni.n.MAC),
		}
		if pl.rack.InstallVia(ni.n) == schema.InstallViaVirtualMedia {
			c.Action, c.Detail.MediaImage = ActionMediaReinstall, pl.rack.Install.VirtualMediaImage
			c.Phrase = "will boot from virtual media (" + c.Detail.MediaImage + ") and be power-cycled (reinstall)"
		}
		pl.add(c)
		return true
	}
	if r.err != nil {
		return false
	}
	if r.media != "" {
		pl.add(Change{
			Layer: LayerBMC, Action: ActionEjectMedia, Address: "bmc:" + ni.n.Name + ":media", Node: ni.n.Name,
			Phrase: "will eject its virtual media (" + r.media + ")",
			Reason: "installed, but the virtual CD still holds " + r.media + ": a boot from it would reinstall the node",
			Detail: pl.bmcDetail(ni.n, ni.n.MAC),
		})
	}
	if r.boot.Device != bmc.BootDisk {
		pl.add(Change{
			Layer: LayerBMC, Action: ActionSetBootDisk, Address: "bmc:" + ni.n.Name + ":boot", Node: ni.n.Name,
			Reason: fmt.Sprintf("boot device is %s, want disk (persistent, EFI)", r.boot), Detail: pl.bmcDetail(ni.n, ni.n.MAC),
		})
	}
	return true
}

// planAddressSources plans `lan set 1 ipsrc dhcp` for every BMC whose LAN
// channel does not take its address from DHCP when the spec's
// bmc.addressSource is dhcp. These changes come after every other bmc
// change: the BMC executor runs a node's renew after its other changes.
func planAddressSources(ctx context.Context, pl *planner) {
	if pl.rack.BMC.AddressSource != schema.AddressSourceDHCP {
		return
	}
	if pl.cfg.Addressing == nil {
		pl.note("bmc.addressSource: dhcp not checked: no driver reads the BMCs' LAN settings")
		return
	}
	targets := make([]bmc.Target, len(pl.nodes))
	for i, ni := range pl.nodes {
		targets[i] = pl.bmcTarget(ni.n)
	}
	srcs := bmc.ForEach(ctx, pl.cfg.BMCParallel, targets, func(ctx context.Context, t bmc.Target) (string, error) {
		return pl.cfg.Addressing.LANAddressSource(ctx, t)
	})
	var unreached []string
	for _, ni := range pl.nodes {
		n := ni.n
		r := srcs[n.Name]
		if r.Err != nil {
			unreached = append(unreached, n.Name)
			continue
		}
		if r.Value == bmc.AddrSourceDHCP {
			continue
		}
		// Observed only where a change acts on it.
		pl.observe(NodeKey(LayerBMC, n.Name, AspectAddressSource), r.Value)
		reserved := "its DHCP reservation"
		if a := pl.addrs[n.Name].BMC; a.IsValid() {
			reserved = "its reserved IP " + a.String()
		}
		pl.add(Change{
			Layer: LayerBMC, Action: ActionRenew, Address: "bmc:" + n.Name + ":ipsrc", Node: n.Name,
			Phrase: "will take its address from DHCP",
			Reason: fmt.Sprintf("bmc.addressSource: dhcp, LAN channel %d address source is %s: lan set %d ipsrc dhcp; the host is not interrupted, but the BMC moves to %s (bmcMac %s)",
				bmc.LANChannel, r.Value, bmc.LANChannel, reserved, n.BMCMAC),
			Detail: pl.bmcDetail(n, n.BMCMAC),
		})
	}
	if len(unreached) > 0 {
		pl.note(fmt.Sprintf("bmc.addressSource not checked, BMC not reached: %s", summarize(unreached, 10)))
	}
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

	targets map[string]bmc.Target      // node -> its BMC, from the plan
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
	e.targets = map[string]bmc.Target{}
	e.others = map[string]*sync.WaitGroup{}
	for _, c := range p.Changes {
		if c.Node != "" && c.Detail != nil && c.Detail.BMCAddress != "" {
			e.targets[c.Node] = c.Detail.BMCTarget(c.Node)
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

// Observe reads a node's power state or its BMC's address source; a BMC
// that does not answer reads as Unreachable.
func (e *BMCExecutor) Observe(ctx context.Context, k ObsKey) (string, error) {
	t, ok := e.targets[k.Node]
	if !ok {
		return "", fmt.Errorf("no BMC address for node %s in the plan", k.Node)
	}
	var v string
	var err error
	switch k.Aspect {
	case AspectAddressSource:
		if e.Addressing == nil {
			return "", fmt.Errorf("no BMC driver to read the address source of %s", k.Node)
		}
		v, err = e.Addressing.LANAddressSource(ctx, t)
	case AspectPower:
		v, err = e.BMC.PowerState(ctx, t)
	default:
		return "", fmt.Errorf("bmc: no such observation %s", k)
	}
	if err != nil {
		return Unreachable, nil
	}
	return v, nil
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
	t := c.Detail.BMCTarget(c.Node)
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
	case ActionMediaReinstall:
		return mediaReinstall(ctx, e.BMC, t, c.Detail.MediaImage, e.Log)
	case ActionEjectMedia:
		return ejectMedia(ctx, e.BMC, t)
	case ActionSetBootDisk:
		return setBootDisk(ctx, e.BMC, t, e.Log)
	}
	return fmt.Errorf("bmc %s: unsupported action %q", c.Node, c.Action)
}

// mediaReinstall is the PXE reinstall's steps with the virtual CD as the
// boot device: the image goes in first, so the one-time override never
// points at an empty drive.
func mediaReinstall(ctx context.Context, b BMC, t bmc.Target, image string, log *slog.Logger) error {
	vm, ok := b.(BMCMedia)
	if !ok {
		return fmt.Errorf("bmc %s: this BMC driver has no virtual media: set its installVia: pxe", t.Node)
	}
	if image == "" {
		return fmt.Errorf("bmc %s: no virtual media image in the change", t.Node)
	}
	if err := vm.InsertMedia(ctx, t, image); err != nil {
		return fmt.Errorf("bmc %s: insert virtual media %s: %w", t.Node, image, err)
	}
	if err := b.SetBootDevice(ctx, t, bmc.BootCDROM, false, false); err != nil {
		return fmt.Errorf("bmc %s: set next boot to the virtual CD: %w", t.Node, err)
	}
	if err := powerCycle(ctx, b, t); err != nil {
		return err
	}
	discard(log).Info("node booted from virtual media", "node", t.Node, "image", image)
	return nil
}

// ejectMedia empties t's virtual CD.
func ejectMedia(ctx context.Context, b BMC, t bmc.Target) error {
	vm, ok := b.(BMCMedia)
	if !ok {
		return fmt.Errorf("bmc %s: this BMC driver has no virtual media to eject", t.Node)
	}
	if err := vm.EjectMedia(ctx, t); err != nil {
		return fmt.Errorf("bmc %s: eject virtual media: %w", t.Node, err)
	}
	return nil
}

// setBootDisk makes t boot from disk, persistent and EFI.
func setBootDisk(ctx context.Context, b BMC, t bmc.Target, log *slog.Logger) error {
	err := b.SetBootDevice(ctx, t, bmc.BootDisk, true, true)
	var mm *bmc.BootParamMismatchError
	if errors.As(err, &mm) && mm.Got.Device == bmc.BootDisk {
		// The device is right; this BMC does not keep the persistent
		// or EFI flag (ipmi_sim does not). The node's boot workaround
		// unit sets them at every boot.
		discard(log).Warn("boot flags not kept by the BMC", "node", t.Node, "got", mm.Got.String())
		return nil
	}
	if err != nil {
		return fmt.Errorf("bmc %s: set boot device disk: %w", t.Node, err)
	}
	return nil
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
