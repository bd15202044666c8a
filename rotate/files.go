package rotate

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/rootfs"
)

// CredentialFiles are rackctl's credential files (the spec's
// bmc.userFile and bmc.passwordFile, as host paths).
type CredentialFiles struct {
	UserFile     string `json:"userFile"`
	PasswordFile string `json:"passwordFile"`
	// Root is rackctl's --root: a file beneath it is read and written
	// without following a link anywhere below Root; any other file
	// without following a link at the file itself.
	Root string `json:"-"`
}

// maxCredentialFile bounds a credential file read (IPMI names are 16
// bytes, passwords 20: anything larger is the wrong file).
const maxCredentialFile = 4096

// place resolves p to a rootfs root and a path beneath it.
func place(root, p string) (*rootfs.Root, string, error) {
	base, rel := filepath.Dir(p), filepath.Base(p)
	if root != "" {
		if r, err := rootfs.New(root); err == nil {
			if rel, ok := r.Rel(p); ok {
				return r, rel, nil
			}
		}
	}
	r, err := rootfs.New(base)
	return r, rel, err
}

func readCredentialFile(root, p string) ([]byte, error) {
	r, rel, err := place(root, p)
	if err != nil {
		return nil, err
	}
	b, _, err := r.ReadFile(rel, maxCredentialFile)
	return b, err
}

func writeCredentialFile(root, p string, data []byte) error {
	r, rel, err := place(root, p)
	if err != nil {
		return err
	}
	return r.WriteFile(rel, data, 0o600)
}

// BackupSuffix is appended to a credential file's name for the copy of
// its content before the switch.
const BackupSuffix = ".old"

// ReadPassword reads a password file (bmc.rotate.passwordFile): its whole
// content with one trailing newline (and carriage return) trimmed. A
// password the BMCs or rackctl's credential files cannot carry
// (bmc.CheckPassword) is refused with a *bmc.PasswordError naming the
// file, line and column, never the password.
//
// root is rackctl's --root: a file beneath it is read without following a
// link below root, so a planted link cannot make the rotation set a BMC
// password from some other file.
func ReadPassword(root, path string) (string, error) {
	data, err := readCredentialFile(root, path)
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
		data, err := readCredentialFile(f.Root, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("back up %s: %w", p, err)
		}
		if err := writeCredentialFile(f.Root, p+BackupSuffix, data); err != nil {
			return fmt.Errorf("back up %s: %w", p, err)
		}
	}
	return nil
}

// write replaces the files with user and password, each atomically, 0600.
// Both places are checked first, so a link refused at the second file
// does not leave the first one switched alone.
func (f CredentialFiles) write(user, password string) error {
	for _, p := range []string{f.UserFile, f.PasswordFile} {
		r, rel, err := place(f.Root, p)
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if _, err := r.Stat(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	if err := writeCredentialFile(f.Root, f.UserFile, []byte(user+"\n")); err != nil {
		return fmt.Errorf("write %s: %w", f.UserFile, err)
	}
	if err := writeCredentialFile(f.Root, f.PasswordFile, []byte(password+"\n")); err != nil {
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
