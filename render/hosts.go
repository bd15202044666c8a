package render

import (
	"bytes"
	"fmt"
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

func hostsBlock(r *rack) []byte {
	var b bytes.Buffer
	b.WriteString(BeginMarker + "\n")
	for _, n := range r.active {
		fmt.Fprintf(&b, "%s %s %s\n", n.ip, n.fqdn, n.Name)
	}
	for _, line := range controllerHostLines(r) {
		b.WriteString(line + "\n")
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
	return fmt.Sprintf("%s-etcd%d.%s", r.Cluster.Name, n.ctlIdx, r.Domain)
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
func MergeBlock(existing, block []byte) []byte {
	start, end, ok := blockBounds(existing)
	if !ok {
		if len(block) == 0 {
			return bytes.Clone(existing)
		}
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
