// Package api owns rackctl's HTTP API for one rack (docs/api.md). GET
// /api/status is one JSON document — the rack, the watch loop's state,
// held commits, recent errors, and every node's state — that the web view
// and `rackctl fleet status` read; nothing else defines that shape.
//
// Node states come from the same observation as `rackctl status -o json`
// (package view), made in the background by [Server.Run]: a request never
// waits for a BMC, so a fleet query of many racks costs one round trip
// each. Until the first observation finishes the nodes are listed from the
// spec with state "unknown" and the document says the observation is
// pending: the API never reports a state it did not see.
//
// GET /api/fleet (Fleet) is the fleet page's document: the racks' own
// /api/status documents as one query (package fleet's) read them, each
// within its timeout, one query at a time, its answer cached briefly for
// every viewer.
package api
