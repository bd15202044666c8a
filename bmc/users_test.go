package bmc_test

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

func TestCheckPassword(t *testing.T) {
	tests := map[string]struct {
		pw      string
		wantCol int // 0: accepted
		want    string
	}{
		"hash":                {pw: "abc#def", wantCol: 0},
		"hash first":          {pw: "#secret", wantCol: 0},
		"spaces":              {pw: " a b c ", wantCol: 0},
		"semicolon and shell": {pw: "a;b$(x)`y`&|<>", wantCol: 0},
		"non-ascii":           {pw: "pässwörd€", wantCol: 0},
		"16 bytes":            {pw: strings.Repeat("p", 16), wantCol: 0},
		"20 bytes":            {pw: strings.Repeat("p", 20), wantCol: 0},
		"18 bytes non-ascii":  {pw: strings.Repeat("ü", 9), wantCol: 0},
		"21 bytes":            {pw: strings.Repeat("p", 21), wantCol: 21, want: "21 bytes long, IPMI 2.0 allows at most 20"},
		"non-ascii past 20":   {pw: strings.Repeat("p", 19) + "é", wantCol: 20, want: "ends past byte 20"},
		"empty":               {pw: "", wantCol: 1, want: "empty"},
		"double quote":        {pw: `ab"cd`, wantCol: 3, want: "a quote"},
		"single quote":        {pw: `ab'cd`, wantCol: 3, want: "a quote"},
		"backslash":           {pw: `a\b`, wantCol: 2, want: "a backslash"},
		"tab":                 {pw: "a\tb", wantCol: 2, want: "a control character"},
		"nul":                 {pw: "ab\x00", wantCol: 3, want: "a control character"},
		"newline inside":      {pw: "a\nb", wantCol: 2, want: "a control character"},
		"escape":              {pw: "a\x1b[2J", wantCol: 2, want: "a control character"},
		"del":                 {pw: "a\x7f", wantCol: 2, want: "a control character"},
		"next line U+0085":    {pw: "é\u0085", wantCol: 2, want: "a control character"},
		"line separator":      {pw: "ab\u2028", wantCol: 3, want: "line or paragraph separator"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := bmc.CheckPassword(tc.pw)
			if tc.wantCol == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *bmc.PasswordError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v, want a *PasswordError", err)
			}
			if pe.Line != 1 || pe.Col != tc.wantCol || !strings.Contains(pe.Reason, tc.want) {
				t.Errorf("error at %d:%d %q, want 1:%d containing %q", pe.Line, pe.Col, pe.Reason, tc.wantCol, tc.want)
			}
			pe.File = "/etc/rackctl/pw"
			if got := pe.Error(); !strings.HasPrefix(got, fmt.Sprintf("/etc/rackctl/pw:1:%d: ", tc.wantCol)) {
				t.Errorf("error %q does not start with file:line:col", got)
			}
			if len(tc.pw) > 2 && strings.Contains(err.Error(), tc.pw) {
				t.Errorf("the password is in the error: %v", err)
			}
		})
	}
}

// userList runs `ipmitool user list 1` as the BMC's admin, independently
// of package bmc, and returns the line of slot.
func userList(t *testing.T, b simrack.BMC, slot int) string {
	t.Helper()
	host, port, _ := strings.Cut(b.Addr, ":")
	cmd := exec.Command("ipmitool", "-I", "lanplus", "-C", "3", "-N", "1", "-R", "2", "-H", host, "-p", port, "-U", b.User, "-E", "user", "list", "1")
	cmd.Env = []string{"IPMITOOL_PASSWORD=" + b.Password, "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ipmitool user list: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == fmt.Sprint(slot) {
			return line
		}
	}
	t.Fatalf("no slot %d in the user list:\n%s", slot, out)
	return ""
}

// TestSetUserPasswordClasses sets, against a real ipmi_sim, passwords of
// every class that a command parser could cut or change ('#' started a
// comment in ipmitool's exec file) and logs in with each: the BMC holds
// the exact bytes given, and the cut-off prefix does not log in.
func TestSetUserPasswordClasses(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	b := rack.BMCs[0]
	tg := target(b)
	c := newClient(t, bmc.Config{})
	ctx := t.Context()
	tests := []struct {
		name, pw, cut string // cut: what a parser would have kept
	}{
		{"hash", "abc#def", "abc"},
		{"hash first", "#only-after", ""},
		{"spaces", "a b  c ", "a"},
		{"semicolon", "x;user list", "x"},
		{"shell", "$(id)`id`&|", "$(id)"},
		{"non-ascii", "pässwörd€", "p"},
		{"16 bytes", "0123456789#bcdef", "0123456789"},
	}
	for i, tc := range tests {
		slot := 3 + i
		t.Run(tc.name, func(t *testing.T) {
			creds := bmc.Credentials{User: fmt.Sprintf("u%d", slot), Password: tc.pw}
			if err := c.SetUser(ctx, tg, slot, creds); err != nil {
				t.Fatal(err)
			}
			if err := c.SetUserPrivilege(ctx, tg, slot, "admin"); err != nil {
				t.Fatal(err)
			}
			if err := c.EnableUser(ctx, tg, slot); err != nil {
				t.Fatal(err)
			}
			if err := c.TestLogin(ctx, tg, creds); err != nil {
				t.Fatalf("login with the password set: %v", err)
			}
			if line := userList(t, b, slot); !strings.Contains(line, creds.User) {
				t.Errorf("ipmitool user list shows %q for slot %d", line, slot)
			}
			cut := creds
			cut.Password = tc.cut
			if err := c.TestLogin(ctx, tg, cut); !errors.Is(err, bmc.ErrAuth) {
				t.Errorf("login with the cut password %q: %v, want ErrAuth", tc.cut, err)
			}
		})
	}
}

// TestSetUserLongPasswordOnSim: ipmi_sim takes the 20-byte form of Set
// User Password but keeps 16 bytes and answers the password test with
// success whatever it is given. SetUser cannot see that; the login with
// the full password is refused, which is why rotation proves every new
// account by logging in.
func TestSetUserLongPasswordOnSim(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	b := rack.BMCs[0]
	tg := target(b)
	c := newClient(t, bmc.Config{})
	ctx := t.Context()
	creds := bmc.Credentials{User: "long", Password: "0123456789abcdef#XYZ"}
	if err := c.SetUser(ctx, tg, 3, creds); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUserPrivilege(ctx, tg, 3, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := c.EnableUser(ctx, tg, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.TestLogin(ctx, tg, creds); !errors.Is(err, bmc.ErrAuth) {
		t.Errorf("login with the 20-byte password: %v, want ErrAuth (ipmi_sim keeps 16 bytes)", err)
	}
	if err := c.TestLogin(ctx, tg, bmc.Credentials{User: "long", Password: creds.Password[:16]}); err != nil {
		t.Errorf("login with the 16 bytes ipmi_sim kept: %v", err)
	}
	for name, pw := range map[string]string{"21 bytes": strings.Repeat("p", 21), "quote": `a"b`, "empty": ""} {
		err := c.SetUser(ctx, tg, 4, bmc.Credentials{User: "bad", Password: pw})
		var pe *bmc.PasswordError
		if !errors.As(err, &pe) {
			t.Errorf("%s: SetUser: %v, want a *PasswordError before any BMC call", name, err)
		}
	}
	if line := userList(t, b, 4); strings.Contains(line, "bad") {
		t.Errorf("a refused password still wrote the name: %q", line)
	}
}
