package schema

import (
	"strings"
	"testing"
)

// TestBMCProtocol checks the rack's protocol, its per-node override and the
// Redfish certificate settings, with the warning of the opt-out.
func TestBMCProtocol(t *testing.T) {
	const base = `apiVersion: rackctl/v1alpha1
kind: Rack
name: rack-a
provisioner: flatcar
domain: example.com
network:
  internal: {subnet: 10.0.0.0/24, gateway: 10.0.0.1, dns: [10.0.0.1]}
bmc:
  userFile: /u
  passwordFile: /p
BMC
cluster: {sshPubKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example"]}
nodes:
  - {name: a, role: node, mac: "aa:bb:cc:dd:ee:01", bmcMac: "aa:bb:cc:dd:ee:02"}
  - {name: b, role: node, mac: "aa:bb:cc:dd:ee:03", bmcMac: "aa:bb:cc:dd:ee:04", bmcProtocol: NODEB}
`
	tests := map[string]struct {
		bmc, nodeB   string
		wantA, wantB string
		wantTLS      RedfishTLS
		wantWarnings []string
	}{
		"default ipmi": {bmc: "", nodeB: "ipmi", wantA: "ipmi", wantB: "ipmi"},
		"rack redfish, node ipmi": {bmc: "  protocol: redfish\n  redfish: {caFile: ca.pem}", nodeB: "ipmi",
			wantA: "redfish", wantB: "ipmi", wantTLS: RedfishTLS{CAFile: "ca.pem"}},
		"node redfish, pinned": {bmc: "  redfish: {fingerprint: \"sha256:" + strings.Repeat("ab", 32) + "\"}", nodeB: "redfish",
			wantA: "ipmi", wantB: "redfish", wantTLS: RedfishTLS{Fingerprint: "sha256:" + strings.Repeat("ab", 32)}},
		"insecure warned": {bmc: "  protocol: redfish\n  redfish: {insecureSkipVerify: true}", nodeB: "redfish",
			wantA: "redfish", wantB: "redfish", wantTLS: RedfishTLS{InsecureSkipVerify: true},
			wantWarnings: []string{"spec.yaml:12:13: bmc.redfish.insecureSkipVerify: Redfish BMC certificates are not checked"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src := strings.NewReplacer("BMC\n", tc.bmc+"\n", "NODEB", tc.nodeB).Replace(base)
			r, err := Parse("spec.yaml", []byte(src))
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, src)
			}
			if got := r.NodeProtocol(&r.Nodes[0]); got != tc.wantA {
				t.Errorf("node a protocol = %q, want %q", got, tc.wantA)
			}
			if got := r.NodeProtocol(&r.Nodes[1]); got != tc.wantB {
				t.Errorf("node b protocol = %q, want %q", got, tc.wantB)
			}
			var tls RedfishTLS
			if r.BMC.Redfish != nil {
				tls = *r.BMC.Redfish
			}
			if tls != tc.wantTLS {
				t.Errorf("bmc.redfish = %+v, want %+v", tls, tc.wantTLS)
			}
			if len(r.Warnings) != len(tc.wantWarnings) {
				t.Fatalf("warnings = %v, want %v", r.Warnings, tc.wantWarnings)
			}
			for i, w := range tc.wantWarnings {
				if !strings.HasPrefix(r.Warnings[i].String(), w) {
					t.Errorf("warning %d = %q, want prefix %q", i, r.Warnings[i], w)
				}
			}
		})
	}
}
