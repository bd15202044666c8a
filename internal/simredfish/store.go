package simredfish

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// account is a BMC user. The password is kept as a salted hash, as a BMC
// keeps it: the sim's directory never holds a password in clear.
type account struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Salt     string `json:"salt"`
	Hash     string `json:"hash"`
	RoleID   string `json:"roleId"`
	Enabled  bool   `json:"enabled"`
	// AccountTypes are the services the account may use (bmclib sets them).
	AccountTypes []string `json:"accountTypes,omitempty"`
	// RefuseLogin: the account exists but no login with it succeeds
	// (the RefuseNextLogin knob).
	RefuseLogin bool `json:"refuseLogin,omitempty"`
}

// empty: the slot holds no account (a user name is what makes one).
func (a *account) empty() bool { return a.UserName == "" }

// clear turns the slot back into an empty one.
func (a *account) clear() {
	*a = account{ID: a.ID, RoleID: "None"}
}

func (a *account) setPassword(pw string) {
	var salt [8]byte
	rand.Read(salt[:])
	a.Salt = hex.EncodeToString(salt[:])
	a.Hash = hashPassword(a.Salt, pw)
}

func (a *account) checkPassword(pw string) bool {
	return subtle.ConstantTimeCompare([]byte(a.Hash), []byte(hashPassword(a.Salt, pw))) == 1
}

func hashPassword(salt, pw string) string {
	sum := sha256.Sum256([]byte(salt + "\x00" + pw))
	return hex.EncodeToString(sum[:])
}

// bootOverride is the system's Boot resource as set by clients.
type bootOverride struct {
	Target  string `json:"target"`  // BootSourceOverrideTarget
	Enabled string `json:"enabled"` // Once, Continuous, Disabled
	Mode    string `json:"mode"`    // UEFI, Legacy
}

// media is the manager's virtual CD.
type media struct {
	Image          string `json:"image,omitempty"`
	Inserted       bool   `json:"inserted"`
	WriteProtected bool   `json:"writeProtected"`
}

// persisted is what survives a restart of the BMC, kept in bmc.json.
// Accounts are a fixed table of slots, as on iDRAC and most IPMI-derived
// BMCs: bmclib creates a user by filling an empty (disabled, nameless)
// slot and deletes one by emptying it; POST and DELETE (OpenBMC's way)
// fill and empty slots too.
type persisted struct {
	Accounts []*account   `json:"accounts"`
	Boot     bootOverride `json:"boot"`
	Media    media        `json:"media"`
}

const stateFile = "bmc.json"

// loadState reads the BMC's state from dir, or makes the first one with
// one Administrator account in slot 2 (slot 1 stays reserved and empty,
// as on iDRAC, whose slot 1 bmclib skips).
func loadState(dir, user, password string) (*persisted, error) {
	var st persisted
	found, err := atomicfile.ReadJSON(filepath.Join(dir, stateFile), &st)
	if err != nil {
		return nil, fmt.Errorf("simredfish: state in %s: %w", dir, err)
	}
	if found {
		return &st, nil
	}
	if password == "" {
		return nil, errors.New("simredfish: no password for the first account")
	}
	st = persisted{Boot: bootOverride{Target: "None", Enabled: "Disabled", Mode: "UEFI"}}
	for i := 1; i <= accountSlots; i++ {
		a := &account{ID: strconv.Itoa(i)}
		a.clear()
		st.Accounts = append(st.Accounts, a)
	}
	admin := st.Accounts[1]
	admin.UserName, admin.RoleID, admin.Enabled, admin.AccountTypes = user, "Administrator", true, []string{"Redfish"}
	admin.setPassword(password)
	return &st, nil
}

func (st *persisted) save(dir string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("simredfish: save state: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, stateFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("simredfish: save state: %w", err)
	}
	return nil
}

func (st *persisted) account(id string) *account {
	for _, a := range st.Accounts {
		if a.ID == id {
			return a
		}
	}
	return nil
}

func (st *persisted) accountByName(name string) *account {
	if name == "" {
		return nil
	}
	for _, a := range st.Accounts {
		if a.UserName == name {
			return a
		}
	}
	return nil
}

// bootWord is the boot target in the IPMI sim's vocabulary (its "boot"
// file holds none, pxe, default, ...), so the file reads the same for
// both kinds of BMC.
var bootWord = map[string]string{
	"None": "default", "Pxe": "pxe", "Hdd": "disk", "Cd": "cdrom", "Usb": "usb",
	"BiosSetup": "bios", "Floppy": "floppy", "Diags": "diag", "Utilities": "utilities",
	"UefiHttp": "http", "UefiTarget": "uefi-target", "SDCard": "sdcard",
}

// writeBootFile shows the override to humans: target (IPMI sim words),
// how long it lasts, and the boot mode, e.g. "pxe once uefi".
func writeBootFile(chassisDir string, b bootOverride) error {
	word := bootWord[b.Target]
	if b.Enabled == "Disabled" {
		word = "default"
	}
	line := fmt.Sprintf("%s %s %s\n", word, strings.ToLower(b.Enabled), strings.ToLower(b.Mode))
	return writeFile(filepath.Join(chassisDir, "boot"), line)
}

func writeFile(path, content string) error {
	if err := atomicfile.Write(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("simredfish: %w", err)
	}
	return nil
}

// readPower reads the chassis power file the simulated server shares.
func readPower(chassisDir string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(chassisDir, "power"))
	if err != nil {
		return false, fmt.Errorf("simredfish: power: %w", err)
	}
	return strings.TrimSpace(string(data)) == "1", nil
}

func setPower(chassisDir string, on bool) error {
	return writeFile(filepath.Join(chassisDir, "power"), strconv.Itoa(btoi(on))+"\n")
}

// appendReset records a reset the way simrack's chassis script does: one
// line per reset in "resets".
func appendReset(chassisDir string) error {
	f, err := os.OpenFile(filepath.Join(chassisDir, "resets"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("simredfish: resets: %w", err)
	}
	_, err = f.WriteString("1\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("simredfish: resets: %w", err)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
