package reconcile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/testenv"
)

func TestLokoEvaluatorRackerForms(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVwWw1Ii2tBqMOgmDtGxQ9A0pz4c7g0k6GqSg8oVbIo ops@example"
	root := t.TempDir()
	write := func(rel, s string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("home/core/.ssh/id_rsa.pub", key+"\n")
	write("home/core/.ssh/not_a_key", "root-only secret\n")
	write("usr/share/oem/ipmi_password", "s3cret\n")
	write("home/other/.ssh/id_rsa.pub", key+"\n")
	testenv.PlantLink(t, "../../../usr/share/oem/ipmi_password", filepath.Join(root, "home/core/.ssh/linked.pub"))
	endpoint, _ := json.Marshal("http://172.24.213.1:8080")
	eval := lokoEvaluator{root: root, home: "home/core", vars: map[string]json.RawMessage{
		"ssh_pubkeys":            json.RawMessage(`["` + key + `"]`),
		"matchbox_http_endpoint": endpoint,
	}}
	rackctlForm := `cluster "bare-metal" {
  ssh_pubkeys = var.ssh_pubkeys
  matchbox_http_endpoint = var.matchbox_http_endpoint
  controller_macs = var.controller_macs
}
`
	tests := map[string]struct {
		racker string
		same   map[string]bool // attribute → same value as rackctl's form
	}{
		"Racker's literals and key file": {
			racker: `cluster "bare-metal" {
  ssh_pubkeys = [file(pathexpand("~/.ssh/id_rsa.pub"))]
  matchbox_http_endpoint = "http://172.24.213.1:8080"
  controller_macs = var.controller_macs
}
`,
			same: map[string]bool{"ssh_pubkeys": true, "matchbox_http_endpoint": true, "controller_macs": true},
		},
		"a key file holding something else is not read as keys": {
			racker: `cluster "bare-metal" {
  ssh_pubkeys = [file(pathexpand("~/.ssh/not_a_key"))]
}
`,
			same: map[string]bool{"ssh_pubkeys": false},
		},
		"a linked key file is not followed": {
			racker: `cluster "bare-metal" {
  ssh_pubkeys = [file("/home/core/.ssh/linked.pub")]
}
`,
			same: map[string]bool{"ssh_pubkeys": false},
		},
		"a path climbing out is not read": {
			racker: `cluster "bare-metal" {
  ssh_pubkeys = [file("~/../../usr/share/oem/ipmi_password")]
}
`,
			same: map[string]bool{"ssh_pubkeys": false},
		},
		"a path with .. is not read, even to a key": {
			racker: `cluster "bare-metal" {
  ssh_pubkeys = [file("~/../other/.ssh/id_rsa.pub")]
}
`,
			same: map[string]bool{"ssh_pubkeys": false},
		},
		"another function is not evaluated": {
			racker: `cluster "bare-metal" {
  matchbox_http_endpoint = lower("HTTP://172.24.213.1:8080")
}
`,
			same: map[string]bool{"matchbox_http_endpoint": false},
		},
	}
	want := map[string]string{}
	if err := lokoClusterAttrs([]byte(rackctlForm), want, eval); err != nil {
		t.Fatal(err)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := map[string]string{}
			if err := lokoClusterAttrs([]byte(tc.racker), got, eval); err != nil {
				t.Fatal(err)
			}
			for attr, same := range tc.same {
				if (got["cluster."+attr] == want["cluster."+attr]) != same {
					t.Errorf("%s: %q vs %q, want same=%v", attr, got["cluster."+attr], want["cluster."+attr], same)
				}
				if v := got["cluster."+attr]; strings.Contains(v, "secret") {
					t.Errorf("%s: content of a non-key file read: %q", attr, v)
				}
			}
		})
	}
}
