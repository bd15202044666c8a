package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// gateRack is the lokomotive example under a scratch root, applied with the
// real dnsmasq behind a wrapper that adds the site's own config, as a
// management node's dnsmasq reads more than rackctl's file.
type gateRack struct {
	dir, root, spec, site, dnsmasq, reload string
}

func newGateRack(t *testing.T) *gateRack {
	t.Helper()
	real, err := exec.LookPath("dnsmasq")
	if err != nil {
		t.Fatalf("dnsmasq not installed: %v", err)
	}
	dir := t.TempDir()
	g := &gateRack{dir: dir, root: filepath.Join(dir, "root"), spec: filepath.Join(dir, "rack.yaml"),
		site: filepath.Join(dir, "site.conf"), dnsmasq: filepath.Join(dir, "dnsmasq"), reload: filepath.Join(dir, "reload")}
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, g.spec, string(b), 0o644)
	writeFile(t, g.site, "", 0o644)
	writeFile(t, g.dnsmasq, "#!/bin/sh\nexec '"+real+"' --conf-file='"+g.site+"' \"$@\"\n", 0o755)
	writeFile(t, g.reload, "#!/bin/sh\necho reload >>'"+filepath.Join(dir, "reloads")+"'\n", 0o755)
	return g
}

func (g *gateRack) apply(t *testing.T, extra ...string) cliResult {
	t.Helper()
	args := append([]string{"apply", "-f", g.spec, "--root", g.root, "--dnsmasq", g.dnsmasq,
		"--dnsmasq-reload-cmd", g.reload, "--bmc", "none", "--provisioner-run", "never", "--auto-approve"}, extra...)
	return cli(t, args...)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// snapshot reads every file under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, rel := range treeFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		files[rel] = string(b)
	}
	return files
}

// TestApplyDnsmasqGate: a config the real dnsmasq refuses in --test is not
// applied. Here the site's own dnsmasq config reserves the address a new
// node is pinned to, which dnsmasq refuses as a duplicate reservation; the
// schema cannot know the site's config. apply exits 1, names dnsmasq's
// complaint and the file, and writes nothing: no managed file, no state, no
// reload. With a saved plan the site's config changes between plan and
// apply: the check at apply time must refuse it before any file is written.
func TestApplyDnsmasqGate(t *testing.T) {
	for _, saved := range []bool{false, true} {
		name := map[bool]string{false: "plan and apply", true: "saved plan"}[saved]
		t.Run(name, func(t *testing.T) {
			g := newGateRack(t)
			if r := g.apply(t); r.code != 0 {
				t.Fatalf("first apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			reloads := func() int {
				b, _ := os.ReadFile(filepath.Join(g.dir, "reloads"))
				return strings.Count(string(b), "reload\n")
			}
			if reloads() != 1 {
				t.Fatalf("first apply reloaded dnsmasq %d times, want 1", reloads())
			}

			// A new node changes dnsmasq.conf, /etc/hosts and lokocfg.vars;
			// its address is (or, for the saved plan, becomes) reserved by
			// the site's config.
			f, err := os.OpenFile(g.spec, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("  - name: lokomotive-worker-9\n    role: worker\n    mac: aa:bb:cc:dd:00:09\n    bmcMac: aa:bb:cc:dd:01:09\n    ip: 172.24.213.77\n")
			f.Close()
			planFile := filepath.Join(g.dir, "rack.plan")
			if saved {
				r := cli(t, "plan", "-f", g.spec, "--root", g.root, "--dnsmasq", g.dnsmasq, "--dnsmasq-reload-cmd", g.reload,
					"--bmc", "none", "--provisioner-run", "never", "-out", planFile)
				if r.code != 0 {
					t.Fatalf("plan -out: exit %d\n%s%s", r.code, r.stdout, r.stderr)
				}
			}
			before := snapshot(t, g.root)
			for _, p := range []string{"opt/racker-state/dnsmasq/dnsmasq.conf", "etc/hosts", "home/core/lokomotive/lokocfg.vars", "var/lib/rackctl/history.jsonl"} {
				if _, ok := before[p]; !ok {
					t.Fatalf("first apply wrote no %s: %v", p, slices.Sorted(maps.Keys(before)))
				}
			}
			writeFile(t, g.site, "dhcp-host=02:00:00:00:99:99,172.24.213.77,lab-printer\n", 0o644)

			var r cliResult
			if saved {
				r = cli(t, "apply", "-f", g.spec, "--root", g.root, "--dnsmasq", g.dnsmasq, "--dnsmasq-reload-cmd", g.reload,
					"--bmc", "none", "--provisioner-run", "never", planFile)
			} else {
				r = g.apply(t)
			}
			if r.code != 1 {
				t.Fatalf("apply of a config dnsmasq refuses: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			out := r.stdout + r.stderr
			for _, want := range []string{"duplicate dhcp-host IP address 172.24.213.77", "dnsmasq.conf"} {
				if !strings.Contains(out, want) {
					t.Errorf("output does not name %q:\n%s", want, out)
				}
			}
			after := snapshot(t, g.root)
			for p, b := range before {
				if after[p] != b {
					t.Errorf("%s changed by a refused apply", p)
				}
			}
			for p := range after {
				if _, ok := before[p]; !ok {
					t.Errorf("%s written by a refused apply", p)
				}
			}
			if n := reloads(); n != 1 {
				t.Errorf("dnsmasq reloaded %d times, want still 1", n)
			}
		})
	}
}

// TestApplyChildrenEnvironment runs apply with the BMC password in rackctl's
// environment: the dnsmasq reload command and lokoctl (the recording
// stand-in) run without it, and --pass-env cannot ask for it.
func TestApplyChildrenEnvironment(t *testing.T) {
	loko := lokoctlStandin(t)
	g := newGateRack(t)
	dump := filepath.Join(g.dir, "reload.env")
	writeFile(t, g.reload, "#!/bin/sh\nenv >'"+dump+"'\n", 0o755)
	record := filepath.Join(g.dir, "lokoctl.jsonl")
	t.Setenv("RACKCTL_BMC_PASSWORD", "bmc-secret-Zq81")
	t.Setenv("RACKCTL_BMC_USER", "admin")
	t.Setenv("RACKCTL_LOKOCTL_RECORD", record)
	t.Setenv("KUBECONFIG", "/etc/kubeconfig")

	r := g.apply(t, "--pass-env", "RACKCTL_BMC_PASSWORD")
	if r.code != 1 || !strings.Contains(r.stderr, "--pass-env RACKCTL_BMC_PASSWORD") {
		t.Fatalf("--pass-env of the BMC password: exit %d, want 1 naming it\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(g.root); err == nil {
		t.Fatal("a refused apply wrote under --root")
	}

	args := []string{"apply", "-f", g.spec, "--root", g.root, "--dnsmasq", g.dnsmasq, "--dnsmasq-reload-cmd", g.reload,
		"--bmc", "none", "--provisioner-run", "auto", "--lokoctl", loko, "--pass-env", "RACKCTL_LOKOCTL_RECORD", "--auto-approve",
		"--verify", "flag"} // no node boots here: installs are assumed (the opt-out)
	if r := cli(t, args...); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatalf("the reload command did not run: %v", err)
	}
	reloadEnv := "\n" + string(b)
	if !strings.Contains(reloadEnv, "\nPATH=") {
		t.Errorf("the reload command got no PATH:%s", reloadEnv)
	}
	for _, bad := range []string{"bmc-secret-Zq81", "RACKCTL_BMC_", "KUBECONFIG"} {
		if strings.Contains(reloadEnv, bad) {
			t.Errorf("the reload command's environment holds %q", bad)
		}
	}
	b, err = os.ReadFile(record)
	if err != nil {
		t.Fatalf("lokoctl did not run or did not get RACKCTL_LOKOCTL_RECORD: %v", err)
	}
	var rec struct {
		Env []string `json:"env"`
	}
	if err := json.Unmarshal(bytes.SplitN(b, []byte("\n"), 2)[0], &rec); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"PATH", "KUBECONFIG", "RACKCTL_LOKOCTL_RECORD"} {
		if !slices.Contains(rec.Env, n) {
			t.Errorf("lokoctl did not get %s: %v", n, rec.Env)
		}
	}
	for _, n := range []string{"RACKCTL_BMC_PASSWORD", "RACKCTL_BMC_USER"} {
		if slices.Contains(rec.Env, n) {
			t.Errorf("lokoctl got %s", n)
		}
	}
}

// TestPauseHookOnlyInTestBuilds: a binary built as make build does ignores
// RACKCTL_TEST_PAUSE_PHASE; one built with the tag rackctl_testhooks pauses
// (which shows the variable is the one the hook reads).
func TestPauseHookOnlyInTestBuilds(t *testing.T) {
	for _, tc := range []struct {
		tags  string
		pause bool
	}{{"", false}, {"rackctl_testhooks", true}} {
		t.Run("tags="+tc.tags, func(t *testing.T) {
			bin := buildRackctl(t, tc.tags)
			root := t.TempDir()
			// A paused apply sleeps until killed: the timeout ends it.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c := exec.CommandContext(ctx, bin, "apply", "-f", example, "--root", root, "--dhcp", "none", "--bmc", "none",
				"--provisioner-run", "never", "--auto-approve")
			c.Env = append(os.Environ(), PauseEnv+"=files")
			var out bytes.Buffer
			c.Stdout, c.Stderr = &out, &out
			start := time.Now()
			err := c.Run()
			paused := strings.Contains(out.String(), "paused before phase files")
			if paused != tc.pause {
				t.Fatalf("paused = %v, want %v (err %v, %v)\n%s", paused, tc.pause, err, time.Since(start), out.String())
			}
			if !tc.pause {
				if err != nil {
					t.Fatalf("apply: %v\n%s", err, out.String())
				}
				if _, err := os.Stat(filepath.Join(root, "etc/hosts")); err != nil {
					t.Fatalf("released build did not apply: %v", err)
				}
			}
		})
	}
}
