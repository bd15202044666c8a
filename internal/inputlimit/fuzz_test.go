package inputlimit

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// FuzzHCLDepthGuard: what CheckHCLDepth lets through, the HCL parser
// parses without exhausting its stack, however the nesting is written
// (brackets, strings, interpolations, heredocs, comments).
func FuzzHCLDepthGuard(f *testing.F) {
	for _, s := range []string{
		"a = [1, {b = (2)}]\n",
		`a = "${[{x = "${(1)}"}]}"` + "\n",
		"a = <<EOT\n${[1]}\nEOT\n",
		"# [[[\n/* {{{ */ a = 1 // (((\n",
		`a = "$${[[[" b = "%%{"` + "\n",
		"a = " + strings.Repeat("[", 99) + strings.Repeat("]", 99) + "\n",
		"[", "{x = ", `"${`, "(", "<<EOT\n${",
	} {
		f.Add([]byte(s))
	}
	// A small stack makes a way around the guard a crash at the nesting
	// of a 64 KiB input, not only at millions of levels; MaxDepth levels
	// need far less.
	debug.SetMaxStack(1 << 20)
	f.Fuzz(func(t *testing.T, src []byte) {
		// The fuzzer's inputs are small; repeated as the value of an
		// attribute, unbalanced nesting adds up.
		big := []byte("a = " + strings.Repeat(string(src), 1+(64<<10)/(len(src)+1)))
		for _, in := range [][]byte{src, big} {
			if CheckHCLDepth(in, MaxDepth) == nil {
				hclsyntax.ParseConfig(in, "f.hcl", hcl.InitialPos)
			}
		}
	})
}
