package source

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"path"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSH signatures follow OpenSSH's PROTOCOL.sshsig, as made by
// `ssh-keygen -Y sign -n git` (git's gpg.format=ssh).

const sshsigMagic = "SSHSIG"

// allowedSigner is one line of an allowed-signers file.
type allowedSigner struct {
	principals  string
	key         ssh.PublicKey
	namespaces  []string // patterns; empty allows any
	validAfter  time.Time
	validBefore time.Time
}

// parseAllowedSigners parses git's gpg.ssh.allowedSignersFile format:
// "principals [options] keytype base64 [comment]". Certificate authorities
// (cert-authority) are not supported and rejected.
func parseAllowedSigners(b []byte) ([]allowedSigner, error) {
	var out []allowedSigner
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		principals, rest, ok := cutField(line)
		if !ok {
			return nil, fmt.Errorf("line %d: want \"principals [options] keytype key\"", n+1)
		}
		key, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(rest))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		s := allowedSigner{principals: principals, key: key}
		for _, o := range opts {
			name, val, _ := strings.Cut(o, "=")
			val = strings.Trim(val, `"`)
			switch strings.ToLower(name) {
			case "namespaces":
				s.namespaces = strings.Split(val, ",")
			case "valid-after":
				if s.validAfter, err = parseSSHTime(val); err != nil {
					return nil, fmt.Errorf("line %d: valid-after: %w", n+1, err)
				}
			case "valid-before":
				if s.validBefore, err = parseSSHTime(val); err != nil {
					return nil, fmt.Errorf("line %d: valid-before: %w", n+1, err)
				}
			case "cert-authority":
				return nil, fmt.Errorf("line %d: cert-authority is not supported", n+1)
			default:
				return nil, fmt.Errorf("line %d: unknown option %q", n+1, name)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// cutField splits off the first field, which may be double-quoted.
func cutField(line string) (field, rest string, ok bool) {
	if strings.HasPrefix(line, `"`) {
		end := strings.Index(line[1:], `"`)
		if end < 0 {
			return "", "", false
		}
		field, rest = line[1:1+end], line[2+end:]
	} else {
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return "", "", false
		}
		field, rest = line[:i], line[i:]
	}
	rest = strings.TrimSpace(rest)
	return field, rest, field != "" && rest != ""
}

// parseSSHTime parses YYYYMMDD[HHMM[SS]] with an optional trailing Z (UTC);
// without Z the time is local, as in ssh-keygen.
func parseSSHTime(s string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		s, loc = s[:len(s)-1], time.UTC
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	l, ok := layouts[len(s)]
	if !ok {
		return time.Time{}, fmt.Errorf("bad time %q: want YYYYMMDD[HHMM[SS]][Z]", s)
	}
	t, err := time.ParseInLocation(l, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: %w", s, err)
	}
	return t, nil
}

// sshSig is the decoded SSHSIG blob after the magic preamble.
type sshSig struct {
	Version       uint32
	PublicKey     []byte
	Namespace     string
	Reserved      []byte
	HashAlgorithm string
	Signature     []byte
}

func decodeSSHSig(armored string) (*sshSig, error) {
	s := strings.TrimSpace(armored)
	s, ok := strings.CutPrefix(s, sshSigPrefix)
	if !ok {
		return nil, errors.New("missing armor header")
	}
	s, ok = strings.CutSuffix(s, "-----END SSH SIGNATURE-----")
	if !ok {
		return nil, errors.New("missing armor footer")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	body, ok := bytes.CutPrefix(raw, []byte(sshsigMagic))
	if !ok {
		return nil, errors.New("missing SSHSIG magic")
	}
	var sig sshSig
	if err := ssh.Unmarshal(body, &sig); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if sig.Version != 1 {
		return nil, fmt.Errorf("unsupported version %d", sig.Version)
	}
	return &sig, nil
}

// verifySSH checks an SSH signature over msg for namespace "git" against the
// allowed signers, judging valid-after/valid-before at the commit time (as
// git does). It returns the key's SHA256 fingerprint.
func (v *verifier) verifySSH(msg []byte, armored string, when time.Time) (string, error) {
	sig, err := decodeSSHSig(armored)
	if err != nil {
		return "", fmt.Errorf("%w: ssh: %v", ErrBadSignature, err)
	}
	pub, err := ssh.ParsePublicKey(sig.PublicKey)
	if err != nil {
		return "", fmt.Errorf("%w: ssh: public key: %v", ErrBadSignature, err)
	}
	fp := ssh.FingerprintSHA256(pub)
	var signer *allowedSigner
	for i := range v.ssh {
		if bytes.Equal(v.ssh[i].key.Marshal(), sig.PublicKey) {
			signer = &v.ssh[i]
			break
		}
	}
	if signer == nil {
		return "", fmt.Errorf("%w: ssh key %s", ErrUnknownKey, fp)
	}
	if sig.Namespace != "git" {
		return "", fmt.Errorf("%w: ssh: namespace %q, want \"git\"", ErrBadSignature, sig.Namespace)
	}
	if !namespaceAllowed(signer.namespaces, "git") {
		return "", fmt.Errorf("%w: ssh key %s (%s) is not allowed for namespace git", ErrBadSignature, fp, signer.principals)
	}
	if !signer.validAfter.IsZero() && when.Before(signer.validAfter) {
		return "", fmt.Errorf("%w: ssh key %s (%s) is valid only after %s", ErrBadSignature, fp, signer.principals, signer.validAfter)
	}
	if !signer.validBefore.IsZero() && !when.Before(signer.validBefore) {
		return "", fmt.Errorf("%w: ssh key %s (%s) is valid only before %s", ErrBadSignature, fp, signer.principals, signer.validBefore)
	}
	var h hash.Hash
	switch sig.HashAlgorithm {
	case "sha512":
		h = sha512.New()
	case "sha256":
		h = sha256.New()
	default:
		return "", fmt.Errorf("%w: ssh: unsupported hash %q", ErrBadSignature, sig.HashAlgorithm)
	}
	h.Write(msg)
	var s ssh.Signature
	if err := ssh.Unmarshal(sig.Signature, &s); err != nil {
		return "", fmt.Errorf("%w: ssh: signature blob: %v", ErrBadSignature, err)
	}
	if s.Format == ssh.KeyAlgoRSA {
		return "", fmt.Errorf("%w: ssh: rsa signature with sha1 is refused", ErrBadSignature)
	}
	signed := append([]byte(sshsigMagic), ssh.Marshal(struct {
		Namespace     string
		Reserved      []byte
		HashAlgorithm string
		Hash          []byte
	}{sig.Namespace, sig.Reserved, sig.HashAlgorithm, h.Sum(nil)})...)
	if err := pub.Verify(signed, &s); err != nil {
		return "", fmt.Errorf("%w: ssh key %s: %v", ErrBadSignature, fp, err)
	}
	return fp, nil
}

func namespaceAllowed(patterns []string, ns string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(strings.TrimSpace(p), ns); ok {
			return true
		}
	}
	return false
}
