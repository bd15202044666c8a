package bmc

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
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

// ReadCredentials reads the user name and the password from two files, one
// value each; one trailing newline (and carriage return) is trimmed.
func ReadCredentials(userFile, passwordFile string) (Credentials, error) {
	user, err := readSecretFile(userFile)
	if err != nil {
		return Credentials{}, fmt.Errorf("read bmc user: %w", err)
	}
	pass, err := readSecretFile(passwordFile)
	if err != nil {
		return Credentials{}, fmt.Errorf("read bmc password: %w", err)
	}
	c := Credentials{User: user, Password: pass}
	if err := c.Validate(); err != nil {
		return Credentials{}, fmt.Errorf("credentials from %s and %s: %w", userFile, passwordFile, err)
	}
	return c, nil
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

func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}
