package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// coreKeyFile is the management node's key in Racker's layout beneath the
// root: rackctl logs in to the nodes with it (--verify ssh), and the spec
// rackctl-sim writes authorizes it on every node.
const coreKeyFile = "home/core/.ssh/id_rsa"

// ensureCoreKey returns the public half of root's core key, making an
// ed25519 key there first when there is none.
func ensureCoreKey(root string) (string, error) {
	path := filepath.Join(root, coreKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return "", gerr
		}
		blk, merr := ssh.MarshalPrivateKey(priv, "rackctl-sim core key")
		if merr != nil {
			return "", merr
		}
		b = pem.EncodeToMemory(blk)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("core key %s: %w", path, err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return "", fmt.Errorf("core key %s: %w", path, err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " core@rackctl-sim", nil
}
