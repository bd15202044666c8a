package rotate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/atomicfile"
)

// CredentialFiles are rackctl's credential files (the spec's
// bmc.userFile and bmc.passwordFile, as host paths).
type CredentialFiles struct {
	UserFile     string `json:"userFile"`
	PasswordFile string `json:"passwordFile"`
}

// BackupSuffix is appended to a credential file's name for the copy of
// its content before the switch.
const BackupSuffix = ".old"

// ReadPassword reads a password file (bmc.rotate.passwordFile): its whole
// content with one trailing newline (and carriage return) trimmed. A
// password the BMCs or rackctl's credential files cannot carry
// (bmc.CheckPassword) is refused with a *bmc.PasswordError naming the
// file, line and column, never the password.
func ReadPassword(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	s = strings.TrimSuffix(s, "\r")
	if err := bmc.CheckPassword(s); err != nil {
		var pe *bmc.PasswordError
		if errors.As(err, &pe) {
			pe.File = path
		}
		return "", err
	}
	return s, nil
}

// backup copies each credential file to <file>.old (0600). A missing
// file is not an error: there is nothing to keep.
func (f CredentialFiles) backup() error {
	for _, p := range []string{f.UserFile, f.PasswordFile} {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("back up %s: %w", p, err)
		}
		if err := atomicfile.Write(p+BackupSuffix, data, 0o600); err != nil {
			return fmt.Errorf("back up %s: %w", p, err)
		}
	}
	return nil
}

// write replaces the files with user and password, each atomically, 0600.
func (f CredentialFiles) write(user, password string) error {
	if err := atomicfile.Write(f.UserFile, []byte(user+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", f.UserFile, err)
	}
	if err := atomicfile.Write(f.PasswordFile, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", f.PasswordFile, err)
	}
	return nil
}

func (f CredentialFiles) check() error {
	if f.UserFile == "" || f.PasswordFile == "" {
		return errors.New("credential files not named (bmc.userFile, bmc.passwordFile)")
	}
	if filepath.Clean(f.UserFile) == filepath.Clean(f.PasswordFile) {
		return fmt.Errorf("bmc.userFile and bmc.passwordFile are the same file %s", f.UserFile)
	}
	return nil
}
