package testenv

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMatchbox(t *testing.T) {
	m := StartMatchboxT(t)
	code, body, err := m.Get(t.Context(), "/")
	if err != nil || code != 200 || !strings.Contains(body, "matchbox") {
		t.Fatalf("GET / = %d %q %v", code, body, err)
	}
	for _, n := range []string{"ca.crt", "client.crt", "client.key"} {
		info, err := os.Stat(filepath.Join(m.CertDir, n))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", n, info, err)
		}
	}
	dst := filepath.Join(t.TempDir(), "matchbox-client")
	if err := m.TLS.CopyClientCerts(dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "client.key")); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if c, err := net.DialTimeout("tcp", m.RPC, time.Second); err == nil {
		c.Close()
		t.Fatal("matchbox still accepts gRPC connections after Close")
	}
}

const (
	macA = "aa:bb:cc:dd:ee:01"
	macB = "aa:bb:cc:dd:ee:02"
)

func conf(ipA string) []byte {
	return []byte(`no-daemon
dhcp-range=172.24.213.128,172.24.213.254,255.255.255.0,2m
enable-tftp
tftp-root=/does/not/exist
except-interface=lo
interface=` + serverIface + `
bind-interfaces
dhcp-host=` + macA + `,` + ipA + `,host-a,1h
`)
}

func TestDHCP(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	// A namespace left by a process that is gone is removed at start.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := NamespacePrefix + "stale-" + strconv.Itoa(dead.Process.Pid) + "-abcdef-s"
	if err := ip(ctx, "netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if nsExists(stale) {
			DeleteNamespace(context.Background(), stale)
		}
	})

	d := StartDHCPT(t, DHCPOptions{Purpose: "envtest", Conf: conf("172.24.213.10")})
	if nsExists(stale) {
		t.Errorf("stale namespace %s not removed", stale)
	}
	for _, ns := range []string{d.ServerNS, d.ClientNS} {
		if p, pid, ok := namespaceOwner(ns); !ok || p != "envtest" || pid != os.Getpid() {
			t.Errorf("namespace name %q", ns)
		}
	}
	if got, err := d.Request(ctx, macA); err != nil || got != netip.MustParseAddr("172.24.213.10") {
		t.Fatalf("reserved MAC got %v, %v", got, err)
	}
	if got, err := d.Request(ctx, macB); err != nil || got.Compare(netip.MustParseAddr("172.24.213.128")) < 0 {
		t.Fatalf("unknown MAC got %v, %v; want a dynamic-range address", got, err)
	}
	out, err := exec.CommandContext(ctx, d.RequestCmd[0], macA).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lease of 172.24.213.10 obtained") {
		t.Errorf("%v %s: %v\n%s", d.RequestCmd, macA, err, out)
	}
	lease, _ := os.ReadFile(d.LeaseFile)
	if !strings.Contains(string(lease), macA+" 172.24.213.10") {
		t.Errorf("lease file:\n%s", lease)
	}

	// The reload command, as rackctl runs it, restarts dnsmasq with the
	// changed config.
	if err := d.WriteConf(conf("172.24.213.11")); err != nil {
		t.Fatal(err)
	}
	os.Remove(d.LeaseFile) // the old lease would win
	if out, err := exec.CommandContext(ctx, d.ReloadCmd[0], d.ReloadCmd[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("reload: %v: %s", err, out)
	}
	if got := d.Starts(); got != 2 {
		t.Errorf("dnsmasq started %d times, want 2", got)
	}
	if got, err := d.Request(ctx, macA); err != nil || got != netip.MustParseAddr("172.24.213.11") {
		t.Fatalf("after reload: reserved MAC got %v, %v", got, err)
	}

	// A config dnsmasq rejects: the restart fails, a good one recovers.
	d.WriteConf([]byte("dhcp-range=nonsense\n"))
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	defer cancelShort()
	if err := d.Restart(short); err == nil {
		t.Fatal("restart with a bad config succeeded")
	}
	d.WriteConf(conf("172.24.213.10"))
	if err := d.Restart(ctx); err != nil {
		t.Fatalf("restart after fixing the config: %v", err)
	}

	// Close deletes both namespaces.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := ListNamespaces(ctx, "envtest")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, d.ServerNS) || slices.Contains(names, d.ClientNS) {
		t.Errorf("namespaces left after Close: %v", names)
	}
}

// A config written after StartDHCP: dnsmasq starts once it appears, and
// WaitReady returns once it serves.
func TestDHCPConfigLater(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := StartDHCPT(t, DHCPOptions{Purpose: "envtest"})
	if got := d.Starts(); got != 0 {
		t.Fatalf("dnsmasq started %d times without a config", got)
	}
	if err := d.WriteConf(conf("172.24.213.12")); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.Starts(); got != 1 {
		t.Errorf("dnsmasq started %d times, want 1", got)
	}
	if got, err := d.Request(ctx, macA); err != nil || got != netip.MustParseAddr("172.24.213.12") {
		t.Fatalf("reserved MAC got %v, %v", got, err)
	}
}

func TestFindTools(t *testing.T) {
	tl := FindToolsT(t)
	for _, p := range []string{tl.Matchbox, tl.Terraform, tl.Terraformrc, tl.LokoctlStandin} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	// terraform gets the provider from the mirror only: no network.
	rc, err := os.ReadFile(tl.Terraformrc)
	if err != nil || !strings.Contains(string(rc), "filesystem_mirror") {
		t.Errorf("terraformrc: %v\n%s", err, rc)
	}
}
