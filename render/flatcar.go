package render

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/terraform"
)

// FlatcarAssetDir is the Terraform module's asset directory, relative to
// the flatcar directory terraform runs in; flag files are
// FlatcarAssetDir/<MAC>.
const FlatcarAssetDir = "assets"

// ModuleDir is where the embedded flatcar-baremetal module is copied,
// relative to the flatcar directory.
const ModuleDir = "modules/flatcar-baremetal"

// FlatcarModule is the address of flatcar.tf's call of that module.
const FlatcarModule = "module.flatcar"

// MatchboxProvider is the provider the module uses, pinned.
const (
	MatchboxProviderSource  = "poseidon/matchbox"
	MatchboxProviderVersion = "0.5.4"
)

// tfvars are the variables of terraform.tfvars, declared in variables.tf.
var tfvars = []variable{
	{"asset_dir", []string{"string"}},
	{"node_macs", []string{"list", "string"}},
	{"node_names", []string{"list", "string"}},
	{"matchbox_addr", []string{"string"}},
	{"matchbox_http_endpoint", []string{"string"}},
	{"clc_snippets", []string{"map", "list", "string"}},
	{"installer_clc_snippets", []string{"map", "list", "string"}},
	{"kernel_console", []string{"list", "string"}},
	{"install_pre_reboot_cmds", []string{"string"}},
	{"pxe_commands", []string{"string"}},
	{"ssh_keys", []string{"list", "string"}},
}

// InstalledSelector is the os selector value of the module's
// matchbox_group.installed (its variable installed_selector, which
// rackctl leaves at its default).
const InstalledSelector = "installed"

// InstalledIgnitionURL is where matchbox serves node n's final-OS
// Ignition whether or not it is installed (the module's
// installed_ignition_urls output, built the same way): what an installed
// node re-running Ignition without a PXE boot fetches.
func InstalledIgnitionURL(rack *schema.Rack, n *schema.Node) string {
	return strings.TrimSuffix(rack.Matchbox.HTTPEndpoint, "/") + "/ignition?mac=" + strings.ToLower(n.MAC) + "&os=" + InstalledSelector
}

func ignitionPath(n *node) string          { return "ignition/" + n.fqdn + ".ign" }
func installerIgnitionPath(n *node) string { return "ignition/" + n.fqdn + "-installer.ign" }

// flatcarFiles are the files of the flatcar directory, paths relative to it.
func flatcarFiles(r *rack) ([]File, error) {
	files := []File{
		{Path: "flatcar.tf", Content: flatcarTF(r), Mode: modeFile, Kind: Whole},
		{Path: "versions.tf", Content: versionsTF(), Mode: modeFile, Kind: Whole},
		{Path: "variables.tf", Content: variablesTF(r), Mode: modeFile, Kind: Whole},
		{Path: "terraform.tfvars", Content: terraformTFVars(r), Mode: modeFile, Kind: Whole},
	}
	mods, err := moduleFiles()
	if err != nil {
		return nil, err
	}
	files = append(files, mods...)
	cls := clcFiles(r)
	files = append(files, cls...)

	byPath := make(map[string][]byte, len(cls))
	hashes := make(map[string]string, len(r.active))
	for _, f := range cls {
		byPath[f.Path] = f.Content
		if f.ConfigHash != "" {
			hashes[f.Node] = f.ConfigHash
		}
	}
	ign, err := newIgnitions(r, byPath, hashes)
	if err != nil {
		return nil, err
	}
	for i, n := range r.active {
		files = append(files,
			File{Path: ignitionPath(n), Content: ign[i].final, Mode: modeFile, Kind: Whole, Node: n.Name},
			File{Path: installerIgnitionPath(n), Content: ign[i].installer, Mode: modeFile, Kind: Whole, Node: n.Name},
		)
	}
	return files, nil
}

// flatcarTF calls the flatcar-baremetal module with the rack's nodes and
// their Ignition files, and configures the matchbox provider. The Ignition
// paths are relative to the flatcar directory, terraform's working
// directory.
func flatcarTF(r *rack) []byte {
	f := hclFile(Header)
	body := f.Body()
	m := body.AppendNewBlock("module", []string{strings.TrimPrefix(FlatcarModule, "module.")}).Body()
	m.SetAttributeValue("source", cty.StringVal("./"+ModuleDir))
	m.AppendNewline()
	if r.Racker() {
		m.SetAttributeValue("matchbox_http_endpoint", cty.StringVal(r.Matchbox.HTTPEndpoint))
	} else {
		m.SetAttributeTraversal("matchbox_http_endpoint", varRef("matchbox_http_endpoint"))
	}
	m.SetAttributeTraversal("asset_dir", varRef("asset_dir"))
	m.SetAttributeTraversal("node_names", varRef("node_names"))
	m.SetAttributeTraversal("node_macs", varRef("node_macs"))
	// FQDN → ignition/FQDN.ign and ignition/FQDN-installer.ign, the paths
	// ignitionPath and installerIgnitionPath give.
	m.SetAttributeRaw("ignition", tokensForPathMap("node_names", "ignition/", ".ign"))
	m.SetAttributeRaw("installer_ignition", tokensForPathMap("node_names", "ignition/", "-installer.ign"))
	m.SetAttributeTraversal("kernel_console", varRef("kernel_console"))
	if len(r.Install.KernelArgs) > 0 {
		m.SetAttributeValue("kernel_args", stringList(r.Install.KernelArgs))
	}
	m.SetAttributeValue("install_to_smallest_disk", cty.BoolVal(r.Install.InstallToSmallestDisk))
	m.SetAttributeValue("cached_install", cty.BoolVal(r.Install.CachedInstall))

	body.AppendNewline()
	p := body.AppendNewBlock("provider", []string{"matchbox"}).Body()
	if r.Racker() {
		// Racker's matchbox_addr is the host alone.
		p.SetAttributeValue("endpoint", cty.StringVal(r.Matchbox.RPCEndpoint))
	} else {
		p.SetAttributeTraversal("endpoint", varRef("matchbox_addr"))
	}
	for _, c := range []struct{ attr, file string }{
		{"client_cert", "client.crt"},
		{"client_key", "client.key"},
		{"ca", "ca.crt"},
	} {
		p.SetAttributeRaw(c.attr, hclwrite.TokensForFunctionCall("file",
			hclwrite.TokensForValue(cty.StringVal(path.Join(r.Matchbox.ClientCertDir, c.file)))))
	}
	return hclBytes(f)
}

func versionsTF() []byte {
	f := hclFile(Header)
	rp := f.Body().AppendNewBlock("terraform", nil).Body().AppendNewBlock("required_providers", nil).Body()
	rp.SetAttributeValue("matchbox", cty.ObjectVal(map[string]cty.Value{
		"source":  cty.StringVal(MatchboxProviderSource),
		"version": cty.StringVal(MatchboxProviderVersion),
	}))
	return hclBytes(f)
}

func variablesTF(r *rack) []byte {
	f := hclFile(Header)
	appendVariables(f.Body(), varsOf(r, tfvars), false)
	return hclBytes(f)
}

// terraformTFVars holds Racker's terraform.tfvars variables. node_macs and
// node_names are aligned by position; the snippet maps and the install
// commands are kept for Racker's layout (and import) although the module
// gets rendered Ignition instead.
func terraformTFVars(r *rack) []byte {
	macs, names := macsNames(r.active)
	clcs, inst := snippetMaps(r)
	return renderHCL(func(d *deferredHCL) *hclwrite.File { return terraformTFVarsFile(r, d, macs, names, clcs, inst) })
}

func terraformTFVarsFile(r *rack, d *deferredHCL, macs, names []string, clcs, inst map[string][]string) *hclwrite.File {
	f := hclFile(Header)
	b := f.Body()
	b.SetAttributeValue("asset_dir", cty.StringVal(assetDir(r, FlatcarAssetDir)))
	d.stringList(b, "node_macs", macs)
	d.stringList(b, "node_names", names)
	b.SetAttributeValue("matchbox_addr", cty.StringVal(matchboxAddr(r)))
	if !r.Racker() {
		b.SetAttributeValue("matchbox_http_endpoint", cty.StringVal(r.Matchbox.HTTPEndpoint))
	}
	d.stringListMap(b, "clc_snippets", clcs)
	d.stringListMap(b, "installer_clc_snippets", inst)
	b.SetAttributeValue("kernel_console", stringList(r.Install.KernelConsole))
	b.SetAttributeValue("install_pre_reboot_cmds", cty.StringVal(r.Install.InstallPreRebootCmds))
	b.SetAttributeValue("pxe_commands", cty.StringVal(r.Install.PXECommands))
	if !r.Racker() {
		b.SetAttributeValue("ssh_keys", stringList(r.Cluster.SSHPubKeys))
	}
	return f
}

// moduleFiles copies the embedded flatcar-baremetal module.
func moduleFiles() ([]File, error) {
	var out []File
	err := fs.WalkDir(terraform.Modules, "flatcar-baremetal", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(terraform.Modules, p)
		if err != nil {
			return err
		}
		out = append(out, File{Path: path.Join(ModuleDir, path.Base(p)), Content: b, Mode: modeFile, Kind: Whole})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("render: embedded terraform module: %w", err)
	}
	return out, nil
}
