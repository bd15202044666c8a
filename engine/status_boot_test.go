package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/dhcp"
)

// TestLeaseOf: a node's lease is the active one of its MAC that lasts
// longest; expired leases and other MACs are no lease; an unread file is
// unknown with why, never "none".
func TestLeaseOf(t *testing.T) {
	now := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	file := strings.Join([]string{
		"1796346000 52:54:00:aa:00:01 10.0.0.11 node-0 *", // 2026-12-04
		"1796259600 52:54:00:aa:00:01 10.0.0.99 node-0 *", // 2026-12-03 01:00, ends now
		"1796259000 52:54:00:aa:00:02 10.0.0.12 node-1 *", // expired
		"0 52:54:00:aa:00:03 10.0.0.13 * *",               // infinite
		"1796346000 52:54:00:aa:00:03 10.0.0.14 * *",
	}, "\n") + "\n"
	leases, err := dhcp.ParseLeases(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	obs := leaseObservation{leases: leases, at: now}
	cases := map[string]struct {
		mac, state, ip, reason string
		infinite               bool
	}{
		"longest active":  {mac: "52:54:00:AA:00:01", state: LeaseLeased, ip: "10.0.0.11"},
		"only expired":    {mac: "52:54:00:aa:00:02", state: LeaseNone, reason: "(1 expired)"},
		"infinite wins":   {mac: "52:54:00:aa:00:03", state: LeaseLeased, ip: "10.0.0.13", infinite: true},
		"no lease at all": {mac: "52:54:00:aa:00:04", state: LeaseNone, reason: "no lease for 52:54:00:aa:00:04"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := obs.of(c.mac)
			if got.State != c.state || got.IP != c.ip || !strings.Contains(got.Reason, c.reason) || got.Expiry.IsZero() != (c.infinite || c.state != LeaseLeased) {
				t.Errorf("%+v, want state %s ip %q reason ~%q infinite %v", got, c.state, c.ip, c.reason, c.infinite)
			}
		})
	}
	unread := leaseObservation{err: errors.New("no lease file /var/lib/misc/dnsmasq.leases"), leases: leases}
	if got := unread.of("52:54:00:aa:00:01"); got.State != stateUnknown || got.IP != "" || !strings.Contains(got.Reason, "no lease file") {
		t.Errorf("unread file: %+v, want unknown with the reason and no address", got)
	}
}

// TestBootOf: a boot device is read or unknown with why.
func TestBootOf(t *testing.T) {
	read := bootOf(bmc.Result[bmc.BootParam]{Value: bmc.BootParam{Device: bmc.BootPXE, Persistent: true, EFI: true}}, true, "")
	if read != (BootStatus{State: BootRead, Device: bmc.BootPXE, Persistent: true, EFI: true}) {
		t.Errorf("read: %+v", read)
	}
	if b := bootOf(bmc.Result[bmc.BootParam]{Err: errors.New("get boot param: timeout")}, true, ""); b.State != stateUnknown || b.Device != "" || !strings.Contains(b.Reason, "timeout") {
		t.Errorf("failed read: %+v", b)
	}
	if b := bootOf(bmc.Result[bmc.BootParam]{}, false, "connection refused"); b.State != stateUnknown || b.Device != "" || !strings.Contains(b.Reason, "BMC not reached: connection refused") {
		t.Errorf("BMC not reached: %+v", b)
	}
}
