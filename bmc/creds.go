package bmc

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/rackctl/rackctl/internal/rootfs"
)

// Credentials log in to a BMC. String and the slog form never show the
// password.
type Credentials struct {
	User     string
	Password string
}

// String redacts the password.
func (c Credentials) String() string {
	return fmt.Sprintf("user %q, password <redacted>", c.User)
}

// GoString redacts the password for %#v too.
func (c Credentials) GoString() string { return "bmc.Credentials{" + c.String() + "}" }

// LogValue keeps the password out of structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Env variable names read by CredentialsFromEnv.
const (
	EnvUser     = "RACKCTL_BMC_USER"
	EnvPassword = "RACKCTL_BMC_PASSWORD"
)

// maxSecretFile bounds a credential file: IPMI 2.0 user names are at most
// 16 bytes and passwords 20, so anything this large is the wrong file.
const maxSecretFile = 4096

// SecretFile is a credential file: Rel beneath Root, read without
// following links (rootfs), so a path or a link cannot make rackctl read a
// file outside Root. Field and Name say where the spec named it, for
// messages; no message ever holds the file's content.
type SecretFile struct {
	Root  *rootfs.Root
	Rel   string // slash path relative to Root
	Field string // the spec field, e.g. "bmc.userFile"
	Name  string // the path as the spec wrote it
}

func (f SecretFile) String() string {
	return fmt.Sprintf("%s %s (%s)", f.Field, f.Name, f.Root.HostPath(f.Rel))
}

// ReadCredentialsFrom reads the user name and the password from two
// credential files, one value each; one trailing newline (and carriage
// return) is trimmed. Errors name the files, never their content.
func ReadCredentialsFrom(userFile, passwordFile SecretFile) (Credentials, error) {
	user, err := readSecret(userFile)
	if err != nil {
		return Credentials{}, fmt.Errorf("read bmc user: %w", err)
	}
	pass, err := readSecret(passwordFile)
	if err != nil {
		return Credentials{}, fmt.Errorf("read bmc password: %w", err)
	}
	c := Credentials{User: user, Password: pass}
	// Validate's message may quote the user name; the file may be any
	// file (a wrong path), so say what is wrong without its content.
	if c.User == "" || len(c.User) > 16 || bad(c.User) {
		return Credentials{}, fmt.Errorf("%s: not an IPMI user name (%s; want one line of 1-16 bytes without control characters or quotes)", userFile, shape(user))
	}
	if len(c.Password) > 20 || bad(c.Password) {
		return Credentials{}, fmt.Errorf("%s: not an IPMI password (%s; want one line of at most 20 bytes without control characters or quotes)", passwordFile, shape(pass))
	}
	if err := c.Validate(); err != nil {
		return Credentials{}, fmt.Errorf("credentials from %s and %s: not valid", userFile, passwordFile)
	}
	return c, nil
}

// shape describes a value by its size only.
func shape(s string) string {
	return fmt.Sprintf("%d bytes, %d lines", len(s), strings.Count(s, "\n")+1)
}

// ReadCredentials reads the credentials from two host paths; each is read
// beneath its own directory without following a link at the file. The CLI
// uses ReadCredentialsFrom, which keeps the whole path beneath --root.
func ReadCredentials(userFile, passwordFile string) (Credentials, error) {
	var files [2]SecretFile
	for i, p := range []string{userFile, passwordFile} {
		root, err := rootfs.New(filepath.Dir(p))
		if err != nil {
			return Credentials{}, err
		}
		files[i] = SecretFile{Root: root, Rel: filepath.Base(p), Field: [2]string{"user file", "password file"}[i], Name: p}
	}
	return ReadCredentialsFrom(files[0], files[1])
}

// CredentialsFromEnv reads RACKCTL_BMC_USER and RACKCTL_BMC_PASSWORD.
func CredentialsFromEnv() (Credentials, error) {
	c := Credentials{User: os.Getenv(EnvUser), Password: os.Getenv(EnvPassword)}
	if err := c.Validate(); err != nil {
		return Credentials{}, fmt.Errorf("credentials from %s/%s: %w", EnvUser, EnvPassword, err)
	}
	return c, nil
}

// Validate checks what IPMI 2.0 accepts: a user name of 1–16 bytes and a
// password of at most 20 bytes, neither with control characters or quotes.
func (c Credentials) Validate() error {
	if c.User == "" {
		return errors.New("empty user name")
	}
	if len(c.User) > 16 {
		return fmt.Errorf("user name %q longer than 16 bytes", c.User)
	}
	if len(c.Password) > 20 {
		return errors.New("password longer than 20 bytes")
	}
	if bad(c.User) {
		return fmt.Errorf("user name %q contains a control character or quote", c.User)
	}
	if bad(c.Password) {
		return errors.New("password contains a control character or quote")
	}
	return nil
}

func bad(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '"' || r == '\'' || r == '\\' })
}

func readSecret(f SecretFile) (string, error) {
	if f.Root == nil {
		return "", fmt.Errorf("%s %s: no directory to read it beneath", f.Field, f.Name)
	}
	b, _, err := f.Root.ReadFile(f.Rel, maxSecretFile)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", f.Field, f.Name, err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}
