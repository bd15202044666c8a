package bmc

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/rackctl/rackctl/schema"
)

// Protocols a BMC can speak (schema's bmc.protocol).
const (
	ProtocolIPMI    = schema.ProtocolIPMI
	ProtocolRedfish = schema.ProtocolRedfish
)

// DefaultPort is the port a protocol's BMC listens on: 623 (RMCP+, UDP)
// for IPMI, 443 (HTTPS) for Redfish; "" for an unknown protocol.
func DefaultPort(protocol string) string {
	switch protocol {
	case ProtocolIPMI, "":
		return "623"
	case ProtocolRedfish:
		return "443"
	}
	return ""
}

// Endpoint is where and how a BMC is reached. It is the one place that
// knows a BMC's port: everything else asks for Address.
type Endpoint struct {
	Protocol string
	Host     string
	Port     string
}

// Address is "host:port" (IPv6 hosts in brackets).
func (e Endpoint) Address() string { return net.JoinHostPort(e.Host, e.Port) }

// Target is a Target for node at this endpoint.
func (e Endpoint) Target(node string) Target {
	return Target{Node: node, Address: e.Address(), Protocol: e.Protocol}
}

// EndpointFor derives node n's BMC endpoint from the spec: its protocol
// (nodes[].bmcProtocol, else bmc.protocol), and its bmcAddress override or
// else the BMC's allocated internal IP on the protocol's port. A
// bmcAddress without a port gets the protocol's port.
func EndpointFor(r *schema.Rack, n *schema.Node, bmcIP netip.Addr) Endpoint {
	proto := r.NodeProtocol(n)
	if n.BMCAddress != "" {
		if e, err := ParseEndpoint(proto, n.BMCAddress); err == nil {
			return e
		}
	}
	return Endpoint{Protocol: proto, Host: bmcIP.String(), Port: DefaultPort(proto)}
}

// ParseEndpoint reads "host" (the protocol's port) or "host:port".
func ParseEndpoint(protocol, addr string) (Endpoint, error) {
	port := DefaultPort(protocol)
	if port == "" {
		return Endpoint{}, fmt.Errorf("unknown bmc protocol %q (want %s or %s)", protocol, ProtocolIPMI, ProtocolRedfish)
	}
	if protocol == "" {
		protocol = ProtocolIPMI
	}
	if addr == "" {
		return Endpoint{}, errors.New("empty bmc address")
	}
	if h, p, err := net.SplitHostPort(addr); err == nil {
		if h == "" || p == "" {
			return Endpoint{}, fmt.Errorf("bad bmc address %q", addr)
		}
		return Endpoint{Protocol: protocol, Host: h, Port: p}, nil
	}
	if strings.Count(addr, ":") == 1 {
		return Endpoint{}, fmt.Errorf("bad bmc address %q", addr)
	}
	return Endpoint{Protocol: protocol, Host: strings.Trim(addr, "[]"), Port: port}, nil
}

// splitAddress turns an IPMI "host" or "host:port" into host and port.
func splitAddress(addr string) (host, port string, err error) {
	e, err := ParseEndpoint(ProtocolIPMI, addr)
	return e.Host, e.Port, err
}
