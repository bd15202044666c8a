// Package web owns rackctl's web view of one rack: a page served from the
// binary (embedded assets, html/template, a little vanilla JavaScript, no
// CDN: it works on an air-gapped management node) that draws the rack's
// elevation, a node's detail, the pending plan, held commits with their
// approval, and the history timeline; and, where a fleet is configured,
// the fleet page (/fleet): every rack's elevation, drawn by the same
// function, from GET /api/fleet (api.Fleet), which this package mounts.
//
// The page shows only what package api serves (GET /api/status, /api/plan,
// /api/history, the /api/events stream, POST /api/approve): there is no
// second source of truth, and what the API has not observed the page shows
// as unknown or pending. `rackctl watch` mounts it at "/" of its listener;
// `rackctl serve` does the same for a rack without watch.
package web
