package source

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors carried by [Event.Err]; test them with errors.Is.
var (
	// ErrNotFastForward: the new remote head does not descend from the last
	// applied commit (history was rewritten, e.g. by a force-push). The source
	// does not move unless GitConfig.AllowNonFastForward is set.
	ErrNotFastForward = errors.New("remote head is not a fast-forward of the last applied commit")
	// ErrUnsigned: verification is on and the head commit carries no signature.
	ErrUnsigned = errors.New("commit is not signed")
	// ErrUnknownKey: the head commit is signed, but not by a key of the
	// configured keyring or allowed signers.
	ErrUnknownKey = errors.New("commit is signed by an unknown key")
	// ErrBadSignature: the signature is malformed or does not match the commit,
	// or the signing key is not valid for it (expired, wrong namespace…).
	ErrBadSignature = errors.New("commit signature is invalid")
	// ErrSpecNotFound: the spec file does not exist (deleted file, or missing
	// path in the commit's tree).
	ErrSpecNotFound = errors.New("spec file not found")
)

// Revision is one version of the spec, as the source saw it.
type Revision struct {
	// Commit is the git commit hash, or for a file source "sha256:<hex>" of
	// the content.
	Commit      string
	Author      string
	AuthorEmail string
	// Time is the commit's committer time, or the file's modification time.
	Time    time.Time
	Message string
	// Spec is the rack.yaml content at that revision.
	Spec []byte
	// Path names the spec in error messages: the file path as configured,
	// or for git the repository-relative path (GitConfig.Path).
	Path string
	// SignedBy is the signer's key when verification is on: the OpenPGP
	// primary key fingerprint (upper-case hex) or the SSH key's
	// "SHA256:…" fingerprint. Empty when verification is off.
	SignedBy string
}

// Event is what a source sends: exactly one of Revision and Err is set.
type Event struct {
	Revision *Revision
	Err      error
	Time     time.Time
}

// Source delivers spec revisions until ctx is cancelled. Run returns nil on
// cancellation and an error only when it cannot start at all; transient
// failures (fetch errors, missing file…) are sent as events and retried.
type Source interface {
	Run(ctx context.Context, out chan<- Event) error
}

var (
	_ Source = (*File)(nil)
	_ Source = (*Git)(nil)
)

// CommitError is the error of an event about a rejected commit. It wraps one
// of the sentinels above and names the commit, so callers can report it with
// errors.As and still test the cause with errors.Is.
type CommitError struct {
	Commit      string
	Author      string
	AuthorEmail string
	Err         error
}

func (e *CommitError) Error() string {
	return fmt.Sprintf("commit %s by %s <%s>: %v", shortHash(e.Commit), e.Author, e.AuthorEmail, e.Err)
}

func (e *CommitError) Unwrap() error { return e.Err }

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// send delivers ev unless ctx ends first; it reports whether it delivered.
func send(ctx context.Context, out chan<- Event, ev Event) bool {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
