package nodessh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/internal/inputlimit"
)

// maxKnownHosts bounds the known_hosts file read (a rack has at most a few
// thousand nodes; a line is under 1 KiB).
const maxKnownHosts = 8 << 20

// knownHosts pins one host key per node, in OpenSSH's known_hosts format
// with the node's name as the host (so `ssh -o HostKeyAlias=NODE
// -o UserKnownHostsFile=FILE` checks the same keys).
type knownHosts struct {
	path string
	mu   sync.Mutex
	keys map[string]ssh.PublicKey
}

func (k *knownHosts) load() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = map[string]ssh.PublicKey{}
	b, err := inputlimit.ReadFile(context.Background(), k.path, maxKnownHosts)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	for len(bytes.TrimSpace(b)) > 0 {
		var hosts []string
		var key ssh.PublicKey
		_, hosts, key, _, b, err = ssh.ParseKnownHosts(b)
		if err != nil {
			return fmt.Errorf("known hosts %s: %w (remove the broken line; nodes are pinned again at the next contact)", k.path, err)
		}
		for _, h := range hosts {
			k.keys[h] = key
		}
	}
	return nil
}

// pin records key for node and rewrites the file.
func (k *knownHosts) pin(node string, key ssh.PublicKey) error {
	k.keys[node] = key
	names := make([]string, 0, len(k.keys))
	for n := range k.keys {
		names = append(names, n)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, n := range names {
		b.WriteString(knownhosts.Line([]string{n}, k.keys[n]))
		b.WriteByte('\n')
	}
	if err := atomicfile.Write(k.path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("known hosts: pin %s: %w", node, err)
	}
	return nil
}

// HostKeyChangedError is a node that presented a key other than its
// pinned one outside an install.
type HostKeyChangedError struct {
	Node, File  string
	Pinned, Got string // SHA256 fingerprints
}

func (e *HostKeyChangedError) Error() string {
	return fmt.Sprintf("node %s: host key changed since it was pinned (%s, now %s) without a reinstall by rackctl: "+
		"someone may be answering in the node's place; if the node was reinstalled by other means, remove its line from %s",
		e.Node, e.Pinned, e.Got, e.File)
}

func (k *knownHosts) callback(node string, policy HostKeyPolicy) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		old, ok := k.keys[node]
		switch {
		case ok && bytes.Equal(old.Marshal(), key.Marshal()):
			return nil
		case ok && policy == KeepPinned:
			return &HostKeyChangedError{Node: node, File: k.path,
				Pinned: ssh.FingerprintSHA256(old), Got: ssh.FingerprintSHA256(key)}
		}
		return k.pin(node, key)
	}
}

// Pinned returns the fingerprint of the key pinned for node ("" if none).
func (c *Client) Pinned(node string) string {
	c.hosts.mu.Lock()
	defer c.hosts.mu.Unlock()
	if k, ok := c.hosts.keys[node]; ok {
		return ssh.FingerprintSHA256(k)
	}
	return ""
}
