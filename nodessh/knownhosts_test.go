package nodessh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func hostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestHostKeyPinning: the first contact pins, the same key passes, another
// key is refused across a plain reboot and pinned across an install, and
// the pins survive a reload of the file (OpenSSH's format).
func TestHostKeyPinning(t *testing.T) {
	file := filepath.Join(t.TempDir(), "known_hosts")
	kh := &knownHosts{path: file}
	if err := kh.load(); err != nil {
		t.Fatal(err)
	}
	first, second := hostKey(t), hostKey(t)

	if err := kh.callback("node-0", KeepPinned)("", nil, first); err != nil {
		t.Fatalf("first contact: %v", err)
	}
	if err := kh.callback("node-0", KeepPinned)("", nil, first); err != nil {
		t.Fatalf("same key again: %v", err)
	}
	err := kh.callback("node-0", KeepPinned)("", nil, second)
	var changed *HostKeyChangedError
	if !errors.As(err, &changed) || changed.Node != "node-0" || !strings.Contains(err.Error(), file) {
		t.Fatalf("changed key across a reboot: got %v, want a HostKeyChangedError naming node-0 and %s", err, file)
	}
	if err := kh.callback("node-1", KeepPinned)("", nil, second); err != nil {
		t.Fatalf("another node, first contact: %v", err)
	}
	if err := kh.callback("node-0", Reinstalled)("", nil, second); err != nil {
		t.Fatalf("changed key across an install: %v", err)
	}

	again := &knownHosts{path: file}
	if err := again.load(); err != nil {
		t.Fatal(err)
	}
	if got := again.keys["node-0"]; got == nil || !reflect.DeepEqual(got.Marshal(), second.Marshal()) {
		t.Errorf("reloaded pin of node-0 = %v, want the key pinned at the install", got)
	}
	if err := again.callback("node-0", KeepPinned)("", nil, first); err == nil {
		t.Error("reloaded pins accept the pre-install key")
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("known hosts file mode: %v %v", fi, err)
	}
	b, _ := os.ReadFile(file)
	if lines := strings.Count(string(b), "\n"); lines != 2 {
		t.Errorf("known hosts has %d lines, want one per node:\n%s", lines, b)
	}
}

// TestKnownHostsBroken: a damaged file is refused with a hint, not
// silently treated as empty (which would pin whatever answers).
func TestKnownHostsBroken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(file, []byte("node-0 ssh-ed25519 AAAA-not-base64\n"), 0o600)
	err := (&knownHosts{path: file}).load()
	if err == nil || !strings.Contains(err.Error(), "remove the broken line") {
		t.Fatalf("broken known hosts: %v", err)
	}
}

func TestProxyArgs(t *testing.T) {
	got := ProxyArgs([]string{"ip", "netns", "exec", "rack", "nc", "%h", "%p", "100%%"}, "172.24.213.10", 22)
	want := []string{"ip", "netns", "exec", "rack", "nc", "172.24.213.10", "22", "100%"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ProxyArgs = %q, want %q", got, want)
	}
}

// TestNewKeyErrors: no key and no agent, a missing file, and a key with a
// passphrase each say what to do.
func TestNewKeyErrors(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked")
	os.WriteFile(locked, pem.EncodeToMemory(blk), 0o600)
	t.Setenv("SSH_AUTH_SOCK", "")
	for _, tc := range []struct {
		key, want string
	}{
		{"", "--ssh-key FILE or run an SSH agent"},
		{filepath.Join(dir, "absent"), "--ssh-key names the private key"},
		{locked, "protected by a passphrase"},
	} {
		_, err := New(Options{KeyFile: tc.key, KnownHosts: filepath.Join(dir, "kh")})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("key %q: got %v, want %q", tc.key, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the passphrase: %v", err)
		}
	}
}

// TestReigniteRefusesUnsafeURL: a URL grub.cfg's quoted linux_append
// cannot carry (quote, backslash, $, backtick, space, ;, newline) is
// refused before any node is contacted.
func TestReigniteRefusesUnsafeURL(t *testing.T) {
	// Port 1 on loopback: were the check missing, the dial would be
	// refused there, and the error would not be the refusal wanted.
	c, err := New(Options{KeyFile: writeKey(t), KnownHosts: filepath.Join(t.TempDir(), "kh"), Port: 1, DialTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{`http://m/ign"x`, `http://m/$(reboot)`, "http://m/a b", "http://m/a;b", "http://m/a\nb", "http://m/`x`", `http://m/a\b`, "http://m/'x"} {
		err := c.Reignite(context.Background(), Target{Node: "n", Host: "127.0.0.1"}, u)
		if err == nil || !strings.Contains(err.Error(), "grub.cfg cannot carry") {
			t.Errorf("%q: %v, want a refusal before any connection", u, err)
		}
	}
}

func writeKey(t *testing.T) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
