// Package bmc drives the BMCs of a rack over IPMI 2.0 (RMCP+, lanplus,
// cipher suite 3 always: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128; other
// suites stall ~10 s per call on ipmi_sim) or Redfish (HTTPS).
//
// # Protocols as data
//
// A node's protocol comes from the spec (bmc.protocol, nodes[].bmcProtocol)
// and travels on its Target. EndpointFor is the one place that derives a
// BMC's endpoint (protocol, host, port: 623 for IPMI, 443 for Redfish).
// Each protocol registers a Constructor of a Driver (Register, Open);
// Drivers sends every call to the driver of the target's protocol, built on
// first use, so a rack may mix IPMI and Redfish BMCs and adding a protocol
// is one driver plus its registration.
//
// # Redfish
//
// Redfish (redfish*.go) goes through bmclib's Redfish provider for power
// and the boot override (written, then read back like IPMI boot flags) and
// through gofish's client for the AccountService (accounts by number,
// PATCH with If-Match of the ETag just read; a 412 is read and written
// again, at most three times), inventory and health, which bmclib covers
// only by user name. A BMC certificate is checked against
// RedfishOptions.RootCAs (bmc.redfish.caFile), or its SHA-256 against a
// pin, or not at all (insecureSkipVerify, an explicit and warned opt-out);
// a refused certificate is ErrCertificate and no credential is sent.
// Sessions (X-Auth-Token) are opened on first use and kept until Close, so
// one run logs in to a BMC once per account. gofish takes no context: each
// call runs bounded by the call's timeout, and a BMC that accepts and never
// answers costs one timeout. There is no serial console (SOL returns
// ErrNoSerialConsole) and no LAN address source (ErrNotSupported).
//
// # Layers
//
// Calls go through github.com/bmc-toolbox/bmclib/v2 with a registry that
// holds exactly one provider per call, so an unreachable BMC costs one
// bounded timeout instead of a sweep over every protocol bmclib knows:
//
//   - power on/off/cycle/reset/soft: bmclib's own ipmitool provider. It
//     passes the password in the environment (IPMITOOL_PASSWORD with -E),
//     never in argv; checked in bmclib v2.3.4 internal/ipmi.
//   - power status and TestLogin: "rackctl-rmcp", a bmclib provider backed
//     by a small pure-Go RMCP+ client in this package. It starts no process
//     (a full-rack status is cheap on a 2-core management node), tells a
//     wrong password (RAKP 2 HMAC) from an absent BMC (no answer / ICMP
//     refused) exactly, and keys its HMACs with the password, never sending
//     it. Config.PowerStatus = "ipmitool" selects bmclib's provider instead.
//     A power read is three round trips: Open Session, RAKP 1/2, and RAKP
//     3/4 with Get Chassis Status sent right behind RAKP 3 (pipelined; why
//     that is legal is in rmcp.go); Close Session is sent, not awaited.
//   - boot device, boot flags read-back and users: "rackctl-ipmitool", a
//     bmclib provider (BootDeviceSetter, BootDeviceOverrideGetter,
//     UserReader) on top of the exec helper below. bmclib's ipmitool
//     provider would run `chassis bootdev disk options=persistent,efiboot`,
//     which ipmitool gets wrong; ours disables the valid-bit clearing timer
//     (`raw 0x00 0x08 0x03 0x1f`), writes boot parameter 5 with a raw Set
//     System Boot Options (`raw 0x00 0x08 0x05 0xe0 0x08 0 0 0` = disk,
//     persistent, EFI; 0x04 = PXE), reads `chassis bootparam get 5` back and
//     returns a *BootParamMismatchError (ErrBootParamMismatch) on difference.
//   - everything bmclib has no call for (Exec passthrough, SOL, Diag,
//     DHCPRenew, user create/enable/disable/privilege): one exec helper that
//     starts ipmitool with `-I lanplus -C 3 -E` and a fresh environment
//     holding the password. A new user password goes through a 0600
//     temporary command file run by `ipmitool exec FILE`, so no secret is
//     ever in an argv (tests read /proc/PID/cmdline to prove it), a log
//     line or an error.
//
// # Kept sessions
//
// With Config.KeepSessions (the watch loop's engine sets it) a Client
// keeps one RMCP+ session per BMC and account open between calls
// (sessions.go): power, boot device (Get System Boot Options, parameter 5)
// and LAN address source (Get LAN Configuration Parameters, parameter 4)
// are then read in one round trip each, at Operator privilege, without
// ipmitool. A session idle for Config.Keepalive (default 20 s) is renewed
// with Get Device ID, well inside the BMC's inactivity timeout; one that
// no longer answers within a few of its round trips (the BMC rebooted or
// dropped it) is replaced by a new one in the same call. Close ends every
// kept session with a Close Session. Redfish sessions are kept the same
// way by the Redfish driver, and a dropped one (401) is opened again.
//
// # Timeouts, retries, parallelism
//
// Config.Timeout (default 5 s) bounds each operation including its retries;
// Config.Retries (default 1) retries only failures that may pass (no answer
// yet, refused port) and never authentication or command errors. ForEach
// and Runner run one operation over many targets with Config.Parallel
// (default 32) goroutines, one bmclib client each.
//
// # Errors
//
// Errors read "bmc NODE: ACTION: cause" (*Error) and wrap ErrUnreachable,
// ErrAuth, ErrTimeout (which also matches ErrUnreachable), ErrCommand,
// ErrBootParamMismatch, ErrCertificate, ErrPreconditionFailed (also
// ErrCommand), ErrNoSerialConsole or ErrNotSupported; test with errors.Is. ipmitool's stderr is
// classified: RAKP/"unauthorized name"/a session refused within a second →
// ErrAuth; no session after retransmits → ErrUnreachable.
//
// # Simulator notes
//
// ipmi_sim (OpenIPMI 2.0.33) keeps the boot device but not the persistent
// and EFI flags, so a persistent or EFI write against it ends in
// ErrBootParamMismatch; the flag parsing is tested on recorded outputs.
// It reports user enable status as "unknown"; Users then falls back to the
// user's IPMI-messaging bit, which ipmi_sim ties to enable/disable. It
// cannot log in users with 20-byte passwords over RMCP+.
package bmc
