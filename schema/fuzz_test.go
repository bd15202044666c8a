package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// FuzzParse: Parse never panics, and returns either a Rack or Errors whose
// every diagnostic has a position; a Rack it returns holds no control
// character or line separator in any node's free text.
func FuzzParse(f *testing.F) {
	for _, pat := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml"} {
		files, err := filepath.Glob(pat)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	// Line separators and control characters, raw and escaped, in
	// comments, keys and values of a valid spec.
	good, err := os.ReadFile("testdata/good/flatcar.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range []string{"\u2028", "\u2029", "\u0085", "\x00", "\x1b", "\r", "\x7f", "\u009b", "\ufeff", "\u202e", "\xff"} {
		raw := c
		for _, s := range []string{
			"#" + raw + "#" + raw + "\n" + string(good) + "a: b #" + raw + "#" + raw + "\n",
			strings.Replace(string(good), "name: edge-1", "name: edge-1"+raw, 1),
			strings.Replace(string(good), "files: []", "files: []"+raw+"  - x", 1),
			strings.Replace(string(good), "role: node", "role: node\n    reprovision: a"+raw+"b", 1),
			strings.Replace(string(good), "  interface: br0", "  interface: br0"+raw, 1),
			strings.Replace(string(good), "cluster:", "cluster:"+raw, 1),
		} {
			f.Add([]byte(s))
		}
	}
	for _, esc := range []string{`\L`, `\P`, `\N`, `\0`, `\e`, `\r`, `\x7f`, `\u202E`, `\t`, `\n`} {
		f.Add([]byte(strings.Replace(string(good), "role: node", `role: node`+"\n"+`    reprovision: "a`+esc+`b"`, 1)))
		f.Add([]byte(strings.Replace(string(good), "role: node", `role: node`+"\n"+`    extraCLC: "a:`+esc+`  b: c"`, 1)))
		f.Add([]byte(strings.Replace(string(good), `["ssh-rsa AAAAB3NzaC1yc2E= admin"]`, `["ssh-rsa AAAAB3NzaC1yc2E= admin`+esc+`ssh-rsa AAAA evil"]`, 1)))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := Parse("rack.yaml", src)
		if err == nil {
			if r == nil {
				t.Fatal("nil Rack without error")
			}
			for _, n := range r.Nodes {
				for _, v := range []string{n.Name, n.Reprovision, n.BMCAddress} {
					if strings.ContainsFunc(v, notLine) {
						t.Fatalf("node %q: %q accepted", n.Name, v)
					}
				}
				if strings.ContainsFunc(n.ExtraCLC, func(r rune) bool { return r != '\n' && r != '\t' && notLine(r) }) {
					t.Fatalf("node %q: extraCLC %q accepted", n.Name, n.ExtraCLC)
				}
			}
			return
		}
		if r != nil {
			t.Fatal("Rack and error both returned")
		}
		var errs Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error is %T, want Errors: %v", err, err)
		}
		if len(errs) == 0 {
			t.Fatal("empty Errors")
		}
		for _, d := range errs {
			if d.Line < 1 || d.Col < 1 || d.File != "rack.yaml" || d.Message == "" {
				t.Fatalf("bad diagnostic %+v", d)
			}
		}
	})
}

// notLine: a character #Line refuses.
func notLine(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}
