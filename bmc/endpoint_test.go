package bmc

import (
	"net/netip"
	"testing"

	"github.com/rackctl/rackctl/schema"
)

func TestEndpointFor(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.7")
	tests := map[string]struct {
		rackProto, nodeProto, addr string
		want                       Endpoint
	}{
		"ipmi default":         {want: Endpoint{"ipmi", "10.0.0.7", "623"}},
		"rack redfish":         {rackProto: "redfish", want: Endpoint{"redfish", "10.0.0.7", "443"}},
		"node override":        {rackProto: "ipmi", nodeProto: "redfish", want: Endpoint{"redfish", "10.0.0.7", "443"}},
		"node back to ipmi":    {rackProto: "redfish", nodeProto: "ipmi", want: Endpoint{"ipmi", "10.0.0.7", "623"}},
		"address with port":    {rackProto: "redfish", addr: "127.0.0.1:8443", want: Endpoint{"redfish", "127.0.0.1", "8443"}},
		"address without port": {nodeProto: "redfish", addr: "bmc-a.example", want: Endpoint{"redfish", "bmc-a.example", "443"}},
		"ipmi address no port": {addr: "127.0.0.1", want: Endpoint{"ipmi", "127.0.0.1", "623"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &schema.Rack{BMC: schema.BMC{Protocol: tc.rackProto}}
			n := &schema.Node{Name: "n", BMCProtocol: tc.nodeProto, BMCAddress: tc.addr}
			got := EndpointFor(r, n, ip)
			if got != tc.want {
				t.Fatalf("EndpointFor = %+v, want %+v", got, tc.want)
			}
			if tgt := got.Target("n"); tgt.Protocol != tc.want.Protocol || tgt.Address != got.Address() {
				t.Errorf("Target = %+v", tgt)
			}
		})
	}
}

func TestParseEndpointErrors(t *testing.T) {
	for name, tc := range map[string]struct{ proto, addr string }{
		"empty":          {"ipmi", ""},
		"empty host":     {"ipmi", ":623"},
		"unknown proto":  {"idrac", "10.0.0.1"},
		"dangling colon": {"redfish", "10.0.0.1:"},
	} {
		t.Run(name, func(t *testing.T) {
			if e, err := ParseEndpoint(tc.proto, tc.addr); err == nil {
				t.Fatalf("ParseEndpoint(%q, %q) = %+v, want an error", tc.proto, tc.addr, e)
			}
		})
	}
}
