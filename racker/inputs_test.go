package racker

import (
	"strings"
	"testing"
)

// TestParseDnsmasqHosts: Racker's dhcp-host lines go through dhcp's one
// parser, so tags, IPv6 fields and lease times are what dnsmasq takes them
// for, and a line dnsmasq refuses is an error on its line.
func TestParseDnsmasqHosts(t *testing.T) {
	tests := map[string]struct {
		line              string
		mac, ip, name, lt string
		err               string
	}{
		"plain":                 {line: "dhcp-host=AA:BB:CC:DD:EE:01,10.0.0.5,node-1,12h", mac: "aa:bb:cc:dd:ee:01", ip: "10.0.0.5", name: "node-1", lt: "12h"},
		"tag is not the name":   {line: "dhcp-host=set:pxe,aa:bb:cc:dd:ee:02,10.0.0.6,node-2", mac: "aa:bb:cc:dd:ee:02", ip: "10.0.0.6", name: "node-2"},
		"ipv6 field skipped":    {line: "dhcp-host=aa:bb:cc:dd:ee:03,[::5],10.0.0.7,node-3", mac: "aa:bb:cc:dd:ee:03", ip: "10.0.0.7", name: "node-3"},
		"trailing comment":      {line: "dhcp-host=aa:bb:cc:dd:ee:04,10.0.0.8,node-4 # rack 2", mac: "aa:bb:cc:dd:ee:04", ip: "10.0.0.8", name: "node-4"},
		"bad address not name":  {line: "dhcp-host=aa:bb:cc:dd:ee:05,10.0.0.300,node-5", err: `bad IPv4 address "10.0.0.300"`},
		"ipv6 without brackets": {line: "dhcp-host=aa:bb:cc:dd:ee:06,fd00::6,node-6", err: "bad"},
		"no address":            {line: "dhcp-host=aa:bb:cc:dd:ee:07,node-7", err: "want MAC,IP"},
		"hardware type only":    {line: "dhcp-host=06-aa:bb:cc:dd:ee:08,10.0.0.9", err: "want MAC,IP"},
		"empty field":           {line: "dhcp-host=aa:bb:cc:dd:ee:09,,10.0.0.10", err: "empty field"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			im := &importer{}
			c := im.parseDnsmasq("dnsmasq.conf", []byte("# Racker\n"+tc.line+"\n"))
			if tc.err != "" {
				if len(im.findings) != 1 || !strings.Contains(im.findings[0].Message, tc.err) || im.findings[0].Line != 2 {
					t.Fatalf("findings %+v, want one on line 2 containing %q", im.findings, tc.err)
				}
				if len(c.reservations) != 0 {
					t.Errorf("a refused line reserved %+v", c.reservations)
				}
				return
			}
			if len(im.findings) != 0 || len(c.reservations) != 1 {
				t.Fatalf("findings %+v, reservations %+v", im.findings, c.reservations)
			}
			r := c.reservations[0]
			if r.mac != tc.mac || r.ip.String() != tc.ip || r.name != tc.name || r.lease != tc.lt {
				t.Errorf("got %s %s %q %q, want %s %s %q %q", r.mac, r.ip, r.name, r.lease, tc.mac, tc.ip, tc.name, tc.lt)
			}
		})
	}
}
