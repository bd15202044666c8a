package main

import "github.com/rackctl/rackctl/view"

// The documented JSON views (docs/json.md) live in package view, where the
// HTTP API (package api) serves the same documents; these names keep the
// commands and their tests short.
type (
	statusView     = view.Status
	nodeStatusView = view.NodeStatus
	inventoryView  = view.Inventory
	historyView    = view.History
)

var (
	newStatusView  = view.NewStatus
	newHistoryView = view.NewHistory
)
