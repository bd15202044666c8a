package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/schema"
)

// keptBMC holds the BMC drivers of a long-lived engine (the watch loop's,
// once Reconciler was called) from one plan to the next, with their
// sessions kept open (bmc.Config.KeepSessions): a drift check then reads
// each BMC in one round trip per read instead of opening a session for
// it. One driver per set of credentials and Redfish settings: a
// credential rotation opens the old and the new side by side, and neither
// closes the other's sessions while a plan uses them. Engine.Close ends
// them all.
type keptBMC struct {
	mu      sync.Mutex
	on      bool
	closed  bool
	drivers map[string]BMCClient
}

// keep turns holding on (Reconciler does).
func (k *keptBMC) keep() {
	k.mu.Lock()
	k.on = true
	k.mu.Unlock()
}

// keyOf names what a driver is opened with: the account (the password
// only as a digest) and the spec's Redfish TLS settings.
func keyOf(rack *schema.Rack, creds bmc.Credentials) string {
	sum := sha256.Sum256([]byte(creds.Password))
	return fmt.Sprintf("%s\x00%s\x00%+v", creds.User, hex.EncodeToString(sum[:]), rack.BMC.Redfish)
}

// get returns the held driver for key, opening it with open on first use;
// held is false when holding is off (the caller's driver is its own).
func (k *keptBMC) get(key string, open func() (BMCClient, error)) (c BMCClient, held bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.on {
		return nil, false, nil
	}
	if k.closed {
		return nil, true, errors.New("engine closed: its BMC sessions are ended")
	}
	if c, ok := k.drivers[key]; ok {
		return c, true, nil
	}
	c, err = open()
	if err != nil {
		return nil, true, err
	}
	if k.drivers == nil {
		k.drivers = map[string]BMCClient{}
	}
	k.drivers[key] = c
	return c, true, nil
}

// close ends the sessions of every held driver.
func (k *keptBMC) close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	var errs []error
	for _, c := range k.drivers {
		errs = append(errs, c.Close())
	}
	k.drivers = nil
	return errors.Join(errs...)
}

// Close ends the BMC sessions the engine kept for the watch loop or the
// API's observation (a Close Session per IPMI BMC, a logout per Redfish
// one). An engine that never made a Reconciler nor kept sessions holds
// none.
func (e *Engine) Close() error { return e.kept.close() }

// KeepBMCSessions makes a long-lived engine that only observes (the API
// server's) keep its BMC drivers and sessions from one Status to the
// next, as the loop's does: its power and boot device reads are then a
// round trip each. It holds one more session slot per BMC than the
// loop's; Close ends them.
func (e *Engine) KeepBMCSessions() { e.kept.keep() }
