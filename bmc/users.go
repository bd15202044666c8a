package bmc

import (
	"context"
	"fmt"
	"os"
	"strconv"
)

// Primitives for user management (credential rotation). bmclib's ipmitool
// provider cannot create or change IPMI users, so these run ipmitool
// through the package's exec helper. They are not retried.

func checkSlot(slot int) error {
	if slot < 2 || slot > 63 {
		return fmt.Errorf("user slot %d out of range 2..63", slot)
	}
	return nil
}

// SetUser sets the name and the password of user slot (2..63). The
// password is passed in a 0600 command file read by `ipmitool exec`, never
// on a command line.
func (c *Client) SetUser(ctx context.Context, t Target, slot int, creds Credentials) error {
	action := fmt.Sprintf("set user %d", slot)
	if err := checkSlot(slot); err != nil {
		return wrap(t.Node, action, err)
	}
	if err := creds.Validate(); err != nil {
		return wrap(t.Node, action, err)
	}
	return c.once(ctx, t, action, func(ctx context.Context, cn *conn) error {
		if _, err := cn.run.run(ctx, "user", "set", "name", strconv.Itoa(slot), creds.User); err != nil {
			return fmt.Errorf("set name: %w", err)
		}
		size := "16"
		if len(creds.Password) > 16 {
			size = "20"
		}
		line := fmt.Sprintf("user set password %d \"%s\" %s\n", slot, creds.Password, size)
		if err := execFile(ctx, cn.run, line); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		return nil
	})
}

// execFile writes line to a private temporary file and runs it with
// `ipmitool exec`, so that secrets in line never reach an argv.
func execFile(ctx context.Context, r ipmitoolRun, line string) error {
	f, err := os.CreateTemp("", "rackctl-ipmi-*.cmd") // mode 0600
	if err != nil {
		return fmt.Errorf("command file: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("command file: %w", err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("command file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("command file: %w", err)
	}
	_, err = r.run(ctx, "exec", f.Name())
	return err
}

// EnableUser enables user slot.
func (c *Client) EnableUser(ctx context.Context, t Target, slot int) error {
	return c.userCmd(ctx, t, slot, "enable user", "user", "enable", strconv.Itoa(slot))
}

// DisableUser disables user slot.
func (c *Client) DisableUser(ctx context.Context, t Target, slot int) error {
	return c.userCmd(ctx, t, slot, "disable user", "user", "disable", strconv.Itoa(slot))
}

// SetUserPrivilege grants user slot the privilege (admin, operator, user,
// callback, no_access) on the LAN channel, with IPMI messaging, link
// authentication and call-in enabled (`channel setaccess`).
func (c *Client) SetUserPrivilege(ctx context.Context, t Target, slot int, privilege string) error {
	p, err := PrivilegeLevel(privilege)
	if err != nil {
		return wrap(t.Node, "set user privilege", err)
	}
	return c.userCmd(ctx, t, slot, "set user privilege", "channel", "setaccess", strconv.Itoa(LANChannel),
		strconv.Itoa(slot), "callin=on", "ipmi=on", "link=on", "privilege="+strconv.Itoa(p))
}

func (c *Client) userCmd(ctx context.Context, t Target, slot int, action string, args ...string) error {
	action = fmt.Sprintf("%s %d", action, slot)
	if err := checkSlot(slot); err != nil {
		return wrap(t.Node, action, err)
	}
	return c.once(ctx, t, action, func(ctx context.Context, cn *conn) error {
		_, err := cn.run.run(ctx, args...)
		return err
	})
}

// TestLogin opens a session on t with creds (not the client's) at
// administrator privilege and closes it. It returns nil, or an error
// matching ErrAuth or ErrUnreachable.
func (c *Client) TestLogin(ctx context.Context, t Target, creds Credentials) error {
	t.Credentials = creds
	if err := creds.Validate(); err != nil {
		return wrap(t.Node, "test login", err)
	}
	return c.do(ctx, t, "test login", func(ctx context.Context, cn *conn) error {
		s, err := dialRMCP(ctx, cn.host, cn.port, cn.creds, privAdmin)
		if err != nil {
			return err
		}
		return s.close(ctx)
	})
}

// once is do without retries, for writes that must not be repeated blindly.
func (c *Client) once(ctx context.Context, t Target, action string, op func(ctx context.Context, cn *conn) error) error {
	cc := *c
	cc.cfg.Retries = 0
	return cc.do(ctx, t, action, op)
}
