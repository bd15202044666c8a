// Package testenv starts the real components rackctl drives, for tests and
// for the demo: matchbox with generated TLS certificates on free loopback
// ports, dnsmasq in a network namespace joined by a veth pair to a second
// namespace, and busybox udhcpc in that second namespace to prove what
// dnsmasq serves.
//
// Every starter takes a context and a directory and returns a value with
// Close, so the demo (cmd/rackctl-sim) uses them as tests do; the ...T
// wrappers fail the test when a component cannot start and close it in
// t.Cleanup. Nothing listens outside loopback: dnsmasq's addresses exist
// only inside the namespaces, which are named
// rackctl-<purpose>-<pid>-<random>-{s,c}; StartDHCP first removes the
// namespaces of such a name whose creating process is gone.
//
// The tools built by scripts/build-tools.sh (matchbox, the terraform
// provider mirror and its terraformrc, the lokoctl stand-in) are found with
// FindTools, which runs that script once when one is missing.
//
// StartKube starts a real Kubernetes control plane (etcd, kube-apiserver
// with RBAC, kube-controller-manager with the token controller) on free
// loopback ports. Its binaries take about 15 minutes to build cold, so it
// never builds them: a missing or stale build fails the test, naming
// `make kube-tools` (scripts/build-kube.sh).
package testenv
