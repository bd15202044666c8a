package reconcile

import (
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/state"
)

// Short forms for tests whose state dir variable is named state.

func loadAllocation(dir string) (ipam.State, error) { return state.New(dir).LoadAllocation() }
func loadManifest(dir string) (Manifest, error)     { return state.New(dir).LoadManifest() }
func saveManifest(dir string, m Manifest) error     { return state.New(dir).SaveManifest(m) }
func readHistory(dir string) ([]HistoryRecord, error) {
	return state.New(dir).ReadHistory()
}
func loadNodes(dir string) (NodeState, error) { return state.New(dir).LoadNodes() }
