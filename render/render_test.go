package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	ign30 "github.com/coreos/ignition/v2/config/v3_0"
	ign30types "github.com/coreos/ignition/v2/config/v3_0/types"
	vreport "github.com/coreos/vcontext/report"
	ct "github.com/flatcar/container-linux-config-transpiler/config"
	"github.com/flatcar/ignition/config/validate/report"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/vincent-petithory/dataurl"
	"github.com/zclconf/go-cty/cty"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/terraform"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var fixtures = map[string]func() Input{
	"flatcar":           flatcarFixture,
	"lokomotive":        lokomotiveFixture,
	"racker-flatcar":    rackerFlatcarFixture,
	"racker-lokomotive": rackerLokomotiveFixture,
}

func mustRender(t testing.TB, in Input) []File {
	t.Helper()
	files, err := Render(in)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return files
}

// isModuleFile tells the copied Terraform module apart: its content belongs
// to the terraform package, so it is compared with the embedded files
// instead of golden files.
func isModuleFile(p string) bool { return strings.Contains(p, "/"+ModuleDir+"/") }

func TestGolden(t *testing.T) {
	for name, fixture := range fixtures {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "golden", name)
			files := mustRender(t, fixture())
			want := map[string]bool{}
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range files {
				if isModuleFile(f.Path) {
					continue
				}
				want[f.Path] = true
				gp := filepath.Join(dir, filepath.FromSlash(f.Path))
				if *update {
					if err := os.MkdirAll(filepath.Dir(gp), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(gp, f.Content, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				golden, err := os.ReadFile(gp)
				if err != nil {
					t.Errorf("%s: %v (run go test -update)", f.Path, err)
					continue
				}
				if !bytes.Equal(golden, f.Content) {
					t.Errorf("%s differs from %s (run go test -update and review the diff):\n%s", f.Path, gp, firstDiff(golden, f.Content))
				}
			}
			// A golden file no longer rendered is a file render dropped.
			err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				if !want[filepath.ToSlash(rel)] {
					t.Errorf("golden file %s is not rendered any more", rel)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return "(same lines, different bytes)"
}

func TestFilesSortedAndKinds(t *testing.T) {
	for name, fixture := range fixtures {
		files := mustRender(t, fixture())
		for i, f := range files {
			if i > 0 && files[i-1].Path >= f.Path {
				t.Errorf("%s: files not sorted: %s before %s", name, files[i-1].Path, f.Path)
			}
			wantKind := Whole
			if f.Path == DefaultLayout().Hosts {
				wantKind = Block
			}
			if f.Kind != wantKind {
				t.Errorf("%s: %s has kind %d, want %d", name, f.Path, f.Kind, wantKind)
			}
			if f.Mode == 0 {
				t.Errorf("%s: %s has no mode", name, f.Path)
			}
			if (strings.Contains(f.Path, "/cl/") || strings.Contains(f.Path, "/ignition/")) && f.Node == "" {
				t.Errorf("%s: %s has no node", name, f.Path)
			}
		}
	}
}

func TestHCLParses(t *testing.T) {
	for name, fixture := range fixtures {
		n := 0
		for _, f := range mustRender(t, fixture()) {
			switch path.Ext(f.Path) {
			case ".lokocfg", ".vars", ".tf", ".tfvars":
			default:
				continue
			}
			n++
			if _, diags := hclparse.NewParser().ParseHCL(f.Content, f.Path); diags.HasErrors() {
				t.Errorf("%s: %s: %v", name, f.Path, diags)
			}
		}
		if n == 0 {
			t.Errorf("%s: no HCL files rendered", name)
		}
	}
}

// TestTerraformFmt runs the real terraform fmt over the rendered Terraform
// files: they must be valid and already formatted.
func TestTerraformFmt(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatalf("terraform is not installed (needed to check the rendered .tf files): %v", err)
	}
	for _, f := range mustRender(t, flatcarFixture()) {
		if isModuleFile(f.Path) || (path.Ext(f.Path) != ".tf" && path.Ext(f.Path) != ".tfvars") {
			continue
		}
		cmd := exec.Command(tf, "fmt", "-check", "-")
		cmd.Stdin = bytes.NewReader(f.Content)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("terraform fmt -check %s: %v\n%s", f.Path, err, out)
		}
	}
}

// TestDnsmasqConfig checks the rendered configuration with the real dnsmasq.
func TestDnsmasqConfig(t *testing.T) {
	dm, err := exec.LookPath("dnsmasq")
	if err != nil {
		t.Fatalf("dnsmasq is not installed (needed to check the rendered configuration): %v", err)
	}
	for name, fixture := range fixtures {
		conf, err := DnsmasqConf(fixture())
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "dnsmasq.conf")
		if err := os.WriteFile(p, conf, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(dm, "--test", "--conf-file="+p).CombinedOutput(); err != nil {
			t.Errorf("%s: dnsmasq --test: %v\n%s", name, err, out)
		}
	}
}

func TestCLCTranspiles(t *testing.T) {
	for name, fixture := range fixtures {
		n := 0
		for _, f := range mustRender(t, fixture()) {
			if !strings.Contains(f.Path, "/cl/") {
				continue
			}
			n++
			cfg, ast, rep := ct.Parse(f.Content)
			checkReport(t, name+": "+f.Path+": parse", rep)
			_, rep = ct.Convert(cfg, "", ast)
			checkReport(t, name+": "+f.Path+": convert", rep)
		}
		if n == 0 {
			t.Errorf("%s: no CLC rendered", name)
		}
	}
}

func checkReport(t *testing.T, what string, rep report.Report) {
	t.Helper()
	for _, e := range rep.Entries {
		if e.Kind == report.EntryError {
			t.Errorf("%s: %s", what, e)
		}
	}
}

// parseIgnition3 parses b as Ignition spec 3.0 with Ignition's own parser
// (the one matchbox v0.11 and Flatcar run) and fails on any error-level
// report entry.
func parseIgnition3(t *testing.T, what string, b []byte) ign30types.Config {
	t.Helper()
	cfg, rep, err := ign30.Parse(b)
	if err != nil {
		t.Fatalf("%s: parse as ignition 3.0: %v\n%s", what, err, rep)
	}
	for _, e := range rep.Entries {
		if e.Kind == vreport.Error {
			t.Errorf("%s: ignition 3.0 report: %s", what, e)
		}
	}
	if cfg.Ignition.Version != "3.0.0" {
		t.Errorf("%s: ignition version %q, want 3.0.0", what, cfg.Ignition.Version)
	}
	return cfg
}

// ignFile is the decoded contents of the file at p, and whether it exists.
func ignFile(t *testing.T, cfg ign30types.Config, p string) (string, bool) {
	t.Helper()
	for _, f := range cfg.Storage.Files {
		if f.Path != p {
			continue
		}
		if f.Contents.Source == nil {
			t.Fatalf("%s has no contents", p)
		}
		d, err := dataurl.DecodeString(*f.Contents.Source)
		if err != nil {
			t.Fatalf("%s: contents %.40q: %v", p, *f.Contents.Source, err)
		}
		return string(d.Data), true
	}
	return "", false
}

func TestIgnition(t *testing.T) {
	files := mustRender(t, flatcarFixture())
	byPath := map[string][]byte{}
	n := 0
	for _, f := range files {
		byPath[f.Path] = f.Content
		if path.Ext(f.Path) == ".ign" {
			n++
			parseIgnition3(t, f.Path, f.Content)
		}
	}
	if n == 0 {
		t.Fatal("no ignition rendered")
	}
	dir := DefaultLayout().FlatcarDir
	for _, n := range flatcarFixture().Rack.Nodes {
		fqdn := n.Name + ".k8s.localdomain"
		final := byPath[dir+"/ignition/"+fqdn+".ign"]
		fc := parseIgnition3(t, n.Name+": final", final)
		ic := parseIgnition3(t, n.Name+": installer", byPath[dir+"/ignition/"+fqdn+"-installer.ign"])

		// The spec 2 networkd units of the merged snippets are files now.
		var units []string
		for _, f := range fc.Storage.Files {
			if strings.HasPrefix(f.Path, networkdDir) {
				units = append(units, strings.TrimPrefix(f.Path, networkdDir))
				if f.Mode == nil || *f.Mode != 0o644 {
					t.Errorf("%s: %s mode %v, want 0644", n.Name, f.Path, f.Mode)
				}
			}
		}
		wantUnits := []string{"10-priv-stable.network"}
		if n.PublicIP != "" {
			wantUnits = append(wantUnits, "10-public-stable.network")
		}
		if !reflect.DeepEqual(units, wantUnits) {
			t.Errorf("%s: final networkd units %v, want %v (the snippets merged)", n.Name, units, wantUnits)
		}
		priv, _ := ignFile(t, fc, networkdDir+"10-priv-stable.network")
		if !strings.Contains(priv, "MACAddress="+n.MAC+"\n") {
			t.Errorf("%s: private network unit lacks the MAC:\n%s", n.Name, priv)
		}
		if _, ok := ignFile(t, fc, "/etc/motd.d/rack.conf"); n.ExtraCLC != "" && !ok {
			t.Errorf("%s: extra CLC file missing from final ignition", n.Name)
		}

		// The installer carries the final Ignition, byte for byte the
		// served config in compact form.
		emb, ok := ignFile(t, ic, "/opt/ignition.json")
		if !ok {
			t.Fatalf("%s: installer ignition lacks /opt/ignition.json", n.Name)
		}
		var cb bytes.Buffer
		if err := json.Compact(&cb, final); err != nil {
			t.Fatal(err)
		}
		if emb != cb.String() {
			t.Errorf("%s: embedded final ignition differs from the rendered one:\n%s", n.Name, firstDiff([]byte(emb), cb.Bytes()))
		}
		parseIgnition3(t, n.Name+": embedded final", []byte(emb))
		script, _ := ignFile(t, ic, "/opt/installer")
		if !strings.Contains(script, " -i /opt/ignition.json\n") {
			t.Errorf("%s: installer script:\n%s", n.Name, script)
		}
		if _, ok := ignFile(t, ic, networkdDir+"10-public-stable.network"); ok != (n.PublicIP != "") {
			t.Errorf("%s: installer has the public network unit: %v, want %v", n.Name, ok, n.PublicIP != "")
		}
	}
}

// TestSpec3Translation covers what the 2.3 → 3.0 step adds over the
// converter: networkd drop-ins, duplicates that 2.x allowed, non-root
// filesystems.
func TestSpec3Translation(t *testing.T) {
	tests := map[string]struct {
		extra   string
		check   func(t *testing.T, cfg ign30types.Config)
		wantErr string
	}{
		"networkd dropin": {
			extra: "networkd:\n  units:\n    - name: 10-priv-stable.network\n      dropins:\n        - name: mtu.conf\n          contents: |\n            [Link]\n            MTUBytes=9000\n",
			check: func(t *testing.T, cfg ign30types.Config) {
				if d, ok := ignFile(t, cfg, networkdDir+"10-priv-stable.network.d/mtu.conf"); d != "[Link]\nMTUBytes=9000\n" || !ok {
					t.Errorf("dropin = %q, %v", d, ok)
				}
				if _, ok := ignFile(t, cfg, networkdDir+"10-priv-stable.network"); !ok {
					t.Error("the unit itself went missing")
				}
			},
		},
		"later file wins": {
			extra: "storage:\n  files:\n    - path: /etc/flatcar/update.conf\n      filesystem: root\n      mode: 0600\n      contents:\n        inline: REBOOT_STRATEGY=off\n",
			check: func(t *testing.T, cfg ign30types.Config) {
				n := 0
				for _, f := range cfg.Storage.Files {
					if f.Path == "/etc/flatcar/update.conf" {
						n++
					}
				}
				if d, _ := ignFile(t, cfg, "/etc/flatcar/update.conf"); d != "REBOOT_STRATEGY=off" || n != 1 {
					t.Errorf("update.conf = %q in %d entries, want the extra CLC's, once", d, n)
				}
			},
		},
		"user keys and units merged": {
			extra: "passwd:\n  users:\n    - name: core\n      ssh_authorized_keys:\n        - ssh-ed25519 AAAAextra extra@example\nsystemd:\n  units:\n    - name: boot-workaround-efi-disk-persist.service\n      mask: true\n",
			check: func(t *testing.T, cfg ign30types.Config) {
				if len(cfg.Passwd.Users) != 1 || len(cfg.Passwd.Users[0].SSHAuthorizedKeys) != 2 {
					t.Errorf("users = %+v, want core once with both keys", cfg.Passwd.Users)
				}
				if len(cfg.Systemd.Units) != 1 || cfg.Systemd.Units[0].Mask == nil || !*cfg.Systemd.Units[0].Mask {
					t.Errorf("units = %+v, want the boot workaround once, masked", cfg.Systemd.Units)
				}
			},
		},
		"non-root filesystem": {
			extra:   "storage:\n  filesystems:\n    - name: data\n      mount:\n        device: /dev/sdb\n        format: ext4\n  files:\n    - path: /x\n      filesystem: data\n      contents:\n        inline: x\n",
			wantErr: `only the root filesystem is supported: /x (filesystem "data")`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := flatcarFixture()
			in.Rack.Nodes[0].ExtraCLC = tc.extra
			files, err := Render(in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "node-0") {
					t.Fatalf("err = %v, want it to name node-0 and contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := DefaultLayout().FlatcarDir + "/ignition/node-0.k8s.localdomain.ign"
			tc.check(t, parseIgnition3(t, p, files[indexOf(files, p)].Content))
		})
	}
}

func TestModuleCopied(t *testing.T) {
	files := mustRender(t, flatcarFixture())
	got := map[string][]byte{}
	for _, f := range files {
		if isModuleFile(f.Path) {
			got[path.Base(f.Path)] = f.Content
		}
	}
	entries, err := fs.ReadDir(terraform.Modules, "flatcar-baremetal")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(got) {
		t.Errorf("copied %d module files, embedded %d", len(got), len(entries))
	}
	for _, e := range entries {
		want, _ := fs.ReadFile(terraform.Modules, "flatcar-baremetal/"+e.Name())
		if !bytes.Equal(got[e.Name()], want) {
			t.Errorf("module file %s not copied verbatim", e.Name())
		}
	}
	var tf []byte
	for _, f := range files {
		if path.Base(f.Path) == "flatcar.tf" {
			tf = f.Content
		}
	}
	if !bytes.Contains(tf, []byte(`source = "./`+ModuleDir+`"`)) {
		t.Errorf("flatcar.tf does not call ./%s:\n%s", ModuleDir, tf)
	}
}

// attrs evaluates the literal attributes of an HCL file.
func attrs(t *testing.T, name string, src []byte) map[string]cty.Value {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL(src, name)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	as, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	out := map[string]cty.Value{}
	for k, a := range as {
		v, diags := a.Expr.Value(&hcl.EvalContext{})
		if diags.HasErrors() {
			t.Fatalf("%s: %s: %v", name, k, diags)
		}
		out[k] = v
	}
	return out
}

func strs(v cty.Value) []string {
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, e.AsString())
	}
	return out
}

func mapKeys(v cty.Value) []string {
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		k, _ := it.Element()
		out = append(out, k.AsString())
	}
	return out
}

// checkAligned asserts that macs[i] and names[i] are the same spec node,
// for exactly the active nodes of role (any role when role is "").
func checkAligned(t *testing.T, r *schema.Rack, role string, macs, names []string) {
	t.Helper()
	if len(macs) != len(names) {
		t.Fatalf("%s: %d MACs, %d names", role, len(macs), len(names))
	}
	var want []string
	for _, n := range r.ActiveNodes() {
		if role == "" || n.Role == role {
			want = append(want, r.FQDN(n))
		}
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("%s names %v, want %v", role, names, want)
	}
	for i, name := range names {
		n := r.Node(name)
		if n == nil || n.MAC != macs[i] {
			t.Errorf("%s[%d]: %s paired with MAC %s", role, i, name, macs[i])
		}
	}
}

func TestVarsAlignedAndExcluded(t *testing.T) {
	t.Run("lokomotive", func(t *testing.T) {
		in := lokomotiveFixture()
		files := mustRender(t, in)
		var vars []byte
		for _, f := range files {
			if path.Base(f.Path) == "lokocfg.vars" {
				vars = f.Content
			}
		}
		a := attrs(t, "lokocfg.vars", vars)
		checkAligned(t, in.Rack, schema.RoleController, strs(a["controller_macs"]), strs(a["controller_names"]))
		checkAligned(t, in.Rack, schema.RoleWorker, strs(a["worker_macs"]), strs(a["worker_names"]))
		if got := len(mapKeys(a["clc_snippets"])); got != 7 {
			t.Errorf("clc_snippets has %d nodes, want 7", got)
		}
		checkExcluded(t, in, files)
	})
	t.Run("flatcar", func(t *testing.T) {
		in := flatcarFixture()
		in.Rack.Nodes[3].Exclude = true
		files := mustRender(t, in)
		var vars []byte
		for _, f := range files {
			if path.Base(f.Path) == "terraform.tfvars" {
				vars = f.Content
			}
		}
		a := attrs(t, "terraform.tfvars", vars)
		checkAligned(t, in.Rack, "", strs(a["node_macs"]), strs(a["node_names"]))
		if got := mapKeys(a["installer_clc_snippets"]); !reflect.DeepEqual(got, []string{"node-1.k8s.localdomain"}) {
			t.Errorf("installer_clc_snippets for %v, want only the node with a public IP", got)
		}
		checkExcluded(t, in, files)
	})
}

// checkExcluded asserts excluded nodes appear in no file but dnsmasq.conf,
// and there only with their BMC.
func checkExcluded(t *testing.T, in Input, files []File) {
	t.Helper()
	var excluded []schema.Node
	for _, n := range in.Rack.Nodes {
		if n.Exclude {
			excluded = append(excluded, n)
		}
	}
	if len(excluded) == 0 {
		t.Fatal("fixture has no excluded node")
	}
	for _, n := range excluded {
		for _, f := range files {
			if f.Node == n.Name {
				t.Errorf("%s rendered for excluded node %s", f.Path, n.Name)
			}
			if f.Path == in.Layout.DnsmasqConf {
				if !bytes.Contains(f.Content, []byte("dhcp-host="+n.BMCMAC+",")) {
					t.Errorf("excluded node %s lost its BMC reservation", n.Name)
				}
				if bytes.Contains(f.Content, []byte("dhcp-host="+n.MAC+",")) {
					t.Errorf("excluded node %s kept its primary reservation", n.Name)
				}
				continue
			}
			for _, needle := range []string{n.Name + "." + in.Rack.Domain, n.MAC, in.Addrs[n.Name].Primary.String() + " "} {
				if bytes.Contains(f.Content, []byte(needle)) {
					t.Errorf("excluded node %s appears in %s (%q)", n.Name, f.Path, needle)
				}
			}
		}
	}
}

func TestReprovisionChangesOnlyThatNode(t *testing.T) {
	a := mustRender(t, lokomotiveFixture())
	in := lokomotiveFixture()
	in.Rack.Nodes[5].Reprovision = "2026-11-25"
	b := mustRender(t, in)
	if len(a) != len(b) {
		t.Fatalf("file count changed: %d → %d", len(a), len(b))
	}
	var changed []string
	for i := range a {
		if !bytes.Equal(a[i].Content, b[i].Content) {
			changed = append(changed, a[i].Path)
		}
	}
	want := []string{"home/core/lokomotive/cl/lokomotive-worker-2.k8s.localdomain.yaml"}
	if !reflect.DeepEqual(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	if !bytes.Contains(b[indexOf(b, want[0])].Content, []byte("(reprovision: 2026-11-25)")) {
		t.Error("reprovision value not in the Description")
	}
}

func indexOf(files []File, p string) int {
	for i, f := range files {
		if f.Path == p {
			return i
		}
	}
	return -1
}

func TestDeterministic(t *testing.T) {
	for name, fixture := range fixtures {
		a := mustRender(t, fixture())
		for range 5 {
			if b := mustRender(t, fixture()); !reflect.DeepEqual(a, b) {
				t.Fatalf("%s: two renders differ", name)
			}
		}
	}
}

func TestLayoutOverride(t *testing.T) {
	in := lokomotiveFixture()
	in.Layout = Layout{LokomotiveDir: "srv/loko"} // others default
	for _, f := range mustRender(t, in) {
		switch {
		case f.Path == "etc/hosts", f.Path == "opt/racker-state/dnsmasq/dnsmasq.conf":
		case strings.HasPrefix(f.Path, "srv/loko/"):
		default:
			t.Errorf("unexpected path %s", f.Path)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	tests := map[string]struct {
		edit func(*Input)
		want string
	}{
		"no rack":                   {func(in *Input) { in.Rack = nil }, "no rack"},
		"no addresses":              {func(in *Input) { delete(in.Addrs, "node-2") }, "node node-2: no internal addresses"},
		"bad subnet":                {func(in *Input) { in.Rack.Network.Internal.Subnet = "172.24.213.0" }, "network.internal.subnet"},
		"bad provisioner":           {func(in *Input) { in.Rack.Provisioner = "ansible" }, `provisioner "ansible"`},
		"public ip without network": {func(in *Input) { in.Rack.Network.Public = nil }, "network.public is missing"},
		"bad extra clc":             {func(in *Input) { in.Rack.Nodes[2].ExtraCLC = "storage: [" }, "node node-2"},
		"invalid extra clc": {func(in *Input) {
			in.Rack.Nodes[2].ExtraCLC = "systemd:\n  units:\n    - name: foo.bogus\n      contents: x\n"
		}, "node node-2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := flatcarFixture()
			tc.edit(&in)
			_, err := Render(in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	t.Run("lokomotive bad extra clc", func(t *testing.T) {
		in := lokomotiveFixture()
		in.Rack.Nodes[1].ExtraCLC = "passwd: {users: [{name: 5"
		if _, err := Render(in); err == nil || !strings.Contains(err.Error(), "extraCLC") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad component", func(t *testing.T) {
		in := lokomotiveFixture()
		in.Rack.Cluster.Components["velero"] = schema.Component{"bad key": 1}
		if _, err := Render(in); err == nil || !strings.Contains(err.Error(), "component velero") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestHostsBlockInvalidInput(t *testing.T) {
	got := string(HostsBlock(Input{}))
	if got != BeginMarker+"\n"+EndMarker+"\n" {
		t.Errorf("HostsBlock of an invalid input = %q", got)
	}
}

func BenchmarkRender1000(b *testing.B) {
	for _, p := range []schema.Provisioner{schema.Flatcar, schema.Lokomotive} {
		b.Run(string(p), func(b *testing.B) {
			in := bigFixture(p, 1000)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Render(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestInstallerShortcut checks the installer Ignition of a node without a
// public NIC (the base translated once, the final config put in) against
// the long way: transpiling the installer CLC that quotes the node's final
// Ignition and translating that.
func TestInstallerShortcut(t *testing.T) {
	in := flatcarFixture()
	files := mustRender(t, in)
	r, err := resolve(in)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, n := range r.active {
		if n.PublicIP != "" {
			continue
		}
		checked++
		final := files[indexOf(files, path.Join(r.dir(), ignitionPath(n)))].Content
		var cb bytes.Buffer
		if err := json.Compact(&cb, final); err != nil {
			t.Fatal(err)
		}
		cfg, err := transpile(installerCLC(r, cb.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		cfg3, err := toSpec3(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ignitionJSON(cfg3, true)
		if err != nil {
			t.Fatal(err)
		}
		got := files[indexOf(files, path.Join(r.dir(), installerIgnitionPath(n)))].Content
		if !bytes.Equal(got, want) {
			t.Errorf("%s: installer differs from the long way:\n%s", n.Name, firstDiff(want, got))
		}
	}
	if checked == 0 {
		t.Fatal("fixture has no node without a public IP")
	}
}
