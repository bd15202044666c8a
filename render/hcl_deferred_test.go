package render

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// TestDeferredHCLAsFormat: values laid out after formatting give the very
// bytes hclwrite.Format gives the whole file, for every shape of list and
// map the vars files hold: keys bare and quoted, of mixed widths, needing
// escapes or not ASCII, values empty, one, many, beside single-line
// attributes before and after.
func TestDeferredHCLAsFormat(t *testing.T) {
	many := func(n int, f string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(f, i)
		}
		return out
	}
	manyMap := func(n int) map[string][]string {
		m := map[string][]string{}
		for i := range n {
			m[fmt.Sprintf("node-%d.k8s.localdomain", i*7)] = many(1+i%3, "cl/x-%d.yaml")
		}
		return m
	}
	tests := map[string]struct {
		list []string
		m    map[string][]string
	}{
		"empty":                      {},
		"one":                        {list: []string{"aa:bb"}, m: map[string][]string{"node-0": {"a"}}},
		"widths":                     {list: many(12, "node-%d.k8s.localdomain"), m: manyMap(12)},
		"bare and quoted keys":       {list: []string{"x"}, m: map[string][]string{"node_0": {"a"}, "node-10.k8s": {"b", "c"}, "n": {}}},
		"escapes":                    {list: []string{`a"b`, "c${d}", "e%{f}", `g\h`}, m: map[string][]string{`k"1`: {"${x}"}, "k${2}": {`\`}}},
		"non-ASCII key":              {list: []string{"é"}, m: map[string][]string{"nœud": {"a"}, "node": {"b"}}},
		"a thousand nodes":           {list: many(1000, "aa:bb:%04x"), m: manyMap(1000)},
		"keys sharing their longest": {m: map[string][]string{"aaaa": {"1"}, "bb": {"2"}, "cccc": {"3"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			build := func(d *deferredHCL) *hclwrite.File {
				f := hclFile(Header)
				b := f.Body()
				b.SetAttributeValue("asset_dir", cty.StringVal("assets"))
				d.stringList(b, "node_macs", tc.list)
				d.stringList(b, "node_names", tc.list)
				b.SetAttributeValue("matchbox_addr", cty.StringVal("172.24.213.1:8081"))
				b.SetAttributeValue("matchbox_http_endpoint", cty.StringVal("http://x"))
				d.stringListMap(b, "clc_snippets", tc.m)
				d.stringListMap(b, "installer_clc_snippets", tc.m)
				b.SetAttributeValue("kernel_console", stringList(tc.list))
				b.SetAttributeValue("pxe", cty.StringVal("y"))
				return f
			}
			d := &deferredHCL{}
			got, ok := d.bytes(build(d))
			if !ok {
				t.Fatal("a stand-in went missing")
			}
			if want := hclBytes(build(&deferredHCL{off: true})); !bytes.Equal(got, want) {
				t.Errorf("deferred layout differs from Format's:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
