package racker

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"

	"github.com/rackctl/rackctl/internal/macaddr"
	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// Paths of Racker's inputs outside the layout, relative to the root.
const (
	NodesCSV     = "usr/share/oem/nodes.csv"
	IPMIUserFile = "/usr/share/oem/ipmi_user"
	IPMIPassFile = "/usr/share/oem/ipmi_password"
)

// DefaultFlatcarDomain is a domain for Racker's flatcar nodes, whose names
// (node-I) have none, should their names gain one (Options.Domain). By
// default import keeps the names as they are (domain "").
const DefaultFlatcarDomain = "localdomain"

// bootWorkaroundDescription is the Description= Racker (and rackctl) write
// for the boot workaround unit; Racker's guide edited it to force a reinstall.
const bootWorkaroundDescription = "Workaround to really persist the boot settings because they get lost when the 60 secs timeout is not disabled. The last raw command can be replaced with ipmitool chassis bootdev disk options=persistent,efiboot once a new ipmitool version is released that fixes the bootdev command (only one flag out of efiboot and persistent works in 1.8.18)."

// Options configures Import.
type Options struct {
	// Root is the management node's file system root (default "/").
	Root string
	// Layout locates dnsmasq.conf, /etc/hosts and the cluster directories;
	// zero fields take render.DefaultLayout's.
	Layout render.Layout
	// ManagementMACs are the management node's own MACs: nodes.csv lines
	// with one of them are not servers of the rack (Racker compared with
	// the node's interfaces).
	ManagementMACs []string
	// Domain is the domain flatcar nodes' names are given (NAME.DOMAIN in
	// every file). Empty keeps Racker's names as they are: the domain they
	// share, or none (domain ""). Lokomotive takes k8s_domain_name.
	Domain string
}

// Severity of a Finding.
type Severity string

const (
	// SeverityError: the inputs do not add up; Result.HasErrors is true.
	SeverityError Severity = "error"
	// SeverityWarning: something the import cannot keep, or a change the
	// first plan will make beyond a change of format.
	SeverityWarning Severity = "warning"
	// SeverityInfo: a format migration or something carried over.
	SeverityInfo Severity = "info"
)

// Finding is one observation of the import, positioned in the file it is
// about (relative to the root) where it has a line.
type Finding struct {
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// String is "file:line: severity: message".
func (f Finding) String() string {
	loc := f.File
	if f.Line > 0 {
		loc += ":" + strconv.Itoa(f.Line)
	}
	if loc != "" {
		loc += ": "
	}
	return loc + string(f.Severity) + ": " + f.Message
}

// Result is what Import read.
type Result struct {
	// Spec is the rack.yaml text, with comments.
	Spec []byte
	// Rack is Spec as schema.Parse returns it; nil if it did not validate
	// (then Findings hold the schema's errors).
	Rack *schema.Rack
	// State is the IP allocation keeping every current primary and BMC
	// address, by node name and MAC; save it with state.Dir.SaveAllocation
	// as the state dir's allocation.json before the first plan.
	State ipam.State
	// Findings, sorted by file and line.
	Findings []Finding
}

// HasErrors tells whether any finding is an error.
func (r *Result) HasErrors() bool {
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

type importer struct {
	root     string
	fs       *rootfs.Root // every read beneath root goes through it
	layout   render.Layout
	opts     Options
	findings []Finding
	// renamedCLC maps a rendered cl/ path to Racker's file of the same
	// node under another name (flatcar's node-I.yaml).
	renamedCLC map[string]string
	// rack is the imported spec, set for the migration report.
	rack *schema.Rack
}

func (im *importer) add(sev Severity, file string, line int, format string, args ...any) {
	im.findings = append(im.findings, Finding{File: file, Line: line, Severity: sev, Message: fmt.Sprintf(format, args...)})
}
func (im *importer) errorf(file string, line int, format string, args ...any) {
	im.add(SeverityError, file, line, format, args...)
}
func (im *importer) warnf(file string, line int, format string, args ...any) {
	im.add(SeverityWarning, file, line, format, args...)
}
func (im *importer) infof(file string, line int, format string, args ...any) {
	im.add(SeverityInfo, file, line, format, args...)
}

// read reads a Racker file beneath the root (no links, bounded size).
func (im *importer) read(rel string) ([]byte, error) {
	return im.readFile(rel, maxFileSize)
}

// node is one imported server.
type node struct {
	schema.Node
	fqdn     string
	ip, bmc  netip.Addr
	csvLine  int
	varsLine int
	comment  string
	extra    []string // extraCLC sources, for the spec comment
	// From the 10-priv-stable.network unit: does it route (Racker's did
	// not), and the boot workaround's ipmitool image.
	privUnit, privRoute bool
	image, imageFile    string
	// The public unit's gateway and DNS, checked across nodes.
	pubGW   string
	pubDNS  []string
	pubFile string
	pubLine int
}

// cluster is what the provisioner directory says.
type cluster struct {
	provisioner   schema.Provisioner
	dir           string // relative to the root
	varsRel       string
	name, domain  string
	nodes         []varNode
	clcSnippets   map[string][]string
	clcLine       int // of clc_snippets in the vars file
	labels        map[string]map[string]string
	clusterLabels map[string]string // the cluster block's labels
	matchboxAddr  string
	certDir       string
	sshKeys       []string
	install       schema.Install
	strategy      string
	components    map[string]schema.Component
	componentFile map[string]string
}

type varNode struct {
	fqdn, mac, role string
	line            int
}

// Import reads the Racker management node under opts.Root. The error is
// for inputs import cannot start from (no nodes.csv, no dnsmasq.conf, no
// cluster directory); everything else is a Finding, and the Result holds
// what could be read.
func Import(opts Options) (*Result, error) {
	im := &importer{root: opts.Root, opts: opts, renamedCLC: map[string]string{}}
	if im.root == "" {
		im.root = "/"
	}
	im.layout = opts.Layout.WithDefaults()
	var err error
	if im.fs, err = rootfs.New(im.root); err != nil {
		return nil, fmt.Errorf("import racker: %w", err)
	}

	csvSrc, err := im.read(NodesCSV)
	if err != nil {
		return nil, fmt.Errorf("import racker: %w", err)
	}
	confSrc, err := im.read(im.layout.DnsmasqConf)
	if err != nil {
		return nil, fmt.Errorf("import racker: %w", err)
	}
	cl, err := im.readCluster()
	if err != nil {
		return nil, fmt.Errorf("import racker: %w", err)
	}
	csv := im.filterManagement(im.parseNodesCSV(NodesCSV, csvSrc))
	conf := im.parseDnsmasq(im.layout.DnsmasqConf, confSrc)
	var hosts hostsIndex
	if b, err := im.read(im.layout.Hosts); errors.Is(err, rootfs.ErrLink) {
		im.readError(im.layout.Hosts, err)
		hosts = indexHosts(nil)
	} else if err != nil {
		im.warnf(im.layout.Hosts, 0, "not read (%v): node names are not checked against it", err)
		hosts = indexHosts(nil)
	} else {
		hosts = indexHosts(render.ParseHosts(b))
	}

	net := im.network(conf, cl)
	nodes := im.nodes(cl, csv, conf, hosts, net)
	im.checkAddresses(nodes, net, conf)
	nodes = im.dnsmasqOrder(cl, nodes, conf)
	net.compat = im.compat(conf, nodes)

	spec, err := im.spec(cl, net, nodes)
	if err != nil {
		return nil, fmt.Errorf("import racker: %w", err)
	}
	res := &Result{Spec: spec, State: state(nodes)}
	rack, err := schema.Parse("rack.yaml", spec)
	if err != nil {
		var diags schema.Errors
		if errors.As(err, &diags) {
			for _, d := range diags {
				im.errorf("rack.yaml", d.Line, "generated spec does not validate: %s: %s", d.Field, d.Message)
			}
		} else {
			im.errorf("rack.yaml", 0, "generated spec does not validate: %v", err)
		}
	} else {
		res.Rack = rack
		im.migration(rack, res.State)
	}
	res.Findings = sortFindings(im.findings)
	return res, nil
}

// sortFindings sorts by file and line and drops repeats (a refused file
// is met both as input and as rendered output).
func sortFindings(fs []Finding) []Finding {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].File != fs[j].File {
			return fs[i].File < fs[j].File
		}
		return fs[i].Line < fs[j].Line
	})
	seen := map[Finding]bool{}
	out := fs[:0]
	for _, f := range fs {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func (im *importer) filterManagement(in []csvNode) []csvNode {
	mgmt := map[string]bool{}
	for _, m := range im.opts.ManagementMACs {
		if n, ok := macaddr.Normalize(m); ok {
			mgmt[n] = true
		} else {
			im.errorf("", 0, "management MAC %q is not a MAC address", m)
		}
	}
	var out []csvNode
	for _, n := range in {
		if mgmt[n.mac] || mgmt[n.bmcMAC] || (n.secondary != "" && mgmt[n.secondary]) {
			im.infof(NodesCSV, n.line, "management node %s: not a server of the rack", n.mac)
			continue
		}
		out = append(out, n)
	}
	return out
}

// readCluster finds and reads the lokomotive or flatcar directory.
func (im *importer) readCluster() (*cluster, error) {
	lv := path.Join(im.layout.LokomotiveDir, "lokocfg.vars")
	fv := path.Join(im.layout.FlatcarDir, "terraform.tfvars")
	_, lerr := im.fs.Stat(lv)
	_, ferr := im.fs.Stat(fv)
	// A link on the way (a linked lokomotive directory) is not "absent":
	// the import stops, naming it.
	for _, err := range []error{lerr, ferr} {
		if errors.Is(err, rootfs.ErrLink) {
			return nil, err
		}
	}
	switch {
	case lerr == nil && ferr == nil:
		im.errorf(fv, 0, "both %s and %s exist: importing lokomotive; a rack has one provisioner", lv, fv)
		return im.readLokomotive(lv)
	case lerr == nil:
		return im.readLokomotive(lv)
	case ferr == nil:
		return im.readFlatcar(fv)
	}
	return nil, fmt.Errorf("neither %s nor %s found under %s", lv, fv, im.root)
}

func (im *importer) readVars(rel string) (map[string]attr, error) {
	src, err := im.read(rel)
	if err != nil {
		return nil, err
	}
	f := im.parseHCL(rel, src, true)
	if f == nil {
		return map[string]attr{}, nil
	}
	return f.attrs, nil
}

func (im *importer) varString(rel string, vars map[string]attr, name string) string {
	a, ok := vars[name]
	if !ok {
		return ""
	}
	s, ok := ctyString(a.val)
	if !ok {
		im.errorf(rel, a.line, "%s: want a string", name)
	}
	return s
}

func (im *importer) varList(rel string, vars map[string]attr, name string) ([]string, int) {
	a, ok := vars[name]
	if !ok {
		return nil, 0
	}
	l, ok := ctyStrings(a.val)
	if !ok {
		im.errorf(rel, a.line, "%s: want a list of strings", name)
	}
	return l, a.line
}

// alignedNodes pairs a macs and a names array, reporting a misalignment.
func (im *importer) alignedNodes(rel string, vars map[string]attr, macsVar, namesVar, role string) []varNode {
	macs, ml := im.varList(rel, vars, macsVar)
	names, nl := im.varList(rel, vars, namesVar)
	if len(macs) != len(names) {
		im.errorf(rel, ml, "%s has %d entries but %s (line %d) has %d: the arrays are aligned by position; only the first %d pairs are imported",
			macsVar, len(macs), namesVar, nl, len(names), min(len(macs), len(names)))
	}
	var out []varNode
	for i := range min(len(macs), len(names)) {
		m, ok := macaddr.Normalize(macs[i])
		if !ok {
			im.errorf(rel, ml, "%s[%d] = %q is not a MAC address", macsVar, i, macs[i])
			continue
		}
		out = append(out, varNode{fqdn: names[i], mac: m, role: role, line: ml})
	}
	return out
}

func (im *importer) commonVars(c *cluster, vars map[string]attr) {
	rel := c.varsRel
	c.matchboxAddr = im.varString(rel, vars, "matchbox_addr")
	if a, ok := vars["clc_snippets"]; ok {
		c.clcLine = a.line
		if c.clcSnippets, ok = stringListMap(a.val); !ok {
			im.errorf(rel, a.line, "clc_snippets: want a map of lists of paths")
		}
	}
	if a, ok := vars["node_specific_labels"]; ok {
		if c.labels, ok = stringMapMap(a.val); !ok {
			im.errorf(rel, a.line, "node_specific_labels: want a map of maps of strings")
		}
	}
	c.install.KernelConsole, _ = im.varList(rel, vars, "kernel_console")
	if c.install.KernelConsole == nil {
		c.install.KernelConsole = []string{}
	}
	c.install.InstallPreRebootCmds = im.varString(rel, vars, "install_pre_reboot_cmds")
	c.install.PXECommands = im.varString(rel, vars, "pxe_commands")
	if strings.Contains(c.install.PXECommands, "pxe-boot.sh") {
		im.infof(rel, vars["pxe_commands"].line, "pxe_commands calls Racker's pxe-boot.sh; kept as is (`rackctl pxe-boot $mac $domain` replaces it once Racker's scripts are gone)")
	}
}

func (im *importer) readLokomotive(varsRel string) (*cluster, error) {
	c := &cluster{provisioner: schema.Lokomotive, dir: im.layout.LokomotiveDir, varsRel: varsRel, components: map[string]schema.Component{}, componentFile: map[string]string{}}
	vars, err := im.readVars(varsRel)
	if err != nil {
		return nil, err
	}
	c.name = im.varString(varsRel, vars, "cluster_name")
	c.domain = im.varString(varsRel, vars, "k8s_domain_name")
	if c.name == "" {
		im.errorf(varsRel, 0, "cluster_name is missing: using %q", schema.DefaultClusterName)
		c.name = schema.DefaultClusterName
	}
	if c.domain == "" {
		im.errorf(varsRel, 0, "k8s_domain_name is missing: using %q", "k8s.localdomain")
		c.domain = "k8s.localdomain"
	}
	c.nodes = append(im.alignedNodes(varsRel, vars, "controller_macs", "controller_names", schema.RoleController),
		im.alignedNodes(varsRel, vars, "worker_macs", "worker_names", schema.RoleWorker)...)
	im.commonVars(c, vars)

	ctx := im.evalCtx(vars)
	im.readBaremetal(c, varsRel, ctx)
	im.readComponentFiles(c, ctx)
	return c, nil
}

// readBaremetal reads baremetal.lokocfg: the cluster block (SSH keys,
// install settings), the update strategy (whether the update operator is
// a component) and the components declared beside it.
func (im *importer) readBaremetal(c *cluster, varsRel string, ctx *hcl.EvalContext) {
	bmRel := path.Join(c.dir, "baremetal.lokocfg")
	src, err := im.read(bmRel)
	if err != nil {
		im.errorf(bmRel, 0, "not read (%v): SSH keys and install settings take rackctl's defaults", err)
		c.strategy = "reboot"
		return
	}
	f := im.parseHCL(bmRel, src, false)
	if f == nil {
		return
	}
	if b := f.block("cluster", "bare-metal"); b != nil {
		im.clusterBlock(c, bmRel, b.Body, ctx, "ssh_pubkeys")
		if a, ok := b.Body.Attributes["k8s_domain_name"]; ok {
			if v, ok := im.eval(bmRel, "k8s_domain_name", a.Expr, ctx); ok {
				if s, ok := ctyString(v); ok && s != c.domain {
					im.warnf(bmRel, a.SrcRange.Start.Line, "k8s_domain_name is %q here but %q in %s: the node names use the latter, rackctl renders it everywhere", s, c.domain, varsRel)
				}
			}
		}
	} else {
		im.errorf(bmRel, 0, "no cluster \"bare-metal\" block")
	}
	c.strategy = "off"
	for _, b := range f.body.Blocks {
		if b.Type != "component" || len(b.Labels) == 0 {
			continue
		}
		if b.Labels[0] == "flatcar-linux-update-operator" {
			c.strategy = "reboot"
			continue
		}
		im.addComponent(c, bmRel, b, ctx)
	}
	if c.strategy == "off" {
		im.infof(bmRel, 0, "no flatcar-linux-update-operator component: cluster.updates.strategy is off")
	}
}

// readComponentFiles reads the components of the other *.lokocfg files;
// anything else in them is reported as not imported.
func (im *importer) readComponentFiles(c *cluster, ctx *hcl.EvalContext) {
	entries, err := im.fs.ReadDir(c.dir)
	if err != nil {
		im.readError(c.dir, err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".lokocfg") || e.Name() == "baremetal.lokocfg" {
			continue
		}
		rel := path.Join(c.dir, e.Name())
		// A link is read through rootfs, which refuses it unless only
		// root could have made it.
		if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		src, err := im.read(rel)
		if err != nil {
			im.readError(rel, err)
			continue
		}
		f := im.parseHCL(rel, src, false)
		if f == nil {
			continue
		}
		for _, b := range f.body.Blocks {
			if b.Type == "component" && len(b.Labels) > 0 {
				im.addComponent(c, rel, b, ctx)
			} else {
				im.warnf(rel, b.DefRange().Start.Line, "%s block not imported: rackctl writes component blocks only", b.Type)
			}
		}
		for n, a := range f.body.Attributes {
			im.warnf(rel, a.SrcRange.Start.Line, "attribute %s outside a component not imported", n)
		}
	}
}

func (im *importer) addComponent(c *cluster, rel string, b *hclsyntax.Block, ctx *hcl.EvalContext) {
	name := b.Labels[0]
	if prev, dup := c.componentFile[name]; dup {
		im.errorf(rel, b.DefRange().Start.Line, "component %q is also in %s: the later one is imported", name, prev)
	}
	c.components[name] = im.componentBody(rel, name, b.Body, ctx)
	c.componentFile[name] = rel
}

// clusterBlock reads install settings, SSH keys and the matchbox client
// certificate directory from lokomotive's cluster block or flatcar's module
// block. Only the attributes read here are evaluated, with var.* alone.
func (im *importer) clusterBlock(c *cluster, rel string, body *hclsyntax.Body, ctx *hcl.EvalContext, keysAttr string) {
	boolAttr := func(name string, dst *bool, def bool) {
		*dst = def
		a, ok := body.Attributes[name]
		if !ok {
			return
		}
		v, ok := im.eval(rel, name, a.Expr, ctx)
		if !ok {
			return
		}
		b, ok := ctyBool(v)
		if !ok {
			im.errorf(rel, a.SrcRange.Start.Line, "%s: want true or false", name)
			return
		}
		*dst = b
	}
	boolAttr("cached_install", &c.install.CachedInstall, false)
	boolAttr("install_to_smallest_disk", &c.install.InstallToSmallestDisk, false)
	boolAttr("wipe_additional_disks", &c.install.WipeAdditionalDisks, false)
	if a, ok := body.Attributes["kernel_args"]; ok {
		if v, ok := im.eval(rel, "kernel_args", a.Expr, ctx); ok {
			args, ok := ctyStrings(v)
			switch {
			case !ok:
				im.errorf(rel, a.SrcRange.Start.Line, "kernel_args: want a list of strings")
			case slices.Contains(args, "flatcar.autologin"):
				im.warnf(rel, a.SrcRange.Start.Line, "kernel_args kept as install.kernelArgs, flatcar.autologin included: a root shell on the serial console for anyone with BMC access; remove it from rack.yaml to close that")
			}
			c.install.KernelArgs = args
		}
	}
	if a, ok := body.Attributes["labels"]; ok {
		if v, ok := im.eval(rel, "labels", a.Expr, ctx); ok {
			m, ok := stringMap(v)
			if !ok {
				im.errorf(rel, a.SrcRange.Start.Line, "labels: want a map of strings")
			}
			c.clusterLabels = m
		}
	}
	if a, ok := body.Attributes[keysAttr]; ok {
		for _, k := range im.sshKeys(c, rel, keysAttr, a.Expr, ctx) {
			for _, l := range strings.Split(k, "\n") {
				l = strings.TrimSpace(l)
				if l != "" && !strings.HasPrefix(l, "#") && !slices.Contains(c.sshKeys, l) {
					c.sshKeys = append(c.sshKeys, l)
				}
			}
		}
	} else {
		im.warnf(rel, 0, "no %s: the spec has no SSH keys", keysAttr)
	}
	for _, name := range []string{"matchbox_ca_path", "ca"} {
		if a, ok := body.Attributes[name]; ok {
			if p := im.pathAttr(rel, name, a.Expr, ctx); p != "" {
				c.certDir = path.Dir(p)
			}
		}
	}
}

// eval evaluates an expression of a cluster file with var.* (the vars
// file's literals) and no functions: a function call or any other
// reference is an error finding, never run.
func (im *importer) eval(rel, name string, e hclsyntax.Expression, ctx *hcl.EvalContext) (cty.Value, bool) {
	if im.notEvaluated(rel, name, e, true) {
		return cty.NilVal, false
	}
	v, d := e.Value(ctx)
	if d.HasErrors() {
		im.errorf(rel, e.Range().Start.Line, "%s: %s", name, diagText(d))
		return cty.NilVal, false
	}
	return v, true
}

// sshKeys reads the SSH keys attribute. Racker's form, a list of
// file(pathexpand("~/.ssh/id_rsa.pub")), is recognized, not evaluated:
// the import reads the named file itself, beneath the root, outside the
// credential directories, and only if every line is a public key.
func (im *importer) sshKeys(c *cluster, rel, name string, e hclsyntax.Expression, ctx *hcl.EvalContext) []string {
	elems := []hclsyntax.Expression{e}
	if t, ok := e.(*hclsyntax.TupleConsExpr); ok {
		elems = t.Exprs
	}
	home := "/" + path.Dir(c.dir)
	var keys []string
	for _, x := range elems {
		if p, ok := fileCallPath(x); ok {
			k, err := im.readSSHKeys(home, c.dir, p)
			if err != nil {
				im.errorf(rel, x.Range().Start.Line, "%s: %v", name, err)
				continue
			}
			keys = append(keys, k...)
			continue
		}
		v, ok := im.eval(rel, name, x, ctx)
		if !ok {
			continue
		}
		if s, ok := ctyString(v); ok {
			keys = append(keys, s)
		} else if l, ok := ctyStrings(v); ok {
			keys = append(keys, l...)
		} else {
			im.errorf(rel, x.Range().Start.Line, "%s: want strings (public keys)", name)
		}
	}
	return keys
}

// pathAttr is the path an attribute names, without reading it: the P of
// "P", pathexpand("P"), file("P") or file(pathexpand("P")), or a string of
// var.* alone.
func (im *importer) pathAttr(rel, name string, e hclsyntax.Expression, ctx *hcl.EvalContext) string {
	if p, ok := fileCallPath(e); ok {
		return p
	}
	if p, ok := pathLiteral(e); ok {
		return p
	}
	v, ok := im.eval(rel, name, e, ctx)
	if !ok {
		return ""
	}
	s, _ := ctyString(v)
	return s
}

func (im *importer) readFlatcar(varsRel string) (*cluster, error) {
	c := &cluster{provisioner: schema.Flatcar, dir: im.layout.FlatcarDir, varsRel: varsRel, strategy: "reboot", components: map[string]schema.Component{}}
	vars, err := im.readVars(varsRel)
	if err != nil {
		return nil, err
	}
	c.nodes = im.alignedNodes(varsRel, vars, "node_macs", "node_names", schema.RoleNode)
	im.commonVars(c, vars)
	c.name = "flatcar"
	c.domain = im.opts.Domain
	if c.domain == "" {
		c.domain = sharedDomain(c.nodes)
	}
	ctx := im.evalCtx(vars)
	tfRel := path.Join(c.dir, "flatcar.tf")
	src, err := im.read(tfRel)
	if err != nil {
		im.errorf(tfRel, 0, "not read (%v): SSH keys and install settings take rackctl's defaults", err)
		return c, nil
	}
	f := im.parseHCL(tfRel, src, false)
	if f == nil {
		return c, nil
	}
	if b := f.block("module", ""); b != nil {
		// count.index is not known here; the attributes import reads do not use it.
		im.clusterBlock(c, tfRel, b.Body, ctx, "ssh_keys")
	} else {
		im.errorf(tfRel, 0, "no module block")
	}
	if b := f.block("provider", "matchbox"); b != nil {
		if a, ok := b.Body.Attributes["ca"]; ok {
			if p := im.pathAttr(tfRel, "ca", a.Expr, ctx); p != "" {
				c.certDir = path.Dir(p)
			}
		}
	}
	im.infof(tfRel, 0, "flatcar's update strategy is not in Racker's files: cluster.updates.strategy is reboot (locksmith's default)")
	return c, nil
}

// network derives the internal and public networks.
type network struct {
	subnet   netip.Prefix
	gateway  netip.Addr
	dns      []string
	iface    string
	dynStart netip.Addr
	dynEnd   netip.Addr
	httpEP   string
	rpcEP    string
	pubGW    string
	pubDNS   []string
	pubFile  string
	pubLine  int
	compat   compat
}

func (im *importer) network(conf *dnsmasqConf, c *cluster) *network {
	n := &network{iface: conf.iface, dns: conf.dns, dynStart: conf.rangeStart, dynEnd: conf.rangeEnd}
	bits := 24
	if conf.mask.IsValid() {
		m := conf.mask.As4()
		ones := 0
		for _, b := range m {
			for i := 7; i >= 0; i-- {
				if b&(1<<i) != 0 {
					ones++
				}
			}
		}
		bits = ones
	}
	host := c.matchboxAddr
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	if gw, err := netip.ParseAddr(host); err == nil {
		n.gateway = gw
	} else {
		im.errorf(c.varsRel, 0, "matchbox_addr %q is not an IPv4 address (the management node's internal address)", c.matchboxAddr)
	}
	base := conf.rangeStart
	if !base.IsValid() {
		base = n.gateway
		im.errorf(im.layout.DnsmasqConf, 0, "no dhcp-range: the subnet is taken from matchbox_addr as a /%d", bits)
	}
	if base.IsValid() {
		n.subnet, _ = base.Prefix(bits)
	}
	n.rpcEP = c.matchboxAddr
	if !strings.Contains(n.rpcEP, ":") {
		n.rpcEP += ":8081"
	}
	n.httpEP = strings.TrimSuffix(conf.ipxeURL, "/boot.ipxe")
	if n.httpEP == "" {
		n.httpEP = "http://" + host + ":8080"
	}
	return n
}

// nodes joins nodes.csv, the vars arrays, dnsmasq, /etc/hosts and cl/.
func (im *importer) nodes(c *cluster, csv []csvNode, conf *dnsmasqConf, hosts hostsIndex, net *network) []*node {
	byMAC := map[string]csvNode{}
	for _, n := range csv {
		byMAC[n.mac] = n
	}
	inVars := map[string]bool{}
	var out []*node
	for _, vn := range c.nodes {
		inVars[vn.mac] = true
		row, ok := byMAC[vn.mac]
		if !ok {
			im.errorf(c.varsRel, vn.line, "%s (%s) is not in %s: its BMC MAC is unknown, the node is not imported", vn.mac, vn.fqdn, NodesCSV)
			continue
		}
		n := &node{fqdn: vn.fqdn, csvLine: row.line, varsLine: vn.line, comment: strings.TrimSpace(strings.Join([]string{row.nodeType, row.comment}, " "))}
		n.Name = im.shortName(c, vn)
		n.Role = vn.role
		n.MAC, n.BMCMAC = row.mac, row.bmcMAC
		n.Labels = c.labels[vn.fqdn]
		im.reservations(n, row, conf)
		im.readCLC(c, n, row)
		im.checkHosts(c, n, hosts)
		out = append(out, n)
	}
	// Excluded nodes: in nodes.csv with a reservation, not in the vars.
	used := map[string]bool{}
	for _, n := range out {
		used[n.Name] = true
	}
	var excluded []*node
	for _, row := range csv {
		if inVars[row.mac] {
			continue
		}
		_, hasP := conf.byMAC[row.mac]
		_, hasB := conf.byMAC[row.bmcMAC]
		if !hasP && !hasB {
			im.warnf(NodesCSV, row.line, "%s has no dnsmasq reservation and no name in %s: not provisioned by Racker, left out of the spec (add it to rack.yaml to provision it)", row.mac, c.varsRel)
			continue
		}
		n := &node{csvLine: row.line, comment: strings.TrimSpace(strings.Join([]string{row.nodeType, row.comment}, " "))}
		n.Exclude = true
		n.MAC, n.BMCMAC = row.mac, row.bmcMAC
		n.Role = schema.RoleWorker
		if c.provisioner == schema.Flatcar {
			n.Role = schema.RoleNode
		}
		im.reservations(n, row, conf)
		excluded = append(excluded, n)
	}
	sort.SliceStable(excluded, func(i, j int) bool { return addrLess(excluded[i].ip, excluded[j].ip) })
	for _, n := range excluded {
		n.Name = im.excludedName(c, n, conf, used)
		used[n.Name] = true
		n.fqdn = fqdn(n.Name, c.domain)
		im.infof(NodesCSV, n.csvLine, "%s is in nodes.csv and dnsmasq but not in %s: imported as excluded node %s (its reservations are kept)", n.MAC, c.varsRel, n.Name)
	}
	// Reservations of no node.
	known := map[string]bool{}
	for _, n := range append(out, excluded...) {
		known[n.MAC], known[n.BMCMAC] = true, true
	}
	for _, r := range conf.reservations {
		if !known[r.mac] {
			im.warnf(im.layout.DnsmasqConf, r.line, "reservation %s → %s belongs to no server of %s: dropped (rackctl writes reservations for the spec's nodes only)", r.mac, r.ip, NodesCSV)
		}
	}
	return append(out, excluded...)
}

func addrLess(a, b netip.Addr) bool {
	if !a.IsValid() || !b.IsValid() {
		return a.IsValid()
	}
	return a.Less(b)
}

func (im *importer) shortName(c *cluster, vn varNode) string {
	if c.provisioner == schema.Flatcar {
		name, dom, ok := strings.Cut(vn.fqdn, ".")
		if ok && dom != c.domain {
			im.warnf(c.varsRel, vn.line, "%s: domain %q differs from the rack's %q: rackctl renders %s.%s", vn.fqdn, dom, c.domain, name, c.domain)
		}
		if !ok && c.domain != "" {
			im.warnf(c.varsRel, vn.line, "%s has no domain: rackctl names every node NAME.DOMAIN, so it becomes %s.%s in node_names, clc_snippets, cl/ and /etc/hosts", vn.fqdn, vn.fqdn, c.domain)
		}
		return name
	}
	name, ok := strings.CutSuffix(vn.fqdn, "."+c.domain)
	if !ok || strings.Contains(name, ".") {
		first, _, _ := strings.Cut(vn.fqdn, ".")
		im.errorf(c.varsRel, vn.line, "%s does not end in k8s_domain_name %q: imported as %s.%s", vn.fqdn, c.domain, first, c.domain)
		return first
	}
	return name
}

// excludedName is the name of an excluded node: its dnsmasq host name if
// rackctl wrote one, else the first free index of Racker's numbering (the
// gap exclude.sh left).
func (im *importer) excludedName(c *cluster, n *node, conf *dnsmasqConf, used map[string]bool) string {
	for _, m := range []string{n.MAC, n.BMCMAC} {
		if r, ok := conf.byMAC[m]; ok && r.name != "" {
			name := strings.TrimSuffix(r.name, "-bmc")
			if !used[name] {
				return name
			}
		}
	}
	prefix := c.name + "-worker-"
	if c.provisioner == schema.Flatcar {
		prefix = "node-"
	}
	for i := 0; ; i++ {
		if name := prefix + strconv.Itoa(i); !used[name] {
			im.infof(NodesCSV, n.csvLine, "excluded node %s has no name left in Racker's files: named %s after the first gap in the numbering (rename freely)", n.MAC, name)
			return name
		}
	}
}

func (im *importer) reservations(n *node, row csvNode, conf *dnsmasqConf) {
	if r, ok := conf.byMAC[row.mac]; ok {
		n.ip = r.ip
	} else if !n.Exclude {
		im.errorf(NodesCSV, row.line, "%s (%s) has no dnsmasq reservation in %s", row.mac, n.fqdn, im.layout.DnsmasqConf)
	}
	if r, ok := conf.byMAC[row.bmcMAC]; ok {
		n.bmc = r.ip
	} else {
		im.errorf(NodesCSV, row.line, "BMC MAC %s has no dnsmasq reservation in %s: the first plan allocates it a new address", row.bmcMAC, im.layout.DnsmasqConf)
	}
}

// clcPaths are the node's snippet files: clc_snippets, or Racker's two
// default paths.
func clcPaths(c *cluster, fqdn string) []string {
	if p, ok := c.clcSnippets[fqdn]; ok {
		return p
	}
	return []string{"cl/" + fqdn + ".yaml", "cl/" + fqdn + "-custom.yaml"}
}

func (im *importer) readCLC(c *cluster, n *node, row csvNode) {
	paths := clcPaths(c, n.fqdn)
	if _, ok := c.clcSnippets[n.fqdn]; !ok && c.clcSnippets != nil {
		im.errorf(c.varsRel, 0, "clc_snippets has no entry for %s", n.fqdn)
	}
	var extras []*yaml.Node
	sawPriv := false
	want := fqdn(n.Name, c.domain)
	for i, p := range paths {
		// Racker's paths are cl/NAME.yaml: one that leaves the cluster
		// directory (../../usr/share/oem/ipmi_password) is refused unread.
		rel, err := localPath(c.dir, p)
		if err != nil {
			im.errorf(c.varsRel, c.clcLine, "clc_snippets[%q]: %v", n.fqdn, err)
			continue
		}
		if n.fqdn != want && i < 2 {
			suffix := []string{".yaml", "-custom.yaml"}[i]
			im.renamedCLC[path.Join(c.dir, "cl", want+suffix)] = rel
		}
		src, err := im.read(rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && strings.HasSuffix(p, "-custom.yaml") {
				continue
			}
			im.readError(rel, err)
			continue
		}
		d, err := parseCLC(src)
		if err != nil {
			im.errorf(rel, 0, "not a Container Linux Config: %v", err)
			continue
		}
		if u, ok := d.networkd["10-priv-stable.network"]; ok {
			sawPriv = true
			n.privUnit = true
			n.privRoute = u.first("Route", "Gateway") != "" || u.first("Network", "Gateway") != ""
			if m, _ := macaddr.Normalize(u.first("Match", "MACAddress")); m != n.MAC {
				im.errorf(rel, u.line, "10-priv-stable.network matches MAC %q, but %s has %s", u.first("Match", "MACAddress"), n.fqdn, n.MAC)
			}
			if pfx, err := netip.ParsePrefix(u.first("Address", "Address")); err != nil {
				im.errorf(rel, u.line, "10-priv-stable.network: Address %q is not a CIDR", u.first("Address", "Address"))
			} else if !n.ip.IsValid() {
				n.ip = pfx.Addr()
				im.warnf(rel, u.line, "%s: internal address %s taken from here (no dnsmasq reservation)", n.fqdn, n.ip)
			} else if pfx.Addr() != n.ip {
				im.errorf(rel, u.line, "10-priv-stable.network has address %s, but dnsmasq reserves %s for %s: the reservation is kept", pfx.Addr(), n.ip, n.MAC)
			}
		}
		if u, ok := d.networkd["10-public-stable.network"]; ok {
			im.publicUnit(n, row, rel, u)
		}
		if d.extra != nil {
			extras = append(extras, d.extra)
			n.extra = append(n.extra, p)
			im.infof(rel, 0, "not rendered by rackctl, carried over verbatim into node %s's extraCLC (rendered to cl/%s-extra.yaml): %s", n.Name, n.fqdn, strings.Join(d.extraWhat, ", "))
		}
		if u, ok := d.systemd["boot-workaround-efi-disk-persist.service"]; ok {
			if img := workaroundImage(u.first("Service", "ExecStart")); img != "" && n.image == "" {
				n.image, n.imageFile = img, rel
			}
			if desc := u.first("Unit", "Description"); desc != "" && desc != bootWorkaroundDescription {
				im.infof(rel, u.line, "boot workaround Description= was edited (Racker's no-op reprovision edit): rackctl renders its own; set node.reprovision to force a reinstall")
			}
		}
	}
	if !sawPriv {
		im.warnf(path.Join(c.dir, paths[0]), 0, "no 10-priv-stable.network unit for %s", n.fqdn)
	}
	if x := mergeExtra(extras...); x != nil {
		s, err := encodeYAML(x)
		if err != nil {
			im.errorf(path.Join(c.dir, paths[0]), 0, "extra CLC of %s: %v", n.fqdn, err)
			return
		}
		n.ExtraCLC = s
	}
}

func (im *importer) publicUnit(n *node, row csvNode, rel string, u unitFile) {
	m, _ := macaddr.Normalize(u.first("Match", "MACAddress"))
	if row.secondary != "" && m != row.secondary {
		im.errorf(rel, u.line, "10-public-stable.network matches MAC %s, but nodes.csv line %d gives secondary MAC %s: the unit's MAC is kept", m, row.line, row.secondary)
	}
	n.SecondaryMAC = m
	pfx, err := netip.ParsePrefix(u.first("Address", "Address"))
	if err != nil {
		im.errorf(rel, u.line, "10-public-stable.network: Address %q is not a CIDR", u.first("Address", "Address"))
		return
	}
	n.PublicIP = pfx.String()
	// Gateway and DNS are per rack in rackctl; remember the first and
	// report the others in checkPublic.
	n.pubGW, n.pubDNS, n.pubFile, n.pubLine = u.first("Route", "Gateway"), u.get("Network", "DNS"), rel, u.line
}

// checkHosts compares /etc/hosts with the reservation and reports an
// address with two node names.
func (im *importer) checkHosts(c *cluster, n *node, hosts hostsIndex) {
	lines := hosts.byName[n.fqdn]
	if len(lines) == 0 {
		im.warnf(im.layout.Hosts, 0, "no line for %s", n.fqdn)
	}
	for _, l := range lines {
		if n.ip.IsValid() && l.Addr != n.ip {
			im.errorf(im.layout.Hosts, l.Line, "%s is %s here but dnsmasq reserves %s: the reservation is kept", n.fqdn, l.Addr, n.ip)
		}
	}
	if !n.ip.IsValid() {
		return
	}
	aliases := map[string]bool{n.fqdn: true, n.Name: true}
	if c.provisioner == schema.Lokomotive && n.Role == schema.RoleController {
		aliases[c.name+"."+c.domain] = true
		for i := 0; i < len(c.nodes); i++ {
			aliases[fmt.Sprintf("%s-etcd%d.%s", c.name, i, c.domain)] = true
		}
	}
	for _, l := range hosts.byIP[n.ip] {
		for _, name := range l.Names {
			if !aliases[name] {
				im.errorf(im.layout.Hosts, l.Line, "address %s has two names: %s (the node reserved for it) and %s", n.ip, n.fqdn, name)
			}
		}
	}
}

// checkAddresses makes sure every imported address can be kept: inside the
// subnet, not the gateway, outside the dynamic range. Public gateway and
// DNS must agree across nodes.
func (im *importer) checkAddresses(nodes []*node, net *network, conf *dnsmasqConf) {
	for _, n := range nodes {
		for _, a := range []struct {
			ip  netip.Addr
			mac string
		}{{n.ip, n.MAC}, {n.bmc, n.BMCMAC}} {
			if !a.ip.IsValid() {
				continue
			}
			line := conf.byMAC[a.mac].line
			switch {
			case !net.subnet.Contains(a.ip):
				im.errorf(im.layout.DnsmasqConf, line, "%s is outside the subnet %s: the first plan moves it", a.ip, net.subnet)
			case a.ip == net.gateway:
				im.errorf(im.layout.DnsmasqConf, line, "%s is the management node's address", a.ip)
			case net.dynStart.IsValid() && !a.ip.Less(net.dynStart) && !net.dynEnd.Less(a.ip):
				im.errorf(im.layout.DnsmasqConf, line, "%s is inside the dynamic range %s-%s: the first plan moves it", a.ip, net.dynStart, net.dynEnd)
			}
		}
		if n.PublicIP == "" {
			continue
		}
		if net.pubFile == "" {
			net.pubGW, net.pubDNS, net.pubFile, net.pubLine = n.pubGW, n.pubDNS, n.pubFile, n.pubLine
			continue
		}
		if n.pubGW != net.pubGW || !slices.Equal(n.pubDNS, net.pubDNS) {
			im.warnf(n.pubFile, n.pubLine, "public gateway %s and DNS %v differ from %s's (%s, %v): rackctl has one public network per rack and renders the latter", n.pubGW, n.pubDNS, net.pubFile, net.pubGW, net.pubDNS)
		}
	}
}

func state(nodes []*node) ipam.State {
	st := ipam.State{Version: ipam.StateVersion, Entries: []ipam.Entry{}}
	for _, n := range nodes {
		if n.ip.IsValid() {
			st.Entries = append(st.Entries, ipam.Entry{Node: n.Name, NIC: ipam.Primary, MAC: n.MAC, IP: n.ip})
		}
		if n.bmc.IsValid() {
			st.Entries = append(st.Entries, ipam.Entry{Node: n.Name, NIC: ipam.BMC, MAC: n.BMCMAC, IP: n.bmc})
		}
	}
	sort.Slice(st.Entries, func(i, j int) bool { return st.Entries[i].IP.Less(st.Entries[j].IP) })
	return st
}
