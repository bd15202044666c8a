package simredfish

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debianPython is the interpreter Debian's python3-sushy and redfishtool
// install for; a python3 earlier in PATH (pyenv, a venv) would not see them.
const debianPython = "/usr/bin/python3"

// requireClient fails (does not skip) when an independent client is
// missing: these tests are what keeps the simulator honest.
func requireClient(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s\ninstall Debian's python3-sushy and redfishtool (make deps)", strings.Join(args, " "), err, out)
	}
}

// clientEnv is the environment of a Python client: without the trust
// store overrides requests honours (REQUESTS_CA_BUNDLE and the like
// replace even an explicit verify=), so only the sim's CA is trusted.
func clientEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// sushyStep runs one step of testdata/sushy_client.py against b and
// decodes its JSON result.
func sushyStep(t *testing.T, b *BMC, ca string, env map[string]string, step string, args ...string) (map[string]any, error) {
	t.Helper()
	argv := append([]string{"testdata/sushy_client.py", b.URL + "/redfish/v1", ca, step}, args...)
	cmd := exec.Command(debianPython, argv...)
	cmd.Env = clientEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, &clientError{err: err, stderr: stderr.String()}
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("sushy %s: output %q: %v", step, stdout.String(), err)
	}
	return out, nil
}

type clientError struct {
	err    error
	stderr string
}

func (e *clientError) Error() string { return e.err.Error() + "\n" + e.stderr }

func TestSushy(t *testing.T) {
	requireClient(t, debianPython, "-c", "import sushy")
	b := StartT(t, Options{})
	admin := map[string]string{"RF_USER": b.User, "RF_PASSWORD": b.Password}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range admin {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	var accountURI string
	boots := func(target string, uefi bool) func(t *testing.T) {
		return func(t *testing.T) {
			got, gotUEFI, err := b.NextBoot()
			if err != nil || got != target || gotUEFI != uefi {
				t.Errorf("the firmware boots %q (uefi %v, err %v), want %q (uefi %v)", got, gotUEFI, err, target, uefi)
			}
		}
	}
	steps := []struct {
		name, step string
		args       func() []string
		env        map[string]string
		want       map[string]any
		after      func(t *testing.T)
	}{
		{name: "power on", step: "power-on", env: admin, want: map[string]any{"power": "On"}},
		{name: "one-time PXE in UEFI mode", step: "boot-once-pxe", env: admin,
			want: map[string]any{"target": "Pxe", "enabled": "Once", "mode": "UEFI"}, after: boots("Pxe", true)},
		{name: "after the boot the override is off", step: "boot", env: admin, want: map[string]any{"enabled": "Disabled"},
			after: boots("None", true)},
		{name: "persistent disk boot", step: "boot-persistent-hdd", env: admin,
			want:  map[string]any{"target": "Hdd", "enabled": "Continuous"},
			after: func(t *testing.T) { boots("Hdd", true)(t); boots("Hdd", true)(t) }},
		{name: "persistent survives boots", step: "boot", env: admin, want: map[string]any{"target": "Hdd", "enabled": "Continuous"}},
		{name: "legacy mode", step: "boot-legacy", env: admin, want: map[string]any{"mode": "Legacy"}, after: boots("Hdd", false)},
		{name: "restart", step: "restart", env: admin, want: map[string]any{"power": "On"}, after: func(t *testing.T) {
			if n := strings.Count(readFile(t, filepath.Join(b.ChassisDir, "resets")), "\n"); n != 1 {
				t.Errorf("%d resets recorded, want 1", n)
			}
		}},
		{name: "power off", step: "power-off", env: admin, want: map[string]any{"power": "Off"}, after: func(t *testing.T) {
			if p := readFile(t, filepath.Join(b.ChassisDir, "power")); p != "0\n" {
				t.Errorf("power file %q after power off", p)
			}
		}},
		{name: "create account", step: "account-create", args: func() []string { return []string{"rotated", "Administrator"} },
			env: with(map[string]string{"RF_NEW_PASSWORD": "First-pass-1"}), want: map[string]any{"status": 201.0}},
		{name: "log in with it", step: "login", env: map[string]string{"RF_LOGIN_USER": "rotated", "RF_LOGIN_PASSWORD": "First-pass-1"},
			want: map[string]any{"ok": true, "power": "Off"}},
		{name: "change its password", step: "account-password", args: func() []string { return []string{accountURI} },
			env: with(map[string]string{"RF_NEW_PASSWORD": "Second-pass-2"}), want: map[string]any{"status": 200.0}},
		{name: "old password refused", step: "login", env: map[string]string{"RF_LOGIN_USER": "rotated", "RF_LOGIN_PASSWORD": "First-pass-1"},
			want: map[string]any{"ok": false, "status": 401.0}},
		{name: "new password works", step: "login", env: map[string]string{"RF_LOGIN_USER": "rotated", "RF_LOGIN_PASSWORD": "Second-pass-2"},
			want: map[string]any{"ok": true}},
		{name: "disable it", step: "account-disable", args: func() []string { return []string{accountURI} },
			env: admin, want: map[string]any{"status": 200.0, "enabled": false}},
		{name: "disabled account refused", step: "login", env: map[string]string{"RF_LOGIN_USER": "rotated", "RF_LOGIN_PASSWORD": "Second-pass-2"},
			want: map[string]any{"ok": false, "status": 401.0}},
	}
	for _, s := range steps {
		var args []string
		if s.args != nil {
			args = s.args()
		}
		out, err := sushyStep(t, b, b.CAFile, s.env, s.step, args...)
		if err != nil {
			t.Fatalf("%s: sushy: %v", s.name, err)
		}
		for k, v := range s.want {
			if out[k] != v {
				t.Errorf("%s: %s = %v, want %v (all: %v)", s.name, k, out[k], v, out)
			}
		}
		if s.step == "account-create" {
			accountURI, _ = out["location"].(string)
		}
		if s.after != nil {
			s.after(t)
		}
	}
	// sushy verifies TLS: another BMC's CA is refused.
	other := StartT(t, Options{})
	_, err := sushyStep(t, b, other.CAFile, admin, "boot")
	if err == nil || !strings.Contains(err.Error(), "CERTIFICATE_VERIFY_FAILED") {
		t.Errorf("sushy with the wrong CA: %v, want a certificate verification failure", err)
	}
}

// redfishtool runs Debian's redfishtool against b, the credentials in a
// config file (not argv) and TLS verified against the BMC's CA.
func redfishtool(t *testing.T, b *BMC, user, password string, args ...string) (string, error) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "rf.json")
	data, _ := json.Marshal(map[string]string{"user": user, "password": password})
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"-r", b.Addr, "-S", "Always", "-c", cfg, "-T", "10"}, args...)
	cmd := exec.Command("redfishtool", argv...)
	cmd.Env = clientEnv(map[string]string{"REQUESTS_CA_BUNDLE": b.CAFile})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		return stdout.String(), &clientError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

func TestRedfishtool(t *testing.T) {
	requireClient(t, "redfishtool", "-V")
	b := StartT(t, Options{})
	tests := []struct {
		name        string
		user, pw    string
		args        []string
		wantErr     bool
		wantOut     string
		power       string
		loginUser   string
		loginPW     string
		loginWorks  bool
		checkLogins bool
	}{
		{name: "power on", args: []string{"Systems", "-1", "reset", "On"}, power: "1\n"},
		{name: "power state", args: []string{"Systems", "-1", "-P", "PowerState"}, wantOut: `"On"`},
		{name: "power off", args: []string{"Systems", "-1", "reset", "ForceOff"}, power: "0\n"},
		{name: "add user", args: []string{"AccountService", "adduser", "ops", "Ops-pass-1", "Operator"},
			checkLogins: true, loginUser: "ops", loginPW: "Ops-pass-1", loginWorks: true},
		{name: "set password", args: []string{"AccountService", "setpassword", "ops", "Ops-pass-2"},
			checkLogins: true, loginUser: "ops", loginPW: "Ops-pass-2", loginWorks: true},
		{name: "old password gone", args: []string{"AccountService", "Accounts", "list"}, wantOut: "ops",
			checkLogins: true, loginUser: "ops", loginPW: "Ops-pass-1"},
		{name: "disable user", args: []string{"AccountService", "useradmin", "ops", "disable"},
			checkLogins: true, loginUser: "ops", loginPW: "Ops-pass-2"},
		{name: "wrong password refused", pw: "Wrong-pass-9", args: []string{"Systems", "-1", "-P", "PowerState"}, wantErr: true},
		{name: "delete user", args: []string{"AccountService", "deleteuser", "ops"}},
	}
	for _, tc := range tests {
		user, pw := b.User, b.Password
		if tc.pw != "" {
			pw = tc.pw
		}
		out, err := redfishtool(t, b, user, pw, tc.args...)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%s: redfishtool %v: err %v, want error %v\n%s", tc.name, tc.args, err, tc.wantErr, out)
		}
		if tc.wantOut != "" && !strings.Contains(out, tc.wantOut) {
			t.Errorf("%s: output %q lacks %q", tc.name, out, tc.wantOut)
		}
		if tc.power != "" {
			if p := readFile(t, filepath.Join(b.ChassisDir, "power")); p != tc.power {
				t.Errorf("%s: power file %q, want %q", tc.name, p, tc.power)
			}
		}
		if tc.checkLogins {
			_, err := redfishtool(t, b, tc.loginUser, tc.loginPW, "Systems", "-1", "-P", "PowerState")
			if (err == nil) != tc.loginWorks {
				t.Errorf("%s: login as %s: err %v, want works %v", tc.name, tc.loginUser, err, tc.loginWorks)
			}
		}
	}
	var names []string
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.st.Accounts {
		if !a.empty() {
			names = append(names, a.UserName)
		}
	}
	if len(names) != 1 || names[0] != b.User {
		t.Errorf("accounts after deleteuser: %v, want only %s", names, b.User)
	}
}
