package bmc

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// BootParam is the boot flags parameter (IPMI boot option parameter 5).
type BootParam struct {
	// Device is one of the Boot* constants ("none" when no override is set).
	Device     string
	Persistent bool
	EFI        bool
}

func (b BootParam) String() string {
	return fmt.Sprintf("device=%s persistent=%t efi=%t", b.Device, b.Persistent, b.EFI)
}

// Boot devices understood by SetBootDevice and reported by BootDevice.
const (
	BootNone   = "none"
	BootPXE    = "pxe"
	BootDisk   = "disk"
	BootSafe   = "safe"
	BootDiag   = "diag"
	BootCDROM  = "cdrom"
	BootBIOS   = "bios"
	BootFloppy = "floppy"
)

// bootSelectors maps the device selector (bits 5:2 of data byte 2) to names.
var bootSelectors = map[byte]string{
	0x0: BootNone, 0x1: BootPXE, 0x2: BootDisk, 0x3: BootSafe,
	0x4: BootDiag, 0x5: BootCDROM, 0x6: BootBIOS, 0xf: BootFloppy,
}

func bootSelector(dev string) (byte, bool) {
	for k, v := range bootSelectors {
		if v == dev {
			return k, true
		}
	}
	return 0, false
}

// bootFlagBytes is the 5-byte boot flags value written for dev.
func bootFlagBytes(dev string, persistent, efi bool) ([5]byte, error) {
	sel, ok := bootSelector(dev)
	if !ok {
		return [5]byte{}, fmt.Errorf("unknown boot device %q", dev)
	}
	var b [5]byte
	b[0] = 0x80 // flags valid
	if persistent {
		b[0] |= 0x40
	}
	if efi {
		b[0] |= 0x20
	}
	b[1] = sel << 2
	return b, nil
}

func decodeBootFlags(data []byte) (BootParam, error) {
	if len(data) < 2 {
		return BootParam{}, fmt.Errorf("boot flags: %d bytes, want 5", len(data))
	}
	dev, ok := bootSelectors[(data[1]>>2)&0x0f]
	if !ok {
		dev = fmt.Sprintf("unknown(0x%x)", (data[1]>>2)&0x0f)
	}
	return BootParam{Device: dev, Persistent: data[0]&0x40 != 0, EFI: data[0]&0x20 != 0}, nil
}

// ParseBootParam5 parses the output of `ipmitool chassis bootparam get 5`.
// It reads the "Boot parameter data:" hex line, the authoritative value.
func ParseBootParam5(out string) (BootParam, error) {
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "Boot parameter data" {
			continue
		}
		data, err := hex.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return BootParam{}, fmt.Errorf("boot parameter data %q: %w", strings.TrimSpace(v), err)
		}
		return decodeBootFlags(data)
	}
	return BootParam{}, fmt.Errorf("no boot parameter data in %q", strings.TrimSpace(out))
}

// ParsePowerStatus parses `chassis power status` ("Chassis Power is on").
func ParsePowerStatus(out string) (string, error) {
	s := strings.TrimSpace(out)
	for _, st := range []string{"on", "off"} {
		if strings.Contains(s, "Chassis Power is "+st) {
			return st, nil
		}
	}
	return "", fmt.Errorf("unexpected power status %q", s)
}

// User is one BMC user slot.
type User struct {
	ID   int
	Name string
	// Enabled: the BMC's enable status where it reports one; otherwise
	// (ipmi_sim, some vendors report "unknown") whether IPMI messaging is
	// enabled for the user on the channel.
	Enabled bool
	// Privilege on the LAN channel: ADMINISTRATOR, OPERATOR, USER, ...
	Privilege string
}

// ParseChannelAccess parses `ipmitool channel getaccess CHANNEL` and returns
// the users with a name, ordered by ID.
func ParseChannelAccess(out string) ([]User, error) {
	var users []User
	var cur *User
	var messaging, status string
	flush := func() {
		if cur != nil && cur.Name != "" {
			switch status {
			case "enabled":
				cur.Enabled = true
			case "disabled":
				cur.Enabled = false
			default:
				cur.Enabled = messaging == "enabled"
			}
			users = append(users, *cur)
		}
		cur, messaging, status = nil, "", ""
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "User ID":
			flush()
			id, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("channel access: user id %q: %w", v, err)
			}
			cur = &User{ID: id}
		case "User Name":
			if cur != nil {
				cur.Name = v
			}
		case "Privilege Level":
			if cur != nil {
				cur.Privilege = v
			}
		case "IPMI Messaging":
			messaging = v
		case "Enable Status":
			status = v
		}
	}
	flush()
	return users, nil
}

// privileges are the channel privilege levels (ipmitool numbering).
var privileges = map[string]int{
	"callback": 1, "user": 2, "operator": 3, "administrator": 4, "admin": 4, "oem": 5, "no_access": 15,
}

// PrivilegeLevel maps a name (admin, operator, user, ...) to its number.
func PrivilegeLevel(name string) (int, error) {
	p, ok := privileges[strings.ToLower(name)]
	if !ok {
		return 0, fmt.Errorf("unknown privilege %q", name)
	}
	return p, nil
}
