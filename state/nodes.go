package state

import (
	"encoding/json"
	"fmt"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// NodeStateVersion is the version of nodes.json.
const NodeStateVersion = 1

// NodeState is what the last apply left per node (nodes.json): enough to
// tell a changed reprovision value, a replaced MAC, an excluded or
// re-added node, and a change of the SSH keys. Whether a node is
// installed is not recorded: its flag file says so.
type NodeState struct {
	Version int `json:"version"`
	// SSHKeys is the hash of cluster.sshPubKeys.
	SSHKeys string                `json:"sshKeys,omitempty"`
	Nodes   map[string]NodeRecord `json:"nodes"`
}

// NodeRecord is one node's applied spec fields.
type NodeRecord struct {
	MAC         string `json:"mac"`
	Reprovision string `json:"reprovision,omitempty"`
	Exclude     bool   `json:"exclude,omitempty"`
}

// LoadNodes reads nodes.json; a missing file is an empty state (Version 0:
// nothing recorded yet).
func (d Dir) LoadNodes() (NodeState, error) {
	path := d.File(NodesFile)
	var s NodeState
	found, err := atomicfile.ReadJSON(path, &s)
	if err != nil {
		return NodeState{}, fmt.Errorf("read node state: %w", err)
	}
	if !found {
		return NodeState{}, nil
	}
	if s.Version != NodeStateVersion {
		return NodeState{}, fmt.Errorf("node state %s: unsupported version %d", path, s.Version)
	}
	return s, nil
}

// SaveNodes writes s to nodes.json atomically.
func (d Dir) SaveNodes(s NodeState) error {
	s.Version = NodeStateVersion
	if s.Nodes == nil {
		s.Nodes = map[string]NodeRecord{}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode node state: %w", err)
	}
	if err := atomicfile.Write(d.File(NodesFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save node state: %w", err)
	}
	return nil
}
