// Package schema owns the rack.yaml format: the embedded CUE schema
// (rack.cue, the single source of the validation rules), the typed Rack the
// rest of rackctl works from, and Load/Parse, which turn a spec file into a
// complete Rack (all defaults applied, MACs normalized) or into a list of
// Diagnostics, each naming the file, line, column and field at fault.
//
// Rules CUE expresses poorly — unique names and MACs across nodes, addresses
// inside the internal subnet and not colliding, at least one lokomotive
// controller — are checked in Go (check.go), still positioned in the YAML.
//
// The package reads the spec file and nothing else.
package schema
