// Package engine is rackctl's one entry point for plan, apply, status,
// history and credential rotation. It is built from a [Config] (what the
// CLI's flags, the management node config and RACKCTL_* resolve to),
// selects and wires the drivers (a BMC driver per protocol from a small
// registry, dnsmasq, terraform or lokoctl, the verifier), and returns plain
// data that views render: a reconcile.Plan and Result, a [Status], a list
// of [HistoryEntry], a rotation plan and report.
//
// The engine applies the state dir's local maintenance overrides (`rackctl
// maintenance`, maintenance.go) wherever a spec is opened ([Engine.Open],
// [Engine.Rack]), so plan, apply, watch, status and the API see the same
// nodes in maintenance; plans note them as drift from git.
//
// The CLI (cmd/rackctl) maps flags to a Config and picks a view; the watch
// loop gets its watch.Reconciler from [Engine.Reconciler], so `apply` and
// `watch` run the same plan and apply path ([Session]).
package engine
