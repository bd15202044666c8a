package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/schema"
)

// NodesFile is the per-node record of the last apply in the state dir.
const NodesFile = "nodes.json"

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

// LoadNodeState reads <stateDir>/nodes.json; a missing file is an empty
// state (Version 0: nothing recorded yet).
func LoadNodeState(stateDir string) (NodeState, error) {
	path := filepath.Join(stateDir, NodesFile)
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

// SaveNodeState writes s to <stateDir>/nodes.json atomically.
func SaveNodeState(stateDir string, s NodeState) error {
	s.Version = NodeStateVersion
	if s.Nodes == nil {
		s.Nodes = map[string]NodeRecord{}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode node state: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(stateDir, NodesFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save node state: %w", err)
	}
	return nil
}
