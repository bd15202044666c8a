// Package simredfish runs simulated Redfish BMCs for tests and the demo:
// one HTTPS server per simulated server on a free 127.0.0.1 port, with its
// own CA and server certificate (so clients can verify or pin it), serving
// the resources a real BMC serves — ServiceRoot, Systems (power, boot
// override, the Reset action), Managers (firmware, virtual media),
// AccountService (accounts and roles), SessionService (X-Auth-Token
// sessions; Basic auth is accepted too) and Chassis — with ETags, If-Match
// and the error replies real BMCs give (401, 403, 404, 405, 412, and 400
// with an @Message.ExtendedInfo body). The resources' shapes follow the
// recorded BMC responses that bmclib and gofish ship as test fixtures.
//
// It drives the same simulated server as simrack's IPMI BMCs: the power
// state is the file "power" (0/1) in the chassis directory, every reset
// appends a line to "resets", and the boot override is written to "boot"
// for humans; the simulated firmware reads it with NextBoot, which
// consumes a one-time override the way a real BMC does when the system
// boots. Accounts and the boot override persist in the BMC's directory
// across restarts; sessions do not (a BMC reboot drops them).
//
// Knobs for tests: SetDead (connections hang or are refused), SetSlow,
// RefuseNextLogin (the next new credentials are stored but never accepted)
// and ConflictOnce (the next conditional PATCH gets 412).
package simredfish
