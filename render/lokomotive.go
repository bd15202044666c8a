package render

import (
	"fmt"
	"path"
	"sort"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/rackctl/rackctl/schema"
)

// LokomotiveAssetDir is lokoctl's asset directory, relative to the
// lokomotive directory lokoctl runs in; flag files are under
// LokomotiveAssetDir/cluster-assets/<MAC>.
const LokomotiveAssetDir = "lokoctl-assets"

// lokocfgVars are the variables of lokocfg.vars, declared in
// baremetal.lokocfg.
var lokocfgVars = []variable{
	{"cluster_name", []string{"string"}},
	{"asset_dir", []string{"string"}},
	{"k8s_domain_name", []string{"string"}},
	{"controller_macs", []string{"list", "string"}},
	{"worker_macs", []string{"list", "string"}},
	{"controller_names", []string{"list", "string"}},
	{"worker_names", []string{"list", "string"}},
	{"matchbox_addr", []string{"string"}},
	{"matchbox_http_endpoint", []string{"string"}},
	{"clc_snippets", []string{"map", "list", "string"}},
	{"installer_clc_snippets", []string{"map", "list", "string"}},
	{"node_specific_labels", []string{"map", "map", "string"}},
	{"kernel_console", []string{"list", "string"}},
	{"install_pre_reboot_cmds", []string{"string"}},
	{"pxe_commands", []string{"string"}},
	{"ssh_pubkeys", []string{"list", "string"}},
}

// lokomotiveFiles are the files of the lokomotive directory, paths
// relative to it.
func lokomotiveFiles(r *rack) ([]File, error) {
	for _, n := range r.active {
		if n.ExtraCLC != "" {
			if _, err := transpile(extraCLC(n)); err != nil {
				return nil, fmt.Errorf("render: node %s: extraCLC: %w", n.Name, err)
			}
		}
	}
	files := []File{
		{Path: "baremetal.lokocfg", Content: baremetalLokocfg(r), Mode: modeFile, Kind: Whole},
		{Path: "lokocfg.vars", Content: lokocfgVarsFile(r), Mode: modeFile, Kind: Whole},
	}
	comps, err := componentFiles(r)
	if err != nil {
		return nil, err
	}
	files = append(files, comps...)
	files = append(files, clcFiles(r)...)
	return files, nil
}

// baremetalLokocfg follows Racker's baremetal.lokocfg: the cluster block
// reads the per-rack values from var.*, the install settings are literal.
// Left out of Racker's: the test labels; kernel_args only with
// install.kernelArgs (Racker always set flatcar.autologin, a root shell on
// the serial console for anyone with BMC access).
func baremetalLokocfg(r *rack) []byte {
	f := hclFile(Header)
	body := f.Body()
	c := body.AppendNewBlock("cluster", []string{"bare-metal"}).Body()
	cert := func(name string) cty.Value {
		return cty.StringVal(path.Join(r.Matchbox.ClientCertDir, name))
	}
	c.SetAttributeTraversal("asset_dir", varRef("asset_dir"))
	if r.Racker() {
		// Racker's vars file has no ssh_pubkeys or endpoints: literal here.
		c.SetAttributeValue("ssh_pubkeys", stringList(r.Cluster.SSHPubKeys))
	} else {
		c.SetAttributeTraversal("ssh_pubkeys", varRef("ssh_pubkeys"))
	}
	c.SetAttributeValue("cached_install", cty.BoolVal(r.Install.CachedInstall))
	c.SetAttributeValue("install_to_smallest_disk", cty.BoolVal(r.Install.InstallToSmallestDisk))
	c.SetAttributeValue("wipe_additional_disks", cty.BoolVal(r.Install.WipeAdditionalDisks))
	c.SetAttributeValue("matchbox_ca_path", cert("ca.crt"))
	c.SetAttributeValue("matchbox_client_cert_path", cert("client.crt"))
	c.SetAttributeValue("matchbox_client_key_path", cert("client.key"))
	if r.Racker() {
		c.SetAttributeValue("matchbox_endpoint", cty.StringVal(r.Matchbox.RPCEndpoint))
		c.SetAttributeValue("matchbox_http_endpoint", cty.StringVal(r.Matchbox.HTTPEndpoint))
	} else {
		c.SetAttributeTraversal("matchbox_endpoint", varRef("matchbox_addr"))
		c.SetAttributeTraversal("matchbox_http_endpoint", varRef("matchbox_http_endpoint"))
	}
	c.SetAttributeTraversal("cluster_name", varRef("cluster_name"))
	c.SetAttributeTraversal("k8s_domain_name", varRef("k8s_domain_name"))
	c.SetAttributeTraversal("controller_domains", varRef("controller_names"))
	c.SetAttributeTraversal("controller_macs", varRef("controller_macs"))
	c.SetAttributeTraversal("controller_names", varRef("controller_names"))
	c.SetAttributeTraversal("worker_domains", varRef("worker_names"))
	c.SetAttributeTraversal("worker_macs", varRef("worker_macs"))
	c.SetAttributeTraversal("worker_names", varRef("worker_names"))
	c.SetAttributeRaw("clc_snippets", tokensForFileMap("clc_snippets"))
	c.SetAttributeRaw("installer_clc_snippets", tokensForFileMap("installer_clc_snippets"))
	c.SetAttributeTraversal("node_specific_labels", varRef("node_specific_labels"))
	c.SetAttributeValue("network_ip_autodetection_method", cty.StringVal("can-reach="+r.mbxHost))
	if len(r.Install.KernelArgs) > 0 {
		c.SetAttributeValue("kernel_args", stringList(r.Install.KernelArgs))
	}
	c.SetAttributeTraversal("kernel_console", varRef("kernel_console"))
	c.SetAttributeTraversal("pxe_commands", varRef("pxe_commands"))
	c.SetAttributeTraversal("install_pre_reboot_cmds", varRef("install_pre_reboot_cmds"))
	if len(r.Cluster.Labels) > 0 {
		c.SetAttributeValue("labels", stringMap(r.Cluster.Labels))
	}
	c.SetAttributeValue("conntrack_max_per_core", cty.NumberIntVal(65000))
	if r.Cluster.Updates.Strategy != "off" {
		// The update operator reboots nodes one at a time after an update.
		body.AppendNewline()
		body.AppendNewBlock("component", []string{"flatcar-linux-update-operator"})
	}
	appendVariables(body, varsOf(r, lokocfgVars), true)
	return hclBytes(f)
}

// rackctlOnlyVars are the variables rackctl's vars files add to Racker's;
// fileFormat racker leaves them out (their values are written literally
// where they are used).
var rackctlOnlyVars = map[string]bool{"matchbox_http_endpoint": true, "ssh_pubkeys": true, "ssh_keys": true}

// varsOf is vars without rackctlOnlyVars for fileFormat racker.
func varsOf(r *rack, vars []variable) []variable {
	if !r.Racker() {
		return vars
	}
	var out []variable
	for _, v := range vars {
		if !rackctlOnlyVars[v.name] {
			out = append(out, v)
		}
	}
	return out
}

// assetDir is the asset_dir value: relative to the cluster directory, or
// for fileFormat racker absolute as Racker wrote it (the directory on the
// management node, whose root is the layout's root).
func assetDir(r *rack, rel string) string {
	if r.Racker() {
		return "/" + path.Join(r.dir(), rel)
	}
	return rel
}

// matchboxAddr is the matchbox_addr value: the gRPC endpoint, or for
// fileFormat racker its host alone (Racker's).
func matchboxAddr(r *rack) string {
	if r.Racker() {
		return r.mbxHost
	}
	return r.Matchbox.RPCEndpoint
}

// snippetMaps are clc_snippets and installer_clc_snippets: FQDN → cl/
// paths. Only nodes with a public IP have installer snippets (their
// -custom.yaml); fileFormat racker lists every node's once any node has a
// public IP, as Racker did (the others' -custom.yaml is empty: same meaning).
func snippetMaps(r *rack) (clc, installer map[string][]string) {
	clc = map[string][]string{}
	installer = map[string][]string{}
	anyPublic := false
	for _, n := range r.active {
		anyPublic = anyPublic || n.PublicIP != ""
	}
	for _, n := range r.active {
		clc[n.fqdn] = n.snippet
		if n.PublicIP != "" || (r.Racker() && anyPublic) {
			installer[n.fqdn] = []string{clcCustomPath(n)}
		}
	}
	return clc, installer
}

func macsNames(nodes []*node) (macs, names []string) {
	for _, n := range nodes {
		macs = append(macs, n.MAC)
		names = append(names, n.fqdn)
	}
	return macs, names
}

func lokocfgVarsFile(r *rack) []byte {
	return renderHCL(func(d *deferredHCL) *hclwrite.File { return lokocfgVarsHCL(r, d) })
}

func lokocfgVarsHCL(r *rack, d *deferredHCL) *hclwrite.File {
	f := hclFile(Header)
	b := f.Body()
	cm, cn := macsNames(r.ctls)
	wm, wn := macsNames(r.workers)
	clcs, inst := snippetMaps(r)
	labels := map[string]map[string]string{}
	for _, n := range r.active {
		if len(n.Labels) > 0 {
			labels[n.fqdn] = n.Labels
		}
	}
	b.SetAttributeValue("cluster_name", cty.StringVal(r.Cluster.Name))
	b.SetAttributeValue("asset_dir", cty.StringVal(assetDir(r, LokomotiveAssetDir)))
	b.SetAttributeValue("k8s_domain_name", cty.StringVal(r.Domain))
	d.stringList(b, "controller_macs", cm)
	d.stringList(b, "worker_macs", wm)
	d.stringList(b, "controller_names", cn)
	d.stringList(b, "worker_names", wn)
	b.SetAttributeValue("matchbox_addr", cty.StringVal(matchboxAddr(r)))
	if !r.Racker() {
		b.SetAttributeValue("matchbox_http_endpoint", cty.StringVal(r.Matchbox.HTTPEndpoint))
	}
	d.stringListMap(b, "clc_snippets", clcs)
	d.stringListMap(b, "installer_clc_snippets", inst)
	b.SetAttributeValue("node_specific_labels", stringMapMap(labels))
	b.SetAttributeValue("kernel_console", stringList(r.Install.KernelConsole))
	b.SetAttributeValue("install_pre_reboot_cmds", cty.StringVal(r.Install.InstallPreRebootCmds))
	b.SetAttributeValue("pxe_commands", cty.StringVal(r.Install.PXECommands))
	if !r.Racker() {
		b.SetAttributeValue("ssh_pubkeys", stringList(r.Cluster.SSHPubKeys))
	}
	return f
}

// componentFiles are one NAME.lokocfg per cluster component. Racker's
// web-ui.lokocfg also enabled metrics-server (the Web UI's resource
// graphs need it); rackctl keeps one component per file and adds
// metrics-server.lokocfg for web-ui unless the spec configures
// metrics-server itself.
func componentFiles(r *rack) ([]File, error) {
	comps := map[string]schema.Component{}
	for name, c := range r.Cluster.Components {
		comps[name] = c
	}
	if _, ok := comps["web-ui"]; ok {
		if _, ok := comps["metrics-server"]; !ok {
			comps["metrics-server"] = schema.Component{}
		}
	}
	names := make([]string, 0, len(comps))
	for name := range comps {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []File
	for _, name := range names {
		if name == "" || name != path.Base(name) || name == "." || name == ".." {
			return nil, fmt.Errorf("render: component %q: not usable as a file name", name)
		}
		f := hclFile(Header)
		body := f.Body().AppendNewBlock("component", []string{name}).Body()
		if err := appendBody(body, map[string]any(comps[name])); err != nil {
			return nil, fmt.Errorf("render: component %s: %w", name, err)
		}
		out = append(out, File{Path: name + ".lokocfg", Content: hclBytes(f), Mode: modeFile, Kind: Whole})
	}
	return out, nil
}
