package simnode_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/nodessh"
)

// TestNodeSSHContract drives rackctl's SSH side of the install contract
// (package nodessh) against a booting simulated node, through the proxy
// command a management node whose rack network lives in a namespace uses:
// the install is observed (flag seen and removed), the config hash read
// back equals the rendered one, a re-Ignition without PXE runs the config
// again on the same host key, and a reinstall's new host key is refused
// outside a verify and pinned by one.
func TestNodeSSHContract(t *testing.T) {
	e := newRackEnv(t, 4)
	const i = 3
	n := e.startNode(t, i, simnode.Knobs{}, nil)
	t.Cleanup(func() { e.power(t, i, bmc.PowerOff) })
	c, err := nodessh.New(nodessh.Options{
		KeyFile:      e.keyFile,
		KnownHosts:   filepath.Join(t.TempDir(), "known_hosts"),
		ProxyCommand: []string{"ip", "netns", "exec", e.dhcp.ServerNS, "busybox", "nc", "%h", "%p"},
		Poll:         200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	target := nodessh.Target{Node: "node-3", Host: "172.24.213.13"}
	within := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}

	// Before the node is on, the wait ends in time with what it saw.
	err = c.WaitIgnitionRan(within(time.Second), target)
	var notYet *nodessh.NotYetError
	if !errors.As(err, &notYet) || notYet.Node != "node-3" {
		t.Fatalf("wait on a node that is off: %v, want a NotYetError naming node-3", err)
	}

	e.bootDev(t, i, bmc.BootPXE, false)
	e.power(t, i, bmc.PowerOn)
	if err := c.WaitIgnitionRan(within(60*time.Second), target); err != nil {
		t.Fatalf("install not observed: %v\nnode log:\n%s", err, strings.Join(n.Log(), "\n"))
	}
	installKey := c.Pinned("node-3")
	if installKey == "" {
		t.Fatal("no host key pinned after the verify")
	}
	e.mustRun(t, i, "test -f /ignition_ran", 1) // removed by the verify
	got, err := c.ConfigHash(within(10*time.Second), target)
	if err != nil || got != e.hashes["node-3"] || got == "" {
		t.Errorf("config hash = %q, %v; want the rendered %q", got, err, e.hashes["node-3"])
	}
	// The flag is gone: a second wait does not pass on the old run.
	if err := c.WaitIgnitionRan(within(time.Second), target); !errors.As(err, &notYet) {
		t.Errorf("second wait without a new run: %v, want NotYetError", err)
	}

	// Re-Ignition without PXE, from the installed config in matchbox.
	e.writeMatchbox("profiles/node-node-3.json", map[string]any{"id": "node-node-3", "ignition_id": "node-node-3.ign"})
	e.writeMatchbox("ignition/node-node-3.ign", e.rendered(e.fqdn(i)+".ign"))
	e.writeMatchbox("groups/installed-node-3.json", map[string]any{"id": "installed-node-3", "profile": "node-node-3",
		"selector": map[string]string{"mac": nodeMAC(i), "os": "installed"}})
	from := len(n.Log())
	url := mgmtHTTP + "/ignition?mac=" + nodeMAC(i) + "&os=installed"
	if err := c.Reignite(within(20*time.Second), target, url); err != nil {
		t.Fatalf("reignite: %v", err)
	}
	wait(t, n, from, "Ignition ok: "+url, 30*time.Second)
	if err := c.WaitIgnitionRan(within(30*time.Second), target); err != nil {
		t.Fatalf("re-Ignition not observed: %v", err)
	}
	if c.Pinned("node-3") != installKey {
		t.Errorf("host key changed across a re-Ignition: %s then %s", installKey, c.Pinned("node-3"))
	}
	if strings.Contains(strings.Join(n.Log()[from:], "\n"), "installing to disk") {
		t.Errorf("the re-Ignition went through a PXE install")
	}

	// A reinstall generates a new host key: refused outside a verify...
	from = len(n.Log())
	e.bootDev(t, i, bmc.BootPXE, false)
	e.power(t, i, bmc.PowerCycle)
	wait(t, n, from, simnode.LogInstalled, 60*time.Second)
	wait(t, n, from, simnode.LogSSHUp, 30*time.Second)
	_, err = c.ConfigHash(within(10*time.Second), target)
	var changed *nodessh.HostKeyChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("new host key outside an install: %v, want HostKeyChangedError", err)
	}
	// ...and pinned by the verify of the install.
	if err := c.WaitIgnitionRan(within(30*time.Second), target); err != nil {
		t.Fatalf("verify after reinstall: %v", err)
	}
	if c.Pinned("node-3") == installKey {
		t.Errorf("the reinstall's host key was not pinned")
	}
}
