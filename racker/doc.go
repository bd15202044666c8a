// Package racker reads what a Racker management node holds — nodes.csv, the
// dnsmasq configuration, /etc/hosts and the Lokomotive or Flatcar directory
// with its cl/ files — and turns it into a rack.yaml and the IP allocation
// that keep every current address, name, public IP, SSH key and excluded
// node: `rackctl import racker`.
//
// Import never writes: it returns the spec text, the parsed Rack, the
// allocation state to save in the state dir, and Findings. Inputs that do
// not add up (a MAC without a reservation, misaligned vars arrays, two names
// for one address) are errors naming file and line; what can be read is
// still imported. Differences the first `rackctl plan` will show because
// rackctl renders some things differently from Racker are predicted by
// rendering the imported spec (render is pure) and comparing it with the
// files on disk: each is a warning (a semantic change, e.g. a networkd unit
// that gains a default route) or info (a format migration, e.g. the lease
// time of dnsmasq reservations).
//
// The spec keeps what Racker's files say, so that the first plan leaves
// dnsmasq.conf and /etc/hosts byte for byte, every vars variable at its
// value and every networkd unit as it is (issue 9): fileFormat racker
// (Racker's file formats), network.internal.dhcp (lease, no host names, no
// router option, the primary reservation of excluded nodes),
// network.internal.defaultRoute false (link-scope internal address),
// install.ipmitoolImage, domain "" for flatcar's node-I names, and the
// nodes in the order of their reservations, install.kernelArgs. Files that
// differ only in layout are no change (render.SameMeaning; the plan
// compares alike). What still differs — flatcar's update.conf and SSH keys
// in the CLC, the boot workaround's Description=, a node's extraCLC joining
// its clc_snippets, rackctl's other files — is in the findings, as are
// nodes without a flag file holding their name (the first apply installs
// them) and a flatcar Terraform state still holding Racker's module.
//
// Addresses are not pinned in the spec (no node.ip): the allocation state
// keeps them, exactly as for a rack rackctl set up itself, and pins would
// freeze Racker's positional numbering into every later edit. The spec
// lists each node's addresses in a comment.
//
// CLC content rackctl does not render (custom units, files, users) is
// carried into node.extraCLC and listed in the findings.
package racker
