package reconcile

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// ObsKey names one input a plan was made from. It is data, not a string:
// the layer that re-reads it at apply time is a field, so the Applier
// hands the key to that layer's executor without parsing anything, and
// readers (watch's metrics) pick keys by field.
type ObsKey struct {
	// Layer is the layer whose executor re-reads the input; StateLayer
	// for the state dir's files, which the Applier reads itself.
	Layer Layer `json:"layer"`
	// Node is the node the input belongs to, if any.
	Node string `json:"node,omitempty"`
	// Aspect is what of the node or layer was read (AspectPower, …);
	// empty for a file.
	Aspect Aspect `json:"aspect,omitempty"`
	// Path is a file's slash path relative to the root (LayerFiles) or its
	// name in the state dir (StateLayer).
	Path string `json:"path,omitempty"`
}

// Aspect is what an ObsKey reads of its node or layer.
type Aspect string

const (
	// AspectPower is a node's power state: "on", "off" or Unreachable.
	AspectPower Aspect = "power"
	// AspectAddressSource is where a node's BMC takes its address from (a
	// bmc.AddrSource* value or Unreachable).
	AspectAddressSource Aspect = "ipsrc"
	// AspectUsers is the digest of a BMC's user list (no secret in it).
	AspectUsers Aspect = "users"
	// AspectLeases is the digest of dnsmasq's active leases.
	AspectLeases Aspect = "leases"
	// AspectProvisionerPlan is the digest of the provisioner's own plan
	// (terraform's resource changes) reviewed.
	AspectProvisionerPlan Aspect = "provisioner-plan"
)

// StateLayer is the Layer of the ObsKeys of the state dir's files. It is no
// layer of Layers: no executor reads it, the Applier does.
const StateLayer Layer = "state"

// FileKey is the key of a file beneath the root (slash path).
func FileKey(p string) ObsKey { return ObsKey{Layer: LayerFiles, Path: p} }

// StateKey is the key of a file of the state dir, by name.
func StateKey(name string) ObsKey { return ObsKey{Layer: StateLayer, Path: name} }

// NodeKey is the key of one aspect of a node, read by layer l.
func NodeKey(l Layer, node string, a Aspect) ObsKey {
	return ObsKey{Layer: l, Node: node, Aspect: a}
}

// String is the key for people, e.g. "file etc/hosts", "bmc node-1 power".
func (k ObsKey) String() string {
	switch {
	case k.Layer == LayerFiles:
		return "file " + k.Path
	case k.Path != "":
		return string(k.Layer) + " " + k.Path
	case k.Node != "":
		return fmt.Sprintf("%s %s %s", k.Layer, k.Node, k.Aspect)
	}
	return fmt.Sprintf("%s %s", k.Layer, k.Aspect)
}

func compareKeys(a, b ObsKey) int {
	return cmp.Or(cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Node, b.Node), cmp.Compare(a.Aspect, b.Aspect))
}

// Observations is what a plan was made from: each input's value when
// planned (a file's "sha256:…" or Absent, a power state, a digest). Apply
// refuses the plan if any of them differs.
type Observations map[ObsKey]string

// Keys are o's keys in a fixed order.
func (o Observations) Keys() []ObsKey {
	return slices.SortedFunc(maps.Keys(o), compareKeys)
}

// observation is one entry of Observations in the saved plan.
type observation struct {
	ObsKey
	Value string `json:"value"`
}

// MarshalJSON writes o as a list sorted by key: the saved plan is stable.
func (o Observations) MarshalJSON() ([]byte, error) {
	list := make([]observation, 0, len(o))
	for _, k := range o.Keys() {
		list = append(list, observation{ObsKey: k, Value: o[k]})
	}
	return json.Marshal(list)
}

// UnmarshalJSON reads the list MarshalJSON writes. A key twice, or one
// naming no layer, is refused: the plan file was edited or damaged.
func (o *Observations) UnmarshalJSON(b []byte) error {
	var list []observation
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("observed: %w", err)
	}
	out := make(Observations, len(list))
	for i, e := range list {
		if e.Layer == "" {
			return fmt.Errorf("observed[%d]: no layer", i)
		}
		if _, dup := out[e.ObsKey]; dup {
			return fmt.Errorf("observed[%d]: %s twice", i, e.ObsKey)
		}
		out[e.ObsKey] = e.Value
	}
	*o = out
	return nil
}
