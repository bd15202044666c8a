package render

import (
	"net/netip"
	"strings"
)

// HostsEntry is one entry of a hosts file (hosts(5)): an address and the
// names it gives, on line Line (1-based).
type HostsEntry struct {
	Line  int
	Addr  netip.Addr
	Names []string
}

// ParseHosts reads the entries of a hosts file, as the resolver does:
// text from '#' on is a comment, fields are separated by blanks (spaces,
// tabs), a line's first field is the address and the rest are its names.
// Lines without a name or whose first field is no IP address give no
// entry. It is rackctl's one reader of /etc/hosts (import, the migration
// report, the adoption of Racker's lines).
func ParseHosts(src []byte) []HostsEntry {
	var out []HostsEntry
	for i, line := range strings.Split(string(src), "\n") {
		if e, ok := ParseHostsLine(line); ok {
			e.Line = i + 1
			out = append(out, e)
		}
	}
	return out
}

// ParseHostsLine reads one line of a hosts file (see ParseHosts); ok is
// false when it holds no entry. Line is left 0.
func ParseHostsLine(line string) (e HostsEntry, ok bool) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return HostsEntry{}, false
	}
	a, err := netip.ParseAddr(f[0])
	if err != nil {
		return HostsEntry{}, false
	}
	return HostsEntry{Addr: a, Names: f[1:]}, true
}
