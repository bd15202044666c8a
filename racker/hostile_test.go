package racker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/testenv"
)

// secret is the BMC password of the hostile trees: it must never reach the
// spec, the findings or an error, whatever the tree makes the import read.
const secret = "S3cr3t-BMC-pw-4711"

const (
	lokoDir  = "home/core/lokomotive"
	lokoVars = lokoDir + "/lokocfg.vars"
	lokoBM   = lokoDir + "/baremetal.lokocfg"
	w0CLC    = lokoDir + "/cl/lokomotive-worker-0.k8s.localdomain.yaml"
)

// hostileTree copies the lokomotive fixture and plants the secret in the
// credential files and in a private key beside the public one.
func hostileTree(t *testing.T) string {
	t.Helper()
	root := copyTree(t, filepath.Join("testdata", "lokomotive"))
	for _, f := range []string{"usr/share/oem/ipmi_password", "usr/share/oem/ipmi_user", "home/core/.ssh/id_rsa"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func edit(t *testing.T, root, rel, old, new string) {
	t.Helper()
	p := filepath.Join(root, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), old, new, 1)
	if s == string(b) {
		t.Fatalf("fixture changed: %q not in %s", old, rel)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, root, rel, target string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	testenv.PlantLink(t, target, p)
}

// TestImportHostile: each class of hostile Racker tree costs an error
// finding at the file (and line) that holds it, and the secret it reaches
// for is in neither the spec, the findings nor an error.
func TestImportHostile(t *testing.T) {
	for name, tc := range map[string]struct {
		plant func(t *testing.T, root string)
		// want is an error finding (line 0: any line); or, with fatal, a
		// substring of Import's error.
		file  string
		line  int
		want  string
		fatal bool
	}{
		"file() in the vars file": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoVars, `pxe_commands = "/opt/racker/bootstrap/pxe-boot.sh $mac $domain"`, `pxe_commands = file("/usr/share/oem/ipmi_password")`)
			},
			file: lokoVars, line: 37, want: "pxe_commands: function call file(...) is not evaluated; replace it with its value",
		},
		"file() in a template of the vars file": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoVars, `pxe_commands = "/opt/racker/bootstrap/pxe-boot.sh $mac $domain"`, `pxe_commands = "x ${file("/usr/share/oem/ipmi_password")}"`)
			},
			file: lokoVars, line: 37, want: "function call file(...) is not evaluated",
		},
		"reference in the vars file": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoVars, `pxe_commands = "/opt/racker/bootstrap/pxe-boot.sh $mac $domain"`, `pxe_commands = "${local.x}"`)
			},
			file: lokoVars, line: 37, want: "reference local.x is not evaluated",
		},
		"file() in an attribute of the cluster block": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoBM, `kernel_args = ["flatcar.autologin"]`, `kernel_args = [file("/usr/share/oem/ipmi_password")]`)
			},
			file: lokoBM, line: 22, want: "kernel_args: function call file(...) is not evaluated",
		},
		"file() in a component": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoDir+"/web-ui.lokocfg", `component "web-ui" {}`, "component \"web-ui\" {\n  token = file(\"/usr/share/oem/ipmi_password\")\n}")
			},
			file: lokoDir + "/web-ui.lokocfg", line: 2, want: "function call file(...) is not evaluated",
		},
		"SSH key file in the credential directory": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoBM, `file(pathexpand("~/.ssh/id_rsa.pub"))`, `file("/usr/share/oem/ipmi_password")`)
			},
			file: lokoBM, line: 3, want: `path "/usr/share/oem/ipmi_password" is in a directory of credentials: refused, not read`,
		},
		"SSH key path climbing out of home": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoBM, `"~/.ssh/id_rsa.pub"`, `"~/../../usr/share/oem/ipmi_password"`)
			},
			file: lokoBM, line: 3, want: `has a ".."`,
		},
		"SSH key file that is no public key": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoBM, `"~/.ssh/id_rsa.pub"`, `"~/.ssh/id_rsa"`)
			},
			file: lokoBM, line: 3, want: "home/core/.ssh/id_rsa line 1 is not an SSH public key",
		},
		"SSH key file linked to the password": {
			plant: func(t *testing.T, root string) {
				symlink(t, root, "home/core/.ssh/id_rsa.pub", "../../../usr/share/oem/ipmi_password")
			},
			file: lokoBM, line: 3, want: "id_rsa.pub: a symbolic link",
		},
		"cl/ file linked inside the root": {
			plant: func(t *testing.T, root string) {
				symlink(t, root, w0CLC, "../../../../usr/share/oem/ipmi_password")
			},
			file: w0CLC, want: "lokomotive-worker-0.k8s.localdomain.yaml: a symbolic link",
		},
		"cl/ file hard-linked to the password": {
			plant: func(t *testing.T, root string) {
				if err := os.Remove(filepath.Join(root, w0CLC)); err != nil {
					t.Fatal(err)
				}
				if err := os.Link(filepath.Join(root, "usr/share/oem/ipmi_password"), filepath.Join(root, w0CLC)); err != nil {
					t.Fatal(err)
				}
			},
			file: w0CLC, want: "has 2 hard links: refused, not read",
		},
		"cl/ file linked out of the root": {
			plant: func(t *testing.T, root string) {
				outside := filepath.Join(t.TempDir(), "password")
				if err := os.WriteFile(outside, []byte(secret), 0o600); err != nil {
					t.Fatal(err)
				}
				symlink(t, root, w0CLC, outside)
			},
			file: w0CLC, want: "a symbolic link",
		},
		"cl/ directory linked": {
			plant: func(t *testing.T, root string) {
				if err := os.Rename(filepath.Join(root, lokoDir, "cl"), filepath.Join(root, "home/core/cl-real")); err != nil {
					t.Fatal(err)
				}
				symlink(t, root, lokoDir+"/cl", "../cl-real")
			},
			file: w0CLC, want: lokoDir + "/cl: a symbolic link",
		},
		"snippet path escaping the cluster directory": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoVars, `["cl/lokomotive-worker-0.k8s.localdomain.yaml",`, `["../../../usr/share/oem/ipmi_password",`)
			},
			file: lokoVars, line: 9, want: `path "../../../usr/share/oem/ipmi_password" is not a clean path inside home/core/lokomotive: refused, not read`,
		},
		"absolute snippet path": {
			plant: func(t *testing.T, root string) {
				edit(t, root, lokoVars, `["cl/lokomotive-worker-0.k8s.localdomain.yaml",`, `["/usr/share/oem/ipmi_password",`)
			},
			file: lokoVars, line: 9, want: "refused, not read",
		},
		"component file linked": {
			plant: func(t *testing.T, root string) {
				symlink(t, root, lokoDir+"/velero.lokocfg", "../../../usr/share/oem/ipmi_password")
			},
			file: lokoDir + "/velero.lokocfg", want: "velero.lokocfg: a symbolic link",
		},
		"/etc/hosts linked": {
			plant: func(t *testing.T, root string) {
				symlink(t, root, "etc/hosts", "../usr/share/oem/ipmi_password")
			},
			file: "etc/hosts", want: "a symbolic link",
		},
		"deeply nested vars value": {
			plant: func(t *testing.T, root string) {
				deep := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
				edit(t, root, lokoVars, "pxe_commands = ", "deep = "+deep+"\npxe_commands = ")
			},
			file: lokoVars, line: 37, want: "nest more than 64 levels deep",
		},
		"deeply nested interpolation": {
			plant: func(t *testing.T, root string) {
				deep := `"${` + strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + `}"`
				edit(t, root, lokoBM, "conntrack_max_per_core = 65000", "conntrack_max_per_core = "+deep)
			},
			file: lokoBM, line: 29, want: "nest more than 64 levels deep",
		},
		"deeply nested cl/ file": {
			plant: func(t *testing.T, root string) {
				deep := "x: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
				if err := os.WriteFile(filepath.Join(root, w0CLC), []byte(deep), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			file: w0CLC, want: "nest more than 64 levels deep",
		},
		"cl/ file that is not YAML": {
			plant: func(t *testing.T, root string) {
				if err := os.WriteFile(filepath.Join(root, w0CLC), []byte("x: ["+secret+"\n: {"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			file: w0CLC, want: "not a Container Linux Config",
		},
		"oversized cl/ file": {
			plant: func(t *testing.T, root string) {
				if err := os.WriteFile(filepath.Join(root, w0CLC), make([]byte, maxFileSize+1), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			file: w0CLC, want: "more than the 1048576 allowed",
		},
		"lokomotive directory linked": {
			plant: func(t *testing.T, root string) {
				if err := os.Rename(filepath.Join(root, lokoDir), filepath.Join(root, "home/core/elsewhere")); err != nil {
					t.Fatal(err)
				}
				symlink(t, root, lokoDir, "elsewhere")
			},
			want: lokoDir + ": a symbolic link", fatal: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			root := hostileTree(t)
			tc.plant(t, root)
			res, err := Import(Options{Root: root, ManagementMACs: []string{fixtures["lokomotive"].mgmt}})
			if tc.fatal {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one with %q", err, tc.want)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error holds the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			report := string(findingsText(res.Findings))
			if !res.HasErrors() {
				t.Errorf("no error finding:\n%s", report)
			}
			found := false
			for _, f := range res.Findings {
				if f.Severity == SeverityError && f.File == tc.file && (tc.line == 0 || f.Line == tc.line) && strings.Contains(f.Message, tc.want) {
					found = true
					t.Log(f)
				}
			}
			if !found {
				t.Errorf("no error %s:%d %q in:\n%s", tc.file, tc.line, tc.want, report)
			}
			if strings.Contains(report, secret) || strings.Contains(string(res.Spec), secret) {
				t.Errorf("the secret reached the report or the spec:\n%s\n%s", report, res.Spec)
			}
		})
	}
}

// TestHCLNesting: the pre-scan counts what the parser recurses on
// (brackets, interpolations, strings inside them) and nothing that is
// text (comments, string text, heredoc text, escaped interpolations).
func TestHCLNesting(t *testing.T) {
	deep := func(open, close string, n int) string { return strings.Repeat(open, n) + strings.Repeat(close, n) }
	for name, tc := range map[string]struct {
		src      string
		tooDeep  bool
		wantLine int
	}{
		"flat":                       {src: "a = [1, {b = 2}]\n"},
		"65 brackets":                {src: "a = " + deep("[", "]", 65), tooDeep: true, wantLine: 1},
		"64 brackets":                {src: "a = " + deep("[", "]", 64)},
		"parentheses":                {src: "\na = " + deep("(", ")", 65), tooDeep: true, wantLine: 2},
		"objects":                    {src: "a = " + deep("{", "}", 65), tooDeep: true, wantLine: 1},
		"brackets in a string":       {src: `a = "` + deep("[", "]", 200) + `"`},
		"brackets in comments":       {src: "# " + deep("[", "]", 200) + "\n// " + deep("{", "}", 200) + "\n/* " + deep("(", ")", 200) + " */\na = 1\n"},
		"escaped interpolation":      {src: `a = "` + strings.Repeat("$${", 200) + `"`},
		"nested interpolations":      {src: `a = ` + strings.Repeat(`"${`, 40) + "1" + strings.Repeat(`}"`, 40), tooDeep: true, wantLine: 1},
		"brackets in interpolation":  {src: `a = "${` + deep("[", "]", 70) + `}"`, tooDeep: true, wantLine: 1},
		"heredoc text":               {src: "a = <<EOF\n" + deep("[", "]", 200) + "\nEOF\nb = 1\n"},
		"heredoc interpolation":      {src: "a = <<-EOF\n  ${" + deep("[", "]", 70) + "}\n  EOF\n", tooDeep: true, wantLine: 2},
		"after a heredoc":            {src: "a = <<EOF\nx\nEOF\nb = " + deep("[", "]", 70), tooDeep: true, wantLine: 4},
		"unterminated block comment": {src: "/* " + deep("[", "]", 200)},
		"operator chain":             {src: "a = " + strings.Repeat("!", 1000000) + "true\n", tooDeep: true, wantLine: 1},
	} {
		t.Run(name, func(t *testing.T) {
			line := hclNesting([]byte(tc.src), maxNesting)
			if tc.tooDeep != (line > 0) || tc.tooDeep && line != tc.wantLine {
				t.Errorf("line %d, want too deep %v at line %d", line, tc.tooDeep, tc.wantLine)
			}
		})
	}
}

// FuzzParseHCLSafe: no input crashes the import's HCL parsing; the
// nesting pre-scan keeps hclsyntax's recursion bounded.
func FuzzParseHCLSafe(f *testing.F) {
	for _, p := range []string{lokoVars, lokoBM, lokoDir + "/web-ui.lokocfg"} {
		b, err := os.ReadFile(filepath.Join("testdata", "lokomotive", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a = <<EOF\n${[[[{(\"${1}\")}]]]}\nEOF\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		line := hclNesting(src, maxNesting)
		fl, d := parseHCLSafe("f.hcl", src)
		if line > 0 && (fl != nil || !d.HasErrors()) {
			t.Fatalf("too deep at line %d, yet parsed", line)
		}
	})
}

// TestImportFlatcarOEMLink: on Flatcar >= 3603 /usr/share/oem is root's
// link to /oem; the import reads nodes.csv through it and imports the same
// rack as from a plain directory.
func TestImportFlatcarOEMLink(t *testing.T) {
	opts := func(root string) Options {
		return Options{Root: root, ManagementMACs: []string{fixtures["lokomotive"].mgmt}}
	}
	plain := copyTree(t, filepath.Join("testdata", "lokomotive"))
	want, err := Import(opts(plain))
	if err != nil {
		t.Fatal(err)
	}
	linked := copyTree(t, filepath.Join("testdata", "lokomotive"))
	if err := os.Rename(filepath.Join(linked, "usr/share/oem"), filepath.Join(linked, "oem")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/oem", filepath.Join(linked, "usr/share/oem")); err != nil {
		t.Fatal(err)
	}
	got, err := Import(opts(linked))
	if err != nil {
		t.Fatal(err)
	}
	if got.HasErrors() {
		t.Fatalf("errors through root's OEM link:\n%s", findingsText(got.Findings))
	}
	if string(got.Spec) != string(want.Spec) {
		t.Errorf("spec through root's OEM link differs:\n%s\nwant:\n%s", got.Spec, want.Spec)
	}
}
