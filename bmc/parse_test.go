package bmc

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseBootParam5(t *testing.T) {
	// The sim-* files were captured from ipmi_sim; ipmi_sim does not keep
	// the persistent and EFI flags, so the others are in ipmitool 1.8.19's
	// format with those flags set, as a BMC that keeps them answers.
	tests := map[string]struct {
		file    string
		want    BootParam
		wantErr bool
	}{
		"sim disk":            {file: "bootparam5-sim-disk.txt", want: BootParam{Device: BootDisk}},
		"sim pxe":             {file: "bootparam5-sim-pxe.txt", want: BootParam{Device: BootPXE}},
		"disk persistent efi": {file: "bootparam5-disk-persistent-efi.txt", want: BootParam{Device: BootDisk, Persistent: true, EFI: true}},
		"pxe persistent efi":  {file: "bootparam5-pxe-persistent-efi.txt", want: BootParam{Device: BootPXE, Persistent: true, EFI: true}},
		"pxe once legacy":     {file: "bootparam5-pxe-once-legacy-valid.txt", want: BootParam{Device: BootPXE}},
		"no data line":        {file: "bootparam5-no-data.txt", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseBootParam5(string(data))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestBootFlagBytesRoundTrip(t *testing.T) {
	for _, dev := range []string{BootPXE, BootDisk, BootCDROM, BootBIOS, BootNone} {
		for _, p := range []bool{false, true} {
			for _, e := range []bool{false, true} {
				b, err := bootFlagBytes(dev, p, e)
				if err != nil {
					t.Fatal(err)
				}
				got, err := decodeBootFlags(b[:])
				if err != nil {
					t.Fatal(err)
				}
				if want := (BootParam{dev, p, e}); got != want {
					t.Errorf("round trip %s: got %s", want, got)
				}
			}
		}
	}
	// The raw write for disk, persistent, EFI.
	b, _ := bootFlagBytes(BootDisk, true, true)
	if fmt.Sprintf("% x", b) != "e0 08 00 00 00" {
		t.Errorf("disk persistent efi = % x, want e0 08 00 00 00", b)
	}
	b, _ = bootFlagBytes(BootPXE, true, true)
	if fmt.Sprintf("% x", b) != "e0 04 00 00 00" {
		t.Errorf("pxe persistent efi = % x, want e0 04 00 00 00", b)
	}
	if _, err := bootFlagBytes("usb-stick", false, false); err == nil {
		t.Error("unknown device accepted")
	}
}

func TestParseChannelAccess(t *testing.T) {
	out := `Maximum User IDs     : 63
Enabled User IDs     : 3

User ID              : 1
User Name            : 
Fixed Name           : Yes
Access Available     : call-in / callback
Link Authentication  : disabled
IPMI Messaging       : enabled
Privilege Level      : USER
Enable Status        : unknown

User ID              : 2
User Name            : admin
Fixed Name           : No
Access Available     : call-in / callback
Link Authentication  : disabled
IPMI Messaging       : enabled
Privilege Level      : ADMINISTRATOR
Enable Status        : unknown

User ID              : 3
User Name            : ops
Fixed Name           : No
Access Available     : call-in / callback
Link Authentication  : enabled
IPMI Messaging       : disabled
Privilege Level      : ADMINISTRATOR
Enable Status        : unknown

User ID              : 4
User Name            : ro
Fixed Name           : No
Access Available     : call-in / callback
Link Authentication  : enabled
IPMI Messaging       : enabled
Privilege Level      : USER
Enable Status        : disabled
`
	got, err := ParseChannelAccess(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []User{
		{ID: 2, Name: "admin", Enabled: true, Privilege: "ADMINISTRATOR"},
		{ID: 3, Name: "ops", Enabled: false, Privilege: "ADMINISTRATOR"},
		{ID: 4, Name: "ro", Enabled: false, Privilege: "USER"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestParsePowerStatus(t *testing.T) {
	tests := map[string]struct {
		in, want string
		wantErr  bool
	}{
		"on":      {in: "Chassis Power is on\n", want: "on"},
		"off":     {in: "Chassis Power is off\n", want: "off"},
		"garbage": {in: "Error: something\n", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParsePowerStatus(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %q, %v; want %q (err %t)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		stderr  string
		elapsed time.Duration
		want    error
	}{
		"hmac invalid":          {stderr: "> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session", elapsed: 2 * time.Second, want: ErrAuth},
		"unauthorized name":     {stderr: "RAKP 2 message indicates an error : unauthorized name", want: ErrAuth},
		"refused fast":          {stderr: "Error: Unable to establish IPMI v2 / RMCP+ session", elapsed: 100 * time.Millisecond, want: ErrAuth},
		"no answer after tries": {stderr: "Error: Unable to establish IPMI v2 / RMCP+ session", elapsed: 3 * time.Second, want: ErrUnreachable},
		"bad command":           {stderr: "Invalid command", elapsed: 50 * time.Millisecond, want: ErrCommand},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := classify(tc.stderr, tc.elapsed); !errors.Is(err, tc.want) {
				t.Errorf("classify = %v, want %v", err, tc.want)
			}
		})
	}
	if err := error(timeoutError{after: time.Second}); !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrUnreachable) {
		t.Errorf("timeout error %v does not match ErrTimeout and ErrUnreachable", err)
	}
	err := wrap("node-3", "set boot device", fmt.Errorf("x: %w", ErrAuth))
	if err.Error() != "bmc node-3: set boot device: x: bmc authentication failed" || !errors.Is(err, ErrAuth) {
		t.Errorf("wrapped error = %q", err)
	}
}

func TestReadCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := map[string]struct {
		user, pass string
		want       Credentials
		wantErr    bool
	}{
		"trailing newline": {user: "admin\n", pass: "s3cret pass\n", want: Credentials{"admin", "s3cret pass"}},
		"crlf":             {user: "admin\r\n", pass: "pw\r\n", want: Credentials{"admin", "pw"}},
		"no newline":       {user: "admin", pass: "pw", want: Credentials{"admin", "pw"}},
		"empty user":       {user: "\n", pass: "pw", wantErr: true},
		"two lines":        {user: "admin", pass: "pw\nmore\n", wantErr: true},
		"too long":         {user: "admin", pass: strings.Repeat("x", 21), wantErr: true},
		"quote":            {user: "admin", pass: `a"b`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ReadCredentials(write(name+"-u", tc.user), write(name+"-p", tc.pass))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %#v", got)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(tc.pass)) && tc.pass != "pw" {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	if _, err := ReadCredentials(filepath.Join(dir, "missing"), filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestCredentialsRedacted(t *testing.T) {
	c := Credentials{User: "admin", Password: "hunter2secret"}
	var sb strings.Builder
	log := slog.New(slog.NewTextHandler(&sb, nil))
	log.Info("creds", "c", c)
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), sb.String()} {
		if strings.Contains(s, c.Password) {
			t.Errorf("password shown in %q", s)
		}
	}
}

func TestArgvHasNoPassword(t *testing.T) {
	r := ipmitoolRun{path: "ipmitool", host: "127.0.0.1", port: "623", creds: Credentials{User: "admin", Password: "topsecret"}}
	argv := r.argv("chassis", "power", "status")
	joined := strings.Join(argv, " ")
	if strings.Contains(joined, "topsecret") || strings.Contains(joined, "-P") {
		t.Errorf("argv carries the password: %q", joined)
	}
	for _, want := range []string{"-E", "-C 3", "-I lanplus"} {
		if !strings.Contains(joined, want) {
			t.Errorf("argv %q lacks %q", joined, want)
		}
	}
	env := strings.Join(r.env(), "\n")
	if !strings.Contains(env, "IPMI_PASSWORD=topsecret") || !strings.Contains(env, "IPMITOOL_PASSWORD=topsecret") {
		t.Errorf("env lacks the password variables")
	}
}

func TestSplitAddress(t *testing.T) {
	tests := map[string]struct{ in, host, port string }{
		"host":      {"10.0.0.5", "10.0.0.5", "623"},
		"host:port": {"127.0.0.1:9001", "127.0.0.1", "9001"},
		"name":      {"bmc-1.example", "bmc-1.example", "623"},
		"ipv6":      {"[::1]:9001", "::1", "9001"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h, p, err := splitAddress(tc.in)
			if err != nil || h != tc.host || p != tc.port {
				t.Errorf("splitAddress(%q) = %q %q %v", tc.in, h, p, err)
			}
		})
	}
	if _, _, err := splitAddress(""); err == nil {
		t.Error("empty address accepted")
	}
}
