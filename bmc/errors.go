package bmc

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Every error returned by this package for a BMC call wraps
// one of them where the cause is known; test with errors.Is.
var (
	// ErrUnreachable: the BMC did not answer (nothing listens, packets are
	// lost, or it answered too late). A timeout also matches ErrUnreachable.
	ErrUnreachable = errors.New("bmc unreachable")
	// ErrAuth: the BMC answered but refused the session (wrong user name,
	// wrong password, disabled user, privilege too low).
	ErrAuth = errors.New("bmc authentication failed")
	// ErrTimeout: the call did not complete within its timeout.
	ErrTimeout = errors.New("bmc call timed out")
	// ErrBootParamMismatch: the boot flags read back after a write differ
	// from what was written. The error is a *BootParamMismatchError.
	ErrBootParamMismatch = errors.New("boot parameter read-back mismatch")
	// ErrCommand: the BMC answered and a session was set up, but the command
	// failed (invalid argument, unsupported command, bad completion code).
	ErrCommand = errors.New("bmc command failed")
	// ErrCertificate: a Redfish BMC's TLS certificate did not pass the
	// rack's check (bmc.redfish: CA file or pinned fingerprint). Never
	// retried.
	ErrCertificate = errors.New("bmc certificate refused")
	// ErrPreconditionFailed: the BMC refused a write because the resource
	// changed since it was read (HTTP 412, stale ETag). It also matches
	// ErrCommand; the Redfish driver reads and writes again.
	ErrPreconditionFailed = preconditionError{}
	// ErrNoSerialConsole: the protocol or BMC has no serial console to
	// attach to (Redfish).
	ErrNoSerialConsole = errors.New("no serial console")
	// ErrNotSupported: the protocol has no such operation.
	ErrNotSupported = errors.New("not supported by this bmc protocol")
)

type preconditionError struct{}

func (preconditionError) Error() string {
	return "bmc refused the write: the resource changed since it was read (412, stale ETag)"
}
func (preconditionError) Is(target error) bool { return target == ErrCommand }

// Error is the error returned for a failed BMC call: it names the node and
// the action and wraps the cause.
type Error struct {
	Node   string
	Action string
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("bmc %s: %s: %v", e.Node, e.Action, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

func wrap(node, action string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Node: node, Action: action, Err: err}
}

// timeoutError is returned when the call's deadline passed: it matches both
// ErrTimeout and ErrUnreachable.
type timeoutError struct{ after time.Duration }

func (e timeoutError) Error() string {
	if e.after == 0 {
		return fmt.Sprintf("no answer before the deadline: %v", ErrTimeout)
	}
	return fmt.Sprintf("no answer within %s: %v", e.after, ErrTimeout)
}

func (e timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == ErrUnreachable
}

// BootParamMismatchError reports the boot flags that were written and the
// ones read back.
type BootParamMismatchError struct {
	Want, Got BootParam
}

func (e *BootParamMismatchError) Error() string {
	return fmt.Sprintf("%v: wrote %s, read back %s", ErrBootParamMismatch, e.Want, e.Got)
}

func (e *BootParamMismatchError) Is(target error) bool { return target == ErrBootParamMismatch }

// authMarkers are ipmitool messages that mean the BMC refused the session.
var authMarkers = []string{
	"RAKP 2 HMAC is invalid",
	"RAKP 2 message indicates an error",
	"RAKP 4 message has invalid integrity check",
	"Invalid user name",
	"unauthorized name",
	"invalid password",
	"Insufficient privilege level",
	"Activate Session error",
	"Set Session Privilege Level to ADMINISTRATOR failed",
}

// quickFailure: ipmitool retransmits no sooner than after one second, so a
// session that failed faster than that was refused by a BMC that answered.
const quickFailure = 900 * time.Millisecond

// classify turns an ipmitool failure into an error wrapping a sentinel.
// stderr holds ipmitool's diagnostics, elapsed how long the run took.
func classify(stderr string, elapsed time.Duration) error {
	msg := strings.TrimSpace(stderr)
	if msg == "" {
		msg = "ipmitool failed without a message"
	}
	for _, m := range authMarkers {
		if strings.Contains(stderr, m) {
			return fmt.Errorf("%w: %s", ErrAuth, msg)
		}
	}
	if strings.Contains(stderr, "Unable to establish") {
		if elapsed < quickFailure {
			return fmt.Errorf("%w: session refused: %s", ErrAuth, msg)
		}
		return fmt.Errorf("%w: %s", ErrUnreachable, msg)
	}
	if strings.Contains(stderr, "No response from remote controller") ||
		strings.Contains(stderr, "Unable to establish LAN session") {
		return fmt.Errorf("%w: %s", ErrUnreachable, msg)
	}
	return fmt.Errorf("%w: %s", ErrCommand, msg)
}
