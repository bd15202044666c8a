package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/nodessh"
	"github.com/rackctl/rackctl/state"
)

// bootRack is an e2e rack whose servers boot: a simulated node behind
// every BMC, PXE-booting from the rack's dnsmasq and matchbox, and a key
// the spec authorizes on them.
type bootRack struct {
	*e2eRack
	nodes   *simnode.Rack
	keyFile string
}

// writeOpsKey writes a new private key to file (its directory made if
// missing) and returns the authorized_keys line for it, with comment.
func writeOpsKey(t *testing.T, file, comment string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	must(t, err)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	must(t, err)
	must(t, os.MkdirAll(filepath.Dir(file), 0o700))
	must(t, os.WriteFile(file, pem.EncodeToMemory(blk), 0o600))
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " " + comment
}

func startBootRack(t *testing.T, n int) *bootRack {
	t.Helper()
	e := newE2ERack(t, filepath.Join(t.TempDir(), "rack.yaml"), n, "boot-secret-pw", "boot")
	b := &bootRack{e2eRack: e, keyFile: filepath.Join(t.TempDir(), "id_ed25519")}
	e.sshPub = writeOpsKey(t, b.keyFile, "ops@boot")
	e.writeSpec(map[int]string{})
	var err error
	b.nodes, err = simnode.StartRack(e.bmcs, e.dhcp, simnode.RackOptions{
		Dir: t.TempDir(), MAC: func(i int) string { return e.macs[i] }, Log: testLog{t},
	})
	must(t, err)
	t.Cleanup(func() { b.nodes.Close() })
	return b
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// proxyCommand reaches a node inside the rack's namespace.
func (b *bootRack) proxyCommand() string {
	return "ip netns exec " + b.dhcp.ServerNS + " busybox nc %h %p"
}

// sshArgs verify installs over SSH through the rack's namespace.
func (b *bootRack) sshArgs(timeout string) []string {
	return []string{"--verify", "ssh", "--ssh-key", b.keyFile, "--verify-timeout", timeout,
		"--ssh-proxy-command", b.proxyCommand()}
}

var renderedHash = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// TestE2EFlatcarBoots: an empty Flatcar rack whose servers really boot.
// One apply renders, runs terraform against matchbox, PXE-boots every
// node, and records each install only once the node answered SSH with
// the spec's key and ran its config (/ignition_ran seen and removed); each
// node runs the config rendered for it (its config hash); the next apply
// switches matchbox to the installed profiles and the plan after it is a
// no-op.
func TestE2EFlatcarBoots(t *testing.T) {
	b := startBootRack(t, 3)
	r := b.run("apply (boot)", 0, "apply", append([]string{"--auto-approve"}, b.sshArgs("120s")...)...)
	for i := range b.bmcs.BMCs {
		node := fmt.Sprintf("node-%d", i)
		flag, err := os.ReadFile(filepath.Join(b.root, e2eFlagDir, b.macs[i]))
		if err != nil || strings.TrimSpace(string(flag)) != node+".e2e.localdomain" {
			t.Errorf("%s: flag file %q, %v; want its FQDN once the install was observed", node, flag, err)
		}
		if !strings.Contains(r.stdout, "verify: "+node+": ran its config") {
			t.Errorf("apply did not report %s running its config:\n%s", node, r.stdout)
		}
	}
	// Each node runs the config rendered for it, reached with the spec's key
	// and the host key the verify pinned.
	c, err := nodessh.New(nodessh.Options{KeyFile: b.keyFile,
		KnownHosts:   state.New(filepath.Join(b.root, "var/lib/rackctl")).File(state.KnownHostsFile),
		ProxyCommand: strings.Fields(b.proxyCommand())})
	must(t, err)
	defer c.Close()
	res := b.reservations()
	for i := range b.bmcs.BMCs {
		node := fmt.Sprintf("node-%d", i)
		cl, err := os.ReadFile(filepath.Join(b.root, "home/core/flatcar-container-linux/cl", node+".e2e.localdomain.yaml"))
		must(t, err)
		want := renderedHash.FindString(string(cl))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		got, err := c.ConfigHash(ctx, nodessh.Target{Node: node, Host: res[b.macs[i]].String()})
		cancel()
		if err != nil || got != want || want == "" {
			t.Errorf("%s runs config %q (%v), want the rendered %q", node, got, err, want)
		}
	}
	// The same apply settled the installs (matchbox group to the installed
	// profile, boot device to disk): nothing is left to do.
	b.run("plan after one apply", 0, "plan", append([]string{"--detailed-exitcode"}, b.sshArgs("120s")...)...)
}

// TestE2EVerifyTimeout: a server that never finishes installing fails
// only itself: apply exits 1 naming it within the timeout, the other
// nodes are verified and recorded, it has no flag file, and once it is
// fixed the next apply installs and records it.
func TestE2EVerifyTimeout(t *testing.T) {
	b := startBootRack(t, 2)
	b.nodes.Nodes[1].SetKnobs(simnode.Knobs{InstallHangs: true})
	start := time.Now()
	r := b.run("apply (one hangs)", 1, "apply", append([]string{"--auto-approve"}, b.sshArgs("25s")...)...)
	if took := time.Since(start); took > 4*time.Minute {
		t.Errorf("apply took %v with one hung node and a 25s verify timeout", took)
	}
	if !strings.Contains(r.stderr, "node-1") || !strings.Contains(r.stderr, "install is not recorded") {
		t.Errorf("apply's error does not name node-1 and what it means:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(b.root, e2eFlagDir, b.macs[1])); err == nil {
		t.Errorf("node-1 has a flag file though it never ran its config")
	}
	if _, err := os.Stat(filepath.Join(b.root, e2eFlagDir, b.macs[0])); err != nil {
		t.Errorf("node-0 was not recorded though it booted: %v", err)
	}
	b.nodes.Nodes[1].SetKnobs(simnode.Knobs{})
	b.run("apply (fixed)", 0, "apply", append([]string{"--auto-approve"}, b.sshArgs("120s")...)...)
	if _, err := os.Stat(filepath.Join(b.root, e2eFlagDir, b.macs[1])); err != nil {
		t.Errorf("node-1 not recorded after it was fixed: %v", err)
	}
}
