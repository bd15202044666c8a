package render

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// TestHCLStringsStayLiteral: a spec string that looks like HCL template
// syntax, or holds quotes and newlines, is written so that terraform and
// lokoctl read back exactly that string, never an interpolation, a
// directive or a second attribute.
func TestHCLStringsStayLiteral(t *testing.T) {
	tests := map[string]string{
		"interpolation":  `${file("/etc/shadow")}`,
		"directive":      `%{ if true }x%{ endif }`,
		"escaped forms":  `$${a} %%{b}`,
		"quote and line": "a\"\nb = \"c",
		"backslash":      `C:\x\"`,
		"heredoc marker": "<<EOT\nx\nEOT",
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			f := hclwrite.NewEmptyFile()
			if err := appendBody(f.Body(), map[string]any{"v": s, "l": []any{s}}); err != nil {
				t.Fatal(err)
			}
			src := hclBytes(f)
			pf, diags := hclsyntax.ParseConfig(src, "c.hcl", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatalf("rendered HCL does not parse: %v\n%s", diags, src)
			}
			attrs, diags := pf.Body.JustAttributes()
			if diags.HasErrors() || len(attrs) != 2 {
				t.Fatalf("attributes %v (%v)\n%s", attrs, diags, src)
			}
			// No EvalContext: a reference or function call would fail here.
			v, diags := attrs["v"].Expr.Value(nil)
			if diags.HasErrors() || v.AsString() != s {
				t.Errorf("v reads back as %#v (%v)\n%s", v, diags, src)
			}
			l, diags := attrs["l"].Expr.Value(nil)
			if diags.HasErrors() || l.Index(ctyZero).AsString() != s {
				t.Errorf("l reads back as %#v (%v)\n%s", l, diags, src)
			}
		})
	}
}

var ctyZero = cty.NumberIntVal(0)
