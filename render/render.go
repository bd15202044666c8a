package render

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"sort"
	"strings"

	"github.com/rackctl/rackctl/schema"
)

// DefaultLayout is a Racker management node's layout.
func DefaultLayout() Layout {
	return Layout{
		DnsmasqConf:   "opt/racker-state/dnsmasq/dnsmasq.conf",
		Hosts:         "etc/hosts",
		LokomotiveDir: "home/core/lokomotive",
		FlatcarDir:    "home/core/flatcar-container-linux",
	}
}

// WithDefaults fills the empty fields of l from DefaultLayout.
func (l Layout) WithDefaults() Layout {
	d := DefaultLayout()
	if l.DnsmasqConf == "" {
		l.DnsmasqConf = d.DnsmasqConf
	}
	if l.Hosts == "" {
		l.Hosts = d.Hosts
	}
	if l.LokomotiveDir == "" {
		l.LokomotiveDir = d.LokomotiveDir
	}
	if l.FlatcarDir == "" {
		l.FlatcarDir = d.FlatcarDir
	}
	return l
}

// Header is the first comment line of every rendered whole file that has
// comments (not the Ignition JSON or the CLC YAML, whose bytes are inputs
// to the provisioner's change detection).
const Header = "Managed by rackctl from rack.yaml: edits here are overwritten."

// Modes of rendered files.
const (
	modeFile = 0o644
)

// node is a node with everything derived from the spec resolved once.
type node struct {
	*schema.Node
	fqdn    string
	ip      netip.Addr // primary NIC
	bmcIP   netip.Addr
	public  netip.Prefix // valid only when the node has a public IP
	ctlIdx  int          // index among active controllers, -1 otherwise
	active  bool
	snippet []string // clc_snippets paths, relative to the cluster dir
}

// rack is the input, checked and resolved.
type rack struct {
	*schema.Rack
	layout   Layout
	subnet   netip.Prefix
	gateway  netip.Addr
	nodes    []*node // spec order, excluded too
	active   []*node // spec order
	ctls     []*node // active controllers, spec order
	workers  []*node // active workers (lokomotive) or nodes (flatcar)
	mbxHost  string  // matchbox host without port
	bootIPXE string
}

func (r *rack) dir() string {
	if r.Provisioner == schema.Lokomotive {
		return r.layout.LokomotiveDir
	}
	return r.layout.FlatcarDir
}

// resolve checks what render relies on and derives addresses and names.
// schema.Load has validated the spec already; these checks only keep a
// hand-built Input from producing broken files.
func resolve(in Input) (*rack, error) {
	if in.Rack == nil {
		return nil, errors.New("render: no rack")
	}
	r := &rack{Rack: in.Rack, layout: in.Layout.WithDefaults()}
	var errs []error
	var err error
	if r.subnet, err = netip.ParsePrefix(r.Network.Internal.Subnet); err != nil {
		errs = append(errs, fmt.Errorf("network.internal.subnet: %w", err))
	}
	if r.gateway, err = netip.ParseAddr(r.Network.Internal.Gateway); err != nil {
		errs = append(errs, fmt.Errorf("network.internal.gateway: %w", err))
	}
	switch r.Provisioner {
	case schema.Lokomotive, schema.Flatcar:
	default:
		errs = append(errs, fmt.Errorf("provisioner %q: want %q or %q", r.Provisioner, schema.Lokomotive, schema.Flatcar))
	}
	r.mbxHost = r.Matchbox.RPCEndpoint
	if h, _, err := net.SplitHostPort(r.mbxHost); err == nil {
		r.mbxHost = h
	}
	r.bootIPXE = strings.TrimSuffix(r.Matchbox.HTTPEndpoint, "/") + "/boot.ipxe"

	for i := range r.Nodes {
		sn := &r.Nodes[i]
		n := &node{Node: sn, fqdn: r.FQDN(sn), ctlIdx: -1, active: !sn.Exclude}
		a, ok := in.Addrs[sn.Name]
		if !ok || !a.Primary.IsValid() || !a.BMC.IsValid() {
			errs = append(errs, fmt.Errorf("node %s: no internal addresses allocated", sn.Name))
		}
		n.ip, n.bmcIP = a.Primary, a.BMC
		if sn.PublicIP != "" {
			if n.public, err = netip.ParsePrefix(sn.PublicIP); err != nil {
				errs = append(errs, fmt.Errorf("node %s: publicIP: %w", sn.Name, err))
			}
			if r.Network.Public == nil {
				errs = append(errs, fmt.Errorf("node %s: publicIP set but network.public is missing", sn.Name))
			}
			if sn.SecondaryMAC == "" {
				errs = append(errs, fmt.Errorf("node %s: publicIP set but secondaryMac is missing", sn.Name))
			}
		}
		r.nodes = append(r.nodes, n)
		if !n.active {
			continue
		}
		r.active = append(r.active, n)
		if r.Provisioner == schema.Lokomotive && sn.Role == schema.RoleController {
			n.ctlIdx = len(r.ctls)
			r.ctls = append(r.ctls, n)
		} else {
			r.workers = append(r.workers, n)
		}
		n.snippet = snippetPaths(n.fqdn, sn.ExtraCLC != "")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("render: %w", errors.Join(errs...))
	}
	return r, nil
}

// Render returns every desired file of the rack, sorted by path: the
// dnsmasq configuration, the /etc/hosts block and the directory of the
// rack's provisioner.
func Render(in Input) ([]File, error) {
	r, err := resolve(in)
	if err != nil {
		return nil, err
	}
	conf, err := dnsmasqConf(r)
	if err != nil {
		return nil, err
	}
	files := []File{
		{Path: r.layout.DnsmasqConf, Content: conf, Mode: modeFile, Kind: Whole},
		{Path: r.layout.Hosts, Content: hostsBlock(r), Mode: modeFile, Kind: Block},
	}
	var cluster []File
	switch r.Provisioner {
	case schema.Lokomotive:
		cluster, err = lokomotiveFiles(r)
	case schema.Flatcar:
		cluster, err = flatcarFiles(r)
	}
	if err != nil {
		return nil, err
	}
	for _, f := range cluster {
		f.Path = path.Join(r.dir(), f.Path)
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for i := 1; i < len(files); i++ {
		if files[i].Path == files[i-1].Path {
			return nil, fmt.Errorf("render: two files at %s", files[i].Path)
		}
	}
	return files, nil
}

// FlagFilePath is the file whose presence tells the provisioner that the node
// with primary MAC mac is installed (Racker's convention): removing it makes
// the next provisioner run PXE-install the node again.
func FlagFilePath(l Layout, p schema.Provisioner, mac string) string {
	l = l.WithDefaults()
	if p == schema.Lokomotive {
		return path.Join(l.LokomotiveDir, LokomotiveAssetDir, "cluster-assets", mac)
	}
	return path.Join(l.FlatcarDir, FlatcarAssetDir, mac)
}
