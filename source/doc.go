// Package source delivers versions of the rack spec (rack.yaml) to the
// reconcile loop, from a local file or from a git repository.
//
// Both sources implement [Source]: Run sends [Event]s on a channel until its
// context is cancelled. An event holds either a [Revision] (the spec's bytes
// plus where they came from) or an error; errors about a specific commit are
// a [*CommitError] wrapping one of the sentinels ([ErrNotFastForward],
// [ErrUnsigned], [ErrUnknownKey], [ErrBadSignature], [ErrSpecNotFound]), for
// errors.Is and errors.As. Transient failures (a fetch that fails, a file
// being deleted) are events too; Run keeps going and retries.
//
// # Local file
//
// [File] watches the file and its directory with fsnotify. Editors rarely
// write in place: they write a temporary file and rename it over the spec
// (atomic save), or, like vim, rename the spec to a backup and write a new
// file. The directory watch sees all of these; events are filtered by the
// spec's base name (any directory event counts when the spec is a symlink,
// as in Kubernetes ConfigMap volumes), and if the directory itself is removed
// the source polls until it is back and watches it again. Events are
// debounced (default 200 ms of quiet, at most 10× that under a continuous
// stream), then the file is read and hashed: a Revision is sent only when the
// content changed, so a touch or a rewrite with the same bytes sends nothing.
// A missing file is an ErrSpecNotFound event. A file Revision's Commit is
// "sha256:<hex>" of the content.
//
// # Git repository
//
// [Git] keeps a bare clone in a directory the caller gives it (under the
// state dir) and fetches one branch at start, every Interval (default 1
// minute) and on [Git.Trigger], which the caller wires to SIGHUP or to the
// HTTP handler from [Git.WebhookHandler]. Each fetch has a timeout. When the
// remote head equals the last head handled, the sync does nothing more.
// A new head whose spec file has the same bytes as the last revision sent
// (a commit that touched only other files, such as another rack's spec in
// a fleet repository) is checked like any head (ancestry, signature) and
// then not sent: nothing downstream plans it. Only the spec file counts;
// a spec includes no other file.
//
// Only fast-forwards are followed: a new head that does not descend from the
// last applied commit (told by the caller at construction as LastApplied,
// then the last revision sent) is reported as ErrNotFastForward and not
// followed, unless AllowNonFastForward is set. The first successful sync
// sends the head even if it equals LastApplied, so the caller has a spec to
// reconcile after a restart.
//
// # Signature verification
//
// With GitConfig.Verify, a head commit is sent only if it carries a valid
// signature by a configured key; otherwise an event reports it (ErrUnsigned,
// ErrUnknownKey or ErrBadSignature, with the commit hash and author) and the
// source stays at the last good commit. A later good head on top of a
// rejected one is followed.
//
// Only the head commit is verified, as Flux does: rackctl applies the tree
// of the head and never an intermediate commit, so a trusted signature on the
// head vouches for exactly what is applied. Intermediate commits may be
// unsigned (e.g. merged contributions) as long as a trusted key signs the head.
//
// Two kinds of signature are supported:
//   - OpenPGP: GitConfig.Keyring holds one or more ASCII-armored public key
//     blocks. SignedBy is the primary key's fingerprint (upper-case hex). Key
//     expiry is judged at the time of verification.
//   - SSH (git's gpg.format=ssh, OpenSSH's SSHSIG format, namespace "git"):
//     GitConfig.SSHAllowedSigners is in git's allowed-signers format; the
//     options namespaces=, valid-after= and valid-before= are honoured, the
//     latter two judged at the commit's committer time (as git does).
//     Certificate authorities (cert-authority) are refused at construction,
//     and principals are not matched against the committer (git doesn't
//     either when only verifying). RSA signatures over SHA-1 are refused.
//     SignedBy is the key's "SHA256:…" fingerprint.
//
// X.509 (gpgsm) signatures are not supported and reported as ErrBadSignature.
package source
