package engine

import (
	"context"
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

// TestBootOf: a boot device is read, or unknown with why: not asked, BMC
// not reached, read failed.
func TestBootOf(t *testing.T) {
	boot := map[string]bmc.Result[bmc.BootParam]{
		"a": {Value: bmc.BootParam{Device: bmc.BootPXE, Persistent: true, EFI: true}},
		"b": {Err: errors.New("get boot param: timeout")},
	}
	if got := bootOf(boot, "a", ""); got != (BootStatus{State: BootRead, Device: bmc.BootPXE, Persistent: true, EFI: true}) {
		t.Errorf("read: %+v", got)
	}
	for name, c := range map[string]struct {
		boot         map[string]bmc.Result[bmc.BootParam]
		node, bmcErr string
		why          string
	}{
		"read failed":       {boot, "b", "", "timeout"},
		"BMC not reached":   {boot, "c", "connection refused", "BMC not reached: connection refused"},
		"not asked to read": {nil, "a", "", "rackctl status reads it with --full"},
	} {
		if got := bootOf(c.boot, c.node, c.bmcErr); got.State != stateUnknown || got.Device != "" || !strings.Contains(got.Reason, c.why) {
			t.Errorf("%s: %+v, want unknown because %q", name, got, c.why)
		}
	}
}

// TestObservingEngineKeepsSessions: an engine that keeps its BMC sessions
// (the API's observer) opens its driver once, with KeepSessions, for
// every Status after; each node's boot device is read through it.
// (The driver is the fake of engine_test.go: the kept sessions themselves
// are package bmc's, measured by BenchmarkObservationBootDevice against
// ipmi_sim.)
func TestObservingEngineKeepsSessions(t *testing.T) {
	e, rack := newEngine(t, flatcarSpec, filesOnly)
	r, err := e.Rack(rack)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeBMC{power: map[string]string{}}
	opens := 0
	var cfg bmc.Config
	e.openBMCHook = func(c bmc.Config) (BMCClient, error) { opens++; cfg = c; return fake, nil }
	t.Setenv(bmc.EnvUser, "admin")
	t.Setenv(bmc.EnvPassword, "s3cret-pw")
	e.KeepBMCSessions()
	for range 2 {
		st, err := e.StatusWith(context.Background(), r, StatusOptions{BootDevice: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range st.Nodes {
			if row.Boot.State != BootRead || row.Boot.Device != "disk" {
				t.Errorf("%s: boot %+v, want disk read through the driver", row.Name, row.Boot)
			}
		}
	}
	if opens != 1 || !cfg.KeepSessions {
		t.Errorf("driver opened %d times (keep sessions %v), want once, kept", opens, cfg.KeepSessions)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.StatusWith(context.Background(), r, StatusOptions{}); err == nil || !strings.Contains(err.Error(), "engine closed") {
		t.Errorf("status after Close: %v, want the engine closed", err)
	}
}
