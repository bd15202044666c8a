package schema

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/rackctl/rackctl/internal/inputlimit"
	"github.com/rackctl/rackctl/internal/macaddr"
)

// MaxSpecSize is the largest rack.yaml Load and Parse accept (16 MiB; a
// rack of thousands of nodes is a few megabytes), MaxDepth the deepest
// nesting of its YAML.
const (
	MaxSpecSize = inputlimit.MaxSpecSize
	MaxDepth    = inputlimit.MaxDepth
)

// rackCUE is the schema, the single source of the rules a rack.yaml follows.
//
//go:embed rack.cue
var rackCUE []byte

// CUE returns the embedded CUE schema (e.g. for `rackctl schema` or cue vet).
func CUE() []byte { return append([]byte(nil), rackCUE...) }

// Load reads and validates the spec at path. An invalid spec gives Errors.
func Load(path string) (*Rack, error) { return LoadContext(context.Background(), path) }

// LoadContext is Load, reading under ctx: the spec must be a regular file
// (a device such as /dev/zero or a FIFO is refused before reading) of at
// most MaxSpecSize bytes, and the read stops when ctx is done.
func LoadContext(ctx context.Context, path string) (*Rack, error) {
	src, err := readSpec(ctx, path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}

// readSpec reads the spec file within LoadContext's limits.
func readSpec(ctx context.Context, path string) ([]byte, error) {
	src, err := inputlimit.ReadFile(ctx, path, MaxSpecSize)
	if err != nil {
		if errors.Is(err, inputlimit.ErrTooLarge) || errors.Is(err, inputlimit.ErrNotRegular) {
			return nil, fmt.Errorf("read spec: %w; give a regular file of at most %d MiB", err, MaxSpecSize>>20)
		}
		return nil, fmt.Errorf("read spec: %w", err)
	}
	return src, nil
}

// Parse validates src, the content of the spec file filename (used only in
// diagnostics), against the schema and the cross-node checks, and returns
// the complete Rack: defaults applied, MACs in lower-case colon form. An
// invalid spec gives Errors listing every problem found, sorted by
// position; any other error is a bug in the embedded schema.
//
// The document is evaluated in parts so that the cost grows linearly with
// the number of nodes: the rack without its nodes is unified with #Rack,
// then each node with the element schema of #Rack.nodes (which holds the
// provisioner's role rule), compiled once.
//
// Before any parser sees src, its size (MaxSpecSize), its characters
// (inputlimit.CheckText: no control characters but tab, LF and CR, no
// U+2028/U+2029, anywhere, comments included) and its nesting (MaxDepth)
// are checked; a panic of a parser on some other input is turned into a
// diagnostic too.
func Parse(filename string, src []byte) (*Rack, error) {
	if errs := precheck(filename, src); errs != nil {
		return nil, errs
	}
	return recovered(filename, func() (*Rack, error) { return parse(filename, src) })
}

// recovered runs parse and turns a panic (of the YAML decoder or CUE, on
// an input the prechecks let through) into a diagnostic.
func recovered(filename string, parse func() (*Rack, error)) (r *Rack, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, Errors{{File: filename, Line: 1, Col: 1,
				Message: fmt.Sprintf("cannot parse the spec: the parser failed (%v); please report this with the file", p)}}
		}
	}()
	return parse()
}

// precheck bounds the input before the YAML decoder, which recurses per
// nesting level and panics on some line separators.
func precheck(filename string, src []byte) Errors {
	if len(src) > MaxSpecSize {
		return Errors{{File: filename, Line: 1, Col: 1,
			Message: fmt.Sprintf("file is %d bytes; a spec may be at most %d MiB", len(src), MaxSpecSize>>20)}}
	}
	at := func(err error, why string) Errors {
		var e *inputlimit.Error
		if !errors.As(err, &e) {
			return Errors{{File: filename, Line: 1, Col: 1, Message: err.Error()}}
		}
		return Errors{{File: filename, Line: e.Line, Col: e.Col, Message: e.Msg + why}}
	}
	if err := inputlimit.CheckText(src); err != nil {
		return at(err, " anywhere in the spec, comments included: YAML reads some of these as line breaks, and the others reach terminals and the files rackctl writes; remove it")
	}
	if err := inputlimit.CheckYAMLDepth(src, MaxDepth); err != nil {
		return at(err, " (a spec needs fewer than ten)")
	}
	return nil
}

func parse(filename string, src []byte) (*Rack, error) {
	r, _, err := parseIndexed(filename, src)
	return r, err
}

// parseIndexed is parse, also returning the position index of a valid spec.
func parseIndexed(filename string, src []byte) (*Rack, *index, error) {
	f, ix, err := extractMapping(filename, src, "want a mapping (apiVersion, kind, name, ...) at the top of the document")
	if err != nil {
		return nil, nil, err
	}

	ctx := cuecontext.New()
	sch := ctx.CompileBytes(rackCUE, cue.Filename("rack.cue"))
	if err := sch.Err(); err != nil {
		return nil, nil, fmt.Errorf("compile embedded schema: %w", err)
	}
	rackDef := sch.LookupPath(cue.ParsePath("#Rack"))

	// Take the node list out; the rack is validated with `nodes: []`.
	var nodeElts []ast.Expr
	top := &ast.File{Filename: f.Filename, Decls: make([]ast.Decl, len(f.Decls))}
	copy(top.Decls, f.Decls)
	for i, d := range top.Decls {
		fld := d.(*ast.Field)
		if name, _, _ := ast.LabelName(fld.Label); name != "nodes" {
			continue
		}
		if list, ok := fld.Value.(*ast.ListLit); ok {
			nodeElts = list.Elts
			top.Decls[i] = &ast.Field{Label: fld.Label, Value: ast.NewList()}
		}
	}

	ev := &evaluator{ix: ix}
	rv := rackDef.Unify(ctx.BuildFile(top))
	ev.collect("", rv, rv.Validate(cue.Concrete(true), cue.All()))
	rackSchema, elemSchema := schemasFor(ctx, sch, rackDef, ix)
	ev.unknownFields("", rackSchema, top.Decls)
	nodes := make([]Node, len(nodeElts))
	checked, err := validateNodes(ctx, elemSchema, ix, nodeElts)
	if err != nil {
		return nil, nil, err
	}
	for i, el := range nodeElts {
		path := joinIndex("nodes", i)
		nv, err := checked[i].v, checked[i].err
		ev.collect(path, nv, err)
		if s, ok := el.(*ast.StructLit); ok {
			ev.unknownFields(path, elemSchema, s.Elts)
		}
		if err == nil {
			// A valid node is all scalars (and a string map): read it from
			// the syntax, which is several times faster than Value.Decode.
			nodes[i] = ix.node(path)
		}
	}

	ev.finish()
	check(ix)
	if len(ix.diags) > 0 {
		return nil, nil, ix.diags.sortDedup()
	}

	r := &Rack{}
	if err := rv.Decode(r); err != nil {
		ix.addAt("", fmt.Sprintf("cannot decode rack: %v", err))
		return nil, nil, ix.diags.sortDedup()
	}
	r.Nodes = nodes
	r.Warnings = ix.warns.sortDedup()
	for i := range r.Nodes {
		n := &r.Nodes[i]
		n.MAC, n.BMCMAC, n.SecondaryMAC = macaddr.Canon(n.MAC), macaddr.Canon(n.BMCMAC), macaddr.Canon(n.SecondaryMAC)
	}
	applyDefaults(r)
	return r, ix, nil
}

// checkedNode is one node unified with the node schema and validated.
type checkedNode struct {
	v   cue.Value
	err error
}

// nodesPerContext is how many nodes justify a context of their own (a
// compile of the schema); tests lower it.
var nodesPerContext = 256

// validateNodes unifies each node with the node schema and validates it.
// Nodes are independent, so a large rack's are split among the cores, each
// part in a context of its own (a cue.Context is not safe for concurrent
// use); the first part uses ctx and elem. Results are by node index and
// read afterwards on one goroutine, so the errors reported do not depend
// on scheduling.
func validateNodes(ctx *cue.Context, elem cue.Value, ix *index, elts []ast.Expr) ([]checkedNode, error) {
	out := make([]checkedNode, len(elts))
	check := func(elem cue.Value, ctx *cue.Context, from, to int) {
		for i := from; i < to; i++ {
			v := elem.Unify(ctx.BuildExpr(elts[i]))
			// Only a failed node's value is read again (for its errors):
			// keeping every node's would hold the whole evaluated rack.
			if err := v.Validate(cue.Concrete(true), cue.All()); err != nil {
				out[i] = checkedNode{v: v, err: err}
			}
		}
	}
	// A context of its own costs a compile of the schema: worth it only
	// for racks of hundreds of nodes.
	parts := min(runtime.GOMAXPROCS(0), len(elts)/nodesPerContext+1)
	size := (len(elts) + parts - 1) / max(parts, 1)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := 1; p < parts; p++ {
		wg.Go(func() {
			c := cuecontext.New()
			sch := c.CompileBytes(rackCUE, cue.Filename("rack.cue"))
			if errs[p] = sch.Err(); errs[p] != nil {
				return
			}
			_, e := schemasFor(c, sch, sch.LookupPath(cue.ParsePath("#Rack")), ix)
			check(e, c, p*size, min((p+1)*size, len(elts)))
		})
	}
	check(elem, ctx, 0, min(size, len(elts)))
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("compile embedded schema: %w", err)
	}
	return out, nil
}

// schemasFor returns #Rack and the schema of one node (the element of
// #Rack.nodes) narrowed to the rack's provisioner (rack.cue narrows the
// roles by provisioner); #Rack and #Node when the provisioner is missing or
// invalid.
func schemasFor(ctx *cue.Context, sch, rackDef cue.Value, ix *index) (rack, node cue.Value) {
	provPath := cue.MakePath(cue.Str("provisioner"))
	if prov, ok := ix.str("provisioner"); ok {
		pv := sch.LookupPath(cue.ParsePath("#Provisioner")).Unify(ctx.Encode(prov))
		if pv.Validate(cue.Concrete(true)) == nil {
			rack = rackDef.FillPath(provPath, prov)
			node = rack.LookupPath(cue.MakePath(cue.Str("nodes"), cue.AnyIndex))
			if node.Exists() && node.Err() == nil {
				return rack, node
			}
		}
	}
	return rackDef, sch.LookupPath(cue.ParsePath("#Node"))
}

// field looks a field of a schema up, be it regular, optional or required.
func field(v cue.Value, name string) cue.Value {
	s := cue.Str(name)
	for _, sel := range []cue.Selector{s, s.Optional(), s.Required()} {
		if f := v.LookupPath(cue.MakePath(sel)); f.Exists() {
			return f
		}
	}
	return cue.Value{}
}

// syntaxErrors turns a YAML decoding error into positioned diagnostics.
func syntaxErrors(file string, err error) Errors {
	var out Errors
	for _, e := range cueerrors.Errors(err) {
		d := Diagnostic{File: file, Line: 1, Col: 1}
		for _, p := range cueerrors.Positions(e) {
			if p.Line() > 0 {
				d.Line, d.Col = p.Line(), p.Column()
				break
			}
		}
		msg := e.Error()
		// The YAML decoder puts the position in the text only:
		// "file:line: message" or "file:line:col: message".
		if m := yamlErrRE.FindStringSubmatch(strings.TrimPrefix(msg, file+":")); m != nil {
			d.Line, _ = strconv.Atoi(m[1])
			if m[2] != "" {
				d.Col, _ = strconv.Atoi(m[2])
			}
			msg = m[3]
		}
		if d.Line < 1 {
			d.Line = 1
		}
		if d.Col < 1 {
			d.Col = 1
		}
		d.Message = "invalid YAML: " + msg
		out = append(out, d)
	}
	if len(out) == 0 {
		out = Errors{{File: file, Line: 1, Col: 1, Message: "invalid YAML: " + err.Error()}}
	}
	return out.sortDedup()
}

var yamlErrRE = regexp.MustCompile(`^(\d+)(?::(\d+))?: (.*)$`)

// evaluator turns CUE errors into diagnostics positioned through the index.
type evaluator struct {
	ix         *index
	notAllowed []string
	// required caches the required field names of each schema struct
	// (by schema path): listing them is costly and nodes share one.
	required map[string][]string
	children map[string]schemaChild
}

// schemaChild is a field's schema and whether its parent allows it.
type schemaChild struct {
	v  cue.Value
	ok bool
}

// finish adds the unknown fields CUE found that unknownFields did not.
func (ev *evaluator) finish() {
	reported := make(map[string]bool)
	for _, d := range ev.ix.diags {
		if strings.HasPrefix(d.Message, unknownFieldMsg) {
			reported[d.Field] = true
		}
	}
	for _, p := range ev.notAllowed {
		if !reported[p] {
			ev.ix.addAt(p, unknownFieldMsg)
			reported[p] = true
		}
	}
}

// collect adds the errors of validating v; their paths are made relative
// to v (the schema it was unified with) and prefixed with prefix.
func (ev *evaluator) collect(prefix string, v cue.Value, err error) {
	if err == nil {
		return
	}
	skip := len(v.Path().Selectors())
	type found struct{ path, msg string }
	var strong, weak []found
	for _, e := range cueerrors.Errors(err) {
		path := prefix
		sels := e.Path()
		if len(sels) >= skip {
			sels = sels[skip:]
		}
		for _, sel := range sels {
			switch {
			case isIndex(sel):
				path += "[" + sel + "]"
			default:
				if u, err := strconv.Unquote(sel); err == nil {
					sel = u
				}
				path = joinField(path, sel)
			}
		}
		if format, args := e.Msg(); format == "required field missing: %s" && len(args) == 1 {
			// Reported on the parent: name the missing field itself.
			ev.ix.addAt(joinField(path, fmt.Sprint(args[0])), missingMsg)
			continue
		}
		if msg := ev.message(path, e); msg != "" {
			if isDefaultConflict(e) {
				weak = append(weak, found{path, msg})
			} else {
				strong = append(strong, found{path, msg})
			}
		}
	}
	for _, f := range strong {
		ev.ix.addAt(f.path, f.msg)
	}
	// A field with a default (*"x" | #Type) that fails its type fails the
	// default too; that conflict with a value the user never wrote is
	// noise next to the type's own message at or below the same path.
weakLoop:
	for _, w := range weak {
		for _, s := range strong {
			if strings.HasPrefix(s.path, w.path) || strings.HasPrefix(w.path, s.path) {
				continue weakLoop
			}
		}
		ev.ix.addAt(w.path, w.msg)
	}
}

// isDefaultConflict tells whether e is the kind of error a failed default
// of a disjunction gives: two values, or two list lengths, that differ.
func isDefaultConflict(e cueerrors.Error) bool {
	format, _ := e.Msg()
	return format == "conflicting values %s and %s" || format == "incompatible list lengths (%d and %d)"
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// message rewrites a CUE error message for the user of a YAML file.
func (ev *evaluator) message(path string, e cueerrors.Error) string {
	format, args := e.Msg()
	switch format {
	case "field is required but not present":
		return missingMsg
	case "field not allowed":
		// Usually found by unknownFields too, with a suggestion; keep
		// CUE's only where that walk did not reach.
		ev.notAllowed = append(ev.notAllowed, path)
		return ""
	case "%d errors in empty disjunction:":
		return "" // the errors of each disjunct follow
	case "%s":
		// error("...") in the schema: a message for the user.
		if len(args) == 1 {
			m := fmt.Sprint(args[0])
			if strings.HasPrefix(m, "is ") {
				return ev.ix.describe(path) + " " + m
			}
			return m
		}
	case "conflicting values %s and %s (mismatched types %s and %s)":
		if len(args) == 4 {
			got := ev.ix.kind(path)
			want := fmt.Sprint(args[2])
			if want == got {
				want = fmt.Sprint(args[3])
			}
			return fmt.Sprintf("want %s, got %s", kindName(want), ev.ix.describe(path))
		}
	case "incomplete value %v":
		return "missing value"
	}
	return fmt.Sprintf(format, args...)
}

func kindName(k string) string {
	if k == "struct" {
		return "a mapping"
	}
	if k == "list" {
		return "a list"
	}
	return k
}

const (
	unknownFieldMsg = "unknown field"
	missingMsg      = "missing required field"
)

// unknownFields reports every field of the document that the schema v does
// not allow, and every required field it lacks. CUE reports these too, but
// hides some behind other errors on the same node and reports only the
// first missing field of a struct; asking the schema field by field finds
// them all.
func (ev *evaluator) unknownFields(path string, v cue.Value, decls []ast.Decl) {
	if !v.Exists() {
		return
	}
	ev.missingFields(path, v, decls)
	for _, d := range decls {
		f, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		name, _, err := ast.LabelName(f.Label)
		if err != nil {
			continue
		}
		p := joinField(path, name)
		child, ok := ev.child(v, name)
		if !ok {
			ev.ix.add(f.Label.Pos(), p, unknownFieldMsg+suggest(v, name))
			continue
		}
		ev.unknownIn(p, child, f.Value)
	}
}

func (ev *evaluator) unknownIn(path string, v cue.Value, x ast.Expr) {
	switch x := x.(type) {
	case *ast.StructLit:
		if v.IncompleteKind()&cue.StructKind != 0 {
			ev.unknownFields(path, v, x.Elts)
		}
	case *ast.ListLit:
		if v.IncompleteKind()&cue.ListKind == 0 {
			return
		}
		elem := v.LookupPath(cue.MakePath(cue.AnyIndex))
		for i, el := range x.Elts {
			ev.unknownIn(joinIndex(path, i), elem, el)
		}
	}
}

// child returns the schema of field name of the schema v, and whether v
// allows that field; cached, as every node asks the same questions.
func (ev *evaluator) child(v cue.Value, name string) (cue.Value, bool) {
	key := v.Path().String() + "\x00" + name
	if a, ok := ev.children[key]; ok {
		return a.v, a.ok
	}
	a := schemaChild{ok: v.Allows(cue.Str(name))}
	if a.ok {
		a.v = field(v, name)
	}
	if ev.children == nil {
		ev.children = map[string]schemaChild{}
	}
	ev.children[key] = a
	return a.v, a.ok
}

// missingFields reports every required field of the schema v that decls
// lacks; CUE reports only the first one of a struct.
func (ev *evaluator) missingFields(path string, v cue.Value, decls []ast.Decl) {
	key := v.Path().String()
	req, ok := ev.required[key]
	if !ok {
		if it, err := v.Fields(cue.Optional(true)); err == nil {
			for it.Next() {
				sel := it.Selector()
				if sel.ConstraintType() == cue.RequiredConstraint && sel.IsString() {
					req = append(req, sel.Unquoted())
				}
			}
		}
		if ev.required == nil {
			ev.required = map[string][]string{}
		}
		ev.required[key] = req
	}
	for _, name := range req {
		found := false
		for _, d := range decls {
			if f, ok := d.(*ast.Field); ok {
				if n, _, err := ast.LabelName(f.Label); err == nil && n == name {
					found = true
					break
				}
			}
		}
		if !found {
			ev.ix.addAt(joinField(path, name), missingMsg)
		}
	}
}

// suggest names the schema's field closest to a misspelled one.
func suggest(v cue.Value, name string) string {
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return ""
	}
	best, bestD := "", 3
	for it.Next() {
		s := it.Selector()
		if !s.IsString() {
			continue
		}
		c := s.Unquoted()
		d := distance(strings.ToLower(name), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// kind names the kind of the document's value at path as CUE does.
func (ix *index) kind(path string) string {
	e, ok := ix.entries[path]
	if !ok {
		return ""
	}
	switch x := e.expr.(type) {
	case *ast.StructLit:
		return "struct"
	case *ast.ListLit:
		return "list"
	case *ast.BasicLit:
		switch x.Kind {
		case token.STRING:
			return "string"
		case token.INT:
			return "int"
		case token.FLOAT:
			return "float"
		case token.TRUE, token.FALSE:
			return "bool"
		case token.NULL:
			return "null"
		}
	}
	return ""
}
