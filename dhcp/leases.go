package dhcp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rackctl/rackctl/internal/macaddr"
)

// Lease is one IPv4 lease from dnsmasq's lease file.
type Lease struct {
	// Expiry is when the lease ends; the zero time means an infinite lease.
	Expiry time.Time
	// MAC is the client's hardware address, canonical lower-case
	// (aa:bb:cc:dd:ee:ff). A non-Ethernet address keeps dnsmasq's
	// "TYPE-" prefix (for example "20-…" for InfiniBand).
	MAC string
	IP  netip.Addr
	// Hostname is the name the client sent, empty when dnsmasq wrote "*".
	Hostname string
	// ClientID is the DHCP client identifier as dnsmasq writes it
	// (colon-separated hex), empty when dnsmasq wrote "*".
	ClientID string
}

// Infinite reports whether the lease never expires.
func (l Lease) Infinite() bool { return l.Expiry.IsZero() }

// Active reports whether the lease is still held at now.
func (l Lease) Active(now time.Time) bool { return l.Infinite() || l.Expiry.After(now) }

// ParseError is a malformed line in a lease file or a dnsmasq config.
type ParseError struct {
	Line int // 1-based
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// maxLineLen bounds one line of input; dnsmasq's own lines are far shorter.
const maxLineLen = 64 * 1024

// ParseLeases reads dnsmasq's lease file format: one IPv4 lease per line,
// "EXPIRY MAC IP HOSTNAME CLIENTID", with "*" for an absent hostname or
// client id and expiry 0 for an infinite lease. The "duid" line that starts
// dnsmasq's IPv6 section and the IPv6 leases after it are skipped. Blank
// lines are ignored. A malformed line yields a *ParseError with its line
// number; errors of all lines are joined.
func ParseLeases(r io.Reader) ([]Lease, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	var (
		leases []Lease
		errs   []error
		v6     bool // after the duid line
	)
	n := 0
	for sc.Scan() {
		n++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "duid" {
			if len(fields) != 2 {
				errs = append(errs, &ParseError{n, fmt.Sprintf("duid line: want 2 fields, got %d", len(fields))})
			}
			v6 = true
			continue
		}
		l, err := parseLease(fields)
		switch {
		case err != nil && v6 && isV6Line(fields):
			// An IPv6 lease: "EXPIRY IAID ADDR HOSTNAME CLIENTID"; not ours.
		case err != nil:
			errs = append(errs, &ParseError{n, err.Error()})
		default:
			leases = append(leases, l)
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		errs = append(errs, &ParseError{n + 1, "line too long"})
	} else if err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	if len(errs) > 0 {
		return leases, errors.Join(errs...)
	}
	return leases, nil
}

func isV6Line(f []string) bool {
	if len(f) != 5 {
		return false
	}
	if _, err := strconv.ParseUint(f[1], 10, 32); err != nil {
		return false
	}
	a, err := netip.ParseAddr(f[2])
	return err == nil && a.Is6()
}

func parseLease(f []string) (Lease, error) {
	if len(f) != 5 {
		return Lease{}, fmt.Errorf("want 5 fields (EXPIRY MAC IP HOSTNAME CLIENTID), got %d", len(f))
	}
	var l Lease
	exp, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || exp < 0 {
		return Lease{}, fmt.Errorf("bad expiry %q", f[0])
	}
	if exp != 0 {
		l.Expiry = time.Unix(exp, 0).UTC()
	}
	if l.MAC, err = parseHWAddr(f[1]); err != nil {
		return Lease{}, err
	}
	ip, err := netip.ParseAddr(f[2])
	if err != nil || !ip.Is4() {
		return Lease{}, fmt.Errorf("bad IPv4 address %q", f[2])
	}
	l.IP = ip
	if f[3] != "*" {
		l.Hostname = f[3]
	}
	if f[4] != "*" {
		if !isHexColon(f[4]) {
			return Lease{}, fmt.Errorf("bad client id %q", f[4])
		}
		l.ClientID = strings.ToLower(f[4])
	}
	return l, nil
}

// parseHWAddr canonicalizes a hardware address as dnsmasq writes it:
// plain colon-hex for Ethernet, "TT-hex:hex…" for other hardware types.
func parseHWAddr(s string) (string, error) {
	if m, err := macaddr.Parse(s); err == nil && strings.Contains(s, ":") {
		return m.String(), nil
	}
	if len(s) >= 3 && s[2] == '-' && isHex(s[:2]) && (len(s) == 3 || isHexColon(s[3:])) {
		return strings.ToLower(s), nil
	}
	return "", fmt.Errorf("bad MAC address %q", s)
}

// isHexColon reports whether s is colon-separated groups of one or two hex digits.
func isHexColon(s string) bool {
	if s == "" {
		return false
	}
	for g := range strings.SplitSeq(s, ":") {
		if len(g) < 1 || len(g) > 2 || !isHex(g) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}
