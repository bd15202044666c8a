package engine

import (
	"context"
	"fmt"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/rotate"
	"github.com/rackctl/rackctl/schema"
)

// BMCClient is what the engine needs of the rack's BMC drivers: the bmc
// layer's power and boot device, the address source checks and DHCP
// renew, the diagnostics and inventory of `status --full`, and the
// sessions to close at the end of a run. *bmc.Drivers is one: it routes
// each call to the driver of the target's protocol (bmc.Register), so a
// protocol is added in package bmc alone.
type BMCClient interface {
	reconcile.BMC
	reconcile.BMCAddressing
	Diag(ctx context.Context, t bmc.Target) bmc.DiagReport
	Inventory(ctx context.Context, t bmc.Target) (bmc.Inventory, error)
	Close() error
}

var _ BMCClient = (*bmc.Drivers)(nil)

// openBMC opens the rack's BMC drivers with the credentials in force, the
// engine's timeout, parallelism and logger, and the spec's Redfish TLS
// settings (bmc.redfish: a CA file read beneath the root, or a pinned
// fingerprint). Each protocol's driver is made when a target first needs it.
// A watch loop's engine keeps the drivers, sessions open, from one plan to
// the next (keptBMC).
func (e *Engine) openBMC(rack *schema.Rack, creds bmc.Credentials) (BMCClient, error) {
	c, held, err := e.kept.get(keyOf(rack, creds), func() (BMCClient, error) { return e.newBMC(rack, creds, true) })
	if held {
		return c, err
	}
	return e.newBMC(rack, creds, false)
}

// newBMC opens the drivers; keep keeps their sessions open until Close.
func (e *Engine) newBMC(rack *schema.Rack, creds bmc.Credentials, keep bool) (BMCClient, error) {
	if e.openBMCHook != nil {
		return e.openBMCHook(bmc.Config{Credentials: creds, KeepSessions: keep})
	}
	var ca bmc.SecretFile
	if t := rack.BMC.Redfish; t != nil && t.CAFile != "" {
		var err error
		if ca, err = e.secretFile("bmc.redfish.caFile", t.CAFile); err != nil {
			return nil, err
		}
	}
	rf, err := bmc.RedfishOptionsFor(rack.BMC.Redfish, ca)
	if err != nil {
		return nil, err
	}
	return bmc.NewDrivers(bmc.Config{Credentials: creds, Timeout: e.cfg.Timeout, Parallel: e.cfg.Parallel, Logger: e.log, Redfish: rf, KeepSessions: keep}), nil
}

// accounts is the client's account management, for the credential
// rotation (every registered protocol has one; a test's fake may not).
func (e *Engine) accounts(client BMCClient) (rotate.Accounts, error) {
	a, ok := client.(rotate.Accounts)
	if !ok {
		return nil, fmt.Errorf("bmc.rotate in %s: this rack's BMC driver cannot manage accounts; drop bmc.rotate or pass --bmc=none", e.cfg.SpecFile)
	}
	return a, nil
}
