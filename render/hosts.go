package render

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Markers delimit the block rackctl manages inside a file it does not own.
const (
	BeginMarker = "# BEGIN rackctl managed block"
	EndMarker   = "# END rackctl managed block"
)

// HostsBlock renders the management node's /etc/hosts block, markers
// included: one line "IP FQDN NAME" per node in the cluster, then for each
// lokomotive controller "IP APISERVER CLUSTER-etcdJ.DOMAIN", the names
// kubectl and etcd need (Racker's add_to_etc_hosts lines). Excluded nodes
// are absent. An invalid input gives a block with the markers only.
func HostsBlock(in Input) []byte {
	r, err := resolve(in)
	if err != nil {
		return []byte(BeginMarker + "\n" + EndMarker + "\n")
	}
	return hostsBlock(r)
}

// With fileFormat racker the lines are Racker's: the controller lines
// first, then "IP FQDN" per node. Such a block is adopted without markers
// where the file already holds its lines (see MergeBlock).
func hostsBlock(r *rack) []byte {
	var b bytes.Buffer
	b.WriteString(BeginMarker + "\n")
	if r.Racker() {
		for _, line := range controllerHostLines(r) {
			b.WriteString(line + "\n")
		}
		for _, n := range r.active {
			fmt.Fprintf(&b, "%s %s\n", n.ip, n.fqdn)
		}
	} else {
		for _, n := range r.active {
			fmt.Fprintf(&b, "%s %s %s\n", n.ip, n.fqdn, n.Name)
		}
		for _, line := range controllerHostLines(r) {
			b.WriteString(line + "\n")
		}
	}
	b.WriteString(EndMarker + "\n")
	return b.Bytes()
}

// controllerHostLines are the API server and etcd names of the lokomotive
// controllers, also written into every lokomotive node's own /etc/hosts.
func controllerHostLines(r *rack) []string {
	if r.Cluster.APIServerName == "" {
		return nil
	}
	var out []string
	for _, n := range r.ctls {
		out = append(out, fmt.Sprintf("%s %s %s", n.ip, r.Cluster.APIServerName, etcdName(r, n)))
	}
	return out
}

func etcdName(r *rack, n *node) string {
	name := fmt.Sprintf("%s-etcd%d", r.Cluster.Name, n.ctlIdx)
	if r.Domain == "" {
		return name
	}
	return name + "." + r.Domain
}

// blockBounds finds the managed block in src: the start of its BEGIN line
// and the end of its END line (after the line break). The END line is the
// first one in the file; BEGIN is the last BEGIN line before it, so a
// stray BEGIN a user left above is kept as text. ok is false without a
// complete block.
func blockBounds(src []byte) (start, end int, ok bool) {
	start = -1
	for pos := 0; pos < len(src); {
		lineEnd := bytes.IndexByte(src[pos:], '\n')
		next := len(src)
		if lineEnd >= 0 {
			next = pos + lineEnd + 1
		}
		line := bytes.TrimRight(src[pos:next], " \t\r\n")
		switch string(line) {
		case BeginMarker:
			start = pos
		case EndMarker:
			if start >= 0 {
				return start, next, true
			}
		}
		pos = next
	}
	return 0, 0, false
}

// MergeBlock puts block (markers included, as HostsBlock returns it) into
// existing: it replaces the marked block if there is one, else appends
// block after the existing text, adding a line break if the text lacks a
// final one. An empty block removes the marked block, markers included.
// Every byte outside the block is kept. In a file with CRLF line breaks
// (judged by its BEGIN line, or its first line) the block is written with
// CRLF too.
//
// Adoption: a file without a marked block that already holds the block's
// lines, one after the other as whole lines, is left as it is — those
// lines are the managed block, unmarked. This is how rackctl takes over
// the /etc/hosts lines Racker wrote (fileFormat racker renders them alike):
// the first plan after `rackctl import racker` changes nothing. The
// markers are added the first time the block's content changes; that
// write also drops the unmarked lines the new block supersedes (see
// dropSuperseded), so an old line cannot shadow a new address.
//
// Only lines that are exactly Racker's own entries for spec nodes are
// ever adopted or dropped (see rackerEntry); every other line outside the
// marked block — localhost, ip6-*, the management node's own name, a hand
// edit, a comment — is kept byte for byte and in place, whatever the
// nodes are called.
func MergeBlock(existing, block []byte) []byte {
	start, end, ok := blockBounds(existing)
	if !ok {
		if len(block) == 0 {
			return bytes.Clone(existing)
		}
		if adopted(existing, block) {
			return bytes.Clone(existing)
		}
		existing = dropSuperseded(existing, block)
		start, end = len(existing), len(existing)
	}
	crlf := usesCRLF(existing, start)
	if len(block) > 0 {
		block = bytes.ReplaceAll(block, []byte("\r\n"), []byte("\n"))
		if block[len(block)-1] != '\n' {
			block = append(block, '\n')
		}
		if crlf {
			block = bytes.ReplaceAll(block, []byte("\n"), []byte("\r\n"))
		}
	}
	out := make([]byte, 0, len(existing)+len(block)+2)
	out = append(out, existing[:start]...)
	if !ok && len(out) > 0 && out[len(out)-1] != '\n' {
		if crlf {
			out = append(out, '\r')
		}
		out = append(out, '\n')
	}
	out = append(out, block...)
	out = append(out, existing[end:]...)
	return out
}

// usesCRLF tells whether the line at pos (or, at the end of the text, the
// first line) ends in CRLF.
func usesCRLF(src []byte, pos int) bool {
	if pos >= len(src) {
		pos = 0
	}
	i := bytes.IndexByte(src[pos:], '\n')
	return i > 0 && src[pos+i-1] == '\r'
}

// ExtractBlock returns the marked block of existing, markers included and
// with LF line breaks, so it compares equal to what HostsBlock renders.
func ExtractBlock(existing []byte) (block []byte, ok bool) {
	start, end, ok := blockBounds(existing)
	if !ok {
		return nil, false
	}
	block = bytes.ReplaceAll(existing[start:end], []byte("\r\n"), []byte("\n"))
	if len(block) > 0 && block[len(block)-1] != '\n' {
		block = append(block, '\n')
	}
	return block, true
}

// blockBody is the block's lines between the markers, LF line breaks.
func blockBody(block []byte) []string {
	block = bytes.ReplaceAll(block, []byte("\r\n"), []byte("\n"))
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(block), "\n"), "\n") {
		if l == BeginMarker || l == EndMarker {
			continue
		}
		out = append(out, l)
	}
	return out
}

// fileLines splits src into lines without their line breaks (LF or CRLF).
func fileLines(src []byte) []string {
	s := strings.TrimSuffix(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// adopted tells whether existing (without markers) holds every line of
// block's body as a run of consecutive whole lines, each one a Racker
// entry (rackerEntry): a block naming a reserved name is never adopted.
func adopted(existing, block []byte) bool {
	body := blockBody(block)
	if len(body) == 0 {
		return false
	}
	ix := indexBody(body)
	for _, l := range body {
		if !rackerEntryIn(l, ix) {
			return false
		}
	}
	lines := fileLines(existing)
	for i := 0; i+len(body) <= len(lines); i++ {
		if slices.Equal(lines[i:i+len(body)], body) {
			return true
		}
	}
	return false
}

// AdoptsUnmarked tells whether MergeBlock leaves existing as it is because
// it holds block's lines unmarked (see MergeBlock).
func AdoptsUnmarked(existing, block []byte) bool {
	if _, _, ok := blockBounds(existing); ok {
		return false
	}
	return adopted(existing, block)
}

// rackerEntry tells whether line (without its line break), found outside
// the marked block, is one Racker wrote for a node of the spec, and so may
// be adopted as the block or dropped when the marked block supersedes it.
// The rule, all of it required:
//   - it is written as Racker wrote its lines: an address and names
//     separated by single spaces, nothing else (no comment, no tab, no
//     leading or trailing blank);
//   - its names, in order, are exactly those of a line of the block (a
//     node's FQDN, a controller's API server and etcd names), and its
//     address is in the same /24 (IPv4) or /64 (IPv6) as that line's:
//     Racker used one internal /24, and an address that differs is the
//     old one the block supersedes, while a line elsewhere (the
//     management node's own LAN name) is not Racker's;
//   - the address is not loopback, unspecified, link-local or multicast,
//     and no name is reserved (localhost in any form, ip6-*,
//     broadcasthost): those lines are the system's, never a node's.
//
// Anything else is someone else's line and is never touched.
func rackerEntry(line string, body []string) bool {
	return rackerEntryIn(line, indexBody(body))
}

// bodyIndex maps the names of each block line, joined by single spaces,
// to the addresses of the lines with exactly those names. Looking a line
// up in it is what scanning the block for a line with the same fields
// after the first did, without the scan: checking every line of a block
// against the block is linear in the rack's size, not quadratic.
type bodyIndex map[string][]netip.Addr

func indexBody(body []string) bodyIndex {
	ix := make(bodyIndex, len(body))
	for _, b := range body {
		if e, ok := ParseHostsLine(b); ok {
			k := strings.Join(e.Names, " ")
			ix[k] = append(ix[k], e.Addr)
		}
	}
	return ix
}

// rackerEntryIn is rackerEntry with the block indexed by indexBody.
func rackerEntryIn(line string, ix bodyIndex) bool {
	// Racker's own form: fields joined by single spaces, no comment, no
	// other blank. Anything else was edited by someone.
	e, ok := ParseHostsLine(line)
	if !ok || strings.ContainsAny(line, "#\t\r\v\f") || strings.Join(strings.Fields(line), " ") != line {
		return false
	}
	ip := e.Addr
	if ip.Zone() != "" || ip.IsLoopback() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, n := range e.Names {
		if reservedHostName(n) {
			return false
		}
	}
	for _, bip := range ix[strings.Join(e.Names, " ")] {
		if bip.Is4() != ip.Is4() {
			continue
		}
		bits := 64
		if bip.Is4() {
			bits = 24
		}
		if net, err := bip.Prefix(bits); err == nil && net.Contains(ip) {
			return true
		}
	}
	return false
}

// reservedHostName tells whether name belongs to the system's own hosts
// entries (Debian's and RFC 6761's), which no node may take over.
func reservedHostName(name string) bool {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	first, _, _ := strings.Cut(n, ".")
	return first == "localhost" || first == "localhost4" || first == "localhost6" ||
		strings.HasSuffix(n, ".localhost") || strings.HasPrefix(n, "ip6-") ||
		n == "broadcasthost" || n == "localdomain" || n == "localdomain6"
}

// dropSuperseded removes from existing (a file without a marked block) the
// lines that are Racker's entries for the block's nodes (rackerEntry):
// the block is about to be added and names them itself, at the spec's
// addresses. Every other line is kept whole, in its place.
func dropSuperseded(existing, block []byte) []byte {
	body := blockBody(block)
	if len(body) == 0 {
		return existing
	}
	ix := indexBody(body)
	var out []byte
	for rest := existing; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		if !rackerEntryIn(text, ix) {
			out = append(out, line...)
		}
	}
	return out
}
