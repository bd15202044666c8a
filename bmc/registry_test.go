package bmc

import (
	"context"
	"strings"
	"testing"
)

// protoFake is a Driver answering power state with its own name; every
// other method is the nil embedded interface (not called here).
type protoFake struct {
	Driver
	name   string
	closed *int
}

func (f protoFake) PowerState(context.Context, Target) (string, error) { return f.name, nil }
func (f protoFake) Close() error                                       { *f.closed++; return nil }

// TestDriversRouteByProtocol: in a rack mixing protocols each call goes to
// the driver of its target's protocol ("" is IPMI), each driver is built
// once and closed once, and a protocol without a driver is an error that
// names it and the known ones, not a call to some other driver.
func TestDriversRouteByProtocol(t *testing.T) {
	built := map[string]int{}
	closed := 0
	for _, p := range []string{ProtocolIPMI, ProtocolRedfish} {
		prev := registry[p]
		t.Cleanup(func() { Register(p, prev) })
		Register(p, func(Config) (Driver, error) { built[p]++; return protoFake{name: p, closed: &closed}, nil })
	}
	d := NewDrivers(Config{})
	ctx := context.Background()
	for _, tc := range []struct{ proto, want string }{
		{"", ProtocolIPMI}, {ProtocolIPMI, ProtocolIPMI}, {ProtocolRedfish, ProtocolRedfish}, {ProtocolRedfish, ProtocolRedfish},
	} {
		if got, err := d.PowerState(ctx, Target{Node: "n", Protocol: tc.proto}); err != nil || got != tc.want {
			t.Errorf("protocol %q: answered by %q (%v), want %q", tc.proto, got, err, tc.want)
		}
	}
	if built[ProtocolIPMI] != 1 || built[ProtocolRedfish] != 1 {
		t.Errorf("drivers built %v, want each once", built)
	}
	_, err := d.PowerState(ctx, Target{Node: "n9", Protocol: "smash"})
	if err == nil || !strings.Contains(err.Error(), `"smash"`) || !strings.Contains(err.Error(), ProtocolRedfish) || !strings.Contains(err.Error(), "n9") {
		t.Errorf("unknown protocol: %v, want an error naming the node, the protocol and the known ones", err)
	}
	if err := d.Close(); err != nil || closed != 2 {
		t.Errorf("Close: %v, %d drivers closed, want 2", err, closed)
	}
}
