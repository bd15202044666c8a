package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/nodessh"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/state"
)

// opsKey is a key pair the test hands out: its private key file and the
// authorized_keys line the spec lists.
type opsKey struct{ file, pub string }

func newOpsKey(t *testing.T, comment string) opsKey {
	t.Helper()
	k := opsKey{file: filepath.Join(t.TempDir(), "id_"+comment)}
	k.pub = writeOpsKey(t, k.file, comment)
	return k
}

// setKeys makes the spec authorize the management key (the one rackctl
// logs in with) and extra.
func (b *bootRack) setKeys(mgmt string, extra ...string) {
	b.sshPub = strings.Join(append([]string{mgmt}, extra...), "\n    - ")
	b.writeSpec(map[int]string{})
}

// hashOn reads node i's config hash logging in with key (host keys pinned
// in a known_hosts file of the test's, so rackctl's stays its own).
func (b *bootRack) hashOn(t *testing.T, i int, key, knownHosts string) (string, error) {
	t.Helper()
	c, err := nodessh.New(nodessh.Options{KeyFile: key, KnownHosts: knownHosts, ProxyCommand: strings.Fields(b.proxyCommand()), DialTimeout: 10 * time.Second})
	must(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.ConfigHash(ctx, nodessh.Target{Node: fmt.Sprintf("node-%d", i), Host: b.reservations()[b.macs[i]].String()})
}

// rendered is the config hash rendered for node i (its CLC records it).
func (b *bootRack) rendered(t *testing.T, i int) string {
	t.Helper()
	cl, err := os.ReadFile(filepath.Join(b.root, "home/core/flatcar-container-linux/cl", fmt.Sprintf("node-%d.e2e.localdomain.yaml", i)))
	must(t, err)
	h := renderedHash.FindString(string(cl))
	if h == "" {
		t.Fatalf("node-%d's CLC records no config hash", i)
	}
	return h
}

func (b *bootRack) statusConfigs(t *testing.T) map[string]string {
	t.Helper()
	r := cli(t, "status", "-f", b.spec, "--root", b.root, "-o", "json", "--timeout", "10s",
		"--verify", "ssh", "--ssh-key", b.keyFile, "--ssh-proxy-command", b.proxyCommand())
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	var st struct {
		Nodes []struct{ Name, Config string }
	}
	must(t, json.Unmarshal([]byte(r.stdout), &st))
	out := map[string]string{}
	for _, n := range st.Nodes {
		out[n.Name] = n.Config
	}
	return out
}

// TestE2EReignite: an SSH-key change of an installed Flatcar rack reaches
// the nodes in one apply, without a PXE install: the plan shows a
// re-Ignition of every node, the apply re-runs Ignition on each (matchbox
// serving the new config first), after it the new key logs in and the
// removed one is refused, every node runs the rendered config with the
// host key it had, status says current and the next plan is a no-op.
// Then, with one node powered off between plan and apply, that node fails
// alone with the hint, the others converge.
func TestE2EReignite(t *testing.T) {
	b := startBootRack(t, 3)
	// The key change re-Ignites all three nodes in waves of one; a short
	// settle keeps the waves (and their health gates) without 30 s each.
	b.rollout = "rollout:\n  settle: 1s\n"
	oldKey, newKey := newOpsKey(t, "old@ops"), newOpsKey(t, "new@ops")
	mgmt := b.sshPub
	b.setKeys(mgmt, oldKey.pub)
	b.run("apply (install)", 0, "apply", append([]string{"--auto-approve"}, b.sshArgs("120s")...)...)
	if _, err := b.hashOn(t, 0, oldKey.file, filepath.Join(t.TempDir(), "kh")); err != nil {
		t.Fatalf("the old key does not log in after the install, so its refusal later would prove nothing: %v", err)
	}
	knownHosts := state.New(filepath.Join(b.root, "var/lib/rackctl")).File(state.KnownHostsFile)
	pinned, err := os.ReadFile(knownHosts)
	must(t, err)

	b.setKeys(mgmt, newKey.pub)
	p := b.run("plan (key changed)", 2, "plan", append([]string{"--detailed-exitcode"}, b.sshArgs("120s")...)...)
	for i := range b.bmcs.BMCs {
		if !strings.Contains(p.stdout, fmt.Sprintf("reignite node-%d will reboot, no PXE install", i)) || !strings.Contains(p.stdout, "re-run Ignition (config ") {
			t.Errorf("plan does not re-run Ignition on node-%d:\n%s", i, p.stdout)
		}
	}
	if !strings.Contains(p.stdout, "Rollout in 3 waves, gated on health:") {
		t.Errorf("plan does not re-Ignite the three installed nodes one wave at a time:\n%s", p.stdout)
	}
	if strings.Contains(p.stdout, "pxe-reinstall") || strings.Contains(p.stdout, "PXE-booted") {
		t.Errorf("a key change plans a PXE reinstall:\n%s", p.stdout)
	}
	r := b.run("apply (key changed)", 0, "apply", append([]string{"--auto-approve"}, b.sshArgs("120s")...)...)
	kh := filepath.Join(t.TempDir(), "kh")
	for i := range b.bmcs.BMCs {
		want := b.rendered(t, i)
		if !strings.Contains(r.stdout, fmt.Sprintf("reignite: node-%d: runs config %s", i, reconcile.ShortHash(want))) {
			t.Errorf("apply did not report node-%d running the rendered config:\n%s", i, r.stdout)
		}
		if got, err := b.hashOn(t, i, newKey.file, kh); err != nil || got != want {
			t.Errorf("node-%d with the new key: config %q, %v; want a login and the rendered %q", i, got, err, want)
		}
		if _, err := b.hashOn(t, i, oldKey.file, kh); err == nil {
			t.Errorf("node-%d still lets the removed key in", i)
		}
	}
	if now, err := os.ReadFile(knownHosts); err != nil || string(now) != string(pinned) {
		t.Errorf("host keys changed across a re-Ignition (no reinstall): %v\nbefore:\n%s\nafter:\n%s", err, pinned, now)
	}
	for node, c := range b.statusConfigs(t) {
		if c != "current" {
			t.Errorf("status: %s config %q, want current", node, c)
		}
	}
	b.run("plan after the re-Ignition", 0, "plan", append([]string{"--detailed-exitcode"}, b.sshArgs("120s")...)...)

	// One node unreachable when the apply runs: it fails alone.
	b.setKeys(mgmt)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	b.run("plan (key removed)", 2, "plan", append([]string{"--detailed-exitcode", "-out", planFile}, b.sshArgs("120s")...)...)
	off := cli(t, "ipmi", "-f", b.spec, "--root", b.root, "node-2", "power", "off")
	if off.code != 0 {
		t.Fatalf("power off node-2: %d\n%s", off.code, off.stderr)
	}
	r = b.run("apply (node-2 off)", 1, "apply", append([]string{planFile}, b.sshArgs("60s")...)...)
	t.Logf("apply with node-2 off:\n%s", r.stderr)
	if !strings.Contains(r.stderr, "node-2") || !strings.Contains(r.stderr, reconcile.ReprovisionHint) {
		t.Errorf("apply's error does not name node-2 with the hint:\n%s", r.stderr)
	}
	for i := range 2 {
		want := b.rendered(t, i)
		if got, err := b.hashOn(t, i, b.keyFile, kh); err != nil || got != want {
			t.Errorf("node-%d did not converge beside the dead node-2: config %q, %v; want %q", i, got, err, want)
		}
	}
	if c := b.statusConfigs(t)["node-2"]; !strings.HasPrefix(c, "unknown (unreachable") {
		t.Errorf("status: node-2 config %q, want unknown (unreachable…)", c)
	}
}
