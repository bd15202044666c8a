package reconcile

import (
	"encoding/json"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"golang.org/x/crypto/ssh"

	"github.com/rackctl/rackctl/internal/rootfs"
)

// lokoEvaluator gives the value of a cluster attribute so that Racker's
// form (literals in baremetal.lokocfg, SSH keys read with
// file(pathexpand("~/.ssh/id_rsa.pub"))) and rackctl's form (var.*
// references) of the same settings compare equal: a rewrite in the other
// form changes no node's Ignition and must not count as a reboot.
//
// Nothing is evaluated beyond var.* literals: no HCL function runs. The one
// function form recognised, file("P") or file(pathexpand("P")) as an SSH
// key, is read by rackctl itself, beneath the root without links, and used
// only when every line is a public key; anything else is left to the
// token comparison, which counts any change for every installed node.
type lokoEvaluator struct {
	root string                     // --root
	home string                     // "~" of pathexpand: the parent of the Lokomotive dir, as in Racker's layout
	vars map[string]json.RawMessage // the vars file's literal values
}

// maxKeyFile bounds an SSH public key file read for comparison.
const maxKeyFile = 64 << 10

// clusterValues is the canonical JSON of every cluster attribute eval can
// tell the value of.
func (e lokoEvaluator) clusterValues(body *hclsyntax.Body) map[string]string {
	out := map[string]string{}
	ctx := e.context()
	for _, b := range body.Blocks {
		if b.Type != "cluster" {
			continue
		}
		for name, a := range b.Body.Attributes {
			if v, ok := e.value(a.Expr, ctx); ok {
				out[name] = v
			}
		}
	}
	return out
}

func (e lokoEvaluator) context() *hcl.EvalContext {
	vars := map[string]cty.Value{}
	for name, raw := range e.vars {
		t, err := ctyjson.ImpliedType(raw)
		if err != nil {
			continue
		}
		v, err := ctyjson.Unmarshal(raw, t)
		if err != nil {
			continue
		}
		vars[name] = v
	}
	return &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
}

// value evaluates x with var.* only; a list whose items are file(...) key
// forms is read as the keys they name.
func (e lokoEvaluator) value(x hclsyntax.Expression, ctx *hcl.EvalContext) (string, bool) {
	// A per-node variable is compared slot by slot (lokoSlots); here it
	// stays a name, or every node would count for one slot's change.
	if t, ok := x.(*hclsyntax.ScopeTraversalExpr); ok && len(t.Traversal) == 2 && t.Traversal.RootName() == "var" {
		if a, ok := t.Traversal[1].(hcl.TraverseAttr); ok && lokoPerNode[a.Name] {
			return "var." + a.Name, true
		}
	}
	if keys, ok := e.fileKeys(x); ok {
		return canonicalJSON(keys)
	}
	if hclsyntax.Walk(x, noFunctions{}).HasErrors() {
		return "", false
	}
	v, diags := x.Value(ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return "", false
	}
	// Lists and tuples of the same items mean the same to lokoctl.
	if v.Type().IsTupleType() || v.Type().IsListType() {
		var items []json.RawMessage
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			b, err := ctyjson.Marshal(ev, ev.Type())
			if err != nil {
				return "", false
			}
			items = append(items, b)
		}
		return canonicalJSON(items)
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return "", false
	}
	return string(b), true
}

// fileKeys reads a tuple of file("P")/file(pathexpand("P")) items (at
// least one) and string literals as SSH public keys.
func (e lokoEvaluator) fileKeys(x hclsyntax.Expression) ([]json.RawMessage, bool) {
	t, ok := x.(*hclsyntax.TupleConsExpr)
	if !ok {
		return nil, false
	}
	var keys []json.RawMessage
	files := 0
	for _, item := range t.Exprs {
		if p, ok := fileCallPath(item); ok {
			k, ok := e.readKeys(p)
			if !ok {
				return nil, false
			}
			for _, s := range k {
				b, _ := json.Marshal(s)
				keys = append(keys, b)
			}
			files++
			continue
		}
		if hclsyntax.Walk(item, noFunctions{}).HasErrors() {
			return nil, false
		}
		v, diags := item.Value(nil)
		if diags.HasErrors() || v.Type() != cty.String || !v.IsKnown() || v.IsNull() {
			return nil, false
		}
		b, _ := json.Marshal(v.AsString())
		keys = append(keys, b)
	}
	return keys, files > 0
}

// readKeys reads the public keys in the file at P ("~" is e.home) beneath
// the root; ok is false unless every non-empty line is a public key.
func (e lokoEvaluator) readKeys(p string) ([]string, bool) {
	// ".." is refused as written: path.Join would clean it away.
	if strings.Contains(p, "..") {
		return nil, false
	}
	if rest, found := strings.CutPrefix(p, "~/"); found {
		p = path.Join(e.home, rest)
	}
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	if rel == "" {
		return nil, false
	}
	r, err := rootfs.New(e.root)
	if err != nil {
		return nil, false
	}
	b, _, err := r.ReadFile(rel, maxKeyFile)
	if err != nil {
		return nil, false
	}
	var keys []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err != nil {
			return nil, false
		}
		keys = append(keys, line)
	}
	return keys, len(keys) > 0
}

// fileCallPath is P of file("P") or file(pathexpand("P")), recognised by
// its form; ok is false for any other expression.
func fileCallPath(x hclsyntax.Expression) (string, bool) {
	call, ok := x.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "file" || len(call.Args) != 1 {
		return "", false
	}
	arg := call.Args[0]
	if inner, ok := arg.(*hclsyntax.FunctionCallExpr); ok {
		if inner.Name != "pathexpand" || len(inner.Args) != 1 {
			return "", false
		}
		arg = inner.Args[0]
	}
	if hclsyntax.Walk(arg, noFunctions{}).HasErrors() {
		return "", false
	}
	v, diags := arg.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String || !v.IsKnown() || v.IsNull() {
		return "", false
	}
	return v.AsString(), true
}

// noFunctions fails a walk at any function call.
type noFunctions struct{}

func (noFunctions) Enter(n hclsyntax.Node) hcl.Diagnostics {
	if _, ok := n.(*hclsyntax.FunctionCallExpr); ok {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "function call"}}
	}
	return nil
}

func (noFunctions) Exit(hclsyntax.Node) hcl.Diagnostics { return nil }

func canonicalJSON(items []json.RawMessage) (string, bool) {
	if items == nil {
		items = []json.RawMessage{}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return "", false
	}
	return string(b), true
}
