package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

const (
	pgpSigPrefix = "-----BEGIN PGP SIGNATURE-----"
	sshSigPrefix = "-----BEGIN SSH SIGNATURE-----"
)

// verifier checks a commit's signature against the configured keys. Only the
// head commit is verified (as Flux does): rackctl applies the head's tree
// only, never an intermediate commit, and a trusted signature on the head
// vouches for that whole tree.
type verifier struct {
	pgp openpgp.EntityList
	ssh []allowedSigner
}

func newVerifier(keyring, allowedSigners []byte) (*verifier, error) {
	v := &verifier{}
	var err error
	if v.pgp, err = readArmoredKeyRings(keyring); err != nil {
		return nil, fmt.Errorf("openpgp keyring: %w", err)
	}
	if v.ssh, err = parseAllowedSigners(allowedSigners); err != nil {
		return nil, fmt.Errorf("ssh allowed signers: %w", err)
	}
	if len(v.pgp) == 0 && len(v.ssh) == 0 {
		return nil, errors.New("signature verification is on but no keys are configured")
	}
	return v, nil
}

// readArmoredKeyRings reads every armored block of b (files concatenated
// with cat hold several).
func readArmoredKeyRings(b []byte) (openpgp.EntityList, error) {
	var all openpgp.EntityList
	const begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	rest := b
	for {
		i := bytes.Index(rest, []byte(begin))
		if i < 0 {
			break
		}
		rest = rest[i:]
		next := bytes.Index(rest[len(begin):], []byte(begin))
		block := rest
		if next >= 0 {
			block = rest[:len(begin)+next]
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(block))
		if err != nil {
			return nil, fmt.Errorf("key block %d: %w", len(all)+1, err)
		}
		all = append(all, el...)
		if next < 0 {
			break
		}
		rest = rest[len(begin)+next:]
	}
	if len(all) == 0 && len(bytes.TrimSpace(b)) > 0 {
		return nil, errors.New("no armored public key block found")
	}
	return all, nil
}

// verify returns who signed c, or an error wrapping ErrUnsigned,
// ErrUnknownKey or ErrBadSignature.
func (v *verifier) verify(c *object.Commit) (string, error) {
	sig := strings.TrimSpace(c.PGPSignature)
	if sig == "" {
		return "", ErrUnsigned
	}
	if err := oneArmorBlock(sig); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	msg, err := signedPayload(c)
	if err != nil {
		return "", fmt.Errorf("encode commit: %w", err)
	}
	switch {
	case strings.HasPrefix(sig, pgpSigPrefix):
		return v.verifyPGP(msg, sig)
	case strings.HasPrefix(sig, sshSigPrefix):
		return v.verifySSH(msg, sig, c.Committer.When)
	default:
		return "", fmt.Errorf("%w: unsupported signature type (only OpenPGP and SSH)", ErrBadSignature)
	}
}

func signedPayload(c *object.Commit) ([]byte, error) {
	o := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(o); err != nil {
		return nil, err
	}
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (v *verifier) verifyPGP(msg []byte, sig string) (string, error) {
	if len(v.pgp) == 0 {
		return "", fmt.Errorf("%w: OpenPGP signature, but no OpenPGP keys are configured", ErrUnknownKey)
	}
	e, err := openpgp.CheckArmoredDetachedSignature(v.pgp, bytes.NewReader(msg), strings.NewReader(sig), nil)
	if errors.Is(err, pgperrors.ErrUnknownIssuer) {
		return "", fmt.Errorf("%w: %v", ErrUnknownKey, err)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), nil
}

// oneArmorBlock accepts a signature that is one armored block and nothing
// else. OpenPGP readers stop after the first block, so a second signature
// (or any text) after it would be ignored here while other tools (git
// verify-commit) may judge the commit by it.
func oneArmorBlock(sig string) error {
	if n := strings.Count(sig, "-----BEGIN "); n != 1 {
		return fmt.Errorf("%d armored blocks, want exactly one signature", n)
	}
	if n := strings.Count(sig, "-----END "); n != 1 {
		return fmt.Errorf("%d armor footers, want exactly one signature", n)
	}
	first, _, _ := strings.Cut(sig, "\n")
	kind, ok := strings.CutPrefix(strings.TrimSpace(first), "-----BEGIN ")
	if !ok {
		return errors.New("text before the signature")
	}
	if !strings.HasSuffix(sig, "-----END "+kind) {
		return errors.New("text after the signature, or a footer that does not match its header")
	}
	return nil
}
