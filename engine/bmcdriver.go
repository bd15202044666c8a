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

// bmcProtocol is the protocol the spec says the rack's BMCs speak.
func bmcProtocol(*schema.Rack) string { return ProtocolIPMI }

// openBMC opens the registered driver of the rack's BMC protocol.
func (e *Engine) openBMC(rack *schema.Rack, creds bmc.Credentials) (BMCClient, error) {
	proto := bmcProtocol(rack)
	bmcMu.RLock()
	open, ok := bmcDrivers[proto]
	bmcMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("bmc protocol %q has no driver (known: %s)", proto, strings.Join(bmcProtocols(), ", "))
	}
	return open(bmc.Config{Credentials: creds, Timeout: e.cfg.Timeout, Parallel: e.cfg.Parallel, Logger: e.log})
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
