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

// sushyStep is one step of testdata/sushy_client.py.
type sushyStep struct {
	Step        string   `json:"step"`
	Args        []string `json:"args,omitempty"`
	User        string   `json:"user"`
	Password    string   `json:"password"`
	NewPassword string   `json:"new_password,omitempty"`
}

// runSushy runs a batch of steps of testdata/sushy_client.py against b,
// trusting the CA in caFile, and decodes their results. The credentials
// go to the script on stdin, never in argv.
func runSushy(t *testing.T, b *BMC, caFile string, steps []sushyStep) ([]map[string]any, error) {
	t.Helper()
	in, err := json.Marshal(map[string]any{"url": b.URL + "/redfish/v1", "ca": caFile, "steps": steps})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(debianPython, "testdata/sushy_client.py")
	cmd.Env = clientEnv(nil)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, &clientError{err: err, stderr: stderr.String()}
	}
	var out []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out) != len(steps) {
		t.Fatalf("sushy: output %q: %v, want %d results", stdout.String(), err, len(steps))
	}
	return out, nil
}

type clientError struct {
	err    error
	stderr string
}

func (e *clientError) Error() string { return e.err.Error() + "\n" + e.stderr }

// TestSushy runs sushy in batches of steps; after a batch the test plays
// the simulated server's firmware (NextBoot) or looks at the chassis files.
func TestSushy(t *testing.T) {
	requireClient(t, debianPython, "-c", "import sushy")
	b := StartT(t, Options{})
	as := func(user, password string) func(step string, args ...string) sushyStep {
		return func(step string, args ...string) sushyStep {
			return sushyStep{Step: step, Args: args, User: user, Password: password}
		}
	}
	admin := as(b.User, b.Password)
	withNew := func(s sushyStep, pw string) sushyStep { s.NewPassword = pw; return s }
	boots := func(target string, uefi bool) func(t *testing.T) {
		return func(t *testing.T) {
			got, gotUEFI, err := b.NextBoot()
			if err != nil || got != target || gotUEFI != uefi {
				t.Errorf("the firmware boots %q (uefi %v, err %v), want %q (uefi %v)", got, gotUEFI, err, target, uefi)
			}
		}
	}
	type want = map[string]any
	batches := []struct {
		name  string
		steps []sushyStep
		want  []want
		after func(t *testing.T)
	}{
		{"power on, one-time PXE in UEFI mode", []sushyStep{admin("power-on"), admin("boot-once-pxe")},
			[]want{{"power": "On"}, {"target": "Pxe", "enabled": "Once", "mode": "UEFI"}}, boots("Pxe", true)},
		{"after the boot the override is off", []sushyStep{admin("boot")}, []want{{"enabled": "Disabled"}}, boots("None", true)},
		{"persistent disk boot", []sushyStep{admin("boot-persistent-hdd")}, []want{{"target": "Hdd", "enabled": "Continuous"}},
			func(t *testing.T) { boots("Hdd", true)(t); boots("Hdd", true)(t) }},
		{"persistent survives boots; legacy mode", []sushyStep{admin("boot"), admin("boot-legacy")},
			[]want{{"target": "Hdd", "enabled": "Continuous"}, {"mode": "Legacy"}}, boots("Hdd", false)},
		{"restart", []sushyStep{admin("restart")}, []want{{"power": "On"}}, func(t *testing.T) {
			if n := strings.Count(readFile(t, filepath.Join(b.ChassisDir, "resets")), "\n"); n != 1 {
				t.Errorf("%d resets recorded, want 1", n)
			}
		}},
		{"power off", []sushyStep{admin("power-off")}, []want{{"power": "Off"}}, func(t *testing.T) {
			if p := readFile(t, filepath.Join(b.ChassisDir, "power")); p != "0\n" {
				t.Errorf("power file %q after power off", p)
			}
		}},
		{"accounts", []sushyStep{
			withNew(admin("account-create", "rotated", "Administrator"), "First-pass-1"),
			as("rotated", "First-pass-1")("login"),
			withNew(admin("account-password", "$created"), "Second-pass-2"),
			as("rotated", "First-pass-1")("login"),
			as("rotated", "Second-pass-2")("login"),
			admin("account-disable", "$created"),
			as("rotated", "Second-pass-2")("login"),
		}, []want{
			{"status": 201.0},
			{"ok": true, "power": "Off"},
			{"status": 200.0},
			{"ok": false, "status": 401.0},
			{"ok": true},
			{"status": 200.0, "enabled": false},
			{"ok": false, "status": 401.0},
		}, nil},
	}
	for _, bt := range batches {
		out, err := runSushy(t, b, b.CAFile, bt.steps)
		if err != nil {
			t.Fatalf("%s: sushy: %v", bt.name, err)
		}
		for i, w := range bt.want {
			for k, v := range w {
				if out[i][k] != v {
					t.Errorf("%s: step %d (%s): %s = %v, want %v (all: %v)", bt.name, i, bt.steps[i].Step, k, out[i][k], v, out[i])
				}
			}
		}
		if bt.after != nil {
			bt.after(t)
		}
	}
	// sushy verifies TLS: another BMC's CA is refused.
	other := StartT(t, Options{})
	_, err := runSushy(t, b, other.CAFile, []sushyStep{admin("boot")})
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
