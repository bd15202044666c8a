package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs rackctl in-process and returns its exit code and output.
type cliResult struct {
	code           int
	stdout, stderr string
}

func cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	code := execute(context.Background(), g, args)
	return cliResult{code, out.String(), errb.String()}
}

const example = "../../spec-examples/lokomotive.yaml"

// treeFiles lists every regular file under dir, relative and sorted.
func treeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	return files
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		spec     string
		code     int
		contains string
	}{
		"lokomotive example": {spec: example, code: 0, contains: "is valid"},
		"flatcar example":    {spec: "../../spec-examples/flatcar.yaml", code: 0, contains: "is valid"},
		"1000 nodes":         {spec: "../../spec-examples/rack-1000.yaml", code: 0, contains: "1000 nodes"},
		"bad mac":            {spec: "testdata/bad-mac.yaml", code: 1, contains: "bad-mac.yaml:14:5"},
		"missing file":       {spec: "testdata/does-not-exist.yaml", code: 1, contains: "does-not-exist.yaml"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := cli(t, "validate", "-f", tc.spec)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, tc.contains) {
				t.Errorf("output lacks %q:\n%s%s", tc.contains, r.stdout, r.stderr)
			}
		})
	}
}

func TestValidateJSON(t *testing.T) {
	r := cli(t, "validate", "-f", "testdata/bad-mac.yaml", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	var out struct {
		Valid  bool
		Errors []struct{ Line, Col int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if out.Valid || len(out.Errors) == 0 || out.Errors[0].Line != 14 {
		t.Errorf("got %+v, want invalid with an error on line 14", out)
	}
}

// A bad spec writes nothing at all: not under --root, not in the state dir.
func TestInvalidSpecWritesNothing(t *testing.T) {
	root := t.TempDir()
	for _, args := range [][]string{
		{"plan", "-f", "testdata/bad-mac.yaml", "--root", root, "-out", filepath.Join(root, "plan.json")},
		{"apply", "-f", "testdata/bad-mac.yaml", "--root", root, "--auto-approve"},
		{"render", "-f", "testdata/bad-mac.yaml", "--out", filepath.Join(root, "out")},
	} {
		if r := cli(t, args...); r.code != 1 {
			t.Errorf("%v: exit %d, want 1", args, r.code)
		}
	}
	if files := treeFiles(t, root); len(files) != 0 {
		t.Errorf("files written for an invalid spec: %v", files)
	}
}

func TestRenderTouchesOnlyOut(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	r := cli(t, "render", "-f", example, "--root", root, "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	files := treeFiles(t, out)
	for _, want := range []string{
		"etc/hosts",
		"opt/racker-state/dnsmasq/dnsmasq.conf",
		"home/core/lokomotive/lokocfg.vars",
		"home/core/lokomotive/baremetal.lokocfg",
		"home/core/lokomotive/web-ui.lokocfg",
		"home/core/lokomotive/cl/lokomotive-worker-0.k8s.localdomain.yaml",
	} {
		if !contains(files, want) {
			t.Errorf("rendered tree lacks %s; has %v", want, files)
		}
	}
	if contains(files, "home/core/lokomotive/cl/lokomotive-worker-4.k8s.localdomain.yaml") {
		t.Error("the excluded node has a CLC file")
	}
	if got := treeFiles(t, root); len(got) != 0 {
		t.Errorf("render wrote under --root/state dir: %v", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Files-only runs: --dhcp=none and --provisioner-run=never keep the host's
// dnsmasq and any provisioner out (drivers_test.go covers those layers).
func TestPlanApplyConverges(t *testing.T) {
	root := t.TempDir()
	hosts := filepath.Join(root, "etc/hosts")
	os.MkdirAll(filepath.Dir(hosts), 0o755)
	const before = "127.0.0.1 localhost\n# an operator's line\n10.9.9.9 printer\n"
	os.WriteFile(hosts, []byte(before), 0o644)

	r := cli(t, "plan", "-f", example, "--root", root, "--dhcp=none", "--provisioner-run=never", "--detailed-exitcode")
	if r.code != 2 {
		t.Fatalf("first plan: exit %d, want 2 (changes)\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "to add") || !strings.Contains(r.stdout, "lokomotive-worker-0 primary 172.24.213.5") {
		t.Errorf("plan lacks the summary or the pinned allocation:\n%s", r.stdout)
	}
	if got := treeFiles(t, root); len(got) != 1 {
		t.Fatalf("plan wrote files: %v", got)
	}

	// Without a terminal and without --auto-approve, apply refuses.
	if r := cli(t, "apply", "-f", example, "--root", root, "--dhcp=none", "--provisioner-run=never"); r.code != 1 || !strings.Contains(r.stderr, "--auto-approve") {
		t.Fatalf("apply without terminal: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := cli(t, "apply", "-f", example, "--root", root, "--dhcp=none", "--provisioner-run=never", "--auto-approve"); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	got, _ := os.ReadFile(hosts)
	if !strings.HasPrefix(string(got), before) {
		t.Errorf("text outside the managed block changed:\n%s", got)
	}

	// A second apply is a no-op, 0 under --detailed-exitcode too.
	if r := cli(t, "plan", "-f", example, "--root", root, "--dhcp=none", "--provisioner-run=never", "--detailed-exitcode"); r.code != 0 || !strings.Contains(r.stdout, "No changes") {
		t.Fatalf("plan after apply: exit %d\n%s", r.code, r.stdout)
	}
	if r := cli(t, "apply", "-f", example, "--root", root, "--dhcp=none", "--provisioner-run=never", "--auto-approve", "-detailed-exitcode"); r.code != 0 {
		t.Fatalf("second apply: exit %d\n%s", r.code, r.stderr)
	}
	r = cli(t, "history", "--root", root, "-o", "json")
	var h historyView
	if err := json.Unmarshal([]byte(r.stdout), &h); r.code != 0 || err != nil || len(h.Entries) != 1 || h.Entries[0].Outcome != "success" {
		t.Errorf("history: exit %d, want exactly one successful record (the no-op apply records nothing):\n%s", r.code, r.stdout)
	}
}

func TestSavedPlan(t *testing.T) {
	root := t.TempDir()
	planFile := filepath.Join(t.TempDir(), "plan.json")
	// Terraform-style single-dash -out.
	if r := cli(t, "plan", "-f", example, "--root", root, "--dhcp=none", "--provisioner-run=never", "-out="+planFile); r.code != 0 {
		t.Fatalf("plan -out: exit %d\n%s", r.code, r.stderr)
	}
	data, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("password")) && !bytes.Contains(data, []byte("passwordFile")) {
		t.Error("the saved plan mentions a password")
	}

	// Someone edits a file the plan relies on: the saved plan is refused.
	conf := filepath.Join(root, "opt/racker-state/dnsmasq/dnsmasq.conf")
	os.MkdirAll(filepath.Dir(conf), 0o755)
	os.WriteFile(conf, []byte("# hand edit\n"), 0o644)
	r := cli(t, "apply", "--root", root, "--dhcp=none", "--provisioner-run=never", planFile)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "dnsmasq.conf") {
		t.Fatalf("stale plan: exit %d, want 1 naming dnsmasq.conf\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(conf); string(got) != "# hand edit\n" {
		t.Error("a refused plan changed the file")
	}

	// A fresh plan applies exactly.
	os.Remove(conf)
	if r := cli(t, "plan", "-f", example, "--root", root, "--dhcp=none", "--provisioner-run=never", "-out", planFile); r.code != 0 {
		t.Fatalf("plan: exit %d", r.code)
	}
	if r := cli(t, "apply", "--root", root, "--dhcp=none", "--provisioner-run=never", planFile); r.code != 0 {
		t.Fatalf("apply saved plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, "plan", "-f", example, "--root", root, "--dhcp=none", "--provisioner-run=never", "--detailed-exitcode"); r.code != 0 {
		t.Errorf("plan after applying the saved plan: exit %d\n%s", r.code, r.stdout)
	}
}

func TestTargetUnknownNode(t *testing.T) {
	r := cli(t, "plan", "-f", example, "--root", t.TempDir(), "-target", "no-such-node")
	if r.code != 1 || !strings.Contains(r.stderr, "no-such-node") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestNormalizeArgs(t *testing.T) {
	got := normalizeArgs([]string{"plan", "-out=x", "-target", "n", "-o", "json", "--", "-out"})
	want := []string{"plan", "--out=x", "--target", "n", "-o", "json", "--", "-out"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestVersion(t *testing.T) {
	r := cli(t, "version")
	if r.code != 0 || !strings.Contains(r.stdout, "rackctl") {
		t.Errorf("exit %d: %q", r.code, r.stdout)
	}
}

// --verify cluster needs a cluster to ask: without a kubeconfig the plan is
// refused up front, naming the flag and the way out.
func TestVerifyClusterNeedsKubeconfig(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	r := cli(t, "plan", "-f", example, "--root", t.TempDir(), "--dhcp", "none", "--verify", "cluster")
	if r.code != 1 || !strings.Contains(r.stderr, "--verify cluster") || !strings.Contains(r.stderr, "--kubeconfig") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
