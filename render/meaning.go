package render

import (
	"bytes"
	"path"
	"reflect"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"

	"github.com/rackctl/rackctl/internal/inputlimit"
)

// SameMeaning reports whether two versions of the rendered file at p say
// the same thing to the program that reads them, although their bytes
// differ: terraform, lokoctl and ct ignore layout, so rewriting a file
// only to change its layout would be a change without effect — and for a
// rack taken over from Racker (whose sed edits left stray spaces and
// trailing commas) a rewrite of every file on the first apply.
//
//   - .vars, .tfvars: the same variables with equal literal values (map
//     entry order, whitespace and trailing commas aside).
//   - .lokocfg, .tf: the same HCL tokens, ignoring whitespace, newlines,
//     comments and a trailing comma before a closing bracket.
//   - .yaml, .yml: the same YAML data (comments and layout aside); an
//     empty document is an empty map (a CLC snippet with nothing in it,
//     which Racker wrote as an empty file and rackctl as {}).
//
// Anything else, and any file either side of which does not parse, is the
// same only when byte-equal. The file on disk is input anyone who can
// write it controls (Racker's layout gives ~/lokomotive to core), so
// neither side reaches a parser unless it is at most
// inputlimit.MaxSpecSize bytes, of text (inputlimit.CheckText) and nested
// at most inputlimit.MaxDepth levels; a parser's panic means "differs".
func SameMeaning(p string, a, b []byte) (same bool) {
	if bytes.Equal(a, b) {
		return true
	}
	var compare func(a, b []byte) bool
	var depth func([]byte, int) error
	switch path.Ext(p) {
	case ".vars", ".tfvars":
		compare, depth = sameHCLValues, inputlimit.CheckHCLDepth
	case ".lokocfg", ".tf":
		compare, depth = sameHCLTokens, inputlimit.CheckHCLDepth
	case ".yaml", ".yml":
		compare, depth = sameYAML, inputlimit.CheckYAMLDepth
	default:
		return false
	}
	for _, src := range [][]byte{a, b} {
		if len(src) > inputlimit.MaxSpecSize || inputlimit.CheckText(src) != nil || depth(src, inputlimit.MaxDepth) != nil {
			return false
		}
	}
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return compare(a, b)
}

// sameHCLValues compares two files of literal attributes by value.
func sameHCLValues(a, b []byte) bool {
	va, ok := hclValues(a)
	if !ok {
		return false
	}
	vb, ok := hclValues(b)
	if !ok || len(va) != len(vb) {
		return false
	}
	for name, x := range va {
		y, ok := vb[name]
		if !ok || !x.RawEquals(y) {
			return false
		}
	}
	return true
}

// hclValues evaluates every attribute of a vars file without variables or
// functions: vars files hold literals only.
func hclValues(src []byte) (map[string]cty.Value, bool) {
	f, diags := hclsyntax.ParseConfig(src, "a.vars", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, false
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return nil, false
	}
	out := make(map[string]cty.Value, len(attrs))
	for name, attr := range attrs {
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() || !v.IsWhollyKnown() {
			return nil, false
		}
		out[name] = v
	}
	return out, true
}

// sameHCLTokens compares two HCL files token by token, layout aside.
func sameHCLTokens(a, b []byte) bool {
	ta, ok := meaningfulTokens(a)
	if !ok {
		return false
	}
	tb, ok := meaningfulTokens(b)
	if !ok || len(ta) != len(tb) {
		return false
	}
	for i := range ta {
		if ta[i].Type != tb[i].Type || !bytes.Equal(ta[i].Bytes, tb[i].Bytes) {
			return false
		}
	}
	return true
}

// meaningfulTokens are a valid HCL file's tokens without newlines,
// comments and trailing commas.
func meaningfulTokens(src []byte) (hclwrite.Tokens, bool) {
	if _, diags := hclsyntax.ParseConfig(src, "a.hcl", hcl.InitialPos); diags.HasErrors() {
		return nil, false
	}
	f, diags := hclwrite.ParseConfig(src, "a.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, false
	}
	var out hclwrite.Tokens
	for _, t := range f.BuildTokens(nil) {
		switch t.Type {
		case hclsyntax.TokenNewline, hclsyntax.TokenComment, hclsyntax.TokenEOF:
			continue
		case hclsyntax.TokenCBrack, hclsyntax.TokenCBrace, hclsyntax.TokenCParen:
			if n := len(out); n > 0 && out[n-1].Type == hclsyntax.TokenComma {
				out = out[:n-1]
			}
		}
		out = append(out, t)
	}
	return out, true
}

// sameYAML compares two YAML documents as data.
func sameYAML(a, b []byte) bool {
	var x, y any
	if yaml.Unmarshal(a, &x) != nil || yaml.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(emptyMap(x), emptyMap(y))
}

func emptyMap(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}
