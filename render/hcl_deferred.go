package render

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// hclwrite.Format lexes and lays out the whole file again: for the vars
// files of a 1000-node rack (lists of every MAC and name, a map of every
// node's snippets) that was a third of a plan's allocations. The big
// top-level values are therefore laid out here, in the one shape Format
// gives them, and put in after the rest of the file was formatted around
// a multi-line stand-in (so the alignment of the attributes beside them is
// Format's own). Strings are still quoted by hclwrite. A value whose
// layout is not this simple (a non-ASCII key, whose width Format counts
// in graphemes) is set the ordinary way, and TestDeferredHCLAsFormat
// checks the output against Format's for every shape.

// deferredHCL collects the values laid out after formatting, for one file.
type deferredHCL struct {
	off   bool // set every value the ordinary way
	texts [][]byte
}

// renderHCL is the formatted file build makes, with its big values
// deferred; when a stand-in went missing, the file made without them.
func renderHCL(build func(d *deferredHCL) *hclwrite.File) []byte {
	d := &deferredHCL{}
	if out, ok := d.bytes(build(d)); ok {
		return out
	}
	return hclBytes(build(&deferredHCL{off: true}))
}

func (d *deferredHCL) standIn(b *hclwrite.Body, name string, text []byte) {
	id := fmt.Sprintf("RACKCTL_DEFERRED_%d", len(d.texts))
	b.SetAttributeRaw(name, hclwrite.Tokens{
		tok(hclsyntax.TokenOBrack, "["), tok(hclsyntax.TokenNewline, "\n"),
		tok(hclsyntax.TokenIdent, id), tok(hclsyntax.TokenNewline, "\n"),
		tok(hclsyntax.TokenCBrack, "]"),
	})
	d.texts = append(d.texts, text)
}

// quoted is s as an HCL string literal, quoted by hclwrite.
func quoted(s string) []byte { return hclwrite.TokensForValue(cty.StringVal(s)).Bytes() }

// stringList sets name to ss, one string per line, as tokensForStringList.
func (d *deferredHCL) stringList(b *hclwrite.Body, name string, ss []string) {
	if d.off || len(ss) == 0 {
		b.SetAttributeRaw(name, tokensForStringList(ss))
		return
	}
	var w bytes.Buffer
	w.WriteString("[\n")
	for _, s := range ss {
		w.WriteString("  ")
		w.Write(quoted(s))
		w.WriteString(",\n")
	}
	w.WriteString("]")
	d.standIn(b, name, w.Bytes())
}

// stringListMap sets name to m as stringListMap's value: one key per
// line, sorted, the "=" aligned, each list on its key's line.
func (d *deferredHCL) stringListMap(b *hclwrite.Body, name string, m map[string][]string) {
	keys := make([]string, 0, len(m))
	width := 0
	for k := range m {
		keys = append(keys, k)
		width = max(width, len(mapKey(k)))
	}
	if d.off || len(m) == 0 || slices.ContainsFunc(keys, func(k string) bool { return !isASCIIPrint(k) }) {
		b.SetAttributeValue(name, stringListMap(m))
		return
	}
	slices.Sort(keys)
	var w bytes.Buffer
	w.WriteString("{\n")
	for _, k := range keys {
		q := mapKey(k)
		w.WriteString("  ")
		w.Write(q)
		w.WriteString(strings.Repeat(" ", width-len(q)))
		w.WriteString(" = [")
		for i, s := range m[k] {
			if i > 0 {
				w.WriteString(", ")
			}
			w.Write(quoted(s))
		}
		w.WriteString("]\n")
	}
	w.WriteString("}")
	d.standIn(b, name, w.Bytes())
}

// mapKey is k as hclwrite writes a map key: bare when it is an
// identifier, else quoted.
func mapKey(k string) []byte {
	if hclsyntax.ValidIdentifier(k) {
		return []byte(k)
	}
	return quoted(k)
}

func isASCIIPrint(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// bytes formats f and puts the deferred values in place of their
// stand-ins; ok is false when a stand-in is not found once as expected.
func (d *deferredHCL) bytes(f *hclwrite.File) (out []byte, ok bool) {
	out = hclwrite.Format(f.Bytes())
	for i, text := range d.texts {
		standIn := []byte(fmt.Sprintf(" = [\n  RACKCTL_DEFERRED_%d\n]\n", i))
		if bytes.Count(out, standIn) != 1 {
			return nil, false
		}
		repl := append(append([]byte(" = "), text...), '\n')
		out = bytes.Replace(out, standIn, repl, 1)
	}
	return out, true
}
