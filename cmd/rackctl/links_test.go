package main

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/schema"
)

// marker is the content of every file a planted link or path reaches; it
// must never show up in rackctl's output or in a saved plan.
const marker = "MARKER-root-only-7c1e"

// cliLinkCase plants a link under root; target is what it reaches.
type cliLinkCase struct {
	plant  func(t *testing.T, root, outside string)
	target func(root, outside string) string
	link   string
}

var cliLinkCases = map[string]cliLinkCase{
	"link at etc/hosts": {
		plant: func(t *testing.T, root, outside string) {
			mkdir(t, filepath.Join(root, "etc"))
			symlink(t, filepath.Join(outside, "shadow"), filepath.Join(root, "etc/hosts"))
		},
		target: func(root, outside string) string { return filepath.Join(outside, "shadow") },
		link:   "etc/hosts",
	},
	"linked managed directory": {
		plant: func(t *testing.T, root, outside string) {
			mkdir(t, filepath.Join(root, "home/core"))
			symlink(t, outside, filepath.Join(root, "home/core/lokomotive"))
		},
		target: func(root, outside string) string { return filepath.Join(outside, "lokocfg.vars") },
		link:   "home/core/lokomotive",
	},
	"link inside the root to another root file": {
		plant: func(t *testing.T, root, outside string) {
			writeTestFile(t, filepath.Join(root, "root/secret"), marker+"\n", 0o600)
			mkdir(t, filepath.Join(root, "home/core/lokomotive"))
			symlink(t, "../../../root/secret", filepath.Join(root, "home/core/lokomotive/lokocfg.vars"))
		},
		target: func(root, outside string) string { return filepath.Join(root, "root/secret") },
		link:   "home/core/lokomotive/lokocfg.vars",
	},
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	testenv.PlantLink(t, target, p)
}

func writeTestFile(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// linkRoots makes a root and, beside it, the root-only files links reach.
func linkRoots(t *testing.T) (root, outside string) {
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	mkdir(t, root)
	writeTestFile(t, filepath.Join(outside, "shadow"), marker+"\n", 0o600)
	writeTestFile(t, filepath.Join(outside, "lokocfg.vars"), marker+"\n", 0o600)
	return root, outside
}

// entries lists every path under dir (links not followed), with its kind.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel+" "+d.Type().String())
		}
		return nil
	})
	return out
}

func assertUntouched(t *testing.T, target string) {
	t.Helper()
	b, err := os.ReadFile(target)
	if err != nil || string(b) != marker+"\n" {
		t.Errorf("target %s changed: %q %v", target, b, err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("target %s: mode changed: %v %v", target, fi.Mode(), err)
	}
}

func assertRefused(t *testing.T, what string, r cliResult, link string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("%s: exit %d, want 1\n%s%s", what, r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, link) || !strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("%s: stderr does not name the link %s:\n%s", what, link, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, marker) {
		t.Errorf("%s: output shows the link target's content:\n%s%s", what, r.stdout, r.stderr)
	}
}

// TestLinksUnderRootRefused runs plan, plan -out, apply, apply PLANFILE
// and render --out through the CLI with a link planted at a managed path:
// each refuses naming the link, prints and saves none of the target's
// content, and writes nothing.
func TestLinksUnderRootRefused(t *testing.T) {
	for name, tc := range cliLinkCases {
		t.Run(name, func(t *testing.T) {
			root, outside := linkRoots(t)
			flags := []string{"-f", example, "--root", root, "--dhcp=none", "--bmc=none", "--provisioner-run=never"}
			run := func(args ...string) cliResult { return cli(t, append(args, flags...)...) }

			// A plan saved before the link appears, applied after.
			saved := filepath.Join(t.TempDir(), "before.plan")
			if r := run("plan", "-out", saved); r.code != 0 {
				t.Fatalf("plan before the link: exit %d\n%s", r.code, r.stderr)
			}
			tc.plant(t, root, outside)
			target := tc.target(root, outside)
			link := filepath.Join(root, tc.link)
			before := entries(t, root)

			r := run("plan", "--detailed-exitcode")
			assertRefused(t, "plan", r, link)

			planFile := filepath.Join(t.TempDir(), "plan.json")
			r = run("plan", "-out", planFile)
			assertRefused(t, "plan -out", r, link)
			if b, err := os.ReadFile(planFile); err == nil && strings.Contains(string(b), marker) {
				t.Error("the saved plan holds the link target's content")
			}

			r = run("apply", "--auto-approve")
			assertRefused(t, "apply", r, link)

			r = cli(t, "apply", "--root", root, "--dhcp=none", "--bmc=none", "--provisioner-run=never", saved)
			assertRefused(t, "apply PLANFILE", r, link)

			if after := entries(t, root); !slices.Equal(before, after) {
				t.Errorf("a refused apply changed the root:\nbefore %v\nafter  %v", before, after)
			}
			assertUntouched(t, target)

			// render --out: the link is in the output tree.
			out := filepath.Join(filepath.Dir(root), "out")
			mkdir(t, out)
			tc.plant(t, out, outside)
			outBefore := entries(t, out)
			r = cli(t, "render", "-f", example, "--root", t.TempDir(), "--out", out)
			assertRefused(t, "render --out", r, filepath.Join(out, tc.link))
			if after := entries(t, out); !slices.Equal(outBefore, after) {
				t.Errorf("a refused render wrote files:\nbefore %v\nafter  %v", outBefore, after)
			}
			assertUntouched(t, tc.target(out, outside))
		})
	}
}

// TestCredentialPathsStayBeneathRoot: bmc.userFile/passwordFile paths that
// climb out of --root, or reach a link, or a file that is no credential,
// are refused; the file's content shows up nowhere (output, saved plan).
func TestCredentialPathsStayBeneathRoot(t *testing.T) {
	tests := map[string]struct {
		user, pass string // the spec's paths
		plant      func(t *testing.T, root, outside string)
		want       string // in the output
	}{
		"password path climbs out": {
			user: "/usr/share/oem/ipmi_user", pass: "/../outside/shadow",
			want: `bmc.passwordFile "/../outside/shadow"`,
		},
		"user path climbs out": {
			user: "/usr/../../outside/shadow", pass: "/usr/share/oem/ipmi_password",
			want: `bmc.userFile "/usr/../../outside/shadow"`,
		},
		"link at the password file": {
			user: "/usr/share/oem/ipmi_user", pass: "/usr/share/oem/ipmi_password",
			plant: func(t *testing.T, root, outside string) {
				os.Remove(filepath.Join(root, "usr/share/oem/ipmi_password"))
				symlink(t, filepath.Join(outside, "shadow"), filepath.Join(root, "usr/share/oem/ipmi_password"))
			},
			want: "symbolic link",
		},
		"linked directory": {
			user: "/usr/share/oem/ipmi_user", pass: "/usr/share/oem/ipmi_password",
			plant: func(t *testing.T, root, outside string) {
				os.RemoveAll(filepath.Join(root, "usr/share/oem"))
				symlink(t, outside, filepath.Join(root, "usr/share/oem"))
				writeTestFile(t, filepath.Join(outside, "ipmi_user"), marker+"\n", 0o600)
				writeTestFile(t, filepath.Join(outside, "ipmi_password"), marker+"\n", 0o600)
			},
			want: "symbolic link",
		},
		"a root file that is no credential": {
			user: "/etc/shadow", pass: "/usr/share/oem/ipmi_password",
			plant: func(t *testing.T, root, outside string) {
				writeTestFile(t, filepath.Join(root, "etc/shadow"), "root:"+marker+":19000:0:99999:7:::\ndaemon:*:19000::::::\n", 0o600)
			},
			want: "not an IPMI user name",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
			writeTestFile(t, filepath.Join(outside, "shadow"), marker+"\n", 0o600)
			writeTestFile(t, filepath.Join(root, "usr/share/oem/ipmi_user"), "admin\n", 0o600)
			writeTestFile(t, filepath.Join(root, "usr/share/oem/ipmi_password"), "pw\n", 0o600)
			if tc.plant != nil {
				tc.plant(t, root, outside)
			}
			data, err := os.ReadFile(example)
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(data), "userFile: /usr/share/oem/ipmi_user", "userFile: "+tc.user, 1)
			s = strings.Replace(s, "passwordFile: /usr/share/oem/ipmi_password", "passwordFile: "+tc.pass, 1)
			spec := filepath.Join(base, "specdir/rack.yaml")
			writeTestFile(t, spec, s, 0o644)

			planFile := filepath.Join(base, "plan.json")
			r := cli(t, "plan", "-f", spec, "--root", root, "--dhcp=none", "--provisioner-run=never", "--timeout", "1s", "-out", planFile)
			saved, _ := os.ReadFile(planFile)
			if strings.Contains(r.stdout+r.stderr+string(saved), marker) {
				t.Fatalf("the credential file's content was echoed:\n%s%s\nsaved plan: %s", r.stdout, r.stderr, saved)
			}
			if !strings.Contains(r.stdout+r.stderr+string(saved), tc.want) {
				t.Errorf("plan does not say %q:\n%s%s", tc.want, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, "bmc layer skipped") {
				t.Errorf("plan went on with BMC credentials it should have refused:\n%s%s", r.stdout, r.stderr)
			}

			r = cli(t, "status", "-f", spec, "--root", root, "--timeout", "1s")
			if r.code != 1 || strings.Contains(r.stdout+r.stderr, marker) || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("status: exit %d, want 1 saying %q without the content:\n%s%s", r.code, tc.want, r.stdout, r.stderr)
			}
			assertUntouched(t, filepath.Join(outside, "shadow"))
		})
	}
}

// TestProvisionedReadsFlagFilesBeneathRoot: status's "OS provisioned" is
// the flag file beneath --root; a flag file reached through a linked
// directory does not count, and the warning names the link.
func TestProvisionedReadsFlagFilesBeneathRoot(t *testing.T) {
	root, outside := linkRoots(t)
	var logs strings.Builder
	eng, err := engine.New(engine.Config{Root: root, SpecFile: example, StateDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := schema.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	env, err := eng.Rack(spec)
	if err != nil {
		t.Fatal(err)
	}
	n := &env.Spec.Nodes[0]
	flag := env.FlagFile(n)
	writeTestFile(t, filepath.Join(root, flag), "x\n", 0o644)
	if !env.Provisioned(n) {
		t.Fatalf("flag file %s present, node not provisioned", flag)
	}

	dir := filepath.Dir(flag)
	if err := os.RemoveAll(filepath.Join(root, dir)); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(outside, filepath.Base(flag)), "x\n", 0o644)
	symlink(t, outside, filepath.Join(root, dir))
	if env.Provisioned(n) {
		t.Error("a flag file reached through a linked directory counts")
	}
	if !strings.Contains(logs.String(), filepath.Join(root, dir)) {
		t.Errorf("no warning naming the link:\n%s", logs.String())
	}
}
