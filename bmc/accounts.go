package bmc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The account operations below are the IPMI side of the accounts contract
// rotate works through (Driver's account methods); the Redfish side is in
// redfish_accounts.go.

// AccountSlots is the range of user IDs a new account may take: above
// slot 1 (the anonymous user) and the fixed-name slots, up to the BMC's
// maximum (`user summary`, at most 63).
func (c *Client) AccountSlots(ctx context.Context, t Target) (first, last int, err error) {
	out, err := c.Exec(ctx, t, "user", "summary", strconv.Itoa(LANChannel))
	if err != nil {
		return 0, 0, err
	}
	maxID, fixed, err := ParseUserSummary(string(out))
	if err != nil {
		return 0, 0, wrap(t.Node, "user summary", err)
	}
	return max(2, fixed+1), maxID, nil
}

// ParseUserSummary reads "Maximum IDs" and "Fixed Name Count" of
// `ipmitool user summary`; max is capped at 63 (IPMI's user ID range).
func ParseUserSummary(out string) (maxID, fixed int, err error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Maximum IDs":
			maxID = n
		case "Fixed Name Count":
			fixed = n
		}
	}
	if maxID == 0 {
		return 0, 0, fmt.Errorf("no \"Maximum IDs\" in %q", strings.TrimSpace(out))
	}
	return min(maxID, 63), fixed, nil
}

// WriteAccount sets the name and password of user slot (SetUser); IPMI
// slots are fixed, so the account keeps slot.
func (c *Client) WriteAccount(ctx context.Context, t Target, slot int, creds Credentials) (int, error) {
	return slot, c.SetUser(ctx, t, slot, creds)
}

// EnableAccount enables user slot and grants it ADMINISTRATOR with IPMI
// messaging and call-in on the LAN channel (link authentication off).
func (c *Client) EnableAccount(ctx context.Context, t Target, slot int) error {
	if err := c.EnableUser(ctx, t, slot); err != nil {
		return err
	}
	return c.userCmd(ctx, t, slot, "grant administrator to user", "channel", "setaccess", strconv.Itoa(LANChannel), strconv.Itoa(slot),
		"callin=on", "ipmi=on", "link=off", "privilege=4")
}

// DeleteAccount clears the name of user slot with a raw Set User Name
// (netfn 0x06, cmd 0x45, 16 zero bytes): ipmitool has no user delete, and
// an empty name is what an unused slot has. A BMC refusing it answers
// ErrCommand.
func (c *Client) DeleteAccount(ctx context.Context, t Target, slot int) error {
	if err := checkSlot(slot); err != nil {
		return wrap(t.Node, "delete account", err)
	}
	args := []string{"raw", "0x06", "0x45", fmt.Sprintf("0x%02x", slot)}
	for range 16 {
		args = append(args, "0x00")
	}
	_, err := c.Exec(ctx, t, args...)
	return err
}

// Inventory reads the BMC firmware (`mc info`) and the board's FRU
// (`fru print 0`).
func (c *Client) Inventory(ctx context.Context, t Target) (Inventory, error) {
	var inv Inventory
	err := c.do(ctx, t, "inventory", func(ctx context.Context, cn *conn) error {
		var err error
		inv, err = ipmiInventory(ctx, cn.run)
		return err
	})
	return inv, err
}

// ipmiInventory is what IPMI tells of a server: the BMC's firmware
// revision and, where the BMC has a FRU inventory (ipmi_sim has none
// unless configured), the product's name and serial. IPMI has no BIOS
// version and no health roll-up: those fields stay empty, never guessed.
func ipmiInventory(ctx context.Context, run ipmitoolRun) (Inventory, error) {
	var inv Inventory
	out, err := run.run(ctx, "mc", "info")
	if err != nil {
		return inv, err
	}
	f := colonFields(string(out))
	inv.BMCVersion = f["Firmware Revision"]
	inv.Manufacturer = f["Manufacturer Name"]
	if out, err := run.run(ctx, "fru", "print", "0"); err == nil {
		f := colonFields(string(out))
		inv.Model = firstOf(f["Product Name"], f["Board Product"])
		inv.Serial = firstOf(f["Product Serial"], f["Board Serial"])
		inv.Manufacturer = firstOf(f["Product Manufacturer"], f["Board Mfg"], inv.Manufacturer)
	} else if !errors.Is(err, ErrCommand) {
		return inv, err
	}
	return inv, nil
}

func colonFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			k = strings.TrimSpace(k)
			if _, seen := m[k]; !seen {
				m[k] = strings.TrimSpace(v)
			}
		}
	}
	return m
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Close ends the kept sessions (Config.KeepSessions), each with a Close
// Session; without them there is nothing to end.
func (c *Client) Close() error {
	if c.pool == nil {
		return nil
	}
	return c.pool.close()
}
