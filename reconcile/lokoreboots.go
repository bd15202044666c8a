package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/rackctl/rackctl/internal/inputlimit"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// Lokomotive's bare-metal module builds every node's Ignition from the
// shared inputs (lokocfg.vars and the cluster block of baremetal.lokocfg)
// and reboots an installed node whose Ignition changes (its
// "reprovision-node-when-ignition-changes" resource is keyed on the node's
// raw Ignition). It addresses nodes by list position (module.controller[i],
// module.worker[i], the hostname and etcd name of controller i), so a node
// leaving a list changes the Ignition of every node after it, and the
// number of controllers is in each controller's etcd member list.
//
// rackctl compares the shared inputs on disk with the rendered ones. An
// input known not to reach a node's Ignition is left out; a per-node input
// counts for the nodes whose list slot changes; every other changed input,
// and anything rackctl cannot read, counts for every installed node.

// lokoNoIgnition are inputs that reach no installed node's Ignition: the
// matchbox provider's endpoint and TLS files, settings of the PXE install
// (used only for nodes without a flag file) and cluster components.
var lokoNoIgnition = map[string]bool{
	"matchbox_addr": true, "matchbox_endpoint": true,
	"matchbox_ca_path": true, "matchbox_client_cert_path": true, "matchbox_client_key_path": true,
	"pxe_commands": true, "install_pre_reboot_cmds": true,
	"cached_install": true, "install_to_smallest_disk": true, "wipe_additional_disks": true,
	"network_ip_autodetection_method": true, "conntrack_max_per_core": true,
}

// lokoPerNode are the variables read per list slot; lokoSlots compares them.
var lokoPerNode = map[string]bool{
	"controller_macs": true, "controller_names": true, "worker_macs": true, "worker_names": true,
	"clc_snippets": true, "installer_clc_snippets": true, "node_specific_labels": true,
}

// maxHCLDepth bounds the bracket nesting of a shared input rackctl parses:
// deeper files (no rendered one comes close) count as unreadable instead of
// reaching the recursive parser.
const maxHCLDepth = 64

// lokoSlot is what one list position of a role gives its node's Ignition.
type lokoSlot struct {
	Name, MAC                       string
	Snippets, Installer, NodeLabels string // canonical JSON
}

// lokoInputs are the shared inputs of one version of the lokomotive dir.
type lokoInputs struct {
	attrs map[string]string // "var.NAME" and "cluster.NAME" → canonical text
	slots map[string][]lokoSlot
}

// lokoRebootCause is one reason lokoctl reboots nodes, with those nodes.
type lokoRebootCause struct {
	cause string
	nodes []string
}

// sharedInputReboots are the installed, active nodes whose Ignition the
// changed shared inputs change, grouped by cause in a stable order.
// installed tells whether a node is installed and not being installed.
func (pl *planner) sharedInputReboots(shared []string, installed func(*schema.Node) (bool, error)) ([]lokoRebootCause, error) {
	causes := map[string][]string{} // cause → fqdn of the slots it reaches (role "*": all)
	var order []string
	add := func(cause string, roleOrSlot string) {
		if _, ok := causes[cause]; !ok {
			order = append(order, cause)
		}
		causes[cause] = append(causes[cause], roleOrSlot)
	}
	dir := pl.layout.LokomotiveDir
	analyse := false
	for _, rel := range shared {
		switch {
		case rel == "lokocfg.vars" || rel == "baremetal.lokocfg":
			analyse = true
		case path.Ext(rel) == ".lokocfg" && !strings.Contains(rel, "/"):
			// A component: cluster software, not a node's Ignition.
		default:
			add(rel+" (not known to rackctl)", "*")
		}
	}
	if analyse {
		var old, want lokoInputs
		var errOld, errNew error
		old, errOld = pl.readLokoInputs(dir, true)
		want, errNew = pl.readLokoInputs(dir, false)
		switch {
		case errNew != nil:
			add(errNew.Error(), "*")
		case errOld != nil:
			add(errOld.Error(), "*")
		default:
			diffLokoInputs(old, want, add, func(oldList, newList string) bool {
				return pl.sameSnippetIgnition(dir, oldList, newList)
			})
		}
	}
	if len(order) == 0 {
		return nil, nil
	}
	var out []lokoRebootCause
	for _, cause := range order {
		targets := map[string]bool{}
		for _, t := range causes[cause] {
			targets[t] = true
		}
		var nodes []string
		for _, n := range pl.rack.ActiveNodes() {
			if !targets["*"] && !targets["role:"+n.Role] && !targets[pl.rack.FQDN(n)] {
				continue
			}
			ok, err := installed(n)
			if err != nil {
				return nil, err
			}
			if ok {
				nodes = append(nodes, n.Name)
			}
		}
		if len(nodes) > 0 {
			out = append(out, lokoRebootCause{cause: cause, nodes: nodes})
		}
	}
	return out, nil
}

// diffLokoInputs calls add(cause, target) for every difference between old
// and want that changes a node's Ignition; target is "*" (every node),
// "role:ROLE" or the FQDN of the node now at a changed slot.
//
// sameSnippets tells whether two clc_snippets lists of a slot (canonical
// JSON, the old one on disk, the new one rendered) merge into the same
// Ignition: the import moves hand edits into a new snippet, which changes
// the list but not the node.
func diffLokoInputs(old, want lokoInputs, add func(cause, target string), sameSnippets func(oldList, newList string) bool) {
	keys := map[string]bool{}
	for k := range old.attrs {
		keys[k] = true
	}
	for k := range want.attrs {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		a, inOld := old.attrs[k]
		b, inNew := want.attrs[k]
		if inOld && inNew && a == b {
			continue
		}
		kind, name, _ := strings.Cut(k, ".")
		if lokoNoIgnition[name] || (kind == "var" && lokoPerNode[name]) {
			continue
		}
		add(lokoCause(kind, name), "*")
	}
	for _, role := range (lokomotiveProvisioner{}).Roles() {
		o, w := old.slots[role], want.slots[role]
		if role == schema.RoleController && len(o) != len(w) {
			// etcd's initial cluster lists every controller.
			add(fmt.Sprintf("the number of controllers changes (%d -> %d): every controller's etcd member list", len(o), len(w)), "role:"+role)
		}
		for i, s := range w {
			if i >= len(o) {
				continue // a new slot: its node is new or moved; moved ones differ below
			}
			p := o[i]
			switch {
			case p.Name != s.Name || p.MAC != s.MAC:
				add(fmt.Sprintf("%s list positions shift (Lokomotive indexes nodes by position: hostname, etcd name, matchbox profile)", role), s.Name)
			case p.NodeLabels != s.NodeLabels:
				add("node_specific_labels (kubelet labels in the node's Ignition)", s.Name)
			case p.Snippets != s.Snippets && !sameSnippets(p.Snippets, s.Snippets):
				add("clc_snippets lists", s.Name)
			case p.Installer != s.Installer:
				add("installer_clc_snippets lists", s.Name)
			}
		}
	}
}

func lokoCause(kind, name string) string {
	what := map[string]string{
		"labels":                 "cluster.labels (kubelet labels in every node's Ignition)",
		"ssh_pubkeys":            "cluster.sshPubKeys (in every node's Ignition)",
		"cluster_name":           "cluster.name (hostnames, API server and etcd names in every node's Ignition)",
		"k8s_domain_name":        "domain (API server and etcd names in every node's Ignition)",
		"kernel_args":            "install.kernelArgs (written to every node's boot config when its Ignition re-runs)",
		"kernel_console":         "install.kernelConsole (written to every node's boot config when its Ignition re-runs)",
		"matchbox_http_endpoint": "matchbox.httpEndpoint (every node's Ignition URL)",
		"asset_dir":              "asset_dir (where lokoctl looks for the flag files of installed nodes)",
	}[name]
	if what == "" {
		what = "an input rackctl cannot place"
	}
	file := "lokocfg.vars " + name
	if kind == "cluster" {
		file = "baremetal.lokocfg " + name
	} else if kind == "block" {
		file = "baremetal.lokocfg block " + name
	}
	return file + ": " + what
}

// readLokoInputs reads the shared inputs on disk (onDisk) or as rendered.
func (pl *planner) readLokoInputs(dir string, onDisk bool) (lokoInputs, error) {
	in := lokoInputs{attrs: map[string]string{}, slots: map[string][]lokoSlot{}}
	read := func(rel string) ([]byte, error) {
		p := path.Join(dir, rel)
		if !onDisk {
			return pl.desired(p), nil
		}
		b, _, exists, err := readCurrent(pl.opts.Root, p)
		if err != nil {
			return nil, fmt.Errorf("%s on disk not readable: %w", rel, err)
		}
		if !exists {
			return nil, fmt.Errorf("%s not on disk: rackctl cannot tell which nodes the new one reaches", rel)
		}
		return b, nil
	}
	where := "rendered"
	if onDisk {
		where = "on disk"
	}
	vars, err := read("lokocfg.vars")
	if err != nil {
		return in, err
	}
	values, err := lokoVarValues(vars)
	if err != nil {
		return in, fmt.Errorf("lokocfg.vars %s: %v: rackctl cannot tell which nodes it reaches", where, err)
	}
	for name, v := range values {
		in.attrs["var."+name] = string(v)
	}
	cfg, err := read("baremetal.lokocfg")
	if err != nil {
		return in, err
	}
	eval := lokoEvaluator{root: pl.opts.Root, home: path.Dir(dir), vars: values}
	if err := lokoClusterAttrs(cfg, in.attrs, eval); err != nil {
		return in, fmt.Errorf("baremetal.lokocfg %s: %v: rackctl cannot tell which nodes it reaches", where, err)
	}
	for _, role := range (lokomotiveProvisioner{}).Roles() {
		if in.slots[role], err = lokoSlots(values, role); err != nil {
			return in, fmt.Errorf("lokocfg.vars %s: %v: rackctl cannot tell which nodes it reaches", where, err)
		}
	}
	return in, nil
}

// lokoVarValues evaluates every attribute of a vars file (literals only)
// to canonical JSON.
func lokoVarValues(src []byte) (map[string]json.RawMessage, error) {
	if err := checkDepth(src); err != nil {
		return nil, err
	}
	f, diags := hclsyntax.ParseConfig(src, "lokocfg.vars", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("does not parse: %s", diags.Error())
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diags.Error())
	}
	out := map[string]json.RawMessage{}
	for name, a := range attrs {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() || !v.IsWhollyKnown() {
			return nil, fmt.Errorf("%s is not a literal value", name)
		}
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// lokoClusterAttrs adds each attribute of the cluster block ("cluster.NAME",
// its value when eval can tell it, else its tokens without layout) and each
// other block but variables and components ("block.TYPE") to attrs.
func lokoClusterAttrs(src []byte, attrs map[string]string, eval lokoEvaluator) error {
	if err := checkDepth(src); err != nil {
		return err
	}
	syn, diags := hclsyntax.ParseConfig(src, "baremetal.lokocfg", hcl.InitialPos)
	if diags.HasErrors() {
		return fmt.Errorf("does not parse: %s", diags.Error())
	}
	f, diags := hclwrite.ParseConfig(src, "baremetal.lokocfg", hcl.InitialPos)
	if diags.HasErrors() {
		return fmt.Errorf("does not parse: %s", diags.Error())
	}
	for name, a := range f.Body().Attributes() {
		attrs["block.top-level "+name] = tokenText(a.BuildTokens(nil))
	}
	for _, b := range f.Body().Blocks() {
		switch b.Type() {
		case "variable", "component":
			continue
		case "cluster":
			values := eval.clusterValues(syn.Body.(*hclsyntax.Body))
			for name, a := range b.Body().Attributes() {
				if v, ok := values[name]; ok {
					attrs["cluster."+name] = v
					continue
				}
				attrs["cluster."+name] = tokenText(a.Expr().BuildTokens(nil))
			}
			for _, nb := range b.Body().Blocks() {
				attrs["block.cluster."+nb.Type()+" "+strings.Join(nb.Labels(), " ")] = tokenText(nb.BuildTokens(nil))
			}
			attrs["block.cluster "+strings.Join(b.Labels(), " ")] = ""
		default:
			attrs["block."+b.Type()+" "+strings.Join(b.Labels(), " ")] = tokenText(b.BuildTokens(nil))
		}
	}
	return nil
}

func tokenText(ts hclwrite.Tokens) string {
	var parts []string
	for _, t := range ts {
		switch t.Type {
		case hclsyntax.TokenNewline, hclsyntax.TokenComment, hclsyntax.TokenEOF:
			continue
		}
		parts = append(parts, string(t.Bytes))
	}
	return strings.Join(parts, " ")
}

// lokoSlots are the list slots of role, from the evaluated vars.
func lokoSlots(values map[string]json.RawMessage, role string) ([]lokoSlot, error) {
	var names, macs []string
	if err := unmarshalVar(values, role+"_names", &names); err != nil {
		return nil, err
	}
	if err := unmarshalVar(values, role+"_macs", &macs); err != nil {
		return nil, err
	}
	if len(names) != len(macs) {
		return nil, fmt.Errorf("%s_names and %s_macs differ in length (%d, %d)", role, role, len(names), len(macs))
	}
	maps := map[string]map[string]json.RawMessage{}
	for _, v := range []string{"clc_snippets", "installer_clc_snippets", "node_specific_labels"} {
		m := map[string]json.RawMessage{}
		if raw, ok := values[v]; ok {
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("%s: %w", v, err)
			}
		}
		maps[v] = m
	}
	out := make([]lokoSlot, len(names))
	for i, name := range names {
		out[i] = lokoSlot{
			Name: name, MAC: macs[i],
			Snippets:   string(maps["clc_snippets"][name]),
			Installer:  string(maps["installer_clc_snippets"][name]),
			NodeLabels: string(maps["node_specific_labels"][name]),
		}
	}
	return out, nil
}

func unmarshalVar(values map[string]json.RawMessage, name string, v any) error {
	raw, ok := values[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// checkDepth refuses nesting deeper than maxHCLDepth, counted as
// internal/inputlimit counts what the HCL parser recurses on.
func checkDepth(src []byte) error {
	if err := inputlimit.CheckHCLDepth(src, maxHCLDepth); err != nil {
		return fmt.Errorf("nested deeper than %d levels (%w)", maxHCLDepth, err)
	}
	return nil
}

// sameSnippetIgnition says whether the snippet files of oldList, read from
// disk, and those of newList, as rendered, merge into the same Ignition.
// Anything unreadable counts as different.
func (pl *planner) sameSnippetIgnition(dir, oldList, newList string) bool {
	var oldPaths, newPaths []string
	if json.Unmarshal([]byte(oldList), &oldPaths) != nil || json.Unmarshal([]byte(newList), &newPaths) != nil {
		return false
	}
	var cur, want [][]byte
	for _, p := range oldPaths {
		if !filepath.IsLocal(p) {
			return false
		}
		b, _, exists, err := readCurrent(pl.opts.Root, path.Join(dir, p))
		if err != nil || !exists {
			return false
		}
		cur = append(cur, b)
	}
	for _, p := range newPaths {
		if !filepath.IsLocal(p) {
			return false
		}
		want = append(want, pl.desired(path.Join(dir, p)))
	}
	a, err := render.SnippetsIgnition(cur...)
	if err != nil {
		return false
	}
	b, err := render.SnippetsIgnition(want...)
	return err == nil && bytes.Equal(a, b)
}
