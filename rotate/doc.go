// Package rotate rotates the credentials of a rack's BMCs to a new
// account, declaratively (rack.yaml's bmc.rotate), verified and resumable.
//
// It works through the Accounts interface (list, slot range, write, enable
// with administrator access, disable, delete, prove a login):
// *bmc.Client does it over IPMI as described below, *bmc.Redfish through
// the AccountService (the name, password and role Administrator in one
// PATCH of a nameless account, or a POST that creates it disabled; the
// BMC's number for it is the slot kept), *bmc.Drivers for a mixed rack.
// The phases, the proof by login, the rollback and the saved state are the
// same for both.
//
// # Flow
//
// MakePlan reads every BMC's user list in parallel and picks, per BMC, the
// slot of the new account: the slot of an existing account with the new
// name (reused), else the slot an earlier apply chose if still free, else
// the lowest slot with no name above slot 1 and the fixed-name slots of
// `user summary`. It is never the current user's slot: a rotation to the
// current user name is refused. A BMC that cannot be read is a step with
// Error.
//
// Apply then runs two phases:
//
//  1. On every BMC: set the new name and password (bmc.SetUser: one
//     RMCP+ administrator session carrying both as bytes, so no parser
//     sees them; the name is read back and the BMC's password test run),
//     `user enable N`, `channel setaccess 1 N callin=on ipmi=on link=off
//     privilege=4`, and prove it with a session as the new user
//     (bmc.TestLogin), the proof that counts. Any failure from the first
//     write on disables the new slot again and reads the user list back
//     (rollback): no half-made or unproven ADMINISTRATOR account stays
//     enabled. A BMC proven by an earlier apply is only logged in to
//     again, not rewritten.
//  2. Only when every BMC passed phase 1: copy rackctl's credential files
//     (bmc.userFile, bmc.passwordFile) to <file>.old (0600), replace them
//     atomically (0600) with the new user and password, then, as the new
//     user, disable the old account (`user disable N`) and read the user
//     list back; while the old password is at hand a login with it must be
//     refused. With deleteOld the old account's name is also cleared with a
//     raw Set User Name (`raw 0x06 0x45 N` + 16 zero bytes; ipmitool has no
//     user delete, and an empty name is what a free slot has). ipmi_sim
//     accepts it; a BMC that refuses an empty name keeps the account
//     disabled and the report notes it.
//
// A BMC failing phase 1 leaves every BMC and rackctl on the old
// credentials (its new slot disabled; the BMCs that passed keep the new,
// proven account, unused) and Apply returns a *FailedError matching
// ErrNotSwitched that names it.
//
// # Passwords
//
// The new password is checked before any BMC is touched
// (bmc.CheckPassword): 1 to 20 bytes (17 to 20 go in the IPMI 2.0 20-byte
// form), no control characters, line separators, quotes or backslashes
// (rackctl's credential files, one value per file, refuse them). A refusal
// names file:line:col and never the password. Everything else ('#',
// spaces, ';', non-ASCII) is set byte for byte.
//
// # State and "done"
//
// Progress is saved after every step in <stateDir>/rotation.json (0600):
// per node the new slot, the old slot and the phase reached (pending →
// created → verified → old-disabled), plus whether the switch started and
// finished. It holds no password and nothing derived from one; what a
// BMC has is always proven again by logging in as the new user, the state
// only says where to look and what need not be redone.
//
// Once switched, rackctl's files hold the new account, so the request's
// old and new credentials are equal: that (or a switch recorded as
// started) is the "switched" mode, in which MakePlan reads each BMC as the
// new user and only checks that the recorded old slot is disabled (and,
// with deleteOld, nameless). When every BMC passes, the plan is Done and
// a second apply is a no-op. The operator may then drop bmc.rotate from
// rack.yaml: bmc.userFile and bmc.passwordFile already hold the new
// account. A later rotation names another user and starts a new state.
//
// Per BMC, each run is an explicit state machine (Status): pending →
// acting → verifying → done or failed.
//
// # Simulator notes
//
// ipmi_sim (OpenIPMI 2.0.33) has 63 user slots, keeps user changes in its
// state directory across restarts, reports enable status through the
// IPMI-messaging bit (which `user disable` clears), refuses sessions of a
// disabled user, accepts the 20-byte password form but keeps only 16 bytes
// of it, and answers the password test with success whatever it is given.
// A rotation to a 17–20 byte password therefore fails its login proof
// there, rolls back and switches nothing.
package rotate
