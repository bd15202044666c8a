package racker

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rackctl/rackctl/schema"
)

// yaml.v3 node builders: the spec is written as a node tree so that every
// value is quoted correctly and comments sit where they belong.

func ymap() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if yaml11Bool[strings.ToLower(s)] {
		n.Style = yaml.DoubleQuotedStyle // a YAML 1.1 reader (yaml.v2, kubectl) takes yes/no/on/off as booleans
	}
	return n
}

var yaml11Bool = map[string]bool{"y": true, "yes": true, "n": true, "no": true, "on": true, "off": true, "true": true, "false": true}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func strList(ss []string, flow bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	if flow {
		n.Style = yaml.FlowStyle
	}
	for _, s := range ss {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// set adds key: val to m, with an optional comment above the key.
func set(m *yaml.Node, key string, val *yaml.Node, comment ...string) {
	k := str(key)
	k.Tag = ""
	if len(comment) > 0 {
		k.HeadComment = strings.Join(comment, "\n")
	}
	m.Content = append(m.Content, k, val)
}

// anyNode converts a component value (from goValue) to YAML.
func anyNode(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	case string:
		return str(x), nil
	case bool:
		return boolean(x), nil
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(x, 10)}, nil
	case float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(x, 'g', -1, 64)}, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range x {
			c, err := anyNode(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case map[string]any:
		n := ymap()
		n.Style = 0
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c, err := anyNode(x[k])
			if err != nil {
				return nil, err
			}
			set(n, k, c)
		}
		if len(keys) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n, nil
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

// spec writes rack.yaml.
func (im *importer) spec(c *cluster, net *network, nodes []*node) ([]byte, error) {
	doc := ymap()
	specHeader(doc, c)
	set(doc, "network", networkSpec(net))
	if mb := matchboxSpec(c, net); len(mb.Content) > 0 {
		set(doc, "matchbox", mb)
	}
	set(doc, "bmc", im.bmcSpec())
	set(doc, "install", installSpec(c, net.compat))
	cl, err := clusterSpec(c)
	if err != nil {
		return nil, err
	}
	set(doc, "cluster", cl)
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, n := range nodes {
		list.Content = append(list.Content, nodeSpec(n))
	}
	set(doc, "nodes", list)
	s, err := encodeYAML(doc)
	if err != nil {
		return nil, fmt.Errorf("write spec: %w", err)
	}
	return []byte(s), nil
}

// specHeader writes the head comment and the rack-wide scalars.
func specHeader(doc *yaml.Node, c *cluster) {
	doc.HeadComment = strings.Join([]string{
		"Imported from a Racker management node by `rackctl import racker`.",
		"",
		"The internal addresses are not pinned here: they are kept in the state dir's",
		"allocation.json, written by the import (each node's are in a comment below).",
		"Install that file with this spec, or the first plan allocates new addresses.",
		"Review the import report: warnings name what the first plan changes.",
	}, "\n")
	set(doc, "apiVersion", str(schema.APIVersion))
	set(doc, "kind", str(schema.Kind))
	set(doc, "name", str(c.name), "Racker has no rack name: this is the cluster name; rename freely.")
	set(doc, "provisioner", str(string(c.provisioner)))
	if c.domain == "" {
		set(doc, "domain", str(c.domain), "Racker's flatcar names have no domain: they are used as they are.")
	} else {
		set(doc, "domain", str(c.domain))
	}
	set(doc, "fileFormat", str(string(schema.FormatRacker)),
		"Racker's formats for dnsmasq.conf, the /etc/hosts lines and the vars file:",
		"the first plan leaves them as they are. Set rackctl to switch (one rewrite).")
}

// networkSpec is network: the internal network as Racker's dnsmasq serves
// it and the public one, if any.
func networkSpec(net *network) *yaml.Node {
	netw := ymap()
	set(netw, "internal", internalSpec(net))
	if net.pubFile != "" {
		pub := ymap()
		set(pub, "gateway", str(net.pubGW))
		set(pub, "dns", strList(net.pubDNS, true))
		set(netw, "public", pub)
	}
	return netw
}

// internalSpec is network.internal, keeping Racker's DHCP behaviour where it
// differs from rackctl's defaults.
func internalSpec(net *network) *yaml.Node {
	in := ymap()
	set(in, "subnet", str(net.subnet.String()))
	set(in, "gateway", str(net.gateway.String()))
	dns := strList(net.dns, true)
	if len(net.dns) == 0 {
		set(in, "dns", dns, "Racker sent no DNS server over DHCP.")
	} else {
		set(in, "dns", dns)
	}
	if net.iface != "" {
		set(in, "interface", str(net.iface))
	}
	if net.dynStart.IsValid() {
		dr := ymap()
		set(dr, "start", str(net.dynStart.String()))
		set(dr, "end", str(net.dynEnd.String()))
		set(in, "dynamicRange", dr, "Racker's dhcp-range; static addresses stay below it.")
	}
	if !net.compat.defaultRoute {
		set(in, "defaultRoute", boolean(false), "As Racker: nodes without a public IP have a link-scope internal address, no route.")
	}
	if dhcp := dhcpCompat(net.compat); len(dhcp.Content) > 0 {
		set(in, "dhcp", dhcp, "Racker's reservations, kept as they are.")
	}
	return in
}

// dhcpCompat is network.internal.dhcp: only the settings where Racker's
// dnsmasq differs from rackctl's defaults.
func dhcpCompat(cp compat) *yaml.Node {
	dhcp := ymap()
	if cp.lease != "" && cp.lease != schema.DefaultReservationLease {
		set(dhcp, "reservationLease", str(cp.lease))
	}
	if !cp.hostNames {
		set(dhcp, "hostNames", boolean(false))
	}
	if !cp.announceRouter {
		set(dhcp, "announceRouter", boolean(false), "Racker sent the router option empty.")
	}
	if cp.excludedPrim {
		set(dhcp, "reserveExcludedPrimary", boolean(true), "exclude.sh left the primary NIC's reservation of excluded nodes.")
	}
	return dhcp
}

// matchboxSpec is matchbox: only the endpoints and cert dir that differ
// from what rackctl derives from the gateway.
func matchboxSpec(c *cluster, net *network) *yaml.Node {
	gw := net.gateway.String()
	mb := ymap()
	if net.httpEP != "http://"+gw+":8080" {
		set(mb, "httpEndpoint", str(net.httpEP))
	}
	if net.rpcEP != gw+":8081" {
		set(mb, "rpcEndpoint", str(net.rpcEP))
	}
	if c.certDir != "" && c.certDir != "/opt/racker-state/matchbox-client" {
		set(mb, "clientCertDir", str(c.certDir))
	}
	return mb
}

// bmcSpec is bmc: Racker's credential files, which the import only checks
// are there.
func (im *importer) bmcSpec() *yaml.Node {
	bmc := ymap()
	set(bmc, "userFile", str(IPMIUserFile))
	set(bmc, "passwordFile", str(IPMIPassFile))
	// Only looked at, never read: the import has no use for the
	// credentials, and what it does not read it cannot leak.
	for _, f := range []string{IPMIUserFile, IPMIPassFile} {
		rel := strings.TrimPrefix(f, "/")
		if fi, err := im.fs.Stat(rel); err != nil || !fi.Mode().IsRegular() {
			im.warnf(rel, 0, "missing or not a regular file: rackctl reads the BMC credentials from it")
		}
	}
	return bmc
}

// installSpec is install, from the cluster's install settings.
func installSpec(c *cluster, cp compat) *yaml.Node {
	inst := ymap()
	set(inst, "kernelConsole", strList(c.install.KernelConsole, true))
	if len(c.install.KernelArgs) > 0 {
		set(inst, "kernelArgs", strList(c.install.KernelArgs, true))
	}
	set(inst, "installToSmallestDisk", boolean(c.install.InstallToSmallestDisk))
	set(inst, "cachedInstall", boolean(c.install.CachedInstall))
	set(inst, "wipeAdditionalDisks", boolean(c.install.WipeAdditionalDisks))
	if c.install.InstallPreRebootCmds != "" {
		set(inst, "installPreRebootCmds", str(c.install.InstallPreRebootCmds))
	}
	if c.install.PXECommands != "" {
		set(inst, "pxeCommands", str(c.install.PXECommands))
	}
	if cp.image != "" && cp.image != schema.DefaultIPMIToolImage {
		set(inst, "ipmitoolImage", str(cp.image), "The image Racker's boot workaround units run.")
	}
	return inst
}

// clusterSpec is cluster: name, keys, updates, labels and components.
func clusterSpec(c *cluster) (*yaml.Node, error) {
	cl := ymap()
	set(cl, "name", str(c.name))
	set(cl, "sshPubKeys", strList(c.sshKeys, false))
	up := ymap()
	set(up, "strategy", str(c.strategy))
	set(cl, "updates", up)
	if len(c.clusterLabels) > 0 {
		lm := ymap()
		for _, k := range slices.Sorted(maps.Keys(c.clusterLabels)) {
			set(lm, k, str(c.clusterLabels[k]))
		}
		set(cl, "labels", lm)
	}
	if len(c.components) > 0 {
		comps, err := anyNode(componentsAny(c.components))
		if err != nil {
			return nil, err
		}
		set(cl, "components", comps)
	}
	return cl, nil
}

// nodeSpec is one nodes[] entry, its head comment saying where it came
// from and the addresses allocation.json keeps for it.
func nodeSpec(n *node) *yaml.Node {
	m := ymap()
	var head []string
	if n.comment != "" {
		head = append(head, "nodes.csv: "+n.comment)
	}
	addrs := []string{}
	if n.ip.IsValid() {
		addrs = append(addrs, "ip "+n.ip.String())
	}
	if n.bmc.IsValid() {
		addrs = append(addrs, "bmc "+n.bmc.String())
	}
	if len(addrs) > 0 {
		head = append(head, strings.Join(addrs, ", ")+" (in allocation.json)")
	}
	set(m, "name", str(n.Name), head...)
	set(m, "role", str(n.Role))
	set(m, "mac", str(n.MAC))
	set(m, "bmcMac", str(n.BMCMAC))
	if n.SecondaryMAC != "" {
		set(m, "secondaryMac", str(n.SecondaryMAC))
	}
	if n.PublicIP != "" {
		set(m, "publicIP", str(n.PublicIP))
	}
	if n.Exclude {
		set(m, "exclude", boolean(true), "In nodes.csv and dnsmasq but not in Racker's cluster config.")
	}
	if len(n.Labels) > 0 {
		lm := ymap()
		keys := make([]string, 0, len(n.Labels))
		for k := range n.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(lm, k, str(n.Labels[k]))
		}
		set(m, "labels", lm)
	}
	if n.ExtraCLC != "" {
		v := str(n.ExtraCLC)
		v.Style = yaml.LiteralStyle
		set(m, "extraCLC", v, "Carried over from "+strings.Join(n.extra, ", ")+": parts rackctl does not render.")
	}
	return m
}

func componentsAny(cs map[string]schema.Component) map[string]any {
	out := map[string]any{}
	for k, v := range cs {
		out[k] = map[string]any(v)
	}
	return out
}
