package bmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Primitives for user management (credential rotation). bmclib's ipmitool
// provider cannot create or change IPMI users. The name and the password
// are written as bytes in IPMI messages of the pure-Go RMCP+ client: no
// ipmitool command line, `exec` file or shell ever parses them, so no
// character ('#', quotes, spaces, ';') can cut or change what is set.
// None of these calls is retried.

// Password sizes of IPMI 2.0 Set User Password (22.30): the IPMI 1.5 form
// carries 16 bytes, the IPMI 2.0 form 20. A BMC without 20-byte passwords
// may refuse the longer form, or (ipmi_sim) silently keep 16 bytes of it.
const (
	PasswordSize16 = 16
	PasswordSize20 = 20
)

// ErrUserMismatch: what the BMC holds for a user after a write is not
// what was written (name read back differs, or the BMC's password test
// fails for the password just set).
var ErrUserMismatch = errors.New("user account read-back mismatch")

// PasswordError says why a password cannot become a BMC password and
// where in it. It never holds the password or a character of it.
type PasswordError struct {
	// File, when set, is the file the password was read from.
	File string
	// Line and Col are the 1-based position of the offending character
	// (Col counts characters); Offset is its byte offset.
	Line, Col, Offset int
	Reason            string
}

func (e *PasswordError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Reason)
	}
	return fmt.Sprintf("password, line %d column %d: %s", e.Line, e.Col, e.Reason)
}

// CheckPassword checks that password can be set on a BMC and then kept in
// rackctl's credential files: 1 to 20 bytes, and none of the characters
// that the files' reader (ReadCredentials: one value per file) refuses or
// that would make the file more than one line: control characters
// (C0, DEL, C1), line and paragraph separators, quotes and backslashes.
// Everything else, '#', spaces, ';' and non-ASCII included, is carried
// byte for byte. The error is a *PasswordError.
func CheckPassword(password string) error {
	if password == "" {
		return &PasswordError{Line: 1, Col: 1, Reason: "the password is empty"}
	}
	col := 0
	for off := 0; off < len(password); {
		r, size := utf8.DecodeRuneInString(password[off:])
		col++
		what := ""
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			what = "a control character"
		case r == '\u2028' || r == '\u2029':
			what = "a line or paragraph separator"
		case r == '"' || r == '\'':
			what = "a quote"
		case r == '\\':
			what = "a backslash"
		}
		if what != "" {
			return &PasswordError{Line: 1, Col: col, Offset: off,
				Reason: what + " is not allowed in a BMC password (rackctl's credential files hold one line without quotes, backslashes or control characters): choose another password"}
		}
		if off+size > PasswordSize20 {
			return &PasswordError{Line: 1, Col: col, Offset: off,
				Reason: fmt.Sprintf("the password is %d bytes long, IPMI 2.0 allows at most %d (%d on BMCs without IPMI 2.0 passwords); this character ends past byte %d (characters outside ASCII take 2 to 4 bytes)",
					len(password), PasswordSize20, PasswordSize16, PasswordSize20)}
		}
		off += size
	}
	return nil
}

func checkSlot(slot int) error {
	if slot < 2 || slot > 63 {
		return fmt.Errorf("user slot %d out of range 2..63", slot)
	}
	return nil
}

// passwordForm returns the Set User Password user-ID byte and the padded
// password: the 16-byte form when the password fits, else the 20-byte
// form (bit 7 of the user-ID byte).
func passwordForm(slot int, password string) (byte, []byte) {
	if len(password) <= PasswordSize16 {
		return byte(slot), padded(password, PasswordSize16)
	}
	return 0x80 | byte(slot), padded(password, PasswordSize20)
}

func padded(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

// Set User Password operations (IPMI 2.0, 22.30).
const (
	pwSet  = 0x02
	pwTest = 0x03
)

// SetUser sets the name and the password of user slot (2..63) in one
// administrator session, then proves both: the name is read back (Get
// User Name) and the BMC's password test (operation 0x03) is asked
// whether it holds exactly the bytes given. A difference is an error
// matching ErrUserMismatch. The password must pass CheckPassword; 17 to
// 20 bytes use the IPMI 2.0 20-byte form. A BMC that answers the test
// without comparing (ipmi_sim accepts any password) is caught by the
// caller's login with the new credentials (TestLogin), which is the proof
// that counts.
func (c *Client) SetUser(ctx context.Context, t Target, slot int, creds Credentials) error {
	action := fmt.Sprintf("set user %d", slot)
	if err := checkSlot(slot); err != nil {
		return wrap(t.Node, action, err)
	}
	if err := CheckPassword(creds.Password); err != nil {
		return wrap(t.Node, action, err)
	}
	if err := creds.Validate(); err != nil {
		return wrap(t.Node, action, err)
	}
	return c.once(ctx, t, action, func(ctx context.Context, cn *conn) error {
		s, err := dialRMCP(ctx, cn.host, cn.port, cn.creds, privAdmin)
		if err != nil {
			return err
		}
		defer s.close(ctx)
		return setAccount(ctx, s, slot, creds)
	})
}

func setAccount(ctx context.Context, s *rmcpSession, slot int, creds Credentials) error {
	name := padded(creds.User, 16)
	if _, err := s.command(ctx, 0x06, 0x45, append([]byte{byte(slot)}, name...)); err != nil {
		return fmt.Errorf("set name: %w", err)
	}
	got, err := s.command(ctx, 0x06, 0x46, []byte{byte(slot)})
	if err != nil {
		return fmt.Errorf("read the name back: %w", err)
	}
	if len(got) < 16 || !bytes.Equal(got[:16], name) {
		return fmt.Errorf("%w: user %d: name read back %q, set %q", ErrUserMismatch, slot, bytes.TrimRight(got, "\x00"), creds.User)
	}
	id, pw := passwordForm(slot, creds.Password)
	form := fmt.Sprintf("%d-byte form", len(pw))
	if _, err := s.command(ctx, 0x06, 0x47, append([]byte{id, pwSet}, pw...)); err != nil {
		err = fmt.Errorf("set password (%s): %w", form, err)
		if len(pw) == PasswordSize20 && errors.Is(err, ErrCommand) {
			err = fmt.Errorf("%w; the BMC may take only %d-byte passwords: choose a password of at most %d bytes", err, PasswordSize16, PasswordSize16)
		}
		return err
	}
	if _, err := s.command(ctx, 0x06, 0x47, append([]byte{id, pwTest}, pw...)); err != nil {
		var ce *CompletionError
		if errors.As(err, &ce) {
			switch ce.Code {
			case 0x80:
				return fmt.Errorf("%w: user %d: the BMC's password test fails for the password just set", ErrUserMismatch, slot)
			case 0x81:
				return fmt.Errorf("%w: user %d: the BMC did not store the password in the %s", ErrUserMismatch, slot, form)
			}
		}
		return fmt.Errorf("test the password: %w", err)
	}
	return nil
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
