package api

import (
	"strings"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/view"
)

// nodeState puts one observed node in a word. The order matters: what
// stops a node from working is named before what merely is not current,
// and "ok" needs every part seen — an installed node whose config could
// not be read is "unknown", not "ok".
func nodeState(n view.NodeStatus) NodeState {
	s := NodeState{Name: n.Name, Role: n.Role}
	switch {
	case n.Excluded:
		s.State = StateExcluded
	case !n.BMCReached:
		s.State, s.Reason = StateUnreachable, n.BMCError
	case n.Install.State == "failed":
		s.State, s.Reason = StateFailed, n.Install.Reason
	case n.Power == "off":
		s.State = StateOff
	case n.Install.State == "pending":
		s.State = StatePending
	case strings.HasPrefix(n.Config, "stale"):
		s.State, s.Reason = StateDrift, n.Config
	case n.Install.State == "installed" && n.Power == "on" && (n.Config == "current" || n.Config == "n/a"):
		s.State = StateOK
	default:
		s.State, s.Reason = StateUnknown, unknownReason(n)
	}
	s.Maintenance = maintenanceOf(n)
	return s
}

func unknownReason(n view.NodeStatus) string {
	switch {
	case n.Install.State != "installed":
		return "install " + n.Install.State + ": " + n.Install.Reason
	case n.Power != "on":
		return "power " + orUnknown(n.Power)
	}
	return "config " + n.Config
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// nodeStates are the states of an observation, or — before one — every
// node of spec as unknown.
func nodeStates(st *view.Status, spec *schema.Rack, why string) []NodeState {
	out := []NodeState{}
	if st != nil {
		for _, n := range st.Nodes {
			ns := nodeState(n)
			if spec != nil {
				if sn := spec.Node(n.Name); sn != nil {
					ns.RackUnit, ns.BMCProtocol = sn.RackUnit, spec.NodeProtocol(sn)
				}
			}
			out = append(out, ns)
		}
		return out
	}
	if spec == nil {
		return out
	}
	for _, n := range spec.Nodes {
		out = append(out, NodeState{Name: n.Name, Role: n.Role, State: StateUnknown, Reason: why,
			RackUnit: n.RackUnit, BMCProtocol: spec.NodeProtocol(&n)})
	}
	return out
}

func summarize(nodes []NodeState) Summary {
	s := Summary{Total: len(nodes)}
	for _, n := range nodes {
		switch n.State {
		case StateOK:
			s.OK++
		case StatePending:
			s.Pending++
		case StateDrift:
			s.Drift++
		case StateFailed:
			s.Failed++
		case StateUnreachable:
			s.Unreachable++
		case StateOff:
			s.Off++
		case StateExcluded:
			s.Excluded++
		default:
			s.Unknown++
		}
	}
	return s
}

func maintenanceOf(n view.NodeStatus) string {
	switch {
	case n.Maintenance && n.MaintenanceLocal:
		return MaintenanceLocal
	case n.Maintenance:
		return MaintenanceSpec
	case n.MaintenanceLocal:
		return MaintenanceOffLocal
	}
	return ""
}
