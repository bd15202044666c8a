package simnode

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/testenv"
)

const golden = "../../render/testdata/golden/flatcar/home/core/flatcar-container-linux/ignition/"

func TestParseIPXE(t *testing.T) {
	vars := map[string]string{"mac:hexhyp": "aa-bb", "uuid": "u-1"}
	tests := map[string]struct {
		script     string
		wantKernel string
		wantArgs   string
		wantNext   string
		wantErr    string
	}{
		"matchbox boot.ipxe chains": {script: "#!ipxe\nchain ipxe?uuid=${uuid}&mac=${mac:hexhyp}&domain=${domain}\n", wantNext: "ipxe?uuid=u-1&mac=aa-bb&domain="},
		"kernel with args": {script: "#!ipxe\nkernel /k a=1 flatcar.config.url=http://m/ignition?mac=${mac:hexhyp}\ninitrd /i\nboot\n",
			wantKernel: "/k", wantArgs: "a=1 flatcar.config.url=http://m/ignition?mac=aa-bb"},
		"chain options skipped": {script: "#!ipxe\nchain --autofree http://x/y\n", wantNext: "http://x/y"},
		"not an iPXE script":    {script: "<html>404</html>", wantErr: "want #!ipxe"},
		"empty":                 {script: "", wantErr: "no kernel"},
		"boot without kernel":   {script: "#!ipxe\nboot\n", wantErr: "boot without a kernel"},
		"chain without URL":     {script: "#!ipxe\nchain\n", wantErr: "chain without a URL"},
		"unterminated variable": {script: "#!ipxe\nkernel /k x=${mac\nboot\n", wantKernel: "/k", wantArgs: "x=${mac"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, next, err := parseIPXE(tc.script, vars)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if next != tc.wantNext || k.Kernel != tc.wantKernel || strings.Join(k.Args, " ") != tc.wantArgs {
				t.Errorf("got kernel %q args %q next %q", k.Kernel, strings.Join(k.Args, " "), next)
			}
		})
	}
}

func TestParseIgnition(t *testing.T) {
	installer, err := os.ReadFile(golden + "node-0.k8s.localdomain-installer.ign")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		raw    string
		wantOK bool
	}{
		"rendered installer (3.0.0)": {raw: string(installer), wantOK: true},
		"3.4.0 as matchbox serves":   {raw: `{"ignition":{"version":"3.4.0"}}`, wantOK: true},
		"empty":                      {raw: ""},
		"blank":                      {raw: " \n"},
		"not JSON":                   {raw: "<html>"},
		"2.x":                        {raw: `{"ignition":{"version":"2.3.0"}}`},
		"relative path":              {raw: `{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"etc/x"}]}}`},
		"no version":                 {raw: `{}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseIgnition([]byte(tc.raw))
			if tc.wantOK != (err == nil) {
				t.Fatalf("err = %v, want ok=%t", err, tc.wantOK)
			}
			if err != nil && !errors.Is(err, ErrBadIgnition) {
				t.Errorf("err %v does not wrap ErrBadIgnition", err)
			}
		})
	}
}

func newTestNode(t *testing.T) *Node {
	t.Helper()
	n := &Node{cfg: Config{Name: "t"}, changed: make(chan struct{})}
	n.disk = &disk{dir: t.TempDir(), dead: func() bool { return n.Knobs().DiskDead }}
	if err := n.disk.init(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInstallAndApplyRendered installs the rendered installer's final
// config and applies it as a first boot does.
func TestInstallAndApplyRendered(t *testing.T) {
	raw, err := os.ReadFile(golden + "node-0.k8s.localdomain-installer.ign")
	if err != nil {
		t.Fatal(err)
	}
	n := newTestNode(t)
	cfg, err := parseIgnition(raw)
	if err != nil {
		t.Fatal(err)
	}
	final, ok, err := n.installerTarget(context.Background(), cfg)
	if err != nil || !ok {
		t.Fatalf("installerTarget: %v, ok=%t", err, ok)
	}
	want, _ := os.ReadFile(golden + "node-0.k8s.localdomain.ign")
	var a, b bytes.Buffer
	json.Compact(&a, final)
	json.Compact(&b, want)
	if a.Len() == 0 || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("installed config is not the rendered final config:\n%s", final)
	}
	if err := n.disk.install(final); err != nil {
		t.Fatal(err)
	}
	if !n.disk.installed() || !n.disk.exists(FirstBootPath) || !n.disk.exists(HostKeyPath) {
		t.Fatal("install left no marker, first_boot flag or host key")
	}
	fc, err := parseIgnition(final)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.disk.apply(fc, nil); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"/etc/flatcar/update.conf":        "REBOOT_STRATEGY=reboot\n",
		"/home/core/.ssh/authorized_keys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc1Ipu0vTYCbDfcg1pNb7s0R7Kd4MFJvq1dZs0Z2rk4 ops@example\n",
		UnitsDir + "/multi-user.target.wants/boot-workaround-efi-disk-persist.service": UnitsDir + "/boot-workaround-efi-disk-persist.service\n",
	} {
		got, err := n.disk.readFile(p)
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	net, _ := n.disk.readFile(NetworkUnitsDir + "/10-priv-stable.network")
	addr, ok := primaryAddr(map[string]string{"10-priv-stable.network": string(net)}, "aa:bb:01:00:00:00")
	if !ok || addr != netip.MustParsePrefix("172.24.213.10/24") {
		t.Errorf("primary address %v %t", addr, ok)
	}
}

func TestPrimaryAddr(t *testing.T) {
	tests := map[string]struct {
		units map[string]string
		want  string
	}{
		"match by MAC":                      {units: map[string]string{"10.network": "[Match]\nMACAddress=AA:BB:00:00:00:01\n[Address]\nAddress=10.0.0.5/24\n"}, want: "10.0.0.5/24"},
		"other MAC":                         {units: map[string]string{"10.network": "[Match]\nMACAddress=aa:bb:00:00:00:02\n[Address]\nAddress=10.0.0.5/24\n"}},
		"no match section, Network Address": {units: map[string]string{"a.network": "[Network]\nAddress=10.0.0.6/24\n"}, want: "10.0.0.6/24"},
		"not a .network file":               {units: map[string]string{"a.netdev": "[Network]\nAddress=10.0.0.6/24\n"}},
		"garbage address":                   {units: map[string]string{"a.network": "[Address]\nAddress=nope\n"}},
		"first file wins":                   {units: map[string]string{"b.network": "[Address]\nAddress=10.0.0.2/24\n", "a.network": "[Address]\nAddress=10.0.0.1/24\n"}, want: "10.0.0.1/24"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := primaryAddr(tc.units, "aa:bb:00:00:00:01")
			if tc.want == "" {
				if ok {
					t.Errorf("got %v, want none (DHCP)", got)
				}
				return
			}
			if !ok || got.String() != tc.want {
				t.Errorf("got %v %t, want %s", got, ok, tc.want)
			}
		})
	}
}

func TestGrubArg(t *testing.T) {
	tests := map[string]struct{ cfg, want string }{
		"linux_append": {cfg: `set linux_append="flatcar.autologin flatcar.config.url=http://m/i?mac=a&os=installed"`, want: "http://m/i?mac=a&os=installed"},
		"first word":   {cfg: `set linux_append="flatcar.config.url=http://m/x"`, want: "http://m/x"},
		"prefix clash": {cfg: `set linux_append="notflatcar.config.url=http://evil/"`},
		"none":         {cfg: "set timeout=1\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := grubArg(tc.cfg, "flatcar.config.url"); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSSHCommandsStayOnTheDisk runs the served commands against a disk;
// no path leaves its root, whatever it says.
func TestSSHCommandsStayOnTheDisk(t *testing.T) {
	n := newTestNode(t)
	outside := filepath.Join(filepath.Dir(n.disk.dir), "outside")
	os.WriteFile(outside, []byte("secret"), 0o644)
	os.WriteFile(filepath.Join(n.disk.rootDir(), "hello"), []byte("hi"), 0o644)
	os.Symlink(outside, filepath.Join(n.disk.rootDir(), "escape"))
	os.Symlink(outside, filepath.Join(n.disk.rootDir(), "escape2"))
	s := &sshServer{node: n, disk: n.disk, reboot: make(chan struct{}, 1)}
	tests := map[string]struct {
		cmd, stdin string
		wantCode   int
		wantOut    string
		wantReboot bool
	}{
		"cat":                {cmd: "cat /hello", wantOut: "hi"},
		"cat dotdot":         {cmd: "cat ../../../../../../" + outside, wantCode: 1},
		"cat through link":   {cmd: "cat /escape", wantCode: 1},
		"test -f yes":        {cmd: "test -f /hello"},
		"test -f no":         {cmd: "test -f /nope", wantCode: 1},
		"test -f dir":        {cmd: "test -f /", wantCode: 1},
		"rm -f missing":      {cmd: "sudo rm -f /nope"},
		"rm -f outside":      {cmd: "rm -f ../outside"},
		"touch first_boot":   {cmd: "sudo touch /boot/flatcar/first_boot", wantCode: 1}, // no /boot/flatcar yet
		"tee grub.cfg":       {cmd: "sudo tee /usr/share/oem/grub.cfg", stdin: "set x=1\n", wantOut: "set x=1\n"},
		"tee through link":   {cmd: "sudo tee /escape2", stdin: "pwned", wantOut: "pwned"},
		"hostname":           {cmd: "hostname", wantOut: "localhost\n"},
		"reboot":             {cmd: "sudo systemctl reboot", wantReboot: true},
		"unknown":            {cmd: "sh -c 'cat /etc/shadow'", wantCode: 127},
		"unterminated quote": {cmd: "cat '/hello", wantCode: 2},
		"empty":              {cmd: ""},
		"sudo alone":         {cmd: "sudo"},
		"quoted path":        {cmd: `cat "/hello"`, wantOut: "hi"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code, reboot := s.run(tc.cmd, strings.NewReader(tc.stdin), &out, &errOut)
			if code != tc.wantCode || reboot != tc.wantReboot || (tc.wantOut != "" && out.String() != tc.wantOut) {
				t.Errorf("%q: exit %d reboot %t out %q err %q; want exit %d reboot %t out %q",
					tc.cmd, code, reboot, out.String(), errOut.String(), tc.wantCode, tc.wantReboot, tc.wantOut)
			}
		})
	}
	if b, _ := os.ReadFile(outside); string(b) != "secret" {
		t.Errorf("a command changed a file outside the disk: %q", b)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("rm removed a file outside the disk: %v", err)
	}
	n.SetKnobs(Knobs{DiskDead: true})
	var out, errOut bytes.Buffer
	if code, _ := s.run("cat /hello", nil, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "Input/output error") {
		t.Errorf("cat on a dead disk: exit %d, %q", code, errOut.String())
	}
}

// fakeBoot is a BMC's boot flags.
type fakeBoot struct {
	bp      bmc.BootParam
	readErr error
	writes  []bmc.BootParam
}

func (f *fakeBoot) BootDevice(ctx context.Context, t bmc.Target) (bmc.BootParam, error) {
	return f.bp, f.readErr
}

func (f *fakeBoot) SetBootDevice(ctx context.Context, t bmc.Target, dev string, persistent, efi bool) error {
	f.bp = bmc.BootParam{Device: dev, Persistent: persistent, EFI: efi}
	f.writes = append(f.writes, f.bp)
	return nil
}

func TestIPMIFirmwareConsumesOneTime(t *testing.T) {
	tests := map[string]struct {
		bp         bmc.BootParam
		want       []string // devices of three boots in a row
		wantWrites int
	}{
		"one-time PXE":   {bp: bmc.BootParam{Device: bmc.BootPXE}, want: []string{BootPXE, BootDisk, BootDisk}, wantWrites: 1},
		"persistent PXE": {bp: bmc.BootParam{Device: bmc.BootPXE, Persistent: true}, want: []string{BootPXE, BootPXE, BootPXE}},
		"one-time disk":  {bp: bmc.BootParam{Device: bmc.BootDisk}, want: []string{BootDisk, BootDisk, BootDisk}, wantWrites: 1},
		"no override":    {bp: bmc.BootParam{Device: bmc.BootNone}, want: []string{BootDisk, BootDisk, BootDisk}},
		"persistent disk": {bp: bmc.BootParam{Device: bmc.BootDisk, Persistent: true},
			want: []string{BootDisk, BootDisk, BootDisk}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := &fakeBoot{bp: tc.bp}
			fw := IPMIFirmware{Client: f}
			for i, want := range tc.want {
				got, err := fw.NextBoot(context.Background())
				if err != nil || got != want {
					t.Fatalf("boot %d: %q, %v; want %q", i, got, err, want)
				}
			}
			if len(f.writes) != tc.wantWrites {
				t.Errorf("boot flag writes %v, want %d", f.writes, tc.wantWrites)
			}
		})
	}
	f := &fakeBoot{readErr: errors.New("timeout")}
	if _, err := (IPMIFirmware{Client: f}).NextBoot(context.Background()); err == nil {
		t.Error("a failed read of the boot flags booted anyway")
	}
}

// TestSSHOutputArrives: every command's output reaches the client before
// its exit status, login after login.
func TestSSHOutputArrives(t *testing.T) {
	n := newTestNode(t)
	os.WriteFile(filepath.Join(n.disk.rootDir(), "hello"), []byte("hi"), 0o644)
	_, hk, _ := ed25519.GenerateKey(rand.Reader)
	hs, _ := ssh.NewSignerFromKey(hk)
	_, ck, _ := ed25519.GenerateKey(rand.Reader)
	cs, _ := ssh.NewSignerFromKey(ck)
	os.MkdirAll(filepath.Join(n.disk.rootDir(), "home/core/.ssh"), 0o700)
	os.WriteFile(filepath.Join(n.disk.rootDir(), "home/core/.ssh/authorized_keys"), ssh.MarshalAuthorizedKey(cs.PublicKey()), 0o600)
	s := &sshServer{node: n, disk: n.disk, signer: hs, reboot: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.serve(ln)
	t.Cleanup(s.close)
	_, ok, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(ok)
	if _, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{User: "core", Auth: []ssh.AuthMethod{ssh.PublicKeys(other)}, HostKeyCallback: ssh.FixedHostKey(hs.PublicKey())}); err == nil {
		t.Error("a key not in authorized_keys logged in")
	}
	if _, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(cs)}, HostKeyCallback: ssh.FixedHostKey(hs.PublicKey())}); err == nil {
		t.Error("root logged in with core's key")
	}
	for i := range 30 {
		cl, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{User: "core", Auth: []ssh.AuthMethod{ssh.PublicKeys(cs)}, HostKeyCallback: ssh.FixedHostKey(hs.PublicKey())})
		if err != nil {
			t.Fatal(err)
		}
		se, err := cl.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		// Separate buffers: bytes.Buffer.ReadFrom from two copiers loses data.
		var out, errOut bytes.Buffer
		se.Stdout, se.Stderr = &out, &errOut
		err = se.Run("cat /hello")
		se.Close()
		cl.Close()
		if err != nil || out.String() != "hi" {
			t.Fatalf("run %d: %q, %v", i, out.String(), err)
		}
	}
}

func TestFetchBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), maxFetch+1))
		case "/missing":
			http.NotFound(w, r)
		default:
			w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(srv.Close)
	n := newTestNode(t)
	n.cfg.Timeout = 5 * time.Second
	n.cfg.Rewrite = map[string]string{"http://mgmt:8080": srv.URL, "http://mgmt:8080/long": srv.URL + "/missing"}
	tests := map[string]struct {
		url     string
		wantErr string
	}{
		"rewritten":      {url: "http://mgmt:8080/x"},
		"longest prefix": {url: "http://mgmt:8080/long", wantErr: "404"},
		"too big":        {url: "http://mgmt:8080/big", wantErr: "more than"},
		"not http":       {url: "file:///etc/passwd", wantErr: "not an http(s) URL"},
		"no scheme":      {url: "/etc/passwd", wantErr: "not an http(s) URL"},
		// 0.0.0.0 is refused as not loopback; were it dialled, the
		// connection would stay on this host (port 1: nothing listens).
		"off loopback": {url: "http://0.0.0.0:1/x", wantErr: "not on loopback"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := n.fetch(context.Background(), tc.url)
			if tc.wantErr == "" {
				if err != nil || string(b) != "ok" {
					t.Fatalf("%q, %v", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestApplyRefusesNamesLeavingTheirDirectory(t *testing.T) {
	tests := map[string]string{
		"unit":      `{"ignition":{"version":"3.0.0"},"systemd":{"units":[{"name":"../../../x.service","contents":"y"}]}}`,
		"user":      `{"ignition":{"version":"3.0.0"},"passwd":{"users":[{"name":"../etc","sshAuthorizedKeys":["k"]}]}}`,
		"user dots": `{"ignition":{"version":"3.0.0"},"passwd":{"users":[{"name":"..","sshAuthorizedKeys":["k"]}]}}`,
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			n := newTestNode(t)
			cfg, err := parseIgnition([]byte(raw))
			if err != nil {
				t.Logf("refused by Ignition validation: %v", err)
				return
			}
			if err := n.disk.apply(cfg, nil); err == nil {
				t.Errorf("applied %s", raw)
			}
		})
	}
}

func TestIPXEChainBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("#!ipxe\nchain /again?mac=${mac:hexhyp}\n"))
	}))
	t.Cleanup(srv.Close)
	n := newTestNode(t)
	n.cfg.Timeout = 5 * time.Second
	n.cfg.Net = &testenv.NodeNet{MAC: "aa:bb:cc:00:00:01"}
	if _, err := n.ipxe(context.Background(), srv.URL+"/boot.ipxe"); err == nil || !strings.Contains(err.Error(), "chained scripts") {
		t.Fatalf("a script chaining to itself: %v", err)
	}
}

func TestInstallRefusesAnInvalidConfig(t *testing.T) {
	for name, final := range map[string]string{"empty": "", "no version": "{}", "garbage": "\x00\x01"} {
		t.Run(name, func(t *testing.T) {
			n := newTestNode(t)
			if err := n.install(context.Background(), []byte(final)); err == nil {
				t.Fatal("installed an invalid config")
			}
			if n.disk.installed() {
				t.Error("the disk says installed")
			}
		})
	}
}

func TestOnLoopback(t *testing.T) {
	tests := map[string]bool{
		"http://127.0.0.1:8080/x": true, "http://localhost/x": true, "http://[::1]:80/": true, "http://127.1.2.3/": true,
		"http://172.24.213.1:8080/x": false, "http://example.com/": false, "http://[2001:db8::1]/": false,
		"http://0.0.0.0/": false, "http://127.0.0.1.example.com/": false,
	}
	for raw, want := range tests {
		t.Run(raw, func(t *testing.T) {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if err := onLoopback(u); (err == nil) != want {
				t.Errorf("onLoopback(%s) = %v, want ok=%t", raw, err, want)
			}
		})
	}
}

// TestInstallGeneration: every completed install counts once, on the disk
// and in the installed root file system (what a test reads over SSH); the
// wipe of a reinstall keeps the count; a failed install and a first boot
// do not count; a count that is not one fails the install.
func TestInstallGeneration(t *testing.T) {
	final, err := os.ReadFile(golden + "node-0.k8s.localdomain.ign")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseIgnition(final)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		do      string // "install", "install on a dead disk", "first boot", "corrupt"
		want    int
		wantErr bool
	}
	tests := map[string][]step{
		"fresh disk":                 {{do: "", want: 0}},
		"one install":                {{do: "install", want: 1}},
		"reinstall counts again":     {{do: "install", want: 1}, {do: "first boot", want: 1}, {do: "install", want: 2}, {do: "install", want: 3}},
		"failed install not counted": {{do: "install", want: 1}, {do: "install on a dead disk", want: 1, wantErr: true}},
		"corrupt count refused":      {{do: "install", want: 1}, {do: "corrupt", want: 0, wantErr: true}},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			n := newTestNode(t)
			for i, s := range steps {
				var err error
				switch s.do {
				case "install":
					err = n.disk.install(final)
				case "install on a dead disk":
					n.SetKnobs(Knobs{DiskDead: true})
					err = n.disk.install(final)
					n.SetKnobs(Knobs{})
				case "first boot":
					err = n.disk.apply(cfg, nil)
				case "corrupt":
					if err := os.WriteFile(n.disk.generationFile(), []byte("two\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					err = n.disk.install(final)
				}
				if (err != nil) != s.wantErr {
					t.Fatalf("step %d (%s): error %v, want error %t", i, s.do, err, s.wantErr)
				}
				got, err := n.InstallGeneration()
				if s.do == "corrupt" {
					if err == nil {
						t.Errorf("step %d: a corrupt count read as %d", i, got)
					}
					continue
				}
				if err != nil || got != s.want {
					t.Errorf("step %d (%s): generation %d (%v), want %d", i, s.do, got, err, s.want)
				}
				onDisk, err := n.disk.readFile(InstallGenerationPath)
				switch {
				case s.want == 0 && err == nil:
					t.Errorf("step %d: %s = %q without an install", i, InstallGenerationPath, onDisk)
				case s.want > 0 && (err != nil || strings.TrimSpace(string(onDisk)) != strconv.Itoa(s.want)):
					t.Errorf("step %d (%s): %s = %q (%v), want %d", i, s.do, InstallGenerationPath, onDisk, err, s.want)
				}
			}
		})
	}
}

// flakyFirmware fails its first reads, as ipmi_sim's LAN side does when
// rackctl keeps it busy, then answers.
type flakyFirmware struct {
	fails int
	reads int
}

func (f *flakyFirmware) NextBoot(context.Context) (string, error) {
	f.reads++
	if f.reads <= f.fails {
		return "", errors.New("read boot flags: i/o timeout")
	}
	return BootDisk, nil
}

func TestFirmwareReadRetried(t *testing.T) {
	for _, tc := range []struct {
		fails int
		ok    bool
	}{{0, true}, {2, true}, {firmwareReadAttempts - 1, true}, {firmwareReadAttempts, false}} {
		fw := &flakyFirmware{fails: tc.fails}
		n := &Node{cfg: Config{Name: "t", Firmware: fw, Timeout: time.Second}, changed: make(chan struct{})}
		dev, err := n.nextBoot(context.Background())
		if tc.ok && (err != nil || dev != BootDisk) {
			t.Errorf("%d failed reads: got %q, %v; want the disk after retrying", tc.fails, dev, err)
		}
		if !tc.ok && err == nil {
			t.Errorf("%d failed reads: got %q; want the boot to fail after %d attempts", tc.fails, dev, firmwareReadAttempts)
		}
	}
}
