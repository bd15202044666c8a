package schema

import (
	"fmt"
	"regexp"
	"strconv"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// entry is one value of the YAML document: where its key (or, for a list
// element, the element itself) starts, and its syntax.
type entry struct {
	pos  token.Pos
	expr ast.Expr
}

// index maps every path of the document ("nodes[3].mac") to its entry, so
// every diagnostic, from CUE or from Go, can be positioned in the user's
// file. Building it also finds duplicate keys, which the YAML decoder keeps.
type index struct {
	file    string
	entries map[string]entry
	diags   Errors
	// warns are findings that do not stop the spec (Rack.Warnings).
	warns Errors
}

func newIndex(file string, f *ast.File) *index {
	ix := &index{file: file, entries: make(map[string]entry, 64)}
	ix.entries[""] = entry{pos: f.Pos(), expr: nil}
	f.Decls = ix.walkFields("", f.Decls)
	return ix
}

// walkFields indexes the fields of a mapping and returns its declarations
// without duplicate keys (reported here; only the first one is kept, so
// evaluation does not add a confusing conflict).
func (ix *index) walkFields(path string, decls []ast.Decl) []ast.Decl {
	seen := make(map[string]token.Pos, len(decls))
	kept := decls[:0]
	for _, d := range decls {
		f, ok := d.(*ast.Field)
		if !ok {
			kept = append(kept, d)
			continue
		}
		name, _, err := ast.LabelName(f.Label)
		if err != nil {
			kept = append(kept, d)
			continue
		}
		p := joinField(path, name)
		if first, dup := seen[name]; dup {
			ix.add(f.Label.Pos(), p, fmt.Sprintf("duplicate key %q (first at line %d)", name, first.Line()))
			continue
		}
		seen[name] = f.Label.Pos()
		kept = append(kept, d)
		ix.entries[p] = entry{pos: f.Label.Pos(), expr: f.Value}
		ix.walk(p, f.Value)
	}
	return kept
}

func (ix *index) walk(path string, x ast.Expr) {
	switch x := x.(type) {
	case *ast.StructLit:
		x.Elts = ix.walkFields(path, x.Elts)
	case *ast.ListLit:
		for i, el := range x.Elts {
			p := joinIndex(path, i)
			ix.entries[p] = entry{pos: el.Pos(), expr: el}
			ix.walk(p, el)
		}
	}
}

// add records a diagnostic at pos (or at the start of the file when pos is
// unknown, so every diagnostic has a line).
func (ix *index) add(pos token.Pos, field, msg string) {
	line, col := 1, 1
	if pos.IsValid() && pos.Line() > 0 {
		line, col = pos.Line(), pos.Column()
	}
	ix.diags = append(ix.diags, Diagnostic{File: ix.file, Line: line, Col: col, Field: field, Message: msg})
}

// warnAt records a warning positioned at path.
func (ix *index) warnAt(path, msg string) {
	errs := ix.diags
	ix.addAt(path, msg)
	ix.warns = append(ix.warns, ix.diags[len(ix.diags)-1])
	ix.diags = errs
}

// addAt records a diagnostic positioned at path, or at its nearest
// ancestor present in the document (a missing field points at its parent).
func (ix *index) addAt(path, msg string) {
	ix.add(ix.pos(path), path, msg)
}

// diagnostic is msg positioned at path (or its nearest ancestor), without
// recording it.
func (ix *index) diagnostic(path, msg string) Diagnostic {
	p := ix.pos(path)
	line, col := 1, 1
	if p.IsValid() {
		line, col = p.Line(), p.Column()
	}
	return Diagnostic{File: ix.file, Line: line, Col: col, Field: path, Message: msg}
}

func (ix *index) pos(path string) token.Pos {
	for p := path; ; p = parent(p) {
		if e, ok := ix.entries[p]; ok && e.pos.IsValid() {
			return e.pos
		}
		if p == "" {
			return token.NoPos
		}
	}
}

// str returns the string at path if the document has a string scalar there.
func (ix *index) str(path string) (string, bool) {
	e, ok := ix.entries[path]
	if !ok {
		return "", false
	}
	lit, ok := e.expr.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := literal.Unquote(lit.Value)
	if err != nil {
		return "", false
	}
	return s, true
}

// intLit returns the integer at path if the document has an integer
// literal there.
func (ix *index) intLit(path string) (int, bool) {
	e, ok := ix.entries[path]
	if !ok {
		return 0, false
	}
	lit, ok := e.expr.(*ast.BasicLit)
	if !ok || lit.Kind != token.INT {
		return 0, false
	}
	n, err := strconv.ParseInt(lit.Value, 0, 0)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// isTrue reports whether the document has the boolean true at path.
func (ix *index) isTrue(path string) bool {
	e, ok := ix.entries[path]
	if !ok {
		return false
	}
	lit, ok := e.expr.(*ast.BasicLit)
	return ok && lit.Kind == token.TRUE
}

// describe renders the document's value at path for a message: scalars
// as written (strings quoted), others by their kind.
func (ix *index) describe(path string) string {
	e, ok := ix.entries[path]
	if !ok {
		return "value"
	}
	switch x := e.expr.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			if s, err := literal.Unquote(x.Value); err == nil {
				if len(s) > 64 {
					s = s[:61] + "..."
				}
				return strconv.Quote(s)
			}
		}
		return x.Value
	case *ast.StructLit:
		return "a mapping"
	case *ast.ListLit:
		return "a list"
	}
	return "value"
}

var plainLabel = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func joinField(path, name string) string {
	if !plainLabel.MatchString(name) {
		name = strconv.Quote(name)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// parent strips the last selector of a path: "a.b[2]" → "a.b" → "a" → "".
func parent(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		// A '.' or '[' inside a quoted label is not a separator.
		if (p[i] == '.' || p[i] == '[') && !inQuotes(p[:i]) {
			return p[:i]
		}
	}
	return ""
}

func inQuotes(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '"' {
			n++
		}
	}
	return n%2 == 1
}

// node reads a node that the schema has validated from the syntax.
// TestNodeDecode keeps it in step with Value.Decode.
func (ix *index) node(path string) Node {
	s := func(f string) string { v, _ := ix.str(path + "." + f); return v }
	unit, _ := ix.intLit(path + ".rackUnit")
	n := Node{
		Name:         s("name"),
		Role:         s("role"),
		MAC:          s("mac"),
		BMCMAC:       s("bmcMac"),
		SecondaryMAC: s("secondaryMac"),
		PublicIP:     s("publicIP"),
		IP:           s("ip"),
		BMCIP:        s("bmcIP"),
		BMCAddress:   s("bmcAddress"),
		BMCProtocol:  s("bmcProtocol"),
		InstallVia:   s("installVia"),
		Exclude:      ix.isTrue(path + ".exclude"),
		Maintenance:  ix.isTrue(path + ".maintenance"),
		RackUnit:     unit,
		Reprovision:  s("reprovision"),
		ExtraCLC:     s("extraCLC"),
	}
	if e, ok := ix.entries[path+".labels"]; ok {
		if st, ok := e.expr.(*ast.StructLit); ok {
			n.Labels = make(map[string]string, len(st.Elts))
			for _, d := range st.Elts {
				if f, ok := d.(*ast.Field); ok {
					if k, _, err := ast.LabelName(f.Label); err == nil {
						n.Labels[k], _ = ix.str(joinField(path+".labels", k))
					}
				}
			}
		}
	}
	return n
}
