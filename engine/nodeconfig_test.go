package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// fakeNode is an SSH server on loopback that plays an installed node for
// Reignite: it keeps a config hash, and `systemctl reboot` "re-runs
// Ignition": it then serves next (and /ignition_ran), with newHostKey if
// set. Each connection is one login.
type fakeNode struct {
	t        *testing.T
	addr     string
	hostKey  ssh.Signer
	mu       sync.Mutex
	hash     string
	next     string
	flag     bool
	rebooted int
	rekey    ssh.Signer // host key after a reboot, nil: kept
}

func startFakeNode(t *testing.T, hash, next string) *fakeNode {
	t.Helper()
	f := &fakeNode{t: t, hash: hash, next: next, hostKey: newSigner(t)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f.addr = l.Addr().String()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func newSigner(t *testing.T) ssh.Signer {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fakeNode) serve(c net.Conn) {
	defer c.Close()
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	f.mu.Lock()
	cfg.AddHostKey(f.hostKey)
	f.mu.Unlock()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range chReqs {
			if req.Type != "exec" {
				req.Reply(false, nil)
				continue
			}
			var p struct{ Cmd string }
			ssh.Unmarshal(req.Payload, &p)
			req.Reply(true, nil)
			io.Copy(io.Discard, ch) // stdin, to its EOF
			out, code, reboot := f.run(p.Cmd)
			io.WriteString(ch, out)
			if reboot {
				c.Close() // the node goes down under the session
				return
			}
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
			ch.Close()
			break
		}
	}
}

func (f *fakeNode) run(cmd string) (out string, code int, reboot bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch cmd {
	case "cat " + nodessh.ConfigHashPath:
		if f.hash == "" {
			return "", 1, false // installed before rackctl wrote it
		}
		return f.hash + "\n", 0, false
	case "test -f " + nodessh.IgnitionRanPath:
		if f.flag {
			return "", 0, false
		}
		return "", 1, false
	case "sudo systemctl reboot":
		f.rebooted++
		f.hash, f.flag = f.next, true
		if f.rekey != nil {
			f.hostKey = f.rekey
		}
		return "", 0, true
	}
	return "", 0, false // rm, touch, tee: done
}

func (f *fakeNode) nodeConfigs(t *testing.T, human *strings.Builder) *nodeConfigs {
	host, port, _ := net.SplitHostPort(f.addr)
	p, _ := strconv.Atoi(port)
	o := unreachableNodes(t, human)
	c, err := nodessh.New(nodessh.Options{KeyFile: writeTestKey(t), KnownHosts: filepath.Join(t.TempDir(), "kh"), Port: p, DialTimeout: 2 * time.Second, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o.ssh.client, o.ssh.addrs = c, map[string]string{"node-0": host}
	return o
}

func writeTestKey(t *testing.T) string {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestReigniteOnFakeNode: Reignite succeeds only once the node, back with
// the host key it had, reports the rendered hash; a node already running
// it is not rebooted; a node that comes back with another config, or with
// another host key (it was not reinstalled), fails naming why.
func TestReigniteOnFakeNode(t *testing.T) {
	const old, want, other = "sha256:aaaa", "sha256:bbbb", "sha256:cccc"
	for name, tc := range map[string]struct {
		hash, next string
		rekey      bool
		wantErr    string
		reboots    int
	}{
		"stale":            {hash: old, next: want, reboots: 1},
		"current already":  {hash: want, next: other, reboots: 0},
		"served another":   {hash: old, next: other, reboots: 1, wantErr: "runs config cccc, not the rendered bbbb"},
		"host key changed": {hash: old, next: want, rekey: true, reboots: 1, wantErr: "host key"},
	} {
		t.Run(name, func(t *testing.T) {
			f := startFakeNode(t, tc.hash, tc.next)
			if tc.rekey {
				f.rekey = newSigner(t)
			}
			var human strings.Builder
			o := f.nodeConfigs(t, &human)
			o.wait = 3 * time.Second
			err := o.Reignite(context.Background(), "node-0", "http://m/ignition?mac=a&os=installed", want)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.rebooted != tc.reboots {
				t.Errorf("rebooted %d times, want %d", f.rebooted, tc.reboots)
			}
		})
	}
}

// TestReigniteNeedsSSHAndProvisioner: nodes are observed (and re-run) only
// with --verify ssh and the provisioner run by rackctl (else matchbox may
// still serve the old config); otherwise the layer says why not.
func TestReigniteNeedsSSHAndProvisioner(t *testing.T) {
	for name, tc := range map[string]struct {
		verify, run string
		observed    bool
		off         string
	}{
		"ssh, never run": {"ssh", "never", false, "--provisioner-run never"},
		"flag":           {"flag", "never", false, "verify flag: nodes not observed"},
		"ssh, auto run":  {"ssh", "auto", true, ""},
	} {
		t.Run(name, func(t *testing.T) {
			d := filesOnly
			d.Verify, d.ProvisionerRun, d.Terraform = tc.verify, tc.run, "terraform"
			e, rack := newEngine(t, flatcarSpec, d)
			out, err := e.drivers(rack)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.layers.NodeConfigs != nil; got != tc.observed || !strings.Contains(out.layers.NodeConfigsOff, tc.off) {
				t.Fatalf("observed %v (%q), want %v (%q)", got, out.layers.NodeConfigsOff, tc.observed, tc.off)
			}
		})
	}
}

// TestRunningConfigsOnFakeNode: a node's hash is what it reports; a node
// without the hash file is unknown and says so, never "".
func TestRunningConfigsOnFakeNode(t *testing.T) {
	for name, tc := range map[string]struct {
		hash    string
		want    reconcile.RunningConfig
		unknown string
	}{
		"hash":    {hash: "sha256:aaaa", want: reconcile.RunningConfig{Hash: "sha256:aaaa"}},
		"no file": {unknown: "no hash file /etc/rackctl/config-hash: installed before rackctl wrote it"},
	} {
		t.Run(name, func(t *testing.T) {
			f := startFakeNode(t, tc.hash, "")
			var human strings.Builder
			got := f.nodeConfigs(t, &human).RunningConfigs(context.Background(), []string{"node-0"})["node-0"]
			if got.Hash != tc.want.Hash || got.Unknown != tc.unknown {
				t.Fatalf("%+v, want hash %q unknown %q", got, tc.want.Hash, tc.unknown)
			}
		})
	}
}
