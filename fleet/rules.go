package fleet

import (
	"fmt"
	"net/netip"

	"github.com/rackctl/rackctl/schema"
)

// Check applies the rules between racks that no single spec can see: rack
// names, node names, MACs (primary, BMC and secondary NICs, all in one
// space, as within a rack) unique across the fleet, and internal subnets
// not overlapping. The first rack (in the given order) keeps a value; each
// later use is an error positioned in its own file that names the first
// rack and where it has the value.
func Check(racks []Rack) schema.Errors {
	c := checker{
		names: claims{what: "rack name", first: map[string]claim{}},
		nodes: claims{what: "node name", first: map[string]claim{}},
		macs:  claims{what: "MAC", first: map[string]claim{}},
	}
	for i := range racks {
		c.rack(&racks[i])
	}
	return c.diags
}

type checker struct {
	names, nodes, macs claims
	subnets            []subnet
	diags              schema.Errors
}

// claim is where a value was first seen.
type claim struct {
	rack *Rack
	path string
}

// claims are the values of one rule seen so far.
type claims struct {
	what  string
	first map[string]claim
}

type subnet struct {
	claim
	prefix netip.Prefix
}

func (c *checker) rack(r *Rack) {
	spec := r.Spec.Rack
	c.claim(&c.names, spec.Name, r, "name")
	for i, n := range spec.Nodes {
		at := fmt.Sprintf("nodes[%d]", i)
		c.claim(&c.nodes, n.Name, r, at+".name")
		c.claim(&c.macs, n.MAC, r, at+".mac")
		c.claim(&c.macs, n.BMCMAC, r, at+".bmcMac")
		c.claim(&c.macs, n.SecondaryMAC, r, at+".secondaryMac")
	}
	c.subnet(r)
}

// claim records value for r at path, or an error when another rack has
// it. An empty value (an optional MAC not given) claims nothing.
func (c *checker) claim(cl *claims, value string, r *Rack, path string) {
	if value == "" {
		return
	}
	first, taken := cl.first[value]
	if !taken {
		cl.first[value] = claim{rack: r, path: path}
		return
	}
	msg := fmt.Sprintf("rack %q: %s %q is also %s of rack %q at %s; a %s is unique across the fleet",
		r.Spec.Rack.Name, cl.what, value, first.path, first.rack.Spec.Rack.Name, first.where(), cl.what)
	if cl == &c.names {
		msg = fmt.Sprintf("rack name %q is also the name of the rack at %s; a rack name is unique across the fleet",
			value, first.where())
	}
	c.diags = append(c.diags, r.Spec.At(path, msg))
}

// subnet records r's internal subnet, or an error for each earlier rack's
// that overlaps it.
func (c *checker) subnet(r *Rack) {
	const path = "network.internal.subnet"
	p, err := netip.ParsePrefix(r.Spec.Rack.Network.Internal.Subnet)
	if err != nil {
		return // the schema refused it already
	}
	p = p.Masked()
	for _, s := range c.subnets {
		if !s.prefix.Overlaps(p) {
			continue
		}
		c.diags = append(c.diags, r.Spec.At(path, fmt.Sprintf(
			"rack %q: internal subnet %s overlaps %s of rack %q at %s; the internal subnets of a fleet do not overlap",
			r.Spec.Rack.Name, p, s.prefix, s.rack.Spec.Rack.Name, s.where())))
	}
	c.subnets = append(c.subnets, subnet{claim: claim{rack: r, path: path}, prefix: p})
}

// where is file:line:col of the claim.
func (cl claim) where() string {
	d := cl.rack.Spec.At(cl.path, "")
	return fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Col)
}
