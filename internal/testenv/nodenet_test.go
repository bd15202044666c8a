package testenv

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNodeNet: nodes in their own namespaces get their own leases from the
// bridged dnsmasq (bind-interfaces on the old interface name still
// matches), the old client namespace keeps working, the management side
// reaches a node's listener both with DialFrom and busybox nc, and Close
// deletes the node's namespace.
func TestNodeNet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (network namespaces)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, err := StartDHCP(ctx, DHCPOptions{Dir: t.TempDir(), Purpose: "nodenet", Conf: conf("172.24.213.10")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	a, err := d.AddNode(ctx, macA)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := d.AddNode(ctx, macB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := d.AddNode(ctx, "not-a-mac"); err == nil {
		t.Error("AddNode took a bad MAC")
	}

	la, err := a.Request(ctx)
	if err != nil {
		t.Fatalf("node A: %v\n%s", err, d.Log(2000))
	}
	if la.Addr.String() != "172.24.213.10/24" {
		t.Errorf("node A lease %v, want its reservation 172.24.213.10/24", la.Addr)
	}
	lb, err := b.Request(ctx)
	if err != nil || lb.Addr.Addr() == la.Addr.Addr() || !lb.Addr.IsValid() {
		t.Errorf("node B lease %v, %v; want another address", lb.Addr, err)
	}
	if _, err := d.Request(ctx, "aa:bb:cc:dd:ee:03"); err != nil {
		t.Errorf("the client namespace lost DHCP after bridging: %v", err)
	}

	if err := a.SetAddr(ctx, la.Addr); err != nil {
		t.Fatal(err)
	}
	ln, err := ListenIn(a.NS, "172.24.213.10:22")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "SSH-2.0-test\r\n")
			c.Close()
		}
	}()
	c, err := DialFrom(ctx, d.ServerNS, "172.24.213.10:22")
	if err != nil {
		t.Fatal(err)
	}
	banner, _ := io.ReadAll(c)
	c.Close()
	if string(banner) != "SSH-2.0-test\r\n" {
		t.Errorf("DialFrom read %q", banner)
	}
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", d.ServerNS, "busybox", "nc", "172.24.213.10", "22").Output()
	if err != nil || !strings.HasPrefix(string(out), "SSH-2.0-") {
		t.Errorf("busybox nc from %s: %q, %v", d.ServerNS, out, err)
	}

	for _, bad := range []string{"", "..", "a/b", "../../proc/self/ns/net"} {
		if err := InNamespace(bad, func() error { return nil }); err == nil {
			t.Errorf("InNamespace(%q) ran", bad)
		}
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if nsExists(a.NS) {
		t.Errorf("namespace %s left after Close", a.NS)
	}
}
