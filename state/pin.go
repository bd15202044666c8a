package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// PinFile holds the rollback pin (pin.json); it is part of the on-disk
// format, like the names in dir.go.
const PinFile = "pin.json"

// Pin is the content of pin.json: the commit `rackctl watch` reconciles
// instead of the branch head, and who set it, when and why. No file means
// no pin.
type Pin struct {
	// Commit is the full commit hash pinned.
	Commit string `json:"commit"`
	// By is who pinned: the login name (with sudo: "root (sudo alice)").
	By string `json:"by"`
	// At is when the pin was written, UTC.
	At time.Time `json:"at"`
	// Reason is the operator's --reason, if any.
	Reason string `json:"reason,omitempty"`
	// Rollback is set when `rackctl rollback` chose the commit.
	Rollback bool `json:"rollback,omitempty"`
}

// LoadPin returns the pin, or nil when nothing is pinned. A pin.json that
// does not parse, or names no commit, is an error: the watch loop must not
// guess what an operator pinned.
func (d Dir) LoadPin() (*Pin, error) {
	p := d.File(PinFile)
	var pin Pin
	found, err := d.readJSON(PinFile, "pin", "remove it with rackctl unpin, or pin again", &pin)
	if !found || err != nil {
		return nil, err
	}
	if !isFullHash(pin.Commit) {
		return nil, fmt.Errorf("pin %s: commit %q is not a full commit hash (remove it with rackctl unpin, or pin again)", p, pin.Commit)
	}
	return &pin, nil
}

// SavePin writes pin.json atomically (mode 0644).
func (d Dir) SavePin(p Pin) error {
	if !isFullHash(p.Commit) {
		return fmt.Errorf("pin: %q is not a full commit hash", p.Commit)
	}
	return d.writeJSON(PinFile, "pin "+p.Commit, p, 0o644)
}

// RemovePin deletes pin.json; it reports whether there was one.
func (d Dir) RemovePin() (bool, error) {
	err := os.Remove(d.File(PinFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("unpin: %w", err)
	}
	return true, nil
}

// isFullHash accepts a full SHA-1 or SHA-256 git object name in lower-case
// hex, the only form pin.json holds.
func isFullHash(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
