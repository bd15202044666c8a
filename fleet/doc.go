// Package fleet owns what spans several racks kept in one repository
// (docs/fleet.md): finding the racks of a directory (racks/<name>/rack.yaml),
// validating each and the rules no single spec can see — rack names, node
// names, MACs and BMC MACs unique across the fleet, internal subnets not
// overlapping — each error positioned in the YAML and naming both racks;
// and the fleet status, the GET /api/status documents (package api) of
// every rack's watch, read in parallel with a timeout each, from an
// endpoints file.
//
// Planning a rack stays with package engine; this package only finds and
// checks specs and reads the racks' APIs. It never reaches a BMC, DHCP
// server or provisioner.
package fleet
