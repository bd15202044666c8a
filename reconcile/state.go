package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// The state dir's records and files are the state package's; these names
// keep reconcile's callers and its plan model reading as before.
type (
	Manifest      = state.Manifest
	ManagedFile   = state.ManagedFile
	NodeState     = state.NodeState
	NodeRecord    = state.NodeRecord
	HistoryRecord = state.HistoryRecord
	Outcome       = state.Outcome
	LockInfo      = state.LockInfo
	LockError     = state.LockError
)

// ErrLocked is returned (wrapped in a *LockError) when another apply holds
// the state dir's lock.
var ErrLocked = state.ErrLocked

const (
	OutcomeSuccess   = state.OutcomeSuccess
	OutcomeFailed    = state.OutcomeFailed
	OutcomeCancelled = state.OutcomeCancelled

	ManifestVersion  = state.ManifestVersion
	NodeStateVersion = state.NodeStateVersion
)

// ManifestOf returns the manifest of the desired files.
func ManifestOf(files []render.File) Manifest {
	m := Manifest{Version: ManifestVersion, Files: make([]ManagedFile, 0, len(files))}
	for _, f := range files {
		m.Files = append(m.Files, ManagedFile{Path: f.Path, Block: f.Kind == render.Block, Node: f.Node})
	}
	m.Normalize()
	return m
}

// NodeStateOf returns the record of rack.
func NodeStateOf(rack *schema.Rack) NodeState {
	s := NodeState{Version: NodeStateVersion, SSHKeys: sshKeysHash(rack), Nodes: make(map[string]NodeRecord, len(rack.Nodes))}
	for _, n := range rack.Nodes {
		s.Nodes[n.Name] = NodeRecord{MAC: n.MAC, Reprovision: n.Reprovision, Exclude: n.Exclude}
	}
	return s
}

func sshKeysHash(rack *schema.Rack) string {
	sum := sha256.Sum256([]byte(strings.Join(rack.Cluster.SSHPubKeys, "\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}
