package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
)

// BMCClient is what the engine needs of one BMC protocol's driver: the
// bmc layer's power and boot device, the address source checks and DHCP
// renew, and the diagnostics of `status --full`.
type BMCClient interface {
	reconcile.BMC
	reconcile.BMCAddressing
	Diag(ctx context.Context, t bmc.Target) bmc.DiagReport
}

// BMCOpener opens the client of one BMC protocol with the credentials in
// force and the engine's timeout, parallelism and logger.
type BMCOpener func(bmc.Config) (BMCClient, error)

// ProtocolIPMI is the protocol of every BMC until the spec names another.
const ProtocolIPMI = "ipmi"

var (
	bmcMu      sync.RWMutex
	bmcDrivers = map[string]BMCOpener{
		ProtocolIPMI: func(c bmc.Config) (BMCClient, error) { return bmc.New(c) },
	}
)

// RegisterBMC makes open the driver of protocol (the spec's name of it).
// A BMC protocol is added by registering it here, from its own file; the
// engine and the CLI need no other change.
func RegisterBMC(protocol string, open BMCOpener) {
	bmcMu.Lock()
	defer bmcMu.Unlock()
	bmcDrivers[protocol] = open
}

// nodeProtocol is the protocol the spec says n's BMC speaks. Every BMC
// speaks IPMI until the spec has a protocol field (rack-wide, with a
// per-node override): this is the one place that reads it.
func nodeProtocol(_ *schema.Rack, _ *schema.Node) string { return ProtocolIPMI }

// openBMC opens the registered driver of every protocol the rack's BMCs
// speak; with more than one, the client routes each target by its node.
func (e *Engine) openBMC(rack *schema.Rack, creds bmc.Credentials) (BMCClient, error) {
	byProto := map[string][]string{}
	for i := range rack.Nodes {
		n := &rack.Nodes[i]
		p := nodeProtocol(rack, n)
		byProto[p] = append(byProto[p], n.Name)
	}
	if len(byProto) == 0 {
		byProto[ProtocolIPMI] = nil
	}
	mux := bmcMux{}
	var last BMCClient
	for proto, nodes := range byProto {
		c, err := e.openProtocol(proto, creds)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			mux[n] = c
		}
		last = c
	}
	if len(byProto) == 1 {
		return last, nil
	}
	return mux, nil
}

func (e *Engine) openProtocol(proto string, creds bmc.Credentials) (BMCClient, error) {
	bmcMu.RLock()
	open, ok := bmcDrivers[proto]
	bmcMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("bmc protocol %q has no driver (known: %s)", proto, strings.Join(bmcProtocols(), ", "))
	}
	c, err := open(bmc.Config{Credentials: creds, Timeout: e.cfg.Timeout, Parallel: e.cfg.Parallel, Logger: e.log})
	if err != nil {
		return nil, fmt.Errorf("bmc protocol %s: %w", proto, err)
	}
	return c, nil
}

func bmcProtocols() []string {
	bmcMu.RLock()
	defer bmcMu.RUnlock()
	out := make([]string, 0, len(bmcDrivers))
	for p := range bmcDrivers {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// bmcMux routes each call to the driver of the target node's protocol,
// for a rack whose BMCs speak more than one.
type bmcMux map[string]BMCClient

var _ BMCClient = bmcMux(nil)

func (m bmcMux) client(t bmc.Target) (BMCClient, error) {
	c, ok := m[t.Node]
	if !ok {
		return nil, fmt.Errorf("bmc %s: not a node of the spec, no protocol known", t.Node)
	}
	return c, nil
}

func (m bmcMux) PowerState(ctx context.Context, t bmc.Target) (string, error) {
	c, err := m.client(t)
	if err != nil {
		return "", err
	}
	return c.PowerState(ctx, t)
}

func (m bmcMux) SetPower(ctx context.Context, t bmc.Target, action string) error {
	c, err := m.client(t)
	if err != nil {
		return err
	}
	return c.SetPower(ctx, t, action)
}

func (m bmcMux) BootDevice(ctx context.Context, t bmc.Target) (bmc.BootParam, error) {
	c, err := m.client(t)
	if err != nil {
		return bmc.BootParam{}, err
	}
	return c.BootDevice(ctx, t)
}

func (m bmcMux) SetBootDevice(ctx context.Context, t bmc.Target, device string, persistent, efi bool) error {
	c, err := m.client(t)
	if err != nil {
		return err
	}
	return c.SetBootDevice(ctx, t, device, persistent, efi)
}

func (m bmcMux) LANAddressSource(ctx context.Context, t bmc.Target) (string, error) {
	c, err := m.client(t)
	if err != nil {
		return "", err
	}
	return c.LANAddressSource(ctx, t)
}

func (m bmcMux) DHCPRenew(ctx context.Context, t bmc.Target) error {
	c, err := m.client(t)
	if err != nil {
		return err
	}
	return c.DHCPRenew(ctx, t)
}

func (m bmcMux) Diag(ctx context.Context, t bmc.Target) bmc.DiagReport {
	c, err := m.client(t)
	if err != nil {
		return bmc.DiagReport{Err: err}
	}
	return c.Diag(ctx, t)
}
