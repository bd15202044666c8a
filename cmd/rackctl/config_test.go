package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/config"
	"github.com/rackctl/rackctl/internal/testenv"
)

// writeConfig writes src as the default config beneath root.
func writeConfig(t *testing.T, root, src string) string {
	t.Helper()
	p := filepath.Join(root, config.DefaultPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// viewJSON runs config view -o json with args and returns it.
func viewJSON(t *testing.T, args ...string) configView {
	t.Helper()
	r := cli(t, append([]string{"config", "view", "-o", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("config view %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	var v configView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("config view: not JSON: %v\n%s", err, r.stdout)
	}
	return v
}

func (v configView) setting(t *testing.T, key string) settingView {
	t.Helper()
	for _, s := range v.Settings {
		if s.Key == key {
			return s
		}
	}
	t.Fatalf("config view lacks %s", key)
	return settingView{}
}

// TestConfigPrecedence: for a setting of every kind (string, duration,
// int, bool, list) the value comes from the flag over the environment over
// the file over the default, and config view names the source.
func TestConfigPrecedence(t *testing.T) {
	settings := []struct {
		key, flag, env, fileLine string
		envVal                   string
		flagArgs                 []string
		def, file, envWant, flg  any
	}{
		{key: "driver.terraform", flag: "terraform", env: "RACKCTL_TERRAFORM",
			fileLine: "driver.terraform: /file/terraform", envVal: "/env/terraform", flagArgs: []string{"--terraform", "/flag/terraform"},
			def: "terraform", file: "/file/terraform", envWant: "/env/terraform", flg: "/flag/terraform"},
		{key: "timeout", flag: "timeout", env: "RACKCTL_TIMEOUT",
			fileLine: "timeout: 7s", envVal: "8s", flagArgs: []string{"--timeout", "9s"},
			def: "5s", file: "7s", envWant: "8s", flg: "9s"},
		{key: "watch.maxDisruptiveControllers", flag: "max-disruptive-controllers", env: "RACKCTL_MAX_DISRUPTIVE_CONTROLLERS",
			fileLine: "watch.maxDisruptiveControllers: 2", envVal: "3", flagArgs: []string{"--max-disruptive-controllers", "-1"},
			def: "1", file: "2", envWant: "3", flg: "-1"},
		{key: "watch.allowNonFastForward", flag: "allow-non-fast-forward", env: "RACKCTL_ALLOW_NON_FAST_FORWARD",
			fileLine: "watch.allowNonFastForward: true", envVal: "false", flagArgs: []string{"--allow-non-fast-forward=true"},
			def: "false", file: "true", envWant: "false", flg: "true"},
		{key: "driver.passEnv", flag: "pass-env", env: "RACKCTL_PASS_ENV",
			fileLine: "driver.passEnv: [FILE_A, FILE_B]", envVal: "ENV_A, ENV_B", flagArgs: []string{"--pass-env", "FLAG_A"},
			def: []any{}, file: []any{"FILE_A", "FILE_B"}, envWant: []any{"ENV_A", "ENV_B"}, flg: []any{"FLAG_A"}},
		{key: "watch.disruptiveWindows", flag: "disruptive-window", env: "RACKCTL_DISRUPTIVE_WINDOW",
			fileLine: `watch.disruptiveWindows: ["Mon-Fri 09:00-17:00"]`, envVal: "Sat,Sun 10:00-12:00; 22:00-23:00", flagArgs: []string{"--disruptive-window", "Tue 01:00-02:00"},
			def: []any{}, file: []any{"Mon-Fri 09:00-17:00"}, envWant: []any{"Sat,Sun 10:00-12:00", "22:00-23:00"}, flg: []any{"Tue 01:00-02:00"}},
	}
	// One file holding every setting, nested by section.
	sections := map[string][]string{}
	var top []string
	for _, s := range settings {
		k, v, _ := strings.Cut(s.fileLine, ": ")
		if sec, name, ok := strings.Cut(k, "."); ok {
			sections[sec] = append(sections[sec], "  "+name+": "+v)
		} else {
			top = append(top, k+": "+v)
		}
	}
	src := "apiVersion: rackctl/v1alpha1\nkind: Config\n" + strings.Join(top, "\n") + "\n"
	for _, sec := range []string{"driver", "watch"} {
		src += sec + ":\n" + strings.Join(sections[sec], "\n") + "\n"
	}
	root := t.TempDir()
	for _, s := range settings {
		os.Unsetenv(s.env) // t.Setenv restores it below
	}

	levels := []struct {
		name          string
		file, env     bool
		flags         bool
		source        string
		want          func(i int) any
		wherePrefix   string
		wantWhereFile bool
	}{
		{name: "default", source: fromDefault, want: func(i int) any { return settings[i].def }},
		{name: "file", file: true, source: fromFile, want: func(i int) any { return settings[i].file }},
		{name: "env over file", file: true, env: true, source: fromEnv, want: func(i int) any { return settings[i].envWant }},
		{name: "flag over env", file: true, env: true, flags: true, source: fromFlag, want: func(i int) any { return settings[i].flg }},
	}
	for _, lv := range levels {
		t.Run(lv.name, func(t *testing.T) {
			cfg := filepath.Join(root, config.DefaultPath)
			os.Remove(cfg)
			if lv.file {
				writeConfig(t, root, src)
			}
			args := []string{"--root", root}
			for _, s := range settings {
				if lv.env {
					t.Setenv(s.env, s.envVal)
				}
				if lv.flags {
					args = append(args, s.flagArgs...)
				}
			}
			v := viewJSON(t, args...)
			for i, s := range settings {
				got := v.setting(t, s.key)
				if !reflect.DeepEqual(got.Value, lv.want(i)) || got.Source != lv.source {
					t.Errorf("%s = %#v from %s, want %#v from %s", s.key, got.Value, got.Source, lv.want(i), lv.source)
				}
				if got.Env != s.env || got.Flag != "--"+s.flag {
					t.Errorf("%s: env %s flag %s, want %s --%s", s.key, got.Env, got.Flag, s.env, s.flag)
				}
				if lv.source == fromFile && !strings.HasPrefix(got.Where, cfg+":") {
					t.Errorf("%s: where %q, want %s:line:col", s.key, got.Where, cfg)
				}
			}
		})
	}
}

// TestConfigReachesCommands: a value from the file or the environment is
// the one a command uses (here, the driver set-up refusing it).
func TestConfigReachesCommands(t *testing.T) {
	root := t.TempDir()
	writeConfig(t, root, "apiVersion: rackctl/v1alpha1\nkind: Config\ndriver:\n  dhcp: none\n  provisionerRun: never\n  bmc: none\n  verify: cluster\n")
	r := cli(t, "plan", "-f", example, "--root", root)
	if r.code != 1 || !strings.Contains(r.stderr, "--verify cluster") {
		t.Errorf("verify: cluster from the file: exit %d, stderr %q; want the kubeconfig refusal", r.code, r.stderr)
	}
	t.Setenv("RACKCTL_VERIFY", "flag")
	t.Setenv("RACKCTL_DRIFT_FIX", "bogus")
	r = cli(t, "plan", "-f", example, "--root", root)
	if r.code != 1 || !strings.Contains(r.stderr, `--drift-fix "bogus"`) {
		t.Errorf("RACKCTL_DRIFT_FIX=bogus: exit %d, stderr %q", r.code, r.stderr)
	}
	t.Setenv("RACKCTL_TIMEOUT", "soon")
	r = cli(t, "plan", "-f", example, "--root", root)
	if r.code != 1 || !strings.Contains(r.stderr, `RACKCTL_TIMEOUT="soon"`) {
		t.Errorf("RACKCTL_TIMEOUT=soon: exit %d, stderr %q; want the variable named", r.code, r.stderr)
	}
}

// TestConfigViewRedacts: a credential in the repository URL and the BMC
// password in the environment never reach config view's output.
func TestConfigViewRedacts(t *testing.T) {
	root := t.TempDir()
	t.Setenv("RACKCTL_REPO", "https://bot:hunter2-Zq81@git.example.com/rack.git")
	t.Setenv("RACKCTL_BMC_PASSWORD", "bmc-secret-Zq81")
	t.Setenv("RACKCTL_BMC_USER", "admin")
	for _, out := range []string{"human", "json"} {
		r := cli(t, "config", "view", "--root", root, "-o", out)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", out, r.code, r.stderr)
		}
		all := r.stdout + r.stderr
		for _, secret := range []string{"hunter2", "bmc-secret-Zq81"} {
			if strings.Contains(all, secret) {
				t.Errorf("%s output shows %q:\n%s", out, secret, all)
			}
		}
		if !strings.Contains(all, "git.example.com/rack.git") || !strings.Contains(all, "env") {
			t.Errorf("%s output lacks the redacted repo or its source:\n%s", out, all)
		}
	}
	// A flag value is redacted too; a bad one is named without it.
	r := cli(t, "config", "view", "--root", root, "--repo", "https://bot:hunter2-Zq81@git.example.com/x.git")
	if r.code != 0 || strings.Contains(r.stdout, "hunter2") || !strings.Contains(r.stdout, "flag --repo") {
		t.Errorf("repo from a flag: exit %d\n%s", r.code, r.stdout)
	}
	t.Setenv("RACKCTL_MAX_DISRUPTIVE_CONTROLLERS", "x")
	t.Setenv("RACKCTL_REPO", "https://bot:hunter2-Zq81@git.example.com/rack.git")
	r = cli(t, "config", "view", "--root", root)
	if r.code != 1 || strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, "RACKCTL_MAX_DISRUPTIVE_CONTROLLERS") {
		t.Errorf("bad env value: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestConfigInvalid: a bad config stops every command (except init) with
// each problem at file:line:col; --config names another file.
func TestConfigInvalid(t *testing.T) {
	root := t.TempDir()
	cfg := writeConfig(t, root, "apiVersion: rackctl/v1alpha1\nkind: Config\ndriver:\n  dhcp: isc\n  terraformRC: /x\nwatch:\n  repo: https://u:p@h/r.git\n")
	for _, args := range [][]string{{"plan", "-f", example}, {"config", "view"}, {"validate", "-f", example}} {
		r := cli(t, append(args, "--root", root)...)
		if r.code != 1 {
			t.Errorf("%v: exit %d, want 1", args, r.code)
		}
		for _, want := range []string{cfg + ":4:3: driver.dhcp:", cfg + ":5:3: driver.terraformRC: unknown field", cfg + ":7:3: watch.repo:", "3 problems"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "u:p@") {
			t.Errorf("%v: the URL's password is quoted:\n%s", args, r.stderr)
		}
	}
	// --config (and RACKCTL_CONFIG) choose another file; the broken default is not read.
	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte("apiVersion: rackctl/v1alpha1\nkind: Config\ntimeout: 11s\n"), 0o644)
	v := viewJSON(t, "--root", root, "--config", other)
	if s := v.setting(t, "timeout"); s.Value != "11s" || s.Where != other+":3:1" || v.ConfigFile != other {
		t.Errorf("--config: timeout %v from %q, file %q", s.Value, s.Where, v.ConfigFile)
	}
	t.Setenv("RACKCTL_CONFIG", other)
	if s := viewJSON(t, "--root", root).setting(t, "timeout"); s.Value != "11s" {
		t.Errorf("RACKCTL_CONFIG: timeout %v", s.Value)
	}
	t.Setenv("RACKCTL_CONFIG", filepath.Join(root, "missing.yaml"))
	if r := cli(t, "config", "view", "--root", root); r.code != 1 || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("missing --config: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestInitScratchTour: the README's quick tour after 'rackctl init
// --scratch': plan, apply and a converged plan with no driver flag.
func TestInitScratchTour(t *testing.T) {
	root := t.TempDir()
	if r := cli(t, "init", "--scratch", "--root", root); r.code != 0 || !strings.Contains(r.stdout, "wrote "+filepath.Join(root, config.DefaultPath)) {
		t.Fatalf("init --scratch: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	v := viewJSON(t, "--root", root)
	for key, want := range map[string]string{"driver.dhcp": "none", "driver.bmc": "none", "driver.provisionerRun": "never"} {
		if s := v.setting(t, key); s.Value != want || s.Source != fromFile {
			t.Errorf("%s = %v from %s, want %s from the file", key, s.Value, s.Source, want)
		}
	}
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plan", "--detailed-exitcode"}, 2, "to add"},
		{[]string{"apply", "--auto-approve"}, 0, "Apply complete"},
		{[]string{"plan", "--detailed-exitcode"}, 0, "No changes"},
	}
	for _, s := range steps {
		r := cli(t, append(s.args, "-f", example, "--root", root)...)
		if r.code != s.code || !strings.Contains(r.stdout, s.want) {
			t.Fatalf("%v: exit %d (want %d), stdout lacks %q?\n%s%s", s.args, r.code, s.code, s.want, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "systemctl") || strings.Contains(r.stdout+r.stderr, "dnsmasq --test") {
			t.Errorf("%v ran dnsmasq's commands on a scratch root:\n%s%s", s.args, r.stdout, r.stderr)
		}
	}
}

// TestInitRefusesOverwrite: init keeps an existing config unless --force,
// and writes to --config when given.
func TestInitRefusesOverwrite(t *testing.T) {
	root := t.TempDir()
	const mine = "apiVersion: rackctl/v1alpha1\nkind: Config\ntimeout: 42s\n"
	cfg := writeConfig(t, root, mine)
	r := cli(t, "init", "--root", root)
	if got, _ := os.ReadFile(cfg); r.code != 1 || string(got) != mine || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("init over an existing config: exit %d, stderr %q, file now:\n%s", r.code, r.stderr, got)
	}
	// A broken config does not stop init --force from replacing it.
	os.WriteFile(cfg, []byte("kind: [\n"), 0o644)
	if r := cli(t, "init", "--root", root, "--scratch", "--force"); r.code != 0 {
		t.Fatalf("init --force: exit %d\n%s", r.code, r.stderr)
	}
	if s := viewJSON(t, "--root", root).setting(t, "driver.dhcp"); s.Value != "none" {
		t.Errorf("after --force: dhcp %v", s.Value)
	}

	other := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(other, []byte(mine), 0o644)
	if r := cli(t, "init", "--root", root, "--config", other); r.code != 1 {
		t.Errorf("init --config over a file: exit %d", r.code)
	}
	if r := cli(t, "init", "--root", root, "--config", other, "--force"); r.code != 0 {
		t.Errorf("init --config --force: exit %d\n%s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(other); string(got) == mine {
		t.Error("init --config --force left the file as it was")
	}

	// A link at the default path is never written through.
	root2 := t.TempDir()
	target := filepath.Join(t.TempDir(), "victim")
	os.MkdirAll(filepath.Join(root2, "etc"), 0o755)
	testenv.PlantLink(t, filepath.Dir(target), filepath.Join(root2, "etc", "rackctl"))
	if r := cli(t, "init", "--root", root2, "--force"); r.code != 1 || !strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("init through a link: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(target), "config.yaml")); err == nil {
		t.Error("init wrote through the link")
	}
}

// TestInitInspectsHost: a Racker node whose dnsmasq runs in a container
// started by a systemd unit, terraform on PATH, lokoctl not.
func TestInitInspectsHost(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"opt/racker-state/dnsmasq/dnsmasq.conf": "dhcp-range=172.24.213.200,172.24.213.254,2m\ninterface=br-rack\n",
		"etc/systemd/system/dnsmasq.service":    "[Service]\nExecStart=/usr/bin/docker run --rm --net=host --name racker-dnsmasq quay.io/poseidon/dnsmasq\n",
	}
	for p, src := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(src), 0o644)
	}
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "terraform"), []byte("#!/bin/sh\n"), 0o755)
	t.Setenv("PATH", bin)

	r := cli(t, "init", "--root", root)
	if r.code != 0 {
		t.Fatalf("init: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"Racker layout found", `docker container "racker-dnsmasq"`, "lokoctl not on PATH"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("init output lacks %q:\n%s", want, r.stdout)
		}
	}
	v := viewJSON(t, "--root", root)
	for key, want := range map[string]string{
		"driver.dnsmasqInterface":  "br-rack",
		"driver.dhcpReleasePrefix": "docker exec racker-dnsmasq",
		"driver.dnsmasqReloadCmd":  "systemctl restart dnsmasq.service",
		"driver.terraform":         filepath.Join(bin, "terraform"),
	} {
		if s := v.setting(t, key); s.Value != want || s.Source != fromFile {
			t.Errorf("%s = %v from %s, want %q from the file", key, s.Value, s.Source, want)
		}
	}
	if s := v.setting(t, "driver.lokoctl"); s.Source != fromDefault {
		t.Errorf("lokoctl from %s, want default (not on PATH)", s.Source)
	}
	src, _ := os.ReadFile(filepath.Join(root, config.DefaultPath))
	if !strings.Contains(string(src), "# notifications: []") || !strings.Contains(string(src), fmt.Sprintf("# env %s", "RACKCTL_DHCP")) {
		t.Errorf("config lacks its comments:\n%s", src)
	}
}

// TestDemoConfig: the config scripts/demo.sh writes for its simulated
// rack is valid and carries every driver setting the demo's commands used
// to need as flags (quotes and backslashes in a value survive).
func TestDemoConfig(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	root := t.TempDir()
	env := map[string]string{
		"RACKCTL_SIM_DNSMASQ_RELOAD":  `/tmp/sim dir/reload "dnsmasq" \x`,
		"RACKCTL_SIM_DHCP_IFACE":      "veth-demo0",
		"RACKCTL_SIM_DHCP_SERVER_NS":  "rackctl-demo-srv",
		"RACKCTL_SIM_TERRAFORM":       "/opt/tools/terraform",
		"RACKCTL_SIM_TERRAFORMRC":     "/opt/tools/terraformrc",
		"RACKCTL_SIM_LOKOCTL_STANDIN": "/opt/tools/lokoctl-standin",
		"PROVISIONER":                 "lokomotive",
	}
	cmd := exec.Command("bash", "../../scripts/demo.sh", "config", root)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("demo.sh config: %v\n%s", err, out)
	}
	v := viewJSON(t, "--root", root)
	want := map[string]any{
		"driver.dnsmasqReloadCmd":  env["RACKCTL_SIM_DNSMASQ_RELOAD"],
		"driver.dnsmasqInterface":  "veth-demo0",
		"driver.dhcpReleasePrefix": "ip netns exec rackctl-demo-srv",
		"driver.terraform":         "/opt/tools/terraform",
		"driver.terraformrc":       "/opt/tools/terraformrc",
		"driver.lokoctl":           "/opt/tools/lokoctl-standin",
		"driver.passEnv":           []any{"RACKCTL_LOKOCTL_RECORD", "RACKCTL_LOKOCTL_TERRAFORM"},
		// The stand-in's servers boot: installs are observed, not assumed.
		"driver.verify": "ssh",
	}
	for key, w := range want {
		if s := v.setting(t, key); !reflect.DeepEqual(s.Value, w) || s.Source != fromFile {
			t.Errorf("%s = %#v from %s, want %#v from the file", key, s.Value, s.Source, w)
		}
	}
}

// TestSystemdUnitUsesConfig: the unit starts watch from the config file
// and sets no setting by flag (RACKCTL_* in its EnvironmentFile may).
func TestSystemdUnitUsesConfig(t *testing.T) {
	b, err := os.ReadFile("../../deploy/rackctl-watch.service")
	if err != nil {
		t.Fatal(err)
	}
	var exec string
	for _, line := range strings.Split(string(b), "\n") {
		if s, ok := strings.CutPrefix(line, "ExecStart="); ok {
			exec = s
		}
	}
	if !strings.Contains(exec, " watch --config=/"+config.DefaultPath) {
		t.Errorf("ExecStart %q does not read /%s", exec, config.DefaultPath)
	}
	for _, s := range config.Settings {
		if strings.Contains(exec, "--"+s.Flag) {
			t.Errorf("ExecStart sets --%s by flag; put it in the config", s.Flag)
		}
	}
}

// TestDocsConfigExample: the example of docs/config.md is valid and the
// settings table lists every setting.
func TestDocsConfigExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, rest, ok := strings.Cut(doc, "## An example\n\n```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/config.md lost its example")
	}
	if _, err := config.Parse("docs/config.md example", []byte(example)); err != nil {
		t.Errorf("the example is invalid: %v", err)
	}
	for _, s := range config.Settings {
		if row := fmt.Sprintf("| `%s` | `%s` | `--%s` |", s.Key, s.Env(), s.Flag); !strings.Contains(doc, row) {
			t.Errorf("docs/config.md lacks the row %s", row)
		}
	}
}

// TestRelativeCredentialFiles: as the README says, relative
// bmc.userFile/passwordFile paths are read beneath the spec's directory
// (not the working directory, not --root); one climbing out is refused
// by the schema with its position.
func TestRelativeCredentialFiles(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "userFile: /usr/share/oem/ipmi_user", "userFile: secrets/ipmi_user", 1)
	s = strings.Replace(s, "passwordFile: /usr/share/oem/ipmi_password", "passwordFile: secrets/ipmi_password", 1)
	// Every BMC on a closed loopback port: nothing leaves this host.
	s = regexp.MustCompile(`(?m)^(\s+)bmcMac: (\S+)$`).ReplaceAllString(s, "${1}bmcMac: $2\n${1}bmcAddress: 127.0.0.1:9")
	base := t.TempDir()
	spec := filepath.Join(base, "specdir", "rack.yaml")
	writeTestFile(t, spec, s, 0o644)
	root := t.TempDir()
	args := []string{"plan", "-f", spec, "--root", root, "--dhcp=none", "--provisioner-run=never", "--timeout", "1s"}

	r := cli(t, args...)
	if !strings.Contains(r.stdout+r.stderr, "bmc layer skipped") || !strings.Contains(r.stdout+r.stderr, "bmc.userFile") {
		t.Fatalf("credential files missing: want the bmc layer skipped naming bmc.userFile:\n%s%s", r.stdout, r.stderr)
	}
	writeTestFile(t, filepath.Join(base, "specdir", "secrets", "ipmi_user"), "admin\n", 0o600)
	writeTestFile(t, filepath.Join(base, "specdir", "secrets", "ipmi_password"), "pw-Zq81\n", 0o600)
	r = cli(t, args...)
	if strings.Contains(r.stdout+r.stderr, "bmc layer skipped") {
		t.Errorf("credential files next to the spec not read:\n%s%s", r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "pw-Zq81") {
		t.Errorf("the password shows in the output")
	}

	s = strings.Replace(s, "userFile: secrets/ipmi_user", "userFile: ../ipmi_user", 1)
	writeTestFile(t, spec, s, 0o644)
	r = cli(t, "validate", "-f", spec)
	if r.code != 1 || !regexp.MustCompile(`rack\.yaml:\d+:\d+: bmc\.userFile: "\.\./ipmi_user" is not a credential file path`).MatchString(r.stderr) {
		t.Errorf("userFile ../ipmi_user: exit %d, want a positioned refusal:\n%s", r.code, r.stderr)
	}
}

// TestConfigViewEscapesControls: a value from the environment with
// terminal controls is shown escaped, never raw.
func TestConfigViewEscapesControls(t *testing.T) {
	t.Setenv("RACKCTL_BRANCH", "main\x1b]2;pwned\x07\nforged-line")
	r := cli(t, "config", "view", "--root", t.TempDir())
	if r.code != 0 || strings.ContainsAny(r.stdout, "\x1b\x07") || strings.Contains(r.stdout, "\nforged-line") {
		t.Errorf("exit %d, raw controls in the output:\n%q", r.code, r.stdout)
	}
}
