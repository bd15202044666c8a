package provision

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/testenv"
)

const testSecret = "bmc-secret-Zq81"

// setSecretEnv puts the BMC credentials and an unrelated variable into this
// process's environment, as an operator running rackctl with
// RACKCTL_BMC_PASSWORD would, plus variables the children do need.
func setSecretEnv(t *testing.T) {
	t.Setenv("RACKCTL_BMC_PASSWORD", testSecret)
	t.Setenv("RACKCTL_BMC_USER", "admin")
	t.Setenv("UNRELATED_VAR", "x")
	t.Setenv("PASSED_BY_NAME", "y")
	t.Setenv("KUBECONFIG", "/etc/kubeconfig")
	t.Setenv("TF_PLUGIN_CACHE_DIR", t.TempDir())
}

// TestLokoctlEnvironment runs the lokoctl stand-in, which records the names
// of the variables it got: it gets what lokoctl needs and not the BMC
// credentials, even when they are asked for by name.
func TestLokoctlEnvironment(t *testing.T) {
	bin := buildStandin(t)
	setSecretEnv(t)
	rec := filepath.Join(t.TempDir(), "record.jsonl")
	var out bytes.Buffer
	l, err := NewLokoctl(LokoctlConfig{
		Dir: lokomotiveDir(t), ExecPath: bin, Output: &out,
		Env:     map[string]string{"RACKCTL_LOKOCTL_RECORD": rec, "RACKCTL_BMC_PASSWORD": testSecret},
		PassEnv: []string{"PASSED_BY_NAME", "RACKCTL_BMC_PASSWORD"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(t.Context()); err != nil {
		t.Fatalf("Apply: %v\n%s", err, out.String())
	}
	recs := readRecords(t, rec)
	if len(recs) != 1 {
		t.Fatalf("stand-in ran %d times", len(recs))
	}
	env := recs[0].Env
	for _, n := range []string{"PATH", "KUBECONFIG", "TF_PLUGIN_CACHE_DIR", "PASSED_BY_NAME", "RACKCTL_LOKOCTL_RECORD"} {
		if !slices.Contains(env, n) {
			t.Errorf("lokoctl did not get %s: %v", n, env)
		}
	}
	for _, n := range []string{"RACKCTL_BMC_PASSWORD", "RACKCTL_BMC_USER", "UNRELATED_VAR"} {
		if slices.Contains(env, n) {
			t.Errorf("lokoctl got %s: %v", n, env)
		}
	}
}

// TestTerraformEnvironment runs the real terraform through a wrapper that
// dumps its environment first.
func TestTerraformEnvironment(t *testing.T) {
	tl := testenv.FindToolsT(t)
	setSecretEnv(t)
	dump := filepath.Join(t.TempDir(), "env")
	wrapper := filepath.Join(t.TempDir(), "terraform")
	script := "#!/bin/sh\nenv >>'" + dump + "'\nexec '" + tl.Terraform + "' \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tf, err := NewTerraform(TerraformConfig{
		WorkDir: t.TempDir(), ExecPath: wrapper, CLIConfigFile: tl.Terraformrc,
		Stdout: &out, Stderr: &out, PassEnv: []string{"PASSED_BY_NAME", "RACKCTL_BMC_PASSWORD"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tf.Init(t.Context()); err != nil {
		t.Fatalf("terraform init: %v\n%s", err, out.String())
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatalf("terraform wrapper never ran: %v", err)
	}
	got := string(b)
	for _, n := range []string{"PATH=", "TF_CLI_CONFIG_FILE=", "TF_PLUGIN_CACHE_DIR=", "PASSED_BY_NAME=", "CHECKPOINT_DISABLE="} {
		if !strings.Contains(got, "\n"+n) && !strings.HasPrefix(got, n) {
			t.Errorf("terraform did not get %s", strings.TrimSuffix(n, "="))
		}
	}
	for _, bad := range []string{testSecret, "RACKCTL_BMC_", "UNRELATED_VAR"} {
		if strings.Contains(got, bad) {
			t.Errorf("terraform's environment holds %q", bad)
		}
	}
}
