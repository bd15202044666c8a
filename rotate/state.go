package rotate

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rackctl/rackctl/internal/atomicfile"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// StateFile is the name of the progress file in the state directory.
const StateFile = "rotation.json"

// stateFormat is the version of StateFile's format.
const stateFormat = 1

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

// State is the rotation's progress, persisted in <stateDir>/rotation.json.
// It holds no secret: no password, no hash of one. Whether a BMC really
// has the new account is always proven again by logging in; the state
// only says which slot to look at and what need not be redone.
type State struct {
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
	Complete    bool                 `json:"complete,omitempty"`
	CompletedAt time.Time            `json:"completedAt,omitzero"`
	Nodes       map[string]NodeState `json:"nodes"`
}

// NodeState is one BMC's progress.
type NodeState struct {
	Slot    int       `json:"slot"`
	OldSlot int       `json:"oldSlot,omitempty"`
	Phase   Phase     `json:"phase"`
	Updated time.Time `json:"updated"`
	// Error is the last failure (a BMC error text, never a secret).
	Error string `json:"error,omitempty"`
}

// NewState starts the state of a rotation from oldUser to user.
func NewState(user, oldUser string) *State {
	return &State{FormatVersion: stateFormat, User: user, OldUser: oldUser, Nodes: map[string]NodeState{}}
}

// LoadState reads <stateDir>/rotation.json; a missing file is an empty
// state (nil, nil).
func LoadState(stateDir string) (*State, error) {
	p := filepath.Join(stateDir, StateFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rotation state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("rotation state %s: %w", p, err)
	}
	if s.FormatVersion != stateFormat {
		return nil, fmt.Errorf("rotation state %s: format version %d, want %d", p, s.FormatVersion, stateFormat)
	}
	if s.Nodes == nil {
		s.Nodes = map[string]NodeState{}
	}
	return &s, nil
}

// Save writes the state to <stateDir>/rotation.json atomically, mode 0600.
func (s *State) Save(stateDir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("rotation state: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("rotation state: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(stateDir, StateFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("rotation state: %w", err)
	}
	return nil
}

// forUser returns the state for a rotation to user, or nil when s belongs to
// another rotation (or is nil).
func (s *State) forUser(user string) *State {
	if s == nil || s.User != user {
		return nil
	}
	return s
}

func (s *State) node(name string) (NodeState, bool) {
	if s == nil {
		return NodeState{}, false
	}
	n, ok := s.Nodes[name]
	return n, ok
}

// journal is a State shared by the per-BMC goroutines of Apply; every
// change is saved at once, so a crash loses no finished step.
type journal struct {
	mu  sync.Mutex
	s   *State
	dir string
	now func() time.Time
}

func (j *journal) update(node string, fn func(*NodeState)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := j.s.Nodes[node]
	if n.Phase == "" {
		n.Phase = PhasePending
	}
	fn(&n)
	n.Updated = j.now().UTC()
	j.s.Nodes[node] = n
	return j.s.Save(j.dir)
}

func (j *journal) change(fn func(*State)) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	fn(j.s)
	return j.s.Save(j.dir)
}
