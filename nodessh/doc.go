// Package nodessh talks to installed nodes over SSH, as the `core` user,
// the way Lokomotive's matchbox-flatcar module (pxe-helper.sh) does: it
// observes that a node ran the Ignition config it was given (the node's
// config writes /ignition_ran; the verify step waits for it, removes it,
// and only then is the install recorded), reads which config a node runs
// (/etc/rackctl/config-hash), and re-runs Ignition on an installed node
// without a PXE boot (first_boot flag, grub.cfg pointing at the installed
// Ignition URL, reboot).
//
// Host keys are pinned per node in a known_hosts file rackctl keeps: the
// first contact pins the key, a reinstall is expected to change it (the
// verify after an install pins the new one), and a change across a plain
// reboot is refused and reported.
//
// The connection is plain TCP to the node's address, or the standard
// input and output of a proxy command (OpenSSH's ProxyCommand: a jump
// host, or `ip netns exec NS nc %h %p` on a management node whose rack
// network lives in a namespace). No shell is involved on rackctl's side,
// and no secret is ever put in an argument.
package nodessh
