package nodessh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestDialCutHandshakeSaysWhy: a login the dial timeout (or the caller)
// cuts is reported as such, not as the read of a closed pipe the cut
// handshake sees. The proxy command here accepts the connection and never
// answers, as a node whose sshd hangs does.
func TestDialCutHandshakeSaysWhy(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "id")
	if err := os.WriteFile(key, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{KeyFile: key, KnownHosts: filepath.Join(dir, "kh"), ProxyCommand: []string{"sleep", "30"},
		DialTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	target := Target{Node: "node-0", Host: "192.0.2.1"} // never dialled: the proxy is the connection
	_, err = c.Dial(context.Background(), target, KeepPinned)
	if err == nil || !strings.Contains(err.Error(), "node node-0: ssh login as core: no login within 300ms") {
		t.Errorf("timed-out login: %v, want it named a timeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = c.Dial(ctx, target, KeepPinned)
	if err == nil || !strings.Contains(err.Error(), "login abandoned: context canceled") {
		t.Errorf("cancelled login: %v, want it named abandoned", err)
	}
}
