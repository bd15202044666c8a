package racker

import (
	"path"
	"slices"
	"sort"
	"strings"
)

// This file decides the spec fields that keep Racker's files as they are
// (fileFormat racker, network.internal.dhcp, network.internal.defaultRoute,
// install.ipmitoolImage, domain "" and the order of the nodes), so that the
// first plan after the import leaves dnsmasq.conf, /etc/hosts, the vars
// values and the networkd units alone.

// compat is what the spec says beyond rackctl's defaults.
type compat struct {
	lease          string // reservationLease; "" = rackctl's default
	hostNames      bool
	announceRouter bool
	excludedPrim   bool // reserveExcludedPrimary
	defaultRoute   bool
	image          string // ipmitoolImage; "" = rackctl's default
}

// fqdn is NAME.DOMAIN, or NAME without a domain.
func fqdn(name, domain string) string {
	if domain == "" {
		return name
	}
	return name + "." + domain
}

// sharedDomain is the domain every name carries, "" if they carry none or
// differ (then shortName reports each).
func sharedDomain(nodes []varNode) string {
	dom, first := "", true
	for _, vn := range nodes {
		_, d, _ := strings.Cut(vn.fqdn, ".")
		if first {
			dom, first = d, false
		} else if d != dom {
			return ""
		}
	}
	return dom
}

// workaroundImage is the container image of the boot workaround's
// "docker run ... IMAGE sh -c '...'".
func workaroundImage(execStart string) string {
	f := strings.Fields(execStart)
	if len(f) < 3 || path.Base(f[0]) != "docker" || f[1] != "run" {
		return ""
	}
	for i := 2; i < len(f); i++ {
		switch a := f[i]; {
		case !strings.HasPrefix(a, "-"):
			return a
		case strings.Contains(a, "=") || dockerBoolFlags[a]:
		default:
			i++ // the flag's value
		}
	}
	return ""
}

// dockerBoolFlags are the flags of docker run without a value.
var dockerBoolFlags = map[string]bool{
	"--privileged": true, "--rm": true, "--init": true, "-i": true, "-t": true, "-it": true, "-ti": true,
	"-d": true, "--interactive": true, "--tty": true, "--detach": true, "--read-only": true,
}

// compat reads what Racker's dnsmasq.conf and cl/ files did differently
// from rackctl's defaults.
func (im *importer) compat(conf *dnsmasqConf, nodes []*node) compat {
	c := compat{announceRouter: conf.router != "", defaultRoute: true}
	leases := map[string]int{}
	named := 0
	for _, r := range conf.reservations {
		leases[r.lease]++
		if r.name != "" {
			named++
		}
	}
	// The lease most reservations have; a mix is reported.
	best := ""
	for l, k := range leases {
		if k > leases[best] || (k == leases[best] && l < best) {
			best = l
		}
	}
	if best != "" {
		c.lease = best
	}
	if len(leases) > 1 {
		im.warnf(im.layout.DnsmasqConf, 0, "reservations have different leases (%s): rackctl gives all of them %s", strings.Join(sortedKeys(boolKeys(leases)), ", "), leaseName(best))
	}
	c.hostNames = len(conf.reservations) > 0 && named == len(conf.reservations)
	if named > 0 && named < len(conf.reservations) {
		im.warnf(im.layout.DnsmasqConf, 0, "%d of %d reservations name their host: rackctl writes none (network.internal.dhcp.hostNames: false)", named, len(conf.reservations))
	}
	for _, n := range nodes {
		if n.Exclude {
			if _, ok := conf.byMAC[n.MAC]; ok {
				c.excludedPrim = true
			}
			continue
		}
		if n.PublicIP == "" && n.privUnit && !n.privRoute {
			c.defaultRoute = false
		}
	}
	for _, n := range nodes {
		if n.Exclude || n.PublicIP != "" || !n.privUnit || n.privRoute == c.defaultRoute {
			continue
		}
		im.warnf(n.imageFile, 0, "%s: its 10-priv-stable.network routes through the gateway unlike the other nodes': rackctl renders every node without a public IP alike (network.internal.defaultRoute: %t)", n.fqdn, c.defaultRoute)
	}
	for _, n := range nodes {
		if n.image == "" {
			continue
		}
		if c.image == "" {
			c.image = n.image
		} else if n.image != c.image {
			im.warnf(n.imageFile, 0, "boot workaround runs %s, other nodes %s: rackctl renders %s for every node (install.ipmitoolImage)", n.image, c.image, c.image)
		}
	}
	return c
}

func leaseName(l string) string {
	if l == "" {
		return "none"
	}
	return l
}

func boolKeys(m map[string]int) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// dnsmasqOrder orders the nodes as their reservations are in dnsmasq.conf,
// the order render writes them in, provided that keeps the order of each
// role's vars array (render takes it from the spec's order too). Otherwise
// the order stays and the first plan reorders the reservations (reported).
func (im *importer) dnsmasqOrder(c *cluster, nodes []*node, conf *dnsmasqConf) []*node {
	pos := func(n *node) int {
		p := 1 << 30
		for _, m := range []string{n.MAC, n.BMCMAC} {
			if r, ok := conf.byMAC[m]; ok && r.line < p {
				p = r.line
			}
		}
		return p
	}
	sorted := slices.Clone(nodes)
	sort.SliceStable(sorted, func(i, j int) bool { return pos(sorted[i]) < pos(sorted[j]) })
	roleOrder := func(ns []*node) map[string][]string {
		out := map[string][]string{}
		for _, n := range ns {
			if !n.Exclude {
				out[n.Role] = append(out[n.Role], n.MAC)
			}
		}
		return out
	}
	a, b := roleOrder(nodes), roleOrder(sorted)
	for role := range a {
		if !slices.Equal(a[role], b[role]) {
			im.infof(im.layout.DnsmasqConf, 0, "the reservations are not in the order of %s's %s nodes: the first plan rewrites them in that order (same addresses)", c.varsRel, role)
			return nodes
		}
	}
	return sorted
}
