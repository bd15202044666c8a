package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/notify"
	"github.com/rackctl/rackctl/schema"
)

const good = `apiVersion: rackctl/v1alpha1
kind: Config
timeout: 7s
parallel: 4
driver:
  dhcp: none
  dnsmasqReloadCmd: docker restart dnsmasq
  passEnv: [HTTPS_PROXY, NO_PROXY]
  parallelism: 3
watch:
  repo: https://git.example.com/racks.git
  allowNonFastForward: true
  maxDisruptiveControllers: -1
  disruptiveWindows: ["Mon-Fri 09:00-17:00", "Sat,Sun 10:00-12:00"]
  listen: ""
notifications:
  - name: ops-chat
    kind: slack
    urlFile: /etc/rackctl/slack-url
    events: [commit.held, apply.failed]
  - name: pager
    kind: command
    command: [/usr/local/bin/page-ops, --team, infra]
    timeout: 30s
`

func TestParseGood(t *testing.T) {
	f, err := Parse("config.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		want []string
		line int
	}{
		"timeout":                        {[]string{"7s"}, 3},
		"parallel":                       {[]string{"4"}, 4},
		"driver.dhcp":                    {[]string{"none"}, 6},
		"driver.dnsmasqReloadCmd":        {[]string{"docker restart dnsmasq"}, 7},
		"driver.passEnv":                 {[]string{"HTTPS_PROXY", "NO_PROXY"}, 8},
		"driver.parallelism":             {[]string{"3"}, 9},
		"watch.repo":                     {[]string{"https://git.example.com/racks.git"}, 11},
		"watch.allowNonFastForward":      {[]string{"true"}, 12},
		"watch.maxDisruptiveControllers": {[]string{"-1"}, 13},
		"watch.disruptiveWindows":        {[]string{"Mon-Fri 09:00-17:00", "Sat,Sun 10:00-12:00"}, 14},
		"watch.listen":                   {[]string{""}, 15},
	}
	for key, tc := range tests {
		v, ok := f.Lookup(key)
		if !ok {
			t.Errorf("%s: not found", key)
			continue
		}
		if !slices.Equal(v.Values, tc.want) || v.Line != tc.line || v.Col != 3 && strings.Contains(key, ".") {
			t.Errorf("%s = %q at %s, want %q at line %d", key, v.Values, v.Pos(), tc.want, tc.line)
		}
	}
	notes := f.Notifications()
	if len(notes) != 2 || notes[0].Name != "ops-chat" || notes[0].Kind != "slack" || notes[0].URLFile != "/etc/rackctl/slack-url" ||
		!slices.Equal(notes[0].Events, []notify.Kind{notify.KindHeld, notify.KindApplyFailed}) || notes[0].Line != 17 ||
		!slices.Equal(notes[1].Command, []string{"/usr/local/bin/page-ops", "--team", "infra"}) || notes[1].Timeout != 30*time.Second {
		t.Errorf("notifications %+v", notes)
	}
	if _, ok := f.Lookup("driver.terraform"); ok {
		t.Error("driver.terraform found, but the file does not set it")
	}
	for _, s := range Settings {
		if _, err := Parse("x", []byte("apiVersion: rackctl/v1alpha1\nkind: Config\n")); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s.Env(), "RACKCTL_") || strings.ContainsAny(s.Env(), "-.") {
			t.Errorf("%s: env %s", s.Key, s.Env())
		}
	}
}

// TestParseBad: every kind of problem is reported at its file:line:col,
// all of them at once.
func TestParseBad(t *testing.T) {
	head := "apiVersion: rackctl/v1alpha1\nkind: Config\n"
	tests := map[string]struct {
		src  string
		want []string
	}{
		"unknown top key": {head + "dirver:\n  dhcp: none\n",
			[]string{"config.yaml:3:1: dirver: unknown field"}},
		"unknown driver key": {head + "driver:\n  terraformRC: /x\n",
			[]string{"config.yaml:4:3: driver.terraformRC: unknown field"}},
		"enum": {head + "driver:\n  dhcp: isc\n",
			[]string{`config.yaml:4:3: driver.dhcp: "isc" is not a DHCP layer`}},
		"type": {head + "parallel: many\n",
			[]string{"config.yaml:3:1: parallel:"}},
		"duration": {head + "timeout: 5 seconds\n",
			[]string{`config.yaml:3:1: timeout: "5 seconds" is not a duration`}},
		"duration overflow": {head + "watch:\n  interval: 9999999999999999999h\n",
			[]string{`config.yaml:4:3: watch.interval: "9999999999999999999h" is not a duration`}},
		"window": {head + "watch:\n  disruptiveWindows: [\"Funday 09:00-17:00\"]\n",
			[]string{"config.yaml:4:3: watch.disruptiveWindows: window \"Funday 09:00-17:00\""}},
		"pass-env secret": {head + "driver:\n  passEnv: [RACKCTL_BMC_PASSWORD]\n",
			[]string{"config.yaml:4:3: driver.passEnv: RACKCTL_BMC_PASSWORD: rackctl's own secrets are never passed on"}},
		"inline secret": {head + "watch:\n  repoPassword: hunter2\n",
			[]string{"config.yaml:4:3: watch.repoPassword: inline secrets are not allowed"}},
		"password in url": {head + "watch:\n  repo: https://bot:hunter2@git.example.com/r.git\n",
			[]string{"config.yaml:4:3: watch.repo:", "may not carry a password or token"}},
		"password in an ssh url": {head + "watch:\n  repo: ssh://git:hunter2@git.example.com/r.git\n",
			[]string{"config.yaml:4:3: watch.repo:", "may not carry a password or token"}},
		"token in url": {head + "watch:\n  repo: https://ghp_token@git.example.com/r.git\n",
			[]string{"config.yaml:4:3: watch.repo:", "may not carry a password or token"}},
		"notification url inline": {head + "notifications:\n  - name: a\n    kind: slack\n    url: https://hooks.example.com/T/B/X\n",
			[]string{"config.yaml:6:5: notifications[0].url: inline URLs are not allowed"}},
		"notification secret inline": {head + "notifications:\n  - name: a\n    kind: webhook\n    urlFile: /u\n    secret: hunter2\n",
			[]string{"config.yaml:7:5: notifications[0].secret: inline secrets are not allowed"}},
		"notification kind": {head + "notifications:\n  - name: a\n    kind: pager\n",
			[]string{`config.yaml:5:5: notifications[0].kind: "pager" is not a notification kind (want webhook, slack or command)`}},
		"notification relative file": {head + "notifications:\n  - name: a\n    kind: webhook\n    urlFile: url.txt\n",
			[]string{"config.yaml:6:5: notifications[0].urlFile:", "is not an absolute path"}},
		"notification without url": {head + "notifications:\n  - name: a\n    kind: webhook\n",
			[]string{"config.yaml:4:5: notifications[0]: a webhook target needs urlFile"}},
		"notification without command": {head + "notifications:\n  - name: a\n    kind: command\n    command: []\n",
			[]string{"config.yaml:4:5: notifications[0]: a command target needs command"}},
		"notification slack secret": {head + "notifications:\n  - name: a\n    kind: slack\n    urlFile: /u\n    secretFile: /s\n",
			[]string{"config.yaml:7:5: notifications[0].secretFile: a slack target signs nothing"}},
		"notification names and events": {head + "notifications:\n  - name: a\n    kind: slack\n    urlFile: /u\n  - name: a\n    kind: command\n    command: [/bin/true]\n    events: [commit.held, commit.helt]\n    timeout: 0s\n",
			[]string{`config.yaml:7:5: notifications[1].name: "a" is already the name of notifications[0] (line 4)`,
				`config.yaml:10:27: notifications[1].events[1]: "commit.helt" is not an event kind`,
				`config.yaml:11:5: notifications[1].timeout: "0s" is not a positive duration`}},
		"unknown verify mode": {head + "driver:\n  verify: ping\n",
			[]string{`config.yaml:4:3: driver.verify: "ping" is not a verify mode (want ssh, cluster, flag or none)`}},
		"wrong kind": {"apiVersion: rackctl/v1alpha1\nkind: Rack\n",
			[]string{`config.yaml:2:1: kind: "Rack" is not a supported kind`}},
		"missing apiVersion": {"kind: Config\n",
			[]string{"config.yaml:1:1: apiVersion:"}},
		"syntax": {head + "driver: [\n",
			[]string{"config.yaml:", "invalid YAML"}},
		"control character": {head + "driver:\n  dnsmasqReloadCmd: \"a\\u0085b\"\n",
			[]string{"config.yaml:4:3: driver.dnsmasqReloadCmd:", "is not one line of text"}},
		"two problems": {head + "timeout: x\nparallel: 0\n",
			[]string{"config.yaml:3:1: timeout:", "config.yaml:4:1: parallel:"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("config.yaml", []byte(tc.src))
			var diags schema.Errors
			if !errors.As(err, &diags) {
				t.Fatalf("err = %v, want positioned diagnostics", err)
			}
			got := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("diagnostics lack %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestLoadRoot(t *testing.T) {
	root := t.TempDir()
	if f, err := LoadRoot(root); f != nil || err != nil {
		t.Fatalf("no file: got %v, %v; want nil, nil", f, err)
	}
	dir := filepath.Join(root, "etc", "rackctl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(elsewhere, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.PlantLink(t, elsewhere, filepath.Join(dir, "config.yaml"))
	if _, err := LoadRoot(root); !errors.Is(err, rootfs.ErrLink) {
		t.Errorf("config behind a link: err = %v, want a link refusal", err)
	}
	os.Remove(filepath.Join(dir, "config.yaml"))
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := LoadRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Lookup("timeout"); v.File != filepath.Join(dir, "config.yaml") {
		t.Errorf("position file %q", v.File)
	}
	big := append([]byte(good), make([]byte, MaxSize)...)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRoot(root); err == nil || !strings.Contains(err.Error(), "allowed") {
		t.Errorf("oversized config: err = %v", err)
	}
}

// TestRenderRoundTrip: what init writes parses, every set value comes
// back, and a file with every entry commented out is valid too.
func TestRenderRoundTrip(t *testing.T) {
	sample := map[Kind][]string{String: {`a "quoted" value`}, Int: {"3"}, Bool: {"true"}, Duration: {"90s"}, List: {"X_A", "X_B"}}
	var all, none []Entry
	for _, s := range Settings {
		vals := sample[s.Kind]
		switch s.Key {
		case "logLevel":
			vals = []string{"info"}
		case "stateDir", "kubeconfig":
			vals = []string{"/var/lib/x"}
		case "driver.dhcp":
			vals = []string{"none"}
		case "driver.driftFix":
			vals = []string{"renew"}
		case "driver.bmc", "driver.provisionerRun":
			vals = []string{map[string]string{"driver.bmc": "none", "driver.provisionerRun": "never"}[s.Key]}
		case "driver.verify":
			vals = []string{"cluster"}
		case "driver.dnsmasqInterface":
			vals = []string{"br0"}
		case "watch.disruptiveWindows":
			vals = []string{"Mon-Fri 09:00-17:00", "Sat 10:00-11:00"}
		}
		all = append(all, Entry{Setting: s, Help: "help of\n" + s.Flag, Set: true, Values: vals, Why: "found"})
		none = append(none, Entry{Setting: s, Help: "help", Default: "d"})
	}
	src := Render([]string{"header"}, all)
	f, err := Parse("config.yaml", src)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	for _, e := range all {
		v, ok := f.Lookup(e.Key)
		if !ok || !slices.Equal(v.Values, e.Values) {
			t.Errorf("%s = %q, want %q", e.Key, v.Values, e.Values)
		}
	}
	src = Render(nil, none)
	f, err = Parse("config.yaml", src)
	if err != nil {
		t.Fatalf("all commented out: %v\n%s", err, src)
	}
	for _, s := range Settings {
		if _, ok := f.Lookup(s.Key); ok {
			t.Errorf("%s set in a file of comments", s.Key)
		}
	}
}
