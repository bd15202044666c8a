package render

import (
	"fmt"
	"math/big"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// This file holds the small vocabulary every HCL file of the package is
// built from. All HCL goes through hclwrite: values through cty, references
// through traversals, calls and for-expressions through tokens, so quoting
// and escaping (a "${" in a spec string, say) is never done by hand.

// hclFile starts a file with rackctl's header comment.
func hclFile(header string) *hclwrite.File {
	f := hclwrite.NewEmptyFile()
	if header != "" {
		f.Body().AppendUnstructuredTokens(hclwrite.Tokens{
			{Type: hclsyntax.TokenComment, Bytes: []byte("# " + header + "\n")},
		})
		f.Body().AppendNewline()
	}
	return f
}

// hclBytes returns the file formatted the way terraform fmt would.
func hclBytes(f *hclwrite.File) []byte {
	return hclwrite.Format(f.Bytes())
}

// varRef is the traversal var.NAME.
func varRef(name string) hcl.Traversal {
	return hcl.Traversal{hcl.TraverseRoot{Name: "var"}, hcl.TraverseAttr{Name: name}}
}

func tok(t hclsyntax.TokenType, s string) *hclwrite.Token {
	return &hclwrite.Token{Type: t, Bytes: []byte(s)}
}

// tokensForFileMap is
//
//	{ for name, paths in var.NAME : name => [for path in paths : file(path)] }
//
// which turns a map of snippet file lists into a map of their contents,
// as Racker's baremetal.lokocfg did for clc_snippets.
func tokensForFileMap(varName string) hclwrite.Tokens {
	var ts hclwrite.Tokens
	ts = append(ts,
		tok(hclsyntax.TokenOBrace, "{"),
		tok(hclsyntax.TokenIdent, "for"),
		tok(hclsyntax.TokenIdent, "name"),
		tok(hclsyntax.TokenComma, ","),
		tok(hclsyntax.TokenIdent, "paths"),
		tok(hclsyntax.TokenIdent, "in"),
	)
	ts = append(ts, hclwrite.TokensForTraversal(varRef(varName))...)
	ts = append(ts,
		tok(hclsyntax.TokenColon, ":"),
		tok(hclsyntax.TokenIdent, "name"),
		tok(hclsyntax.TokenFatArrow, "=>"),
		tok(hclsyntax.TokenOBrack, "["),
		tok(hclsyntax.TokenIdent, "for"),
		tok(hclsyntax.TokenIdent, "path"),
		tok(hclsyntax.TokenIdent, "in"),
		tok(hclsyntax.TokenIdent, "paths"),
		tok(hclsyntax.TokenColon, ":"),
	)
	ts = append(ts, hclwrite.TokensForFunctionCall("file", hclwrite.TokensForIdentifier("path"))...)
	ts = append(ts,
		tok(hclsyntax.TokenCBrack, "]"),
		tok(hclsyntax.TokenCBrace, "}"),
	)
	return ts
}

// tokensForType is a Terraform type constraint such as map(list(string)),
// given as the nesting from the outside in: ("map", "list", "string").
func tokensForType(parts ...string) hclwrite.Tokens {
	if len(parts) == 1 {
		return hclwrite.TokensForIdentifier(parts[0])
	}
	return hclwrite.TokensForFunctionCall(parts[0], tokensForType(parts[1:]...))
}

// variable is one declared input variable.
type variable struct {
	name string
	typ  []string // see tokensForType
}

func typeString(parts []string) string {
	s := parts[len(parts)-1]
	for i := len(parts) - 2; i >= 0; i-- {
		s = parts[i] + "(" + s + ")"
	}
	return s
}

// appendVariables declares vars; quoted writes the type as a string
// ("list(string)"), the form lokoctl read in Racker's files, otherwise as
// a bare type expression, the only form Terraform accepts.
func appendVariables(body *hclwrite.Body, vars []variable, quoted bool) {
	for _, v := range vars {
		body.AppendNewline()
		b := body.AppendNewBlock("variable", []string{v.name}).Body()
		if quoted {
			b.SetAttributeValue("type", cty.StringVal(typeString(v.typ)))
		} else {
			b.SetAttributeRaw("type", tokensForType(v.typ...))
		}
	}
}

func stringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(ss))
	for i, s := range ss {
		vs[i] = cty.StringVal(s)
	}
	return cty.ListVal(vs)
}

func stringListMap(m map[string][]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.List(cty.String))
	}
	vs := make(map[string]cty.Value, len(m))
	for k, v := range m {
		vs[k] = stringList(v)
	}
	return cty.MapVal(vs)
}

func stringMap(m map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	vs := make(map[string]cty.Value, len(m))
	for k, v := range m {
		vs[k] = cty.StringVal(v)
	}
	return cty.MapVal(vs)
}

func stringMapMap(m map[string]map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.Map(cty.String))
	}
	vs := make(map[string]cty.Value, len(m))
	for k, v := range m {
		vs[k] = stringMap(v)
	}
	// Inner maps may be empty and typed alike, so MapVal's same-type rule holds.
	return cty.MapVal(vs)
}

// ctyValue converts a decoded YAML/JSON value (a component attribute) to cty.
func ctyValue(v any) (cty.Value, error) {
	switch x := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType), nil
	case string:
		return cty.StringVal(x), nil
	case bool:
		return cty.BoolVal(x), nil
	case int:
		return cty.NumberIntVal(int64(x)), nil
	case int64:
		return cty.NumberIntVal(x), nil
	case uint64:
		return cty.NumberUIntVal(x), nil
	case float64:
		if x == float64(int64(x)) {
			return cty.NumberIntVal(int64(x)), nil
		}
		return cty.NumberVal(new(big.Float).SetFloat64(x)), nil
	case []string:
		return stringList(x), nil
	case map[string]string:
		return stringMap(x), nil
	case []any:
		if len(x) == 0 {
			return cty.EmptyTupleVal, nil
		}
		vs := make([]cty.Value, len(x))
		for i, e := range x {
			cv, err := ctyValue(e)
			if err != nil {
				return cty.NilVal, fmt.Errorf("[%d]: %w", i, err)
			}
			vs[i] = cv
		}
		return cty.TupleVal(vs), nil
	case map[string]any:
		if len(x) == 0 {
			return cty.EmptyObjectVal, nil
		}
		vs := make(map[string]cty.Value, len(x))
		for k, e := range x {
			cv, err := ctyValue(e)
			if err != nil {
				return cty.NilVal, fmt.Errorf("%s: %w", k, err)
			}
			vs[k] = cv
		}
		return cty.ObjectVal(vs), nil
	default:
		return cty.NilVal, fmt.Errorf("unsupported value of type %T", v)
	}
}

// appendBody writes a component's configuration into body. Scalars and
// lists of scalars become attributes; a nested mapping becomes a nested
// block and a list of mappings repeated blocks, because lokomotive decodes
// component sub-configurations (velero's azure {}, prometheus-operator's
// grafana {}) as blocks. Attributes come first, then blocks, each sorted by
// name, so the output does not depend on map order.
func appendBody(body *hclwrite.Body, attrs map[string]any) error {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var blocks []string
	for _, k := range keys {
		if !hclsyntax.ValidIdentifier(k) {
			return fmt.Errorf("%q is not a valid HCL identifier", k)
		}
		if isBlockValue(attrs[k]) {
			blocks = append(blocks, k)
			continue
		}
		v, err := ctyValue(attrs[k])
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		body.SetAttributeValue(k, v)
	}
	for _, k := range blocks {
		var items []map[string]any
		switch x := attrs[k].(type) {
		case map[string]any:
			items = []map[string]any{x}
		case []any:
			for _, e := range x {
				items = append(items, e.(map[string]any))
			}
		}
		for i, item := range items {
			if err := appendBody(body.AppendNewBlock(k, nil).Body(), item); err != nil {
				return fmt.Errorf("%s[%d]: %w", k, i, err)
			}
		}
	}
	return nil
}

func isBlockValue(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return true
	case []any:
		if len(x) == 0 {
			return false
		}
		for _, e := range x {
			if _, ok := e.(map[string]any); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// tokensForLines is a list or object constructor with one element per
// line, so that a change to one node is a one-line diff.
func tokensForLines(open, close string, elems []hclwrite.Tokens) hclwrite.Tokens {
	ot, ct := hclsyntax.TokenOBrack, hclsyntax.TokenCBrack
	if open == "{" {
		ot, ct = hclsyntax.TokenOBrace, hclsyntax.TokenCBrace
	}
	if len(elems) == 0 {
		return hclwrite.Tokens{tok(ot, open), tok(ct, close)}
	}
	ts := hclwrite.Tokens{tok(ot, open), tok(hclsyntax.TokenNewline, "\n")}
	for _, e := range elems {
		ts = append(ts, e...)
		if open == "[" {
			ts = append(ts, tok(hclsyntax.TokenComma, ","))
		}
		ts = append(ts, tok(hclsyntax.TokenNewline, "\n"))
	}
	return append(ts, tok(ct, close))
}

// tokensForStringList is a list of strings, one per line.
func tokensForStringList(ss []string) hclwrite.Tokens {
	elems := make([]hclwrite.Tokens, len(ss))
	for i, s := range ss {
		elems[i] = hclwrite.TokensForValue(cty.StringVal(s))
	}
	return tokensForLines("[", "]", elems)
}

// tokensForPathMap is
//
//	{ for name in var.LIST : name => "PREFIX${name}SUFFIX" }
func tokensForPathMap(list, prefix, suffix string) hclwrite.Tokens {
	ts := hclwrite.Tokens{
		tok(hclsyntax.TokenOBrace, "{"),
		tok(hclsyntax.TokenIdent, "for"),
		tok(hclsyntax.TokenIdent, "name"),
		tok(hclsyntax.TokenIdent, "in"),
	}
	ts = append(ts, hclwrite.TokensForTraversal(varRef(list))...)
	return append(ts,
		tok(hclsyntax.TokenColon, ":"),
		tok(hclsyntax.TokenIdent, "name"),
		tok(hclsyntax.TokenFatArrow, "=>"),
		tok(hclsyntax.TokenOQuote, `"`),
		tok(hclsyntax.TokenQuotedLit, string(escapeTemplateLit(prefix))),
		tok(hclsyntax.TokenTemplateInterp, "${"),
		tok(hclsyntax.TokenIdent, "name"),
		tok(hclsyntax.TokenTemplateSeqEnd, "}"),
		tok(hclsyntax.TokenQuotedLit, string(escapeTemplateLit(suffix))),
		tok(hclsyntax.TokenCQuote, `"`),
		tok(hclsyntax.TokenCBrace, "}"),
	)
}

// escapeTemplateLit escapes a literal part of a quoted template the way
// TokensForValue escapes a string (which yields the quotes too).
func escapeTemplateLit(s string) []byte {
	ts := hclwrite.TokensForValue(cty.StringVal(s))
	var b []byte
	for _, t := range ts {
		if t.Type == hclsyntax.TokenQuotedLit {
			b = append(b, t.Bytes...)
		}
	}
	return b
}
