// Package macaddr is rackctl's one MAC address type: parsing, the
// canonical form every package compares MACs in (lower-case hex, colon
// separated, as matchbox and dnsmasq write them), and text marshaling for
// JSON and YAML.
package macaddr

import (
	"fmt"
	"net"
	"strings"
)

// MAC is an Ethernet (EUI-48) address. The zero MAC is 00:00:00:00:00:00.
type MAC [6]byte

// Parse reads an EUI-48 address in any form net.ParseMAC accepts
// (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff). Longer hardware
// addresses (EUI-64, InfiniBand) are refused: no rack NIC or BMC has one.
func Parse(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return MAC{}, fmt.Errorf("not a MAC address: %q", s)
	}
	if len(hw) != 6 {
		return MAC{}, fmt.Errorf("not an Ethernet MAC address (%d bytes): %q", len(hw), s)
	}
	return MAC(hw), nil
}

// String is the canonical form, e.g. "02:00:5e:00:00:01".
func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// MarshalText writes the canonical form (JSON and YAML strings).
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads any form Parse accepts.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Normalize returns the canonical form of s, surrounding blanks ignored,
// and whether s is an Ethernet MAC at all.
func Normalize(s string) (string, bool) {
	m, err := Parse(strings.TrimSpace(s))
	if err != nil {
		return "", false
	}
	return m.String(), true
}

// Canon returns the canonical form of s if it is an Ethernet MAC, else s
// lower-cased: a key under which MACs written by hand, by Racker or by an
// older rackctl compare equal, whatever their case or separators. Callers
// that must reject a non-MAC use Parse or Normalize.
func Canon(s string) string {
	if m, ok := Normalize(s); ok {
		return m
	}
	return strings.ToLower(s)
}
