package racker

import (
	"net/netip"
	"strings"

	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/internal/macaddr"
	"github.com/rackctl/rackctl/render"
)

// csvNode is one server line of nodes.csv.
type csvNode struct {
	line      int
	mac       string
	bmcMAC    string
	secondary string
	nodeType  string
	comment   string
}

// parseNodesCSV reads nodes.csv: a header line, then
// "primary MAC, BMC MAC, secondary MAC, node type, comment".
func (im *importer) parseNodesCSV(file string, src []byte) []csvNode {
	var out []csvNode
	for i, raw := range strings.Split(string(src), "\n") {
		line := i + 1
		s := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if i == 0 || s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Split(s, ",")
		for j := range f {
			f[j] = strings.TrimSpace(f[j])
		}
		if len(f) < 2 {
			im.errorf(file, line, "want \"primary MAC, BMC MAC, secondary MAC, node type, comment\", got %q", s)
			continue
		}
		n := csvNode{line: line}
		var ok bool
		if n.mac, ok = macaddr.Normalize(f[0]); !ok {
			im.errorf(file, line, "primary MAC %q is not a MAC address", f[0])
			continue
		}
		if n.bmcMAC, ok = macaddr.Normalize(f[1]); !ok {
			im.errorf(file, line, "BMC MAC %q is not a MAC address", f[1])
			continue
		}
		if len(f) > 2 && f[2] != "" {
			if n.secondary, ok = macaddr.Normalize(f[2]); !ok {
				im.errorf(file, line, "secondary MAC %q is not a MAC address", f[2])
			}
		}
		if len(f) > 3 {
			n.nodeType = f[3]
		}
		if len(f) > 4 {
			n.comment = strings.Join(f[4:], ",")
		}
		out = append(out, n)
	}
	return out
}

// reservation is one dhcp-host line.
type reservation struct {
	line  int
	mac   string
	ip    netip.Addr
	name  string
	lease string
}

// dnsmasqConf is what import needs from dnsmasq.conf.
type dnsmasqConf struct {
	rangeStart, rangeEnd netip.Addr
	mask                 netip.Addr
	rangeLine            int
	iface                string
	ipxeURL              string // dhcp-boot=tag:ipxe,URL
	router               string // dhcp-option=3 / option:router value, "" when empty
	dns                  []string
	byMAC                map[string]reservation
	byIP                 map[netip.Addr]reservation
	reservations         []reservation // file order
}

// parseDnsmasq reads the directives import needs; everything else is left
// to the migration report.
func (im *importer) parseDnsmasq(file string, src []byte) *dnsmasqConf {
	c := &dnsmasqConf{byMAC: map[string]reservation{}, byIP: map[netip.Addr]reservation{}}
	for i, raw := range strings.Split(string(src), "\n") {
		line := i + 1
		s := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		key, val, _ := strings.Cut(s, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "dhcp-range":
			im.parseRange(c, file, line, val)
		case "interface":
			c.iface = val
		case "dhcp-boot":
			if rest, ok := strings.CutPrefix(val, "tag:ipxe,"); ok {
				c.ipxeURL = rest
			}
		case "dhcp-option":
			k, v, _ := strings.Cut(val, ",")
			switch k {
			case "3", "option:router":
				c.router = v
			case "6", "option:dns-server":
				if v != "" {
					c.dns = strings.Split(v, ",")
				}
			}
		case "dhcp-host":
			im.parseHost(c, file, line, val)
		}
	}
	return c
}

func (im *importer) parseRange(c *dnsmasqConf, file string, line int, val string) {
	var ips []netip.Addr
	for _, f := range strings.Split(val, ",") {
		if a, err := netip.ParseAddr(strings.TrimSpace(f)); err == nil && a.Is4() {
			ips = append(ips, a)
		}
	}
	if len(ips) < 2 {
		im.errorf(file, line, "dhcp-range %q: want START,END[,NETMASK][,LEASE]", val)
		return
	}
	c.rangeStart, c.rangeEnd, c.rangeLine = ips[0], ips[1], line
	if len(ips) > 2 {
		c.mask = ips[2]
	}
}

func (im *importer) parseHost(c *dnsmasqConf, file string, line int, val string) {
	h, err := dhcp.ParseHost(val)
	if err != nil {
		im.errorf(file, line, "dhcp-host=%s: %v: want MAC,IP[,NAME][,LEASE]", val, err)
		return
	}
	r := reservation{line: line, ip: h.IP, name: h.Name, lease: h.Lease}
	for _, m := range h.MACs {
		if e, ok := macaddr.Normalize(m); ok {
			r.mac = e
			break
		}
	}
	if r.mac == "" || !r.ip.IsValid() || h.Ignore {
		im.errorf(file, line, "dhcp-host=%s: want MAC,IP[,NAME][,LEASE]", val)
		return
	}
	if o, dup := c.byMAC[r.mac]; dup {
		im.errorf(file, line, "MAC %s reserved twice: %s here, %s on line %d", r.mac, r.ip, o.ip, o.line)
		return
	}
	if o, dup := c.byIP[r.ip]; dup {
		im.errorf(file, line, "address %s reserved for two MACs: %s here, %s on line %d", r.ip, r.mac, o.mac, o.line)
		return
	}
	c.byMAC[r.mac] = r
	c.byIP[r.ip] = r
	c.reservations = append(c.reservations, r)
}

// hostsIndex maps names to the addresses /etc/hosts gives them.
type hostsIndex struct {
	byName map[string][]render.HostsEntry
	byIP   map[netip.Addr][]render.HostsEntry
}

func indexHosts(lines []render.HostsEntry) hostsIndex {
	ix := hostsIndex{byName: map[string][]render.HostsEntry{}, byIP: map[netip.Addr][]render.HostsEntry{}}
	for _, l := range lines {
		ix.byIP[l.Addr] = append(ix.byIP[l.Addr], l)
		for _, n := range l.Names {
			ix.byName[n] = append(ix.byName[n], l)
		}
	}
	return ix
}
