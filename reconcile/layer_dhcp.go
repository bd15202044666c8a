package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/schema"
)

// DriftFix is the policy for DHCP drift between reservations and leases.
type DriftFix string

const (
	// DriftRelease releases stale leases (the default).
	DriftRelease DriftFix = "release"
	// DriftRenew also makes a drifting BMC renew its address.
	DriftRenew DriftFix = "renew"
	// DriftPowerCycle also power-cycles a drifting node.
	DriftPowerCycle DriftFix = "power-cycle"
	// DriftNone lists drift as notes and acts on none of it.
	DriftNone DriftFix = "none"
)

// timeNow is the clock of lease activity checks.
var timeNow = time.Now

// dhcpLayer checks and reloads a changed dnsmasq.conf and releases stale
// leases (and, by DriftFix, renews or power-cycles what holds them).
type dhcpLayer struct{ persistNothing }

func (dhcpLayer) Layer() Layer          { return LayerDHCP }
func (dhcpLayer) Policy() FailurePolicy { return StopAll }

func (dhcpLayer) Plan(ctx context.Context, pl *planner) error {
	if pl.cfg.DHCP == nil {
		if pl.cfg.DHCPOff != "" {
			pl.note(pl.cfg.DHCPOff)
		}
		return nil
	}
	if c := pl.fileChange(pl.layout.DnsmasqConf); c != nil && c.Action != ActionDelete {
		if err := pl.cfg.DHCP.Check(ctx, c.Content); err != nil {
			return fmt.Errorf("dnsmasq rejects the rendered %s: %w", pl.layout.DnsmasqConf, err)
		}
		pl.add(Change{
			Layer: LayerDHCP, Action: ActionReload, Address: "dhcp:dnsmasq",
			Reason: pl.layout.DnsmasqConf + " changes",
		})
	}
	leases, err := pl.cfg.DHCP.Leases()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no lease file: no drift to find
	}
	if err != nil {
		pl.note(fmt.Sprintf("dhcp: leases not read, drift not checked: %v", err))
		return nil
	}
	now := pl.opts.Now()
	pl.observe(leasesKey, leaseDigest(leases, now))
	return planDrift(pl, leases, now)
}

// leasesKey is the observed digest of dnsmasq's active leases.
var leasesKey = ObsKey{Layer: LayerDHCP, Aspect: AspectLeases}

// planDrift plans the fixes of the drift between the rendered reservations
// and the leases.
func planDrift(pl *planner, leases []dhcp.Lease, now time.Time) error {
	res, err := dhcp.ParseReservations(pl.desired(pl.layout.DnsmasqConf))
	if err != nil {
		return fmt.Errorf("dhcp: rendered reservations: %w", err)
	}
	byMAC := map[string]*schema.Node{}
	bmcMAC := map[string]bool{}
	for i := range pl.rack.Nodes {
		n := &pl.rack.Nodes[i]
		byMAC[n.MAC], byMAC[n.BMCMAC] = n, n
		bmcMAC[n.BMCMAC] = true
	}
	for i := range res {
		res[i].BMC = bmcMAC[res[i].MAC]
	}
	for _, f := range dhcp.Drift(res, leases, now) {
		if f.Kind.Info() {
			continue
		}
		n := byMAC[f.MAC]
		if n != nil && !pl.isTarget(n.Name) {
			continue
		}
		if n != nil && pl.maintenance[n.Name] {
			pl.note(fmt.Sprintf("maintenance: %s: skipped: dhcp drift fix (%s)", n.Name, f))
			continue
		}
		fixDrift(pl, f, n)
	}
	return nil
}

// fixDrift plans the fix of one finding; n is the node it concerns, nil
// for a lease of no node.
func fixDrift(pl *planner, f dhcp.Finding, n *schema.Node) {
	name := f.Host
	if n != nil {
		name = n.Name
	}
	fix := pl.cfg.driftFix()
	if fix == DriftNone {
		pl.add(Change{Layer: LayerDHCP, Action: ActionNoop, Address: "dhcp:drift:" + f.MAC, Node: name,
			Reason: "drift left alone (--drift-fix=none): " + f.String()})
		pl.note("dhcp drift left alone (--drift-fix=none): " + f.String())
		return
	}
	l := f.Lease
	pl.add(Change{
		Layer: LayerDHCP, Action: ActionRelease, Address: "dhcp:lease:" + l.MAC + "/" + l.IP.String(), Node: name,
		Reason: f.String(),
		Detail: &Detail{Lease: &LeaseRef{MAC: l.MAC, IP: l.IP.String(), ClientID: l.ClientID, Hostname: l.Hostname}},
	})
	switch {
	case n == nil:
	case f.BMC && (fix == DriftRenew || fix == DriftPowerCycle):
		pl.add(Change{
			Layer: LayerDHCP, Action: ActionRenew, Address: "dhcp:bmc-renew:" + n.Name, Node: n.Name,
			Reason: "BMC lease drift: " + f.Kind.String(), Detail: pl.bmcDetail(n, n.BMCMAC),
		})
	case !f.BMC && fix == DriftPowerCycle && !n.Exclude:
		pl.add(Change{
			Layer: LayerDHCP, Action: ActionPowerCycle, Address: "dhcp:power-cycle:" + n.Name, Node: n.Name, Disruptive: true,
			Reason: "node lease drift: " + f.Kind.String() + " (--drift-fix=power-cycle)", Detail: pl.bmcDetail(n, n.MAC),
		})
	}
}

// leaseDigest is the observed value of the leases: active (MAC, IP) pairs,
// not their expiry, which moves on every renewal.
func leaseDigest(leases []dhcp.Lease, now time.Time) string {
	var pairs []string
	for _, l := range leases {
		if l.Active(now) {
			pairs = append(pairs, l.MAC+" "+l.IP.String())
		}
	}
	slices.Sort(pairs)
	sum := sha256.Sum256([]byte(strings.Join(pairs, "\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
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

// Observe reads the leases digest.
func (e *DHCPExecutor) Observe(ctx context.Context, key ObsKey) (string, error) {
	if key != leasesKey {
		return "", fmt.Errorf("dhcp: no such observation %s", key)
	}
	leases, err := e.Server.Leases()
	if errors.Is(err, fs.ErrNotExist) {
		return Absent, nil
	}
	if err != nil {
		return "", err
	}
	return leaseDigest(leases, timeNow()), nil
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
		return e.release(ctx, c)
	case ActionRenew:
		if e.Renew == nil || c.Detail == nil {
			return fmt.Errorf("dhcp: %s: no BMC driver for a DHCP renewal", c.Address)
		}
		return e.Renew.DHCPRenew(ctx, c.Detail.BMCTarget(c.Node))
	case ActionPowerCycle:
		if e.BMC == nil || c.Detail == nil {
			return fmt.Errorf("dhcp: %s: no BMC driver for a power cycle", c.Address)
		}
		return powerCycle(ctx, e.BMC, c.Detail.BMCTarget(c.Node))
	}
	return fmt.Errorf("dhcp: %s: unsupported action %q", c.Address, c.Action)
}

func (e *DHCPExecutor) release(ctx context.Context, c Change) error {
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
}

func hasLease(ls []dhcp.Lease, l dhcp.Lease) bool {
	for _, x := range ls {
		if x.MAC == l.MAC && x.IP == l.IP && x.Active(timeNow()) {
			return true
		}
	}
	return false
}
