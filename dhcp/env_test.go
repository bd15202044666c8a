package dhcp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandEnvironment runs the real dnsmasq --test and a reload command
// through a wrapper that dumps the environment each gets: the BMC password
// in rackctl's environment reaches neither.
func TestCommandEnvironment(t *testing.T) {
	needTools(t, "dnsmasq")
	dnsmasq, err := exec.LookPath("dnsmasq")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("RACKCTL_BMC_PASSWORD", "bmc-secret-Zq81")
	t.Setenv("RACKCTL_BMC_USER", "admin")
	t.Setenv("UNRELATED_VAR", "x")
	t.Setenv("DOCKER_HOST", "unix:///run/docker.sock")
	t.Setenv("PASSED_BY_NAME", "y")
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "dump-env")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nenv >\"${0%/*}/env.$1.$$\"\nshift\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := New(Config{
		ConfPath:   filepath.Join(dir, "dnsmasq.conf"),
		DnsmasqCmd: []string{wrapper, "check", dnsmasq},
		ReloadCmd:  []string{wrapper, "reload", "true"},
		PassEnv:    []string{"PASSED_BY_NAME", "RACKCTL_BMC_PASSWORD"},
	})
	changed, err := s.Install(t.Context(), []byte(goodConf))
	if err != nil || !changed {
		t.Fatalf("Install = %v, %v", changed, err)
	}
	for _, cmd := range []string{"check", "reload"} {
		dumps, _ := filepath.Glob(filepath.Join(dir, "env."+cmd+".*"))
		if len(dumps) != 1 {
			t.Fatalf("%s ran %d times, want once", cmd, len(dumps))
		}
		b, err := os.ReadFile(dumps[0])
		if err != nil {
			t.Fatal(err)
		}
		env := "\n" + string(b)
		for _, want := range []string{"PATH", "DOCKER_HOST", "PASSED_BY_NAME"} {
			if !strings.Contains(env, "\n"+want+"=") {
				t.Errorf("%s command did not get %s", cmd, want)
			}
		}
		for _, bad := range []string{"bmc-secret-Zq81", "RACKCTL_BMC_", "UNRELATED_VAR"} {
			if strings.Contains(env, bad) {
				t.Errorf("%s command's environment holds %q", cmd, bad)
			}
		}
	}
}
