package source

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/crypto/ssh"

	"github.com/rackctl/rackctl/internal/testenv"
)

// sshKey makes a key of type typ with ssh-keygen; it returns the private key
// path, the authorized-key line and the SHA256 fingerprint.
func sshKey(t *testing.T, dir, name, typ string) (string, string, string) {
	t.Helper()
	needTool(t, "ssh-keygen")
	p := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", name, "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p, strings.TrimSpace(string(pub)), ssh.FingerprintSHA256(k)
}

// gpgKey makes a key with the gpg CLI in a fresh GNUPGHOME; it returns the
// env to sign with, the armored public key and the fingerprint.
func gpgKey(t *testing.T) ([]string, []byte, string) {
	t.Helper()
	needTool(t, "gpg")
	home, err := os.MkdirTemp("", "gpg") // short: gpg-agent's socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GNUPGHOME="+home)
	gpg := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("gpg", append([]string{"--batch", "--quiet"}, args...)...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = env
		_ = cmd.Run()
		os.RemoveAll(home)
	})
	gpg("--passphrase", "", "--pinentry-mode", "loopback", "--quick-generate-key", "Gil Gpg <gil@example.com>", "ed25519", "sign", "never")
	armored := gpg("--armor", "--export", "gil@example.com")
	var fpr string
	for _, line := range strings.Split(string(gpg("--with-colons", "--list-keys", "gil@example.com")), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if fpr == "" {
		t.Fatal("no fingerprint from gpg")
	}
	return env, armored, fpr
}

func TestGitVerify(t *testing.T) {
	needTool(t, "git")
	keys := t.TempDir()
	trusted, trustedPub := testenv.PGPKey(t, "Trusted")
	stranger, _ := testenv.PGPKey(t, "Stranger")
	sshOK, sshOKPub, sshOKFpr := sshKey(t, keys, "ok", "ed25519")
	sshRSA, sshRSAPub, sshRSAFpr := sshKey(t, keys, "rsa", "rsa")
	sshECDSA, sshECDSAPub, sshECDSAFpr := sshKey(t, keys, "ecdsa", "ecdsa")
	sshStranger, _, _ := sshKey(t, keys, "stranger", "ed25519")
	sshFiles, sshFilesPub, _ := sshKey(t, keys, "files-only", "ed25519")
	sshOld, sshOldPub, _ := sshKey(t, keys, "retired", "ed25519")
	gpgEnv, gpgPub, gpgFpr := gpgKey(t)

	keyring := append(append([]byte{}, trustedPub...), gpgPub...) // two armored blocks, as with cat a.asc b.asc
	allowed := []byte(strings.Join([]string{
		"# ops team",
		"ops@example.com " + sshOKPub,
		"rsa@example.com " + sshRSAPub,
		"ecdsa@example.com " + sshECDSAPub,
		`files@example.com namespaces="file" ` + sshFilesPub,
		`old@example.com valid-before="20200101Z" ` + sshOldPub,
	}, "\n"))

	sshSign := func(key string) func(r *testRepo, content string) string {
		return func(r *testRepo, content string) string {
			return r.commit(content, "ssh signed", []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key}, "-S")
		}
	}
	pgpSign := func(e *openpgp.Entity) func(r *testRepo, content string) string {
		return func(r *testRepo, content string) string { return r.commitPGP(content, "pgp signed", e) }
	}
	tests := map[string]struct {
		commit   func(r *testRepo, content string) string
		signedBy string
		wantErr  error
	}{
		"openpgp, trusted key (go-git signed)": {commit: pgpSign(trusted), signedBy: fmt.Sprintf("%X", trusted.PrimaryKey.Fingerprint)},
		"openpgp, trusted key (gpg CLI signed)": {
			commit: func(r *testRepo, content string) string {
				r.env = append(r.env, gpgEnv...)
				return r.commit(content, "gpg signed", []string{"-c", "user.signingkey=gil@example.com"}, "-S")
			},
			signedBy: gpgFpr,
		},
		"openpgp, unknown key":               {commit: pgpSign(stranger), wantErr: ErrUnknownKey},
		"unsigned":                           {commit: func(r *testRepo, c string) string { return r.commit(c, "plain", nil) }, wantErr: ErrUnsigned},
		"ssh, allowed key":                   {commit: sshSign(sshOK), signedBy: sshOKFpr},
		"ssh, allowed rsa key":               {commit: sshSign(sshRSA), signedBy: sshRSAFpr},
		"ssh, allowed ecdsa key":             {commit: sshSign(sshECDSA), signedBy: sshECDSAFpr},
		"ssh, unknown key":                   {commit: sshSign(sshStranger), wantErr: ErrUnknownKey},
		"ssh, key not allowed for git":       {commit: sshSign(sshFiles), wantErr: ErrBadSignature},
		"ssh, key expired before the commit": {commit: sshSign(sshOld), wantErr: ErrBadSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newTestRepo(t)
			good := r.commitPGP("good\n", "good", trusted)
			g, ch, synced := r.source(t, GitConfig{Verify: true, Keyring: keyring, SSHAllowedSigners: allowed})
			if rev := nextRevision(t, ch, gitWait); rev.Commit != good {
				t.Fatalf("start at %s, want %s", rev.Commit, good)
			}
			waitSync(t, synced)

			c := tc.commit(r, "case\n")
			g.Trigger()
			if tc.wantErr == nil {
				rev := nextRevision(t, ch, gitWait)
				if rev.Commit != c || string(rev.Spec) != "case\n" || rev.SignedBy != tc.signedBy {
					t.Fatalf("got %s %q signed by %q, want %s signed by %q", rev.Commit, rev.Spec, rev.SignedBy, c, tc.signedBy)
				}
				return
			}
			ev := next(t, ch, gitWait)
			var ce *CommitError
			if !errors.Is(ev.Err, tc.wantErr) || !errors.As(ev.Err, &ce) || ce.Commit != c || ce.Author == "" {
				t.Fatalf("event %+v, want %v naming commit %s and its author", ev, tc.wantErr, c)
			}
			t.Logf("reported: %v", ev.Err)
			waitSync(t, synced)

			// Skipped: the same head is not reported again …
			g.Trigger()
			waitSync(t, synced)
			none(t, ch, 50*time.Millisecond)
			// … and a good commit on top is followed from the last good one.
			next2 := r.commitPGP("fixed\n", "fixed", trusted)
			g.Trigger()
			if rev := nextRevision(t, ch, gitWait); rev.Commit != next2 || string(rev.Spec) != "fixed\n" {
				t.Fatalf("got %s %q, want %s", rev.Commit, rev.Spec, next2)
			}
		})
	}
}

func TestParseAllowedSigners(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDuGX0QL2AL0c1x6rVPbH6V6ETLQkDPYTcXkQKxXjzNo"
	tests := map[string]struct {
		in      string
		want    int
		wantErr bool
	}{
		"empty":             {in: "", want: 0},
		"comments":          {in: "# x\n\n  # y\n", want: 0},
		"plain":             {in: "a@example.com " + key + " comment", want: 1},
		"quoted principals": {in: `"a@example.com,b@example.com" ` + key, want: 1},
		"options":           {in: `a@example.com namespaces="git,file",valid-after="20240101" ` + key, want: 1},
		"two lines":         {in: "a@x " + key + "\nb@x " + key + "\n", want: 2},
		"no principals":     {in: key, wantErr: true},
		"bad key":           {in: "a@x ssh-ed25519 %%%", wantErr: true},
		"cert authority":    {in: "*@x cert-authority " + key, wantErr: true},
		"bad time":          {in: `a@x valid-before="2024" ` + key, wantErr: true},
		"unknown option":    {in: `a@x frobnicate ` + key, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseAllowedSigners([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if len(got) != tc.want {
				t.Fatalf("%d signers, want %d", len(got), tc.want)
			}
		})
	}
}

func TestParseSSHTime(t *testing.T) {
	tests := map[string]struct {
		in   string
		want time.Time
		bad  bool
	}{
		"date utc":    {in: "20240102Z", want: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
		"minutes utc": {in: "202401020304Z", want: time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC)},
		"seconds utc": {in: "20240102030405Z", want: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		"local":       {in: "20240102", want: time.Date(2024, 1, 2, 0, 0, 0, 0, time.Local)},
		"too short":   {in: "2024", bad: true},
		"not a date":  {in: "20241340", bad: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseSSHTime(tc.in)
			if (err != nil) != tc.bad {
				t.Fatalf("err = %v", err)
			}
			if !tc.bad && !got.Equal(tc.want) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// A signature must cover the commit: change the commit and it fails.
func TestVerifyTampered(t *testing.T) {
	r := newTestRepo(t)
	e, pub := testenv.PGPKey(t, "Trusted")
	key, keyPub, _ := sshKey(t, t.TempDir(), "k", "ed25519")
	v, err := newVerifier(pub, []byte("k@example.com "+keyPub))
	if err != nil {
		t.Fatal(err)
	}
	commits := map[string]string{
		"openpgp": r.commitPGP("a\n", "pgp", e),
		"ssh":     r.commit("b\n", "ssh", []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key}, "-S"),
	}
	repo, err := git.PlainOpen(r.bare)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range commits {
		t.Run(name, func(t *testing.T) {
			c, err := repo.CommitObject(plumbing.NewHash(h))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.verify(c); err != nil {
				t.Fatalf("untouched commit: %v", err)
			}
			c.Message = "evil\n"
			if _, err := v.verify(c); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("tampered commit: err = %v, want ErrBadSignature", err)
			}
		})
	}
}

// sshSignPayload signs msg with ssh-keygen -Y sign in namespace ns.
func sshSignPayload(t *testing.T, key, ns string, msg []byte) string {
	t.Helper()
	cmd := exec.Command("ssh-keygen", "-q", "-Y", "sign", "-n", ns, "-f", key)
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v", err)
	}
	return string(out)
}

// TestVerifySignatureRules: an SSH signature counts only in namespace
// "git", only inside the signer's valid-after/valid-before (judged at the
// commit time) and only alone: a commit carries exactly one armored
// signature and nothing else.
func TestVerifySignatureRules(t *testing.T) {
	r := newTestRepo(t)
	keys := t.TempDir()
	key, keyPub, fpr := sshKey(t, keys, "k", "ed25519")
	future, futurePub, _ := sshKey(t, keys, "future", "ed25519")
	retired, retiredPub, _ := sshKey(t, keys, "retired", "ed25519")
	stranger, _, _ := sshKey(t, keys, "stranger", "ed25519")
	e, pgpPub := testenv.PGPKey(t, "Trusted")
	other, _ := testenv.PGPKey(t, "Other")
	v, err := newVerifier(pgpPub, []byte(strings.Join([]string{
		"k@example.com " + keyPub,
		`future@example.com valid-after="20990101Z" ` + futurePub,
		`retired@example.com valid-before="20000101" ` + retiredPub,
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(r.bare)
	if err != nil {
		t.Fatal(err)
	}
	h := r.commit("a\n", "plain", nil)
	base, err := repo.CommitObject(plumbing.NewHash(h))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := signedPayload(base)
	if err != nil {
		t.Fatal(err)
	}
	pgpSig := func(e *openpgp.Entity, data []byte) string {
		var b bytes.Buffer
		if err := openpgp.ArmoredDetachSign(&b, e, bytes.NewReader(data), nil); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	good := sshSignPayload(t, key, "git", msg)
	tests := map[string]struct {
		sig      string
		signedBy string
		wantErr  error
	}{
		"ssh, namespace git":              {sig: good, signedBy: fpr},
		"ssh, namespace file":             {sig: sshSignPayload(t, key, "file", msg), wantErr: ErrBadSignature},
		"ssh, other data":                 {sig: sshSignPayload(t, key, "git", append(msg, 'x')), wantErr: ErrBadSignature},
		"ssh, key valid only after 2099":  {sig: sshSignPayload(t, future, "git", msg), wantErr: ErrBadSignature},
		"ssh, key valid only before 2000": {sig: sshSignPayload(t, retired, "git", msg), wantErr: ErrBadSignature},
		"ssh, unknown key":                {sig: sshSignPayload(t, stranger, "git", msg), wantErr: ErrUnknownKey},
		"ssh, twice":                      {sig: good + good, wantErr: ErrBadSignature},
		"openpgp":                         {sig: pgpSig(e, msg), signedBy: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)},
		"openpgp, then another signature": {sig: pgpSig(e, msg) + pgpSig(other, msg), wantErr: ErrBadSignature},
		"openpgp, then an ssh signature":  {sig: pgpSig(e, msg) + sshSignPayload(t, stranger, "git", msg), wantErr: ErrBadSignature},
		"openpgp, then text":              {sig: pgpSig(e, msg) + "trailing words\n", wantErr: ErrBadSignature},
		"text, then openpgp":              {sig: "leading words\n" + pgpSig(e, msg), wantErr: ErrBadSignature},
		"ssh header, openpgp footer":      {sig: strings.Replace(good, "END SSH SIGNATURE", "END PGP SIGNATURE", 1), wantErr: ErrBadSignature},
		"unsigned":                        {sig: "  \n", wantErr: ErrUnsigned},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := *base
			c.PGPSignature = tc.sig
			got, err := v.verify(&c)
			if tc.wantErr == nil {
				if err != nil || got != tc.signedBy {
					t.Fatalf("verify = %q, %v; want %q", got, err, tc.signedBy)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("verify = %q, %v; want %v", got, err, tc.wantErr)
			}
		})
	}
}
