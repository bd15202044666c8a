package rotate

import (
	"sync"
	"time"

	"github.com/rackctl/rackctl/state"
)

// StateFile is the name of the progress file in the state directory.
const StateFile = state.RotationFile

// Phase is how far the rotation got on one BMC; see [state.Phase].
type Phase = state.Phase

const (
	PhasePending     = state.PhasePending
	PhaseCreated     = state.PhaseCreated
	PhaseVerified    = state.PhaseVerified
	PhaseOldDisabled = state.PhaseOldDisabled
)

// State is the rotation's progress, persisted by the state package as
// rotation.json ([state.Rotation]). It is a type of its own so that the
// rotation's logic keeps its methods here.
type State state.Rotation

// NodeState is one BMC's progress.
type NodeState = state.RotationNode

// NewState starts the state of a rotation from oldUser to user.
func NewState(user, oldUser string) *State {
	return &State{FormatVersion: state.RotationFormatVersion, User: user, OldUser: oldUser, Nodes: map[string]NodeState{}}
}

// LoadState reads the rotation's progress from stateDir; none saved is
// (nil, nil).
func LoadState(stateDir string) (*State, error) {
	s, err := state.New(stateDir).LoadRotation()
	return (*State)(s), err
}

// Save writes the state to stateDir (atomically, mode 0600).
func (s *State) Save(stateDir string) error {
	return state.New(stateDir).SaveRotation((*state.Rotation)(s))
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
