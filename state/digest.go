package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Digest is "sha256:<hex>" of the state file name, found false when it does
// not exist. A plan records the digests of the state files it was made
// from, so a plan made before another apply changed them is stale. name
// comes from a saved plan, which may have been edited: it must be one
// file directly in the state dir.
func (d Dir) Digest(name string) (digest string, found bool, err error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return "", false, fmt.Errorf("state file name %q: not a file of the state dir", name)
	}
	b, err := os.ReadFile(d.File(name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), true, nil
}
