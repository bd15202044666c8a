// Package dhcp drives dnsmasq, the DHCP/PXE server of a rack's management
// node: it checks and installs a rendered config, reloads dnsmasq, reads
// its leases and finds where they drift from the reservations.
//
// # Config check
//
// Server.Check and Server.Install run the real "dnsmasq --test
// --conf-file=TMP" on a temporary copy. That validates the syntax and
// values of every option and reads included conf-file=/conf-dir= (which
// must exist), but not the live host: interface= need not exist, and
// tftp-root, the lease file's directory, dhcp-hostsfile and addn-hosts are
// not looked at (dnsmasq 2.90). Those fail only when dnsmasq starts, which
// the reload command reports. A rejected config comes back as a
// *CheckError with dnsmasq's message and line; the live file is untouched.
//
// # Install and reload
//
// Install writes atomically (temp file beside the live one, fsync, rename)
// and runs the reload command only when the content changed. The default
// reload is "systemctl restart dnsmasq.service", as on a Racker node. A
// restart is needed: SIGHUP makes dnsmasq reread its hosts files, not its
// main config. Commands run via exec, never through a shell.
//
// # Leases and drift
//
// ReadLeases (Server.Leases, and rackctl status for each node's lease)
// reads dnsmasq's lease file; ParseLeases parses it ("EXPIRY MAC IP HOSTNAME
// CLIENTID"; IPv6 section skipped). ParseReservations reads the dhcp-host=
// lines of a config, so drift can be computed against the live file too.
// Drift reports a MAC holding another IP than reserved, a reserved IP
// leased to another MAC (a replaced server's old NIC), and reservations
// without a lease; each finding suggests fixes, the caller picks the
// policy.
//
// dnsmasq keeps an active lease over a new or changed reservation: a
// reserved address leased to another MAC is not handed out until that
// lease expires or is released. Server.Release runs dhcp_release (Debian
// package dnsmasq-utils) where dnsmasq's interface is (Config.ExecPrefix,
// e.g. "ip netns exec NS" or "docker exec dnsmasq") and waits until the
// lease is gone from the lease file.
//
// # Racker nodes
//
// Racker runs dnsmasq in a container (host network, config file mounted as
// /etc/dnsmasq.conf) restarted by dnsmasq.service; its lease file is the
// image's default /var/lib/misc/dnsmasq.leases inside the container, gone
// when the container is recreated. DefaultLeasePath is that path, right for
// a dnsmasq on the host; for the container point Config.LeasePath at a
// host-visible file (a dhcp-leasefile= on a mounted directory, or
// /proc/PID/root/var/lib/misc/dnsmasq.leases). The config uses no-daemon,
// so dnsmasq writes no pid file. dnsmasq --test needs a dnsmasq binary that
// can read the temporary file (Config.DnsmasqCmd), and dhcp_release must
// run in dnsmasq's network namespace (Config.ExecPrefix).
package dhcp
