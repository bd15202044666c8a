package state

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// RotationFormatVersion is the version of rotation.json's format.
const RotationFormatVersion = 1

// Phase is how far the rotation got on one BMC. It is persisted; phases
// only grow during one rotation.
type Phase string

const (
	// PhasePending: nothing done (or nothing that could be verified).
	PhasePending Phase = "pending"
	// PhaseCreated: the new account's name and password were written,
	// the account enabled and granted ADMINISTRATOR on the LAN channel.
	PhaseCreated Phase = "created"
	// PhaseVerified: a session with the new credentials was opened.
	PhaseVerified Phase = "verified"
	// PhaseOldDisabled: the old account was disabled (or deleted) and
	// the read-back showed it.
	PhaseOldDisabled Phase = "old-disabled"
)

var phaseRank = map[Phase]int{PhasePending: 0, PhaseCreated: 1, PhaseVerified: 2, PhaseOldDisabled: 3}

// AtLeast reports whether p is q or further.
func (p Phase) AtLeast(q Phase) bool { return phaseRank[p] >= phaseRank[q] }

// Rotation is a credential rotation's progress (rotation.json). It holds
// no secret: no password, no hash of one. Whether a BMC really has the new
// account is always proven again by logging in; the state only says which
// slot to look at and what need not be redone.
type Rotation struct {
	FormatVersion int `json:"formatVersion"`
	// User is the new account, OldUser the one rotated away from.
	User    string `json:"user"`
	OldUser string `json:"oldUser"`
	// SwitchStarted is set before rackctl's credential files are
	// replaced, Switched after; from SwitchStarted on, only the new
	// credentials are used.
	SwitchStarted bool      `json:"switchStarted,omitempty"`
	Switched      bool      `json:"switched,omitempty"`
	SwitchedAt    time.Time `json:"switchedAt,omitzero"`
	// Complete: switched, and the old account is disabled on every BMC.
	Complete    bool                    `json:"complete,omitempty"`
	CompletedAt time.Time               `json:"completedAt,omitzero"`
	Nodes       map[string]RotationNode `json:"nodes"`
}

// RotationNode is one BMC's progress.
type RotationNode struct {
	Slot    int       `json:"slot"`
	OldSlot int       `json:"oldSlot,omitempty"`
	Phase   Phase     `json:"phase"`
	Updated time.Time `json:"updated"`
	// Error is the last failure (a BMC error text, never a secret).
	Error string `json:"error,omitempty"`
}

// LoadRotation reads rotation.json; a missing file is no rotation (nil,
// nil).
func (d Dir) LoadRotation() (*Rotation, error) {
	p := d.File(RotationFile)
	var s Rotation
	found, err := d.readJSON(RotationFile, "rotation state", "", &s)
	if !found || err != nil {
		return nil, err
	}
	if s.FormatVersion != RotationFormatVersion {
		return nil, fmt.Errorf("rotation state %s: format version %d, want %d", p, s.FormatVersion, RotationFormatVersion)
	}
	if s.Nodes == nil {
		s.Nodes = map[string]RotationNode{}
	}
	return &s, nil
}

// SaveRotation writes s to rotation.json atomically, mode 0600: the file
// names accounts and slots, so only root reads it. A missing state dir is
// created 0700 for the same reason.
func (d Dir) SaveRotation(s *Rotation) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("rotation state: %w", err)
	}
	if err := os.MkdirAll(d.path, 0o700); err != nil {
		return fmt.Errorf("rotation state: %w", err)
	}
	if err := atomicfile.Write(d.File(RotationFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("rotation state: %w", err)
	}
	return nil
}
