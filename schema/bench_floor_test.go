package schema

import (
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/yaml"

	"github.com/rackctl/rackctl/spec-examples/gen/rackgen"
)

// cueOnly is the CUE part of parse and nothing else: the YAML read into
// CUE syntax, the schema compiled, the rack without its nodes unified with
// #Rack and each node with the element schema, everything validated. No
// index of positions, no unknown-field or cross-node checks, no decoding,
// no defaults: the floor of loading a spec with this schema, which
// make bench compares validate + plan with (issue 17, target 1).
func cueOnly(tb testing.TB, src []byte) {
	f, err := yaml.Extract("rack.yaml", src)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := cuecontext.New()
	sch := ctx.CompileBytes(rackCUE, cue.Filename("rack.cue"))
	rackDef := sch.LookupPath(cue.ParsePath("#Rack"))
	var nodeElts []ast.Expr
	top := &ast.File{Filename: f.Filename, Decls: make([]ast.Decl, len(f.Decls))}
	copy(top.Decls, f.Decls)
	for i, d := range top.Decls {
		fld := d.(*ast.Field)
		if name, _, _ := ast.LabelName(fld.Label); name == "nodes" {
			nodeElts = fld.Value.(*ast.ListLit).Elts
			top.Decls[i] = &ast.Field{Label: fld.Label, Value: ast.NewList()}
		}
	}
	rv := rackDef.Unify(ctx.BuildFile(top))
	if err := rv.Validate(cue.Concrete(true), cue.All()); err != nil {
		tb.Fatal(err)
	}
	_, elem := schemasFor(ctx, sch, rackDef, newIndex("rack.yaml", f))
	for _, el := range nodeElts {
		if err := elem.Unify(ctx.BuildExpr(el)).Validate(cue.Concrete(true), cue.All()); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkCUEFloor is the floor of target 1 of issue 17: CUE alone on
// the 1000-node spec make bench plans (spec-examples/gen), per
// provisioner. It checks it ran on a spec Parse accepts with every node.
func BenchmarkCUEFloor(b *testing.B) {
	for _, prov := range []string{"lokomotive", "flatcar"} {
		b.Run(prov+"/nodes=1000", func(b *testing.B) {
			src, err := rackgen.Bytes(1000, prov)
			if err != nil {
				b.Fatal(err)
			}
			r, err := Parse("rack.yaml", src)
			if err != nil || len(r.Nodes) != 1000 || string(r.Provisioner) != prov {
				b.Fatalf("the benchmark's spec: %v", err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				cueOnly(b, src)
			}
		})
	}
}
