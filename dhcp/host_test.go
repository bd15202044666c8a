package dhcp

import (
	"strings"
	"testing"
)

// TestParseHostName: a hostname dnsmasq refuses is an error, not a name.
func TestParseHostName(t *testing.T) {
	tests := map[string]struct {
		val, name, err string
	}{
		"plain":             {val: "aa:bb:cc:dd:ee:01,10.0.0.5,node-1", name: "node-1"},
		"qualified":         {val: "aa:bb:cc:dd:ee:01,10.0.0.5,node_1.rack.example", name: "node_1.rack.example"},
		"tab inside":        {val: "aa:bb:cc:dd:ee:01,10.0.0.5,0\t0", err: "bad hostname"},
		"leading dash":      {val: "aa:bb:cc:dd:ee:01,10.0.0.5,-node", err: "bad hostname"},
		"slash":             {val: "aa:bb:cc:dd:ee:01,10.0.0.5,node/1", err: "bad hostname"},
		"non-ascii":         {val: "aa:bb:cc:dd:ee:01,10.0.0.5,nöde", err: "bad hostname"},
		"control in domain": {val: "aa:bb:cc:dd:ee:01,10.0.0.5,node.ex\x01ample", err: "bad hostname"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h, err := ParseHost(tc.val)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseHost(%q) = %+v, %v; want an error %q", tc.val, h, err, tc.err)
				}
				return
			}
			if err != nil || h.Name != tc.name {
				t.Fatalf("ParseHost(%q) = %+v, %v; want name %q", tc.val, h, err, tc.name)
			}
		})
	}
}
