package racker

import (
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// attr is one evaluated HCL attribute with its position.
type attr struct {
	val  cty.Value
	line int
	expr hcl.Expression
}

// hclFile is a parsed HCL file: its top-level attributes (a vars file) and
// its body (a .lokocfg or .tf file).
type hclFile struct {
	rel   string // path relative to the root, for findings
	body  *hclsyntax.Body
	attrs map[string]attr
}

// parseHCL parses src (nesting bounded, see parseHCLSafe). A vars file's
// attributes are evaluated as literals: a function call or reference is an
// error finding and the attribute is left out.
func (im *importer) parseHCL(rel string, src []byte, evalAttrs bool) *hclFile {
	f, diags := parseHCLSafe(rel, src)
	if diags.HasErrors() {
		for _, d := range diags {
			line := 0
			if d.Subject != nil {
				line = d.Subject.Start.Line
			}
			im.errorf(rel, line, "%s: %s", d.Summary, d.Detail)
		}
		return nil
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		im.errorf(rel, 0, "not HCL native syntax")
		return nil
	}
	hf := &hclFile{rel: rel, body: body, attrs: map[string]attr{}}
	if !evalAttrs {
		return hf
	}
	for name, a := range body.Attributes {
		if im.notEvaluated(rel, name, a.Expr, false) {
			continue
		}
		v, d := a.Expr.Value(nil)
		if d.HasErrors() {
			im.errorf(rel, a.SrcRange.Start.Line, "%s: %s", name, diagText(d))
			continue
		}
		hf.attrs[name] = attr{val: v, line: a.SrcRange.Start.Line, expr: a.Expr}
	}
	return hf
}

func diagText(d hcl.Diagnostics) string {
	var s []string
	for _, x := range d {
		if x.Detail != "" {
			s = append(s, x.Summary+": "+x.Detail)
		} else {
			s = append(s, x.Summary)
		}
	}
	return strings.Join(s, "; ")
}

// block finds the first block of a type (and first label, if given).
func (f *hclFile) block(typ, label string) *hclsyntax.Block {
	if f == nil {
		return nil
	}
	for _, b := range f.body.Blocks {
		if b.Type == typ && (label == "" || (len(b.Labels) > 0 && b.Labels[0] == label)) {
			return b
		}
	}
	return nil
}

// evalCtx gives the cluster files var.*, the vars file's literal values,
// and no functions: nothing in an imported file runs (file() would read a
// root-only file into rack.yaml, and pathexpand is recognized by its form,
// see pathLiteral).
func (im *importer) evalCtx(vars map[string]attr) *hcl.EvalContext {
	vs := map[string]cty.Value{}
	for k, a := range vars {
		vs[k] = a.val
	}
	return &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vs)}}
}

// goValue converts a cty value to plain Go (string, bool, int64, float64,
// []any, map[string]any) for the spec.
func goValue(v cty.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	if !v.IsWhollyKnown() {
		return nil, fmt.Errorf("value is not known")
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString(), nil
	case t == cty.Bool:
		return v.True(), nil
	case t == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			if i, acc := bf.Int64(); acc == big.Exact {
				return i, nil
			}
		}
		f, _ := bf.Float64()
		return f, nil
	case t.IsListType() || t.IsSetType() || t.IsTupleType():
		out := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			g, err := goValue(e)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		return out, nil
	case t.IsMapType() || t.IsObjectType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			g, err := goValue(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.AsString(), err)
			}
			out[k.AsString()] = g
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value of type %s", t.FriendlyName())
}

// strings of a list value; ok is false for anything else.
func ctyStrings(v cty.Value) ([]string, bool) {
	g, err := goValue(v)
	if err != nil {
		return nil, false
	}
	l, ok := g.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func ctyString(v cty.Value) (string, bool) {
	if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// ctyBool accepts a bool or Racker's quoted "true"/"false".
func ctyBool(v cty.Value) (bool, bool) {
	if v.IsNull() || !v.IsKnown() {
		return false, false
	}
	switch v.Type() {
	case cty.Bool:
		return v.True(), true
	case cty.String:
		switch v.AsString() {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// stringListMap reads map(list(string)).
func stringListMap(v cty.Value) (map[string][]string, bool) {
	g, err := goValue(v)
	if err != nil {
		return nil, false
	}
	m, ok := g.(map[string]any)
	if !ok {
		return nil, false
	}
	out := map[string][]string{}
	for k, e := range m {
		l, ok := e.([]any)
		if !ok {
			return nil, false
		}
		for _, x := range l {
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			out[k] = append(out[k], s)
		}
		if out[k] == nil {
			out[k] = []string{}
		}
	}
	return out, true
}

// stringMap reads map(string).
func stringMap(v cty.Value) (map[string]string, bool) {
	g, err := goValue(v)
	if err != nil {
		return nil, false
	}
	return stringsOf(g)
}

func stringsOf(g any) (map[string]string, bool) {
	m, ok := g.(map[string]any)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

// stringMapMap reads map(map(string)).
func stringMapMap(v cty.Value) (map[string]map[string]string, bool) {
	g, err := goValue(v)
	if err != nil {
		return nil, false
	}
	m, ok := g.(map[string]any)
	if !ok {
		return nil, false
	}
	out := map[string]map[string]string{}
	for k, e := range m {
		if out[k], ok = stringsOf(e); !ok {
			return nil, false
		}
	}
	return out, true
}

// componentBody converts a component block to the spec's attribute map:
// attributes evaluated with ctx (var.* only, no functions: a secret read
// with file() must not end up in rack.yaml; a call is an error finding),
// nested blocks as maps (a repeated block as a list of maps). Attributes
// that cannot be evaluated are reported and skipped.
func (im *importer) componentBody(rel, comp string, b *hclsyntax.Body, ctx *hcl.EvalContext) map[string]any {
	out := map[string]any{}
	names := make([]string, 0, len(b.Attributes))
	for n := range b.Attributes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := b.Attributes[n]
		if im.notEvaluated(rel, fmt.Sprintf("component %q: %s", comp, n), a.Expr, true) {
			continue
		}
		v, d := a.Expr.Value(ctx)
		if d.HasErrors() {
			im.warnf(rel, a.SrcRange.Start.Line, "component %q: attribute %s not imported (%s); add it to cluster.components.%s in rack.yaml by hand", comp, n, diagText(d), comp)
			continue
		}
		g, err := goValue(v)
		if err != nil {
			im.warnf(rel, a.SrcRange.Start.Line, "component %q: attribute %s not imported: %v", comp, n, err)
			continue
		}
		out[n] = g
	}
	count := map[string]int{}
	for _, blk := range b.Blocks {
		count[blk.Type]++
	}
	for _, blk := range b.Blocks {
		if len(blk.Labels) > 0 {
			im.warnf(rel, blk.DefRange().Start.Line, "component %q: labeled block %s %q not imported (rackctl writes unlabeled blocks only)", comp, blk.Type, blk.Labels)
			continue
		}
		sub := im.componentBody(rel, comp, blk.Body, ctx)
		if count[blk.Type] > 1 {
			l, _ := out[blk.Type].([]any)
			out[blk.Type] = append(l, sub)
		} else {
			out[blk.Type] = sub
		}
	}
	return out
}
