package dhcp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Reservation is one fixed address: the host with MAC gets IP.
type Reservation struct {
	MAC  string // canonical lower-case aa:bb:cc:dd:ee:ff
	IP   netip.Addr
	Host string // node (or BMC) name; may be empty
	// BMC marks a BMC's reservation, so Drift suggests a BMC DHCP renew
	// instead of a power cycle. ParseReservations cannot know it and leaves
	// it false; callers that build reservations from the rack set it.
	BMC bool
}

// ParseReservations reads the dhcp-host= lines of a dnsmasq config:
// dhcp-host=MAC[,MAC…][,id:…][,set:…|tag:…][,IP][,HOSTNAME][,LEASETIME][,ignore].
// Each MAC of a line with an IPv4 address becomes one Reservation, in file
// order. Lines without an IPv4 address or MAC (client-id or name-only
// entries), "ignore" entries and entries with wildcard MACs reserve nothing
// for a MAC and are skipped. Comment lines, other options and leading
// dashes ("--dhcp-host=") are handled as dnsmasq does. A dhcp-host line
// dnsmasq would not accept yields a *ParseError with its line number.
func ParseReservations(conf []byte) ([]Reservation, error) {
	sc := bufio.NewScanner(bytes.NewReader(conf))
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	var (
		out  []Reservation
		errs []error
	)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimLeft(line, "-")
		name, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(name) != "dhcp-host" {
			continue
		}
		rs, err := parseDHCPHost(val)
		if err != nil {
			errs = append(errs, &ParseError{n, fmt.Sprintf("dhcp-host: %v", err)})
			continue
		}
		out = append(out, rs...)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		errs = append(errs, &ParseError{n + 1, "line too long"})
	} else if err != nil {
		return nil, fmt.Errorf("read dnsmasq config: %w", err)
	}
	return out, errors.Join(errs...)
}

// stripComment drops a trailing " # comment" (dnsmasq treats # after
// whitespace as the start of a comment).
func stripComment(s string) string {
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			return strings.TrimSpace(s[:i])
		}
	}
	return strings.TrimSpace(s)
}

func parseDHCPHost(val string) ([]Reservation, error) {
	h, err := ParseHost(val)
	if err != nil {
		return nil, err
	}
	if h.Ignore || !h.IP.IsValid() || len(h.MACs) == 0 {
		return nil, nil // wildcard MACs or id:/name-only entries
	}
	out := make([]Reservation, 0, len(h.MACs))
	for _, m := range h.MACs {
		out = append(out, Reservation{MAC: m, IP: h.IP, Host: h.Name})
	}
	return out, nil
}

// Host is the value of one dhcp-host line, as dnsmasq reads it.
type Host struct {
	// MACs are the line's hardware addresses in file order: Ethernet MACs
	// in canonical form, others as "TT-hex:…" lower-cased. Wildcard MACs
	// are left out (Wildcard is set).
	MACs     []string
	Wildcard bool
	IP       netip.Addr // the IPv4 address; zero when the line has none
	Name     string     // the hostname; "" when none
	Lease    string     // the lease time as written ("infinite", "12h"); "" when none
	Ignore   bool       // "ignore": dnsmasq answers none of the MACs
}

// ParseHost parses the value of a dhcp-host line (what follows
// "dhcp-host=", a trailing " # comment" allowed):
// MAC[,MAC…][,id:…][,set:…|tag:…][,IP][,[IPv6]][,HOSTNAME][,LEASETIME][,ignore].
// It is rackctl's one reader of that syntax. A value dnsmasq would not
// accept (an empty field, a malformed MAC, a bad or second IPv4 address,
// a field after the hostname) is an error naming the field.
func ParseHost(val string) (Host, error) {
	var h Host
	val = stripComment(val)
	if val == "" {
		return h, errors.New("empty value")
	}
	for tok := range strings.SplitSeq(val, ",") {
		tok = strings.TrimSpace(tok)
		lower := strings.ToLower(tok)
		switch {
		case tok == "":
			return Host{}, errors.New("empty field")
		case lower == "ignore":
			h.Ignore = true
		case strings.HasPrefix(lower, "id:"), strings.HasPrefix(lower, "set:"),
			strings.HasPrefix(lower, "tag:"), strings.HasPrefix(lower, "net:"):
		case tok[0] == '[':
			// IPv6 address or suffix: not part of an IPv4 reservation.
		case isLeaseTime(lower):
			h.Lease = tok
		case strings.Contains(tok, ":"):
			if strings.Contains(tok, "*") && isWildcardMAC(tok) {
				h.Wildcard = true
				continue
			}
			mac, err := parseHWAddr(tok)
			if err != nil {
				return Host{}, err
			}
			h.MACs = append(h.MACs, mac)
		default:
			if err := h.setAddrOrName(tok); err != nil {
				return Host{}, err
			}
		}
	}
	return h, nil
}

// setAddrOrName takes a field that is neither a MAC, a tag nor a lease
// time: the IPv4 address, or else the hostname.
func (h *Host) setAddrOrName(tok string) error {
	if a, err := netip.ParseAddr(tok); err == nil {
		if !a.Is4() {
			return fmt.Errorf("bad IPv4 address %q", tok)
		}
		if h.IP.IsValid() {
			return fmt.Errorf("second IPv4 address %q", tok)
		}
		h.IP = a
		return nil
	}
	if looksLikeIPv4(tok) {
		return fmt.Errorf("bad IPv4 address %q", tok)
	}
	if h.Name != "" {
		return fmt.Errorf("unexpected field %q after hostname %q", tok, h.Name)
	}
	if !legalHostname(tok) {
		return fmt.Errorf("bad hostname %q", tok)
	}
	h.Name = tok
	return nil
}

// legalHostname is dnsmasq's rule for a dhcp-host name (legal_hostname
// in its util.c): the first label holds letters, digits, and '-' or '_'
// after its first character; the rest of a qualified name is printable
// ASCII without blanks.
func legalHostname(s string) bool {
	first, _, _ := strings.Cut(s, ".")
	for i := 0; i < len(first); i++ {
		c := first[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '-' || c == '_'):
		default:
			return false
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// isLeaseTime matches dnsmasq lease times: "infinite" or a number with an
// optional s/m/h/d/w suffix.
func isLeaseTime(s string) bool {
	if s == "infinite" {
		return true
	}
	if s == "" {
		return false
	}
	if c := s[len(s)-1]; strings.IndexByte("smhdw", c) >= 0 {
		s = s[:len(s)-1]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isWildcardMAC(s string) bool {
	if len(s) > 3 && s[2] == '-' {
		s = s[3:]
	}
	for g := range strings.SplitSeq(s, ":") {
		if g != "*" && (len(g) < 1 || len(g) > 2 || !isHex(g)) {
			return false
		}
	}
	return true
}

// looksLikeIPv4 catches dotted-number typos such as 172.24.213.300, which
// would otherwise be taken for a hostname.
func looksLikeIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}
