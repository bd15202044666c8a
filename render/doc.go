// Package render turns a validated rack (schema.Rack) and its internal
// address allocation (ipam.Addrs) into every file the management node
// should hold: the dnsmasq configuration, the managed block of /etc/hosts,
// and the directory of the rack's provisioner.
//
// For lokomotive that is baremetal.lokocfg, lokocfg.vars, one NAME.lokocfg
// per component and the nodes' Container Linux Configs under cl/; for
// flatcar it is flatcar.tf, versions.tf, variables.tf, terraform.tfvars,
// the embedded flatcar-baremetal Terraform module, the cl/ files and, per
// node, the final and the installer Ignition under ignition/, transpiled
// here with the container-linux-config-transpiler library (spec 2.3) and
// translated with ign-converter to spec 3.0, the spec matchbox v0.11 serves
// and Flatcar reads. Names, variables
// and layout follow what Racker's bootstrap wrote, so rackctl can take over
// a Racker rack (see RACKER-FORMATS.md); deviations are documented where
// the file is built.
//
// The package is pure: no I/O (the Terraform module comes from an embedded
// file system), no context, no clock. Output is byte-stable: node lists
// keep spec order, maps are written with sorted keys, and Render returns
// the files sorted by path. All HCL is written with hclwrite.
//
// Excluded nodes are absent from every cluster file; only their BMC keeps
// its DHCP reservation. A node's reprovision value is written into the
// Description= of its boot workaround unit, so changing it changes the
// node's CLC: the deterministic form of the no-op edit Racker's guide asked
// for.
package render
