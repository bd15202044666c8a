package render

import (
	"strings"
	"testing"
)

func TestSameMeaning(t *testing.T) {
	cases := []struct {
		name, path, a, b string
		want             bool
	}{
		{"vars layout", "lokocfg.vars",
			"macs = [\"a\", \"b\",  ]\nm = {\n\"x\" = [\"1\"]\n\"y\" = {\"k\" = \"v\"}\n\n}\n",
			"# header\n\nmacs = [\n  \"a\",\n  \"b\",\n]\nm = {\n  \"y\" = {\n    \"k\" = \"v\"\n  }\n  \"x\" = [\"1\"]\n}\n", true},
		{"vars value", "terraform.tfvars", "a = [\"x\", \"y\"]\n", "a = [\"y\", \"x\"]\n", false},
		{"vars added", "terraform.tfvars", "a = 1\n", "a = 1\nb = 2\n", false},
		{"vars string vs bool", "terraform.tfvars", "a = \"true\"\n", "a = true\n", false},
		{"vars reference", "lokocfg.vars", "a = var.x\n", "a = var.x\n", true}, // byte-equal
		{"vars reference differs", "lokocfg.vars", "a = var.x\n", "a  = var.x\n", false},
		{"vars broken", "lokocfg.vars", "a = [\n", "a = []\n", false},
		{"lokocfg layout", "baremetal.lokocfg",
			"cluster \"x\" {\n  a = var.a\n  b    = [file(\"k\"), ]\n}\n\ncomponent \"w\" {}\n",
			"# Managed\ncluster \"x\" {\n  a = var.a\n  b = [file(\"k\")]\n}\ncomponent \"w\" {\n}\n", true},
		{"lokocfg quoted bool", "baremetal.lokocfg", "c {\n  a = \"true\"\n}\n", "c {\n  a = true\n}\n", false},
		{"tf order", "flatcar.tf", "a = 1\nb = 2\n", "b = 2\na = 1\n", false},
		{"yaml layout", "cl/n.yaml",
			"systemd:\n  units:\n  - name: a\n    contents: |\n      [Unit]\n",
			"# comment\nsystemd:\n    units:\n        - contents: \"[Unit]\\n\"\n          name: a\n", true},
		{"yaml empty", "cl/n-custom.yaml", "", "{}\n", true},
		{"yaml empty list", "cl/n-custom.yaml", "", "[]\n", false},
		{"yaml content", "cl/n.yaml", "a: [1]\n", "a: [2]\n", false},
		{"other", "dnsmasq.conf", "a\n", "a \n", false},
		// Hostile files on disk: each differs (and is rewritten), none
		// crashes the comparison.
		{"vars nested deep", "lokocfg.vars", "a = " + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + "\n", "a = []\n", false},
		{"vars unary chain", "lokocfg.vars", "a = " + strings.Repeat("!", 1<<20) + "true\n", "a = true\n", false},
		{"vars binary chain", "lokocfg.vars", "a = 1" + strings.Repeat("+1", 1<<19) + "\n", "a = 1\n", false},
		{"lokocfg ternary chain", "baremetal.lokocfg", "a = " + strings.Repeat("x ? 1 : ", 1<<17) + "2\n", "a = 2\n", false},
		{"vars nested in interpolation", "lokocfg.vars", "a = \"${" + strings.Repeat("[", 1<<20) + "\"\n", "a = \"\"\n", false},
		{"lokocfg nested deep", "baremetal.lokocfg", "c {\n a = " + strings.Repeat("{x = ", 1<<19) + "\n}\n", "c {\n}\n", false},
		{"yaml nested deep", "cl/n.yaml", "a: " + strings.Repeat("[", 1<<20) + "\n", "a: []\n", false},
		{"yaml nested deep by indentation", "cl/n.yaml", deepYAML(3000), "a: 1\n", false},
		{"yaml line separators in comments", "cl/n.yaml", "#\u2028#\u2028\na: b #\u2028#\u2028\n", "a: b\n", false},
		{"yaml NEL", "cl/n.yaml", "a: b\u0085c: d\n", "a: b\n", false},
		{"vars ESC in a comment", "lokocfg.vars", "# \x1b[2J\na = 1\n", "a = 1\n", false},
		{"vars too large", "lokocfg.vars", "a = 1\n" + strings.Repeat("#", 16<<20) + "\n", "a = 1\n", false},
		{"vars nesting at the limit", "lokocfg.vars", "a = " + strings.Repeat("[", 90) + strings.Repeat("]", 90) + "\n", "a = " + strings.Repeat("[", 90) + strings.Repeat("]", 90) + "  \n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SameMeaning(c.path, []byte(c.a), []byte(c.b)); got != c.want {
				t.Errorf("SameMeaning(%s) = %v, want %v", c.path, got, c.want)
			}
			if got := SameMeaning(c.path, []byte(c.b), []byte(c.a)); got != c.want {
				t.Errorf("SameMeaning(%s) reversed = %v, want %v", c.path, got, c.want)
			}
		})
	}
}

// FuzzSameMeaning: never panics, and a file always means what it says.
func FuzzSameMeaning(f *testing.F) {
	f.Add("lokocfg.vars", "a = [\"x\", ]\n", "a = [\"x\"]\n")
	f.Add("flatcar.tf", "m {\n a = 1\n}\n", "m { a = 1 }\n")
	f.Add("cl/x.yaml", "a: |\n  b\n", "a: \"b\\n\"\n")
	// Hostile files on disk: nesting, line separators, controls.
	for _, p := range []string{"lokocfg.vars", "baremetal.lokocfg", "cl/x.yaml"} {
		f.Add(p, "#\u2028#\u2028\na: b #\u2028#\u2028\n", "a: b\n")
		f.Add(p, "a = \"${"+strings.Repeat("[", 200)+"\"\n", "a = 1\n")
		f.Add(p, "a: "+strings.Repeat("{x: ", 200)+"\n", "a: 1\n")
		f.Add(p, "a = <<EOT\n${"+strings.Repeat("(", 150)+"\nEOT\n", "a = 1\n")
		f.Add(p, "a: b\u0085c: d\r\n", "a: b\n")
	}
	f.Fuzz(func(t *testing.T, p, a, b string) {
		if !SameMeaning(p, []byte(a), []byte(a)) {
			t.Errorf("%q is not the same as itself", a)
		}
		if SameMeaning(p, []byte(a), []byte(b)) != SameMeaning(p, []byte(b), []byte(a)) {
			t.Errorf("not symmetric")
		}
	})
}

// TestSnippetsIgnition: content moved from one snippet to the next merges
// into the same Ignition; other content, or another order of units, does not.
func TestSnippetsIgnition(t *testing.T) {
	unit := func(name string) string {
		return "  - name: " + name + "\n    enabled: true\n    contents: |\n      [Service]\n      ExecStart=/bin/true\n"
	}
	both := []byte("systemd:\n  units:\n" + unit("a.service") + unit("b.service"))
	first := []byte("systemd:\n  units:\n" + unit("a.service"))
	second := []byte("systemd:\n  units:\n" + unit("b.service"))
	ign := func(snippets ...[]byte) string {
		t.Helper()
		b, err := SnippetsIgnition(snippets...)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if a, b := ign(both, []byte("\n")), ign(first, []byte("{}\n"), second); a != b {
		t.Errorf("split snippets merge differently:\n%s\n%s", a, b)
	}
	if a, b := ign(both), ign(second, first); a == b {
		t.Error("another order of units gives the same Ignition")
	}
	if a, b := ign(first), ign(both); a == b {
		t.Error("an added unit gives the same Ignition")
	}
	if _, err := SnippetsIgnition(first, []byte("systemd: [")); err == nil || !strings.Contains(err.Error(), "snippet 2") {
		t.Errorf("bad snippet: err = %v, want it named", err)
	}
}

func deepYAML(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	return b.String()
}

// TestSnippetsIgnitionHostile: a snippet on disk that would crash or
// mislead ct's YAML parser is an error, never a crash.
func TestSnippetsIgnitionHostile(t *testing.T) {
	tests := map[string]struct{ src, want string }{
		"deep flow":      {"storage: " + strings.Repeat("[", 1<<20) + "\n", "nested more than 100 levels deep"},
		"deep block":     {deepYAML(3000), "nested more than 100 levels deep"},
		"line separator": {"#\u2028#\u2028\nstorage: {} #\u2028#\u2028\n", "U+2028"},
		"NEL":            {"storage: {}\u0085passwd: {}\n", "U+0085"},
		"too large":      {"# " + strings.Repeat("x", 16<<20) + "\n", "too large"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := SnippetsIgnition([]byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
