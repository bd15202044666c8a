package racker

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// migration predicts the first plan: it renders the imported rack with the
// imported allocation (render is pure) and compares every file with the
// one on disk. A difference of meaning is a warning, a difference of
// format info; the file's findings name what differs.
func (im *importer) migration(rack *schema.Rack, st ipam.State) {
	im.rack = rack
	_, addrs, changes, err := ipam.Allocate(rack, st)
	if err != nil {
		im.errorf("", 0, "allocation of the imported spec: %v", err)
		return
	}
	for _, c := range changes {
		im.warnf("", 0, "the first plan changes the allocation: %s", c)
	}
	files, err := render.Render(render.Input{Rack: rack, Addrs: addrs, Layout: im.layout})
	if err != nil {
		im.errorf("", 0, "rendering the imported spec: %v", err)
		return
	}
	rendered := map[string]bool{}
	for _, f := range files {
		rendered[f.Path] = true
		old, err := im.read(f.Path)
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			im.readError(f.Path, err)
			continue
		}
		want := f.Content
		if f.Kind == render.Block {
			want = render.MergeBlock(old, f.Content)
		}
		if exists && (bytes.Equal(old, want) || f.Kind == render.Whole && render.SameMeaning(f.Path, old, want)) {
			continue // the plan compares alike: no change
		}
		switch {
		case f.Path == im.layout.DnsmasqConf:
			im.compareDnsmasq(f.Path, old, want)
		case f.Path == im.layout.Hosts:
			im.compareHosts(f.Path, old, want)
		case strings.HasSuffix(f.Path, "/lokocfg.vars") || strings.HasSuffix(f.Path, "/terraform.tfvars"):
			im.compareVars(f.Path, old, want)
		case strings.Contains(f.Path, "/cl/") && strings.HasSuffix(f.Path, ".yaml"):
			if from, ok := im.renamedCLC[f.Path]; ok && !exists {
				if b, err := im.read(from); err == nil {
					im.infof(f.Path, 0, "replaces %s (the node's name gains the domain)", from)
					old, exists = b, true
				}
			}
			im.compareCLC(f.Path, old, want, exists)
		case !exists:
			im.infof(f.Path, 0, "format migration: created by the first apply (%s)", purpose(f.Path))
		default:
			im.infof(f.Path, 0, "format migration: rewritten in rackctl's form by the first apply (%s)", purpose(f.Path))
		}
	}
	im.checkFlags(rack)
	if rack.Provisioner == schema.Flatcar {
		st := path.Join(im.layout.FlatcarDir, "terraform.tfstate")
		if b, err := im.readFile(st, maxStateSize); err == nil && bytes.Contains(b, []byte(provision.RackerModule)) {
			im.warnf(st, 0, "holds Racker's %s: the first apply stops before terraform and prints the `terraform state mv` commands that hand its matchbox objects to rackctl's module; run them in %s, then apply again", provision.RackerModule, im.layout.FlatcarDir)
		}
	}
	// Racker's CLC files rackctl no longer renders.
	dir := im.layout.LokomotiveDir
	if rack.Provisioner == schema.Flatcar {
		dir = im.layout.FlatcarDir
	}
	entries, _ := im.fs.ReadDir(path.Join(dir, "cl"))
	for _, e := range entries {
		p := path.Join(dir, "cl", e.Name())
		if !e.IsDir() && !rendered[p] {
			im.warnf(p, 0, "no longer referenced by the rendered cluster config (its node is renamed or excluded); left in place, delete it after the first apply")
		}
	}
}

// checkFlags warns of every node the first apply would install: Racker
// marked an installed node with a flag file, and deleted it to reprovision.
func (im *importer) checkFlags(rack *schema.Rack) {
	for _, n := range rack.ActiveNodes() {
		flag := render.FlagFilePath(im.layout, rack.Provisioner, n.MAC)
		b, err := im.read(flag)
		if err == nil {
			// Racker's module (lokomotive's matchbox-flatcar) writes the
			// node's name into it and PXE-installs a node whose flag file
			// holds anything else on its next config change.
			if got := strings.TrimSuffix(string(b), "\n"); got != rack.FQDN(n) {
				im.warnf(flag, 0, "node %s's flag file holds %s, not its name %s: the provisioner takes the node as not installed and PXE-installs it on its next config change; write the name into it if the node is installed", n.Name, flagContent(got), rack.FQDN(n))
			}
			continue
		}
		im.warnf(flag, 0, "node %s has no flag file: Racker has not installed it or a reprovision is pending; the first apply installs it (PXE boot, its disk is wiped). Create the file if the node is installed and must be kept", n.Name)
	}
}

// flagContent shows what a flag file holds when it is a name (what it
// should hold), and only its size otherwise: the import never echoes a
// file's content it cannot vouch for.
func flagContent(s string) string {
	if len(s) <= 253 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%d bytes that are not a host name", len(s))
}

func purpose(p string) string {
	switch {
	case strings.HasSuffix(p, ".ign"):
		return "Ignition rendered from the cl/ files; the flatcar module takes it instead of transpiling in Terraform"
	case strings.Contains(p, "/"+render.ModuleDir+"/"):
		return "rackctl's flatcar-baremetal Terraform module"
	case strings.HasSuffix(p, "/baremetal.lokocfg"), strings.HasSuffix(p, "/flatcar.tf"):
		return "the same settings, read from the vars file; Racker's literal values move to rack.yaml"
	case strings.HasSuffix(p, ".lokocfg"):
		return "one component per file"
	}
	return "rackctl's layout"
}

// compareDnsmasq: the MAC→IP reservations must stay; the rest is format.
func (im *importer) compareDnsmasq(rel string, old, want []byte) {
	quiet := &importer{}
	o, n := quiet.parseDnsmasq(rel, old), quiet.parseDnsmasq(rel, want)
	same := true
	for _, r := range o.reservations {
		nr, ok := n.byMAC[r.mac]
		switch {
		case !ok:
			same = false
			im.warnf(rel, r.line, "reservation %s → %s is dropped by the first apply (an excluded node keeps only its BMC's unless network.internal.dhcp.reserveExcludedPrimary)", r.mac, r.ip)
		case nr.ip != r.ip:
			same = false
			im.warnf(rel, r.line, "reservation %s moves from %s to %s", r.mac, r.ip, nr.ip)
		}
	}
	for _, r := range n.reservations {
		if _, ok := o.byMAC[r.mac]; !ok {
			same = false
			im.warnf(rel, 0, "the first apply adds reservation %s → %s", r.mac, r.ip)
		}
	}
	removed, added := lineDiff(directives(old), directives(want))
	leases := map[string]bool{}
	for _, r := range o.reservations {
		leases[r.lease] = true
	}
	var parts []string
	if same {
		parts = append(parts, "the MAC→IP reservations stay the same")
	}
	parts = append(parts, fmt.Sprintf("reservations: lease %s (Racker: %s), host names %t", im.rack.Network.Internal.DHCP.Lease(), strings.Join(sortedKeys(leases), ", "), im.rack.Network.Internal.DHCP.NamesHosts()))
	if len(removed) > 0 {
		parts = append(parts, "directives replaced: "+strings.Join(removed, "; "))
	}
	if len(added) > 0 {
		parts = append(parts, "directives added: "+strings.Join(added, "; "))
	}
	im.infof(rel, 0, "format migration: %s", strings.Join(parts, "; "))
}

func directives(src []byte) []string {
	var out []string
	for _, l := range strings.Split(string(src), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "dhcp-host=") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// lineDiff lists the lines only in a and only in b, in their order.
func lineDiff(a, b []string) (onlyA, onlyB []string) {
	inA, inB := map[string]bool{}, map[string]bool{}
	for _, l := range a {
		inA[l] = true
	}
	for _, l := range b {
		inB[l] = true
	}
	for _, l := range a {
		if !inB[l] {
			onlyA = append(onlyA, l)
		}
	}
	for _, l := range b {
		if !inA[l] {
			onlyB = append(onlyB, l)
		}
	}
	return onlyA, onlyB
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		if k == "" {
			k = "none"
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hostsNames maps each name to its addresses.
func hostsNames(src []byte) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	for _, l := range render.ParseHosts(src) {
		for _, n := range l.Names {
			if !containsAddr(out[n], l.Addr) {
				out[n] = append(out[n], l.Addr)
			}
		}
	}
	return out
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// compareHosts: every name keeps its addresses; rackctl adds its block.
func (im *importer) compareHosts(rel string, old, want []byte) {
	o, n := hostsNames(old), hostsNames(want)
	var added []string
	for name, addrs := range n {
		prev, ok := o[name]
		if !ok {
			added = append(added, name)
			continue
		}
		if len(addrs) != len(prev) {
			im.warnf(rel, 0, "%s resolves to %v after the first apply (was %v)", name, addrs, prev)
		}
	}
	for name, prev := range o {
		if _, ok := n[name]; !ok {
			im.warnf(rel, 0, "%s (%v) is removed by the first apply", name, prev)
		}
	}
	sort.Strings(added)
	var racker []string
	blk, _ := render.ExtractBlock(want)
	for _, l := range render.ParseHosts(old) {
		all := true
		for _, name := range l.Names {
			all = all && blockHasName(blk, name)
		}
		if all {
			racker = append(racker, fmt.Sprint(l.Line))
		}
	}
	msg := "the first apply adds rackctl's marked block (Racker's lines are not exactly the ones rackctl renders, so they are not adopted as the block); every name keeps its address"
	if len(added) > 0 {
		msg += "; names added: " + strings.Join(added, ", ")
	}
	if len(racker) > 0 {
		msg += "; Racker's lines " + strings.Join(racker, ", ") + " name only what the block names: the block replaces them"
	}
	im.infof(rel, 0, "%s", msg)
}

func blockHasName(blk []byte, name string) bool {
	for _, l := range render.ParseHosts(blk) {
		for _, n := range l.Names {
			if n == name {
				return true
			}
		}
	}
	return false
}

// Variables whose meaning the cluster depends on; a change to them is a
// warning. The rest (paths, endpoints, new variables) is format.
var semanticVars = map[string]bool{
	"cluster_name": true, "k8s_domain_name": true,
	"controller_macs": true, "controller_names": true, "worker_macs": true, "worker_names": true,
	"node_macs": true, "node_names": true,
	"clc_snippets": true, "installer_clc_snippets": true, "node_specific_labels": true,
	"kernel_console": true, "install_pre_reboot_cmds": true, "pxe_commands": true,
}

func varsValues(rel string, src []byte) map[string]cty.Value {
	out := map[string]cty.Value{}
	f, d := parseHCLSafe(rel, src)
	if d.HasErrors() {
		return out
	}
	attrs, _ := f.Body.JustAttributes()
	for name, a := range attrs {
		if v, d := a.Expr.Value(nil); !d.HasErrors() {
			out[name] = v
		}
	}
	return out
}

// compareVars compares the variables value by value. Snippet entries that
// point to empty configs (Racker's empty -custom.yaml) are left out of the
// comparison: they have no effect.
func (im *importer) compareVars(rel string, old, want []byte) {
	dir := path.Dir(rel)
	o, n := varsValues(rel, old), varsValues(rel, want)
	var names []string
	seen := map[string]bool{}
	for k := range o {
		names, seen[k] = append(names, k), true
	}
	for k := range n {
		if !seen[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var format []string
	for _, name := range names {
		ov, ook := o[name]
		nv, nok := n[name]
		if ook && nok && sameValue(ov, nv) {
			continue
		}
		if strings.HasSuffix(name, "clc_snippets") {
			ov, nv = im.dropEmptySnippets(dir, ov), im.dropEmptySnippets(dir, nv)
			if ook && nok && sameValue(ov, nv) {
				format = append(format, name+" "+snippetsDiff(o[name], n[name]))
				continue
			}
		}
		switch {
		case !ook:
			format = append(format, name+" added")
		case !nok:
			if semanticVars[name] {
				im.warnf(rel, 0, "%s is removed by the first apply", name)
			} else {
				format = append(format, name+" removed")
			}
		case semanticVars[name]:
			im.warnf(rel, 0, "%s changes: %s → %s", name, short(ov), short(nv))
		default:
			format = append(format, fmt.Sprintf("%s %s → %s", name, short(ov), short(nv)))
		}
	}
	if len(format) > 0 {
		im.infof(rel, 0, "format migration: %s", strings.Join(format, "; "))
	} else {
		im.infof(rel, 0, "layout only: every variable keeps its value; the first apply rewrites the file in rackctl's layout (whitespace, order of map entries, a header comment)")
	}
}

func sameValue(a, b cty.Value) bool {
	ga, err1 := goValue(a)
	gb, err2 := goValue(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return fmt.Sprint(ga) == fmt.Sprint(gb)
}

func short(v cty.Value) string {
	g, err := goValue(v)
	if err != nil {
		return "?"
	}
	s := fmt.Sprintf("%v", g)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// dropEmptySnippets removes, from a map of snippet path lists, the paths of
// files that hold an empty config (on disk, or as rendered: "{}").
func (im *importer) dropEmptySnippets(dir string, v cty.Value) cty.Value {
	m, ok := stringListMap(v)
	if !ok {
		return v
	}
	out := map[string]cty.Value{}
	for k, paths := range m {
		var keep []cty.Value
		for _, p := range paths {
			rel, err := localPath(dir, p)
			if err != nil { // reported by readCLC; never read
				keep = append(keep, cty.StringVal(p))
				continue
			}
			// A rendered -extra.yaml holds hand edits carried over from the
			// node's other files: not a change of meaning.
			if strings.HasSuffix(p, "-extra.yaml") {
				if _, err := im.read(rel); err != nil {
					continue
				}
			}
			if !im.emptyCLC(rel) {
				keep = append(keep, cty.StringVal(p))
			}
		}
		if len(keep) > 0 {
			out[k] = cty.TupleVal(keep)
		}
	}
	return cty.ObjectVal(out)
}

func (im *importer) emptyCLC(rel string) bool {
	if strings.HasSuffix(rel, "-custom.yaml") {
		b, err := im.read(rel)
		if err != nil {
			// Not on disk: rendered; rackctl's -custom.yaml of a node without a
			// public IP is "{}".
			return true
		}
		s := strings.TrimSpace(string(b))
		return s == "" || s == "{}"
	}
	return false
}

// compareCLC compares the networkd units (meaning) and the rest (format).
func (im *importer) compareCLC(rel string, old, want []byte, exists bool) {
	n, err := parseCLC(want)
	if err != nil {
		im.errorf(rel, 0, "rendered CLC does not parse: %v", err)
		return
	}
	if !exists {
		switch {
		case strings.HasSuffix(rel, "-extra.yaml"):
			im.infof(rel, 0, "created by the first apply: the node's extraCLC (carried-over hand edits), added to its clc_snippets")
		default:
			var units []string
			for u := range n.networkd {
				units = append(units, u)
			}
			sort.Strings(units)
			im.warnf(rel, 0, "created by the first apply (Racker had no file here): networkd units %s", strings.Join(units, ", "))
		}
		return
	}
	o, err := parseCLC(old)
	if err != nil {
		return // reported when the node was read
	}
	for _, name := range unionKeys(o.networkd, n.networkd) {
		ou, ook := o.networkd[name]
		nu, nok := n.networkd[name]
		switch {
		case !ook:
			im.warnf(rel, 0, "networkd unit %s is added by the first apply", name)
		case !nok:
			im.warnf(rel, ou.line, "networkd unit %s is removed by the first apply", name)
		default:
			removed, added := lineDiff(unitLines(ou.content), unitLines(nu.content))
			if len(removed) > 0 || len(added) > 0 {
				im.warnf(rel, ou.line, "networkd unit %s changes: %s", name, describeLines(removed, added))
			}
		}
	}
	var format []string
	for _, name := range unionKeys(o.systemd, n.systemd) {
		ou, ook := o.systemd[name]
		nu, nok := n.systemd[name]
		switch {
		case !ook:
			format = append(format, "systemd unit "+name+" added")
		case !nok:
			format = append(format, "systemd unit "+name+" removed")
		default:
			removed, added := lineDiff(unitLines(ou.content), unitLines(nu.content))
			if len(removed) > 0 || len(added) > 0 {
				format = append(format, "systemd unit "+name+": "+describeLines(removed, added))
			}
		}
	}
	for p := range n.files {
		if _, ok := o.files[p]; !ok {
			format = append(format, "file "+p+" added")
		}
	}
	for p := range o.files {
		if _, ok := n.files[p]; !ok {
			format = append(format, "file "+p+" removed")
		}
	}
	if o.extra != nil {
		format = append(format, "parts rackctl does not render move to the node's -extra.yaml")
	}
	if n.extra != nil {
		format = append(format, "sections added: "+strings.Join(n.extraWhat, ", "))
	}
	if len(format) == 0 {
		format = append(format, "same content, rackctl's formatting")
	}
	sort.Strings(format)
	im.infof(rel, 0, "outside networkd: %s", strings.Join(format, "; "))
}

func unitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func describeLines(removed, added []string) string {
	var parts []string
	if len(removed) > 0 {
		parts = append(parts, "- "+strings.Join(removed, ", - "))
	}
	if len(added) > 0 {
		parts = append(parts, "+ "+strings.Join(added, ", + "))
	}
	return strings.Join(parts, ", ")
}

func unionKeys(a, b map[string]unitFile) []string {
	seen := map[string]bool{}
	var out []string
	for k := range a {
		seen[k] = true
		out = append(out, k)
	}
	for k := range b {
		if !seen[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// snippetsDiff describes how two snippet maps differ when only empty
// configs and -extra.yaml files do.
func snippetsDiff(a, b cty.Value) string {
	am, _ := stringListMap(a)
	bm, _ := stringListMap(b)
	var extra []string
	for name, paths := range bm {
		for _, p := range paths {
			if strings.HasSuffix(p, "-extra.yaml") && !slices.Contains(am[name], p) {
				extra = append(extra, p)
			}
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		return "gains " + strings.Join(extra, ", ") + " (extraCLC carried over verbatim; entries of empty configs aside, nothing else differs)"
	}
	return "(only entries of empty configs differ)"
}
