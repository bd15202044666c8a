package schema

import (
	"fmt"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/yaml"
)

// Document is a YAML file other than the rack spec (the management node's
// config) validated the way a spec is: same prechecks, closed CUE
// definitions, every problem positioned file:line:col.
type Document struct {
	Value cue.Value // the document unified with its definition
	ix    *index
}

// ParseDocument validates src, the content of filename, against the
// definition def (e.g. "#Config") of the CUE schema cueSrc (named
// cueName in the messages about the schema itself). An invalid document
// gives Errors; any other error is a bug in the schema.
func ParseDocument(filename string, src []byte, cueName string, cueSrc []byte, def string) (*Document, error) {
	if errs := precheck(filename, src); errs != nil {
		return nil, errs
	}
	var doc *Document
	_, err := recovered(filename, func() (*Rack, error) {
		var err error
		doc, err = parseDocument(filename, src, cueName, cueSrc, def)
		return nil, err
	})
	return doc, err
}

func parseDocument(filename string, src []byte, cueName string, cueSrc []byte, def string) (*Document, error) {
	f, ix, err := extractMapping(filename, src, "want a mapping at the top of the document")
	if err != nil {
		return nil, err
	}
	ctx := cuecontext.New()
	sch := ctx.CompileBytes(cueSrc, cue.Filename(cueName))
	if err := sch.Err(); err != nil {
		return nil, fmt.Errorf("compile embedded schema %s: %w", cueName, err)
	}
	d := sch.LookupPath(cue.ParsePath(def))
	if !d.Exists() {
		return nil, fmt.Errorf("embedded schema %s has no %s", cueName, def)
	}
	v := d.Unify(ctx.BuildFile(f))
	ev := &evaluator{ix: ix}
	ev.collect("", v, v.Validate(cue.Concrete(true), cue.All()))
	ev.unknownFields("", d, f.Decls)
	ev.finish()
	if len(ix.diags) > 0 {
		return nil, ix.diags.sortDedup()
	}
	return &Document{Value: v, ix: ix}, nil
}

// Has tells whether the document holds path ("watch.repo").
func (d *Document) Has(path string) bool {
	_, ok := d.ix.entries[path]
	return ok
}

// Diagnostic positions msg at path (or its nearest ancestor present in the
// document), for checks made in Go after validation.
func (d *Document) Diagnostic(path, msg string) Diagnostic { return d.ix.diagnostic(path, msg) }

// extractMapping reads src as YAML into CUE syntax with its position
// index; a document that is not a mapping at the top is an error at its
// first other item, worded as want says.
func extractMapping(filename string, src []byte, want string) (*ast.File, *index, error) {
	f, err := yaml.Extract(filename, src)
	if err != nil {
		return nil, nil, syntaxErrors(filename, err)
	}
	ix := newIndex(filename, f)
	for _, d := range f.Decls {
		if _, ok := d.(*ast.Field); !ok {
			ix.add(d.Pos(), "", want)
			return nil, nil, ix.diags.sortDedup()
		}
	}
	return f, ix, nil
}
