// Package simnode simulates the bare-metal server behind a simulated BMC
// (internal/simrack): a "node" that really boots, driven by its BMC.
//
// The node follows the chassis power state ipmi_sim's control script keeps
// (power on starts it, off kills it, a reset restarts it). At every boot its
// firmware asks the BMC for the boot device (IPMI boot parameter 5, a
// one-time override consumed as real firmware does). A PXE boot makes a
// real DHCP exchange with the rack's dnsmasq from the node's own network
// namespace, follows the iPXE script matchbox serves for its MAC, and
// fetches and validates the Ignition config the kernel arguments name; an
// installer config "installs" the final config it carries onto the node's
// disk directory and reboots. A disk boot applies the installed Ignition on
// first boot (files, units, the core user's SSH keys, hostname: written
// into the disk directory, nothing executed), brings up the node's address
// in its namespace and serves SSH there with a handful of commands acting on
// the disk. Optionally the node registers a Kubernetes Node and heartbeats
// it while it runs.
//
// Everything the node does is logged one line per step (power on, DHCP,
// iPXE, Ignition ok/invalid, installed, SSH up) to its log.
package simnode
