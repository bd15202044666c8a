package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rackctl/rackctl/nodessh"
	"github.com/rackctl/rackctl/reconcile"
)

// TestNodeConfigCell: the CONFIG column says what was observed, never
// what is expected.
func TestNodeConfigCell(t *testing.T) {
	const a, b = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	for name, tc := range map[string]struct {
		c    NodeConfig
		want string
	}{
		"current":    {NodeConfig{Rendered: a, Running: a}, "current"},
		"stale":      {NodeConfig{Rendered: b, Running: a}, "stale (running aaaaaaaaaaaa, rendered bbbbbbbbbbbb)"},
		"unknown":    {NodeConfig{Rendered: a, Unknown: "unreachable: refused"}, "unknown (unreachable: refused)"},
		"lokomotive": {NodeConfig{Unknown: "whatever"}, "n/a"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

// TestStatusConfigWithoutSSH: with --verify flag the nodes are not
// reached: an installed node's config is unknown and says why, a node not
// installed says so, a Lokomotive node is n/a.
func TestStatusConfigWithoutSSH(t *testing.T) {
	for name, tc := range map[string]struct {
		spec, verify string
		installed    string // the installed node's CONFIG
		other        string // a node not installed
	}{
		"flatcar flag": {flatcarSpec, "flag", "unknown (verify flag: nodes not observed)", "unknown (not installed)"},
		"flatcar none": {flatcarSpec, "none", "unknown (verify none: nodes not observed)", "unknown (not installed)"},
		"lokomotive":   {lokomotiveSpec, "ssh", "n/a", "n/a"},
	} {
		t.Run(name, func(t *testing.T) {
			d := filesOnly
			d.Verify = tc.verify
			e, rack := newEngine(t, tc.spec, d)
			r, err := e.Rack(rack)
			if err != nil {
				t.Fatal(err)
			}
			nodes := r.Nodes()
			flag := filepath.Join(e.cfg.Root, r.FlagFile(nodes[0]))
			if err := os.MkdirAll(filepath.Dir(flag), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(flag, []byte(rack.FQDN(nodes[0])+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := e.nodeConfigsOf(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if s := got[nodes[0].Name].String(); s != tc.installed {
				t.Errorf("installed %s: %q, want %q", nodes[0].Name, s, tc.installed)
			}
			if s := got[nodes[1].Name].String(); s != tc.other {
				t.Errorf("not installed %s: %q, want %q", nodes[1].Name, s, tc.other)
			}
		})
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// unreachableNodes are nodeConfigs whose nodes are a closed loopback port.
func unreachableNodes(t *testing.T, human *strings.Builder) *nodeConfigs {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := nodessh.New(nodessh.Options{KeyFile: key, KnownHosts: filepath.Join(t.TempDir(), "kh"), Port: closedPort(t), DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := &sshNodes{client: c, addrs: map[string]string{"node-0": "127.0.0.1", "node-1": "127.0.0.1"}}
	s.once.Do(func() {}) // opened here
	return &nodeConfigs{ssh: s, parallel: 2, read: 2 * time.Second, wait: 2 * time.Second, human: human}
}

// TestNodeConfigsUnreachable: a node that does not answer SSH is unknown
// with the reason (never a hash), read within the bound; re-running
// Ignition on it fails naming what to do instead, and nothing claims it
// ran.
func TestNodeConfigsUnreachable(t *testing.T) {
	var human strings.Builder
	o := unreachableNodes(t, &human)
	start := time.Now()
	got := o.RunningConfigs(context.Background(), []string{"node-0", "node-1"})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("reading two dead nodes took %v", took)
	}
	for _, n := range []string{"node-0", "node-1"} {
		if rc := got[n]; rc.Hash != "" || !strings.HasPrefix(rc.Unknown, "unreachable: ") {
			t.Errorf("%s: %+v, want unknown (unreachable)", n, rc)
		}
	}
	err := o.Reignite(context.Background(), "node-0", "http://m/ignition?mac=a&os=installed", "sha256:b")
	if err == nil || !strings.Contains(err.Error(), reconcile.ReprovisionHint) || !strings.Contains(err.Error(), "node-0") {
		t.Fatalf("reignite of a dead node: %v, want its name and the hint %q", err, reconcile.ReprovisionHint)
	}
	if strings.Contains(human.String(), "runs config") {
		t.Errorf("progress claims the dead node runs a config: %q", human.String())
	}
}
