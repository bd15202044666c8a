package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/testenv"
)

// TestImportRackerThenPlan is issue 9's proof through the CLI: import a
// Racker management node (the lokomotive fixture), then plan against the
// same tree — dnsmasq.conf, /etc/hosts, the vars file and the cl/ files
// stay as they are, and no node is installed (each has its flag file).
func TestImportRackerThenPlan(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS("../../racker/testdata/lokomotive")); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(root, "rack.yaml")
	importArgs := []string{"import", "racker", "--root", root, "-o", spec, "--management-mac", "00:25:90:00:00:01"}
	r := cli(t, importArgs...)
	if r.code != 0 || !strings.Contains(r.stdout, "Wrote "+spec) {
		t.Fatalf("import: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/rackctl/allocation.json")); err != nil {
		t.Fatalf("allocation not written: %v", err)
	}
	// A second import neither overwrites rack.yaml nor the allocation.
	if r := cli(t, importArgs...); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("second import: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := cli(t, append(importArgs, "--force", "--report-format", "json")...); r.code != 0 || !json.Valid([]byte(r.stdout)) {
		t.Fatalf("import --report-format json: exit %d\n%s", r.code, r.stdout)
	}

	r = cli(t, "plan", "-f", spec, "--root", root, "--dhcp=none", "--bmc=none", "-o", "json")
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	var plan struct {
		Allocations []any `json:"address_changes"`
		Changes     []struct{ Layer, Action, Address, Node string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, r.stdout)
	}
	if len(plan.Allocations) != 0 {
		t.Errorf("the first plan changes addresses: %v", plan.Allocations)
	}
	migrated := false // Racker's baremetal.lokocfg, rewritten in rackctl's form (reported)
	for _, c := range plan.Changes {
		migrated = migrated || strings.HasSuffix(c.Address, "/baremetal.lokocfg")
		if c.Action == "noop" {
			continue
		}
		switch {
		case strings.HasSuffix(c.Address, "dnsmasq.conf"), strings.HasSuffix(c.Address, "etc/hosts"),
			strings.HasSuffix(c.Address, ".vars"), strings.Contains(c.Address, "/cl/"):
			t.Errorf("the first plan changes %s (%s)", c.Address, c.Action)
		case c.Layer == "verify" || c.Layer == "bmc" || c.Node != "":
			t.Errorf("the first plan acts on a node: %+v", c)
		}
	}
	if !migrated {
		t.Errorf("no change to baremetal.lokocfg: was the JSON plan read? %s", r.stdout)
	}

	// The first apply (lokoctl left out) converges, and Racker's files
	// whose meaning rackctl keeps are still byte for byte Racker's.
	racker := []string{
		"opt/racker-state/dnsmasq/dnsmasq.conf", "etc/hosts", "home/core/lokomotive/lokocfg.vars",
		"home/core/lokomotive/cl/lokomotive-worker-1.k8s.localdomain-custom.yaml",
		"home/core/lokomotive/lokoctl-assets/cluster-assets/00:25:90:00:00:05",
	}
	before := map[string]string{}
	for _, f := range racker {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		before[f] = string(b)
	}
	flags := []string{"--root", root, "-f", spec, "--dhcp=none", "--bmc=none", "--provisioner-run=never"}
	if r := cli(t, append([]string{"apply", "--auto-approve"}, flags...)...); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, append([]string{"plan", "--detailed-exitcode"}, flags...)...); r.code != 0 || !strings.Contains(r.stdout, "No changes") {
		t.Fatalf("plan after the first apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, f := range racker {
		if b, _ := os.ReadFile(filepath.Join(root, f)); string(b) != before[f] {
			t.Errorf("%s rewritten by the first apply:\n%s\n→\n%s", f, before[f], b)
		}
	}
}

// TestImportRackerFailedWritesNothing: a Racker tree whose import has
// error findings — inputs that do not add up, a file() call reaching for
// the BMC password, a linked cl/ file, a nesting bomb, a linked cluster
// directory — is reported with file:line on stdout and exits 1, and
// neither rack.yaml nor the allocation nor the state directory is
// written; the password is nowhere in the output.
func TestImportRackerFailedWritesNothing(t *testing.T) {
	const secret = "S3cr3t-BMC-pw-4711"
	const dir = "home/core/lokomotive/"
	replace := func(rel, old, new string) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			p := filepath.Join(root, rel)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(b), old, new, 1)
			if s == string(b) {
				t.Fatalf("fixture changed: %q not in %s", old, rel)
			}
			if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, tc := range map[string]struct {
		plant func(t *testing.T, root string)
		// want is in stdout (a finding) or, for an input import cannot
		// start from, in stderr.
		want, wantErr string
	}{
		"inconsistent": {
			plant: replace(dir+"lokocfg.vars", `"lokomotive-worker-3.k8s.localdomain", ]`, `]`),
			want:  dir + "lokocfg.vars:5: error: worker_macs has 3 entries but worker_names (line 7) has 2",
		},
		"file() in the vars file": {
			plant: replace(dir+"lokocfg.vars", `pxe_commands = "/opt/racker/bootstrap/pxe-boot.sh $mac $domain"`, `pxe_commands = file("/usr/share/oem/ipmi_password")`),
			want:  dir + "lokocfg.vars:37: error: pxe_commands: function call file(...) is not evaluated; replace it with its value",
		},
		"file() for the SSH keys": {
			plant: replace(dir+"baremetal.lokocfg", `file(pathexpand("~/.ssh/id_rsa.pub"))`, `file(pathexpand("/usr/share/oem/ipmi_password"))`),
			want:  dir + `baremetal.lokocfg:3: error: ssh_pubkeys: path "/usr/share/oem/ipmi_password" is in a directory of credentials`,
		},
		"linked cl/ file": {
			plant: func(t *testing.T, root string) {
				p := filepath.Join(root, dir+"cl/lokomotive-worker-0.k8s.localdomain.yaml")
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				testenv.PlantLink(t, "../../../../usr/share/oem/ipmi_password", p)
			},
			want: "cl/lokomotive-worker-0.k8s.localdomain.yaml: a symbolic link",
		},
		"nesting bomb": {
			plant: replace(dir+"lokocfg.vars", "pxe_commands =", "x = "+strings.Repeat("{", 300000)+strings.Repeat("}", 300000)+"\npxe_commands ="),
			want:  dir + "lokocfg.vars:37: error: nested too deeply",
		},
		"linked cluster directory": {
			plant: func(t *testing.T, root string) {
				if err := os.Rename(filepath.Join(root, dir), filepath.Join(root, "home/core/elsewhere")); err != nil {
					t.Fatal(err)
				}
				testenv.PlantLink(t, "elsewhere", filepath.Join(root, "home/core/lokomotive"))
			},
			wantErr: "home/core/lokomotive: a symbolic link",
		},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.CopyFS(root, os.DirFS("../../racker/testdata/lokomotive")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "usr/share/oem/ipmi_password"), []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, root)
			spec := filepath.Join(root, "rack.yaml")
			r := cli(t, "import", "racker", "--root", root, "-o", spec, "--management-mac", "00:25:90:00:00:01")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			if tc.want != "" && (!strings.Contains(r.stdout, tc.want) || !strings.Contains(r.stdout, "Nothing written")) {
				t.Errorf("report lacks %q or \"Nothing written\":\n%s", tc.want, r.stdout)
			}
			if tc.wantErr != "" && !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("the BMC password is in the output:\n%s%s", r.stdout, r.stderr)
			}
			for _, f := range []string{spec, filepath.Join(root, "var/lib/rackctl")} {
				if _, err := os.Lstat(f); err == nil {
					t.Errorf("%s written by a failed import", f)
				}
			}
			// The JSON report carries the same findings, and still nothing is written.
			if tc.want != "" {
				r := cli(t, "import", "racker", "--root", root, "-o", spec, "--management-mac", "00:25:90:00:00:01", "--report-format", "json")
				if r.code != 1 || !json.Valid([]byte(r.stdout)) || strings.Contains(r.stdout, secret) {
					t.Errorf("--report-format json: exit %d\n%s", r.code, r.stdout)
				}
				if _, err := os.Lstat(spec); err == nil {
					t.Errorf("%s written by a failed import (json report)", spec)
				}
			}
		})
	}
}
