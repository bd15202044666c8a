// Package view owns rackctl's documented JSON views of a rack's status and
// history (docs/json.md): `status -o json`, `history -o json`, and the
// same documents inside the HTTP API (package api). A view is built from
// an engine model and kept apart from it, so the model can change while
// the documented shape stays: within a major version of
// reconcile.ViewFormatVersion a field is only ever added.
package view
