package simnode_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// mgmtHTTP is the matchbox endpoint the rendered configs name (the
// management node's); nodes map it to the test's matchbox.
const mgmtHTTP = "http://172.24.213.1:8080"

// rackEnv is a small rendered Flatcar rack served for real: ipmi_sim BMCs,
// dnsmasq in a server namespace with rackctl's rendered config, matchbox
// with the rendered Ignition configs in profiles/groups like the terraform
// module writes them.
type rackEnv struct {
	t       *testing.T
	rack    *simrack.Rack
	dhcp    *testenv.DHCP
	mb      *testenv.Matchbox
	bmc     *bmc.Client
	spec    *schema.Rack
	addrs   map[string]ipam.Addrs
	files   map[string][]byte // rendered, by path
	key     ssh.Signer        // core's key, in the rendered configs
	keyFile string            // the same key as an OpenSSH private key file
	hashes  map[string]string // rendered config hash by node
	nodeDir string
}

func nodeMAC(i int) string { return fmt.Sprintf("aa:bb:01:00:00:%02x", i) }

func newRackEnv(t *testing.T, n int) *rackEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("simnode tests need root (network namespaces)")
	}
	ctx := context.Background()
	e := &rackEnv{t: t, nodeDir: t.TempDir()}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if e.key, err = ssh.NewSignerFromKey(priv); err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	e.keyFile = filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(e.keyFile, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	e.rack = simrack.StartT(t, simrack.Options{N: n})
	e.bmc, err = bmc.New(bmc.Config{Credentials: bmc.Credentials{User: e.rack.BMCs[0].User, Password: e.rack.BMCs[0].Password}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	e.spec = &schema.Rack{
		APIVersion: schema.APIVersion, Kind: schema.Kind, Name: "sim", Provisioner: schema.Flatcar,
		Domain: "k8s.localdomain",
		Network: schema.Network{Internal: schema.InternalNetwork{
			Subnet: "172.24.213.0/24", Gateway: "172.24.213.1", DNS: []string{"172.24.213.1"},
			Interface:    "rk-srv0", // testenv's server end
			DynamicRange: schema.IPRange{Start: "172.24.213.128", End: "172.24.213.254"},
		}},
		Matchbox: schema.Matchbox{HTTPEndpoint: mgmtHTTP, RPCEndpoint: "172.24.213.1:8081", ClientCertDir: "/opt/racker-state/matchbox-client"},
		BMC:      schema.BMC{UserFile: "/usr/share/oem/ipmi_user", PasswordFile: "/usr/share/oem/ipmi_password", CipherSuite: 3},
		Install: schema.Install{
			KernelConsole: []string{"console=ttyS1,57600n8"}, KernelArgs: []string{"flatcar.autologin"},
			InstallToSmallestDisk: true, CachedInstall: true,
			InstallPreRebootCmds: "true",
		},
		Cluster: schema.Cluster{Name: "sim", SSHPubKeys: []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(e.key.PublicKey())))},
			Updates: schema.Updates{Strategy: "reboot"}},
	}
	e.addrs = map[string]ipam.Addrs{}
	for i := range n {
		name := fmt.Sprintf("node-%d", i)
		e.spec.Nodes = append(e.spec.Nodes, schema.Node{Name: name, Role: schema.RoleNode, MAC: nodeMAC(i),
			BMCMAC: fmt.Sprintf("aa:bb:02:00:00:%02x", i)})
		e.addrs[name] = ipam.Addrs{Primary: netip.AddrFrom4([4]byte{172, 24, 213, byte(10 + i)}), BMC: netip.AddrFrom4([4]byte{172, 24, 213, byte(100 + i)})}
	}
	out, err := render.Render(render.Input{Rack: e.spec, Addrs: e.addrs, Layout: render.DefaultLayout()})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	e.files, e.hashes = map[string][]byte{}, map[string]string{}
	for _, f := range out {
		e.files[f.Path] = f.Content
		if f.ConfigHash != "" {
			e.hashes[f.Node] = f.ConfigHash
		}
	}

	e.mb, err = testenv.StartMatchbox(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.mb.Close() })
	for i := range n {
		e.serveInstall(i)
	}

	e.dhcp, err = testenv.StartDHCP(ctx, testenv.DHCPOptions{Dir: t.TempDir(), Purpose: "simnode", Conf: e.rendered("dnsmasq.conf")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.dhcp.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// rendered is the one rendered file whose path ends in suffix.
func (e *rackEnv) rendered(suffix string) []byte {
	e.t.Helper()
	var found []string
	var b []byte
	for p, c := range e.files {
		if strings.HasSuffix(p, suffix) {
			found, b = append(found, p), c
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("rendered files ending in %s: %v", suffix, found)
	}
	return b
}

func (e *rackEnv) fqdn(i int) string { return fmt.Sprintf("node-%d.k8s.localdomain", i) }

// writeMatchbox writes one data-dir file of matchbox (read at every request).
func (e *rackEnv) writeMatchbox(rel string, v any) {
	e.t.Helper()
	var b []byte
	switch v := v.(type) {
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	p := filepath.Join(e.mb.DataDir, rel)
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		e.t.Fatal(err)
	}
}

// serveInstall makes matchbox serve node i the rendered installer, as the
// terraform module's install profile and group do.
func (e *rackEnv) serveInstall(i int) {
	e.serveIgnition(i, e.rendered(e.fqdn(i)+"-installer.ign"))
}

// serveIgnition makes matchbox PXE-boot node i with ign as its Ignition.
func (e *rackEnv) serveIgnition(i int, ign []byte) {
	name := fmt.Sprintf("node-%d", i)
	id := "install-" + name
	e.writeMatchbox("ignition/"+id+".ign", ign)
	e.writeMatchbox("profiles/"+id+".json", map[string]any{
		"id": id, "name": id, "ignition_id": id + ".ign",
		"boot": map[string]any{
			"kernel": "/assets/flatcar/current/flatcar_production_pxe.vmlinuz",
			"initrd": []string{"/assets/flatcar/current/flatcar_production_pxe_image.cpio.gz"},
			"args": []string{"initrd=flatcar_production_pxe_image.cpio.gz",
				"flatcar.config.url=" + mgmtHTTP + "/ignition?uuid=${uuid}&mac=${mac:hexhyp}",
				"flatcar.first_boot=yes", "console=ttyS1,57600n8", "flatcar.autologin"},
		},
	})
	e.writeMatchbox("groups/"+name+".json", map[string]any{"id": name, "name": name, "profile": id,
		"selector": map[string]string{"mac": nodeMAC(i)}})
}

func (e *rackEnv) target(i int) bmc.Target {
	b := e.rack.BMCs[i]
	return bmc.Target{Node: fmt.Sprintf("node-%d", i), Address: b.Addr, Credentials: bmc.Credentials{User: b.User, Password: b.Password}}
}

// startNode starts a node behind BMC i; it is closed and its namespace
// deleted in t.Cleanup.
func (e *rackEnv) startNode(t *testing.T, i int, knobs simnode.Knobs, kube *testenv.Kube) *simnode.Node {
	t.Helper()
	return e.startNodeWith(t, i, simnode.IPMIFirmware{Client: e.bmc, Target: e.target(i)}, knobs, kube)
}

// startNodeWith is startNode with the firmware fw.
func (e *rackEnv) startNodeWith(t *testing.T, i int, fw simnode.Firmware, knobs simnode.Knobs, kube *testenv.Kube) *simnode.Node {
	t.Helper()
	net, err := e.dhcp.AddNode(context.Background(), nodeMAC(i))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := net.Close(); err != nil {
			t.Error(err)
		}
	})
	cfg := simnode.Config{
		Name: fmt.Sprintf("node-%d", i), DiskDir: filepath.Join(e.nodeDir, fmt.Sprint(i)),
		ChassisDir: filepath.Join(e.rack.BMCs[i].StateDir, "chassis"),
		Firmware:   fw,
		Net:        net, Rewrite: map[string]string{mgmtHTTP: e.mb.HTTPEndpoint()},
		Log: testWriter{t}, Knobs: knobs,
	}
	if kube != nil {
		cfg.Kube, cfg.KubeHeartbeat, cfg.KubeGrace = kube.Client(), 300*time.Millisecond, 2*time.Second
	}
	n, err := simnode.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func (e *rackEnv) power(t *testing.T, i int, action string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.bmc.SetPower(ctx, e.target(i), action); err != nil {
		t.Fatalf("power %s: %v", action, err)
	}
}

func (e *rackEnv) bootDev(t *testing.T, i int, dev string, persistent bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.bmc.SetBootDevice(ctx, e.target(i), dev, persistent, false); err != nil {
		t.Fatalf("boot device %s: %v", dev, err)
	}
}

// wait waits for a log line containing substr after line from.
func wait(t *testing.T, n *simnode.Node, from int, substr string, d time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	i, err := n.WaitLog(ctx, from, substr)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// sshRun logs in as core with key from the server namespace and runs cmd.
func (e *rackEnv) sshRun(addr string, key ssh.Signer, cmd string, stdin []byte) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := testenv.DialFrom(ctx, e.dhcp.ServerNS, addr)
	if err != nil {
		return "", -1, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sc, chans, reqs, err := ssh.NewClientConn(c, addr, &ssh.ClientConfig{
		User: "core", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // pinning is rackctl's job, tested there
	})
	if err != nil {
		return "", -1, err
	}
	cl := ssh.NewClient(sc, chans, reqs)
	defer cl.Close()
	s, err := cl.NewSession()
	if err != nil {
		return "", -1, err
	}
	defer s.Close()
	// Separate buffers: two copiers ReadFrom-ing one bytes.Buffer lose data.
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	if stdin != nil {
		s.Stdin = bytes.NewReader(stdin)
	}
	err = s.Run(cmd)
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return out.String() + errOut.String(), ee.ExitStatus(), nil
	}
	if err != nil {
		return out.String() + errOut.String(), -1, err
	}
	return out.String(), 0, nil
}

func nodeAddr(i int) string { return fmt.Sprintf("172.24.213.%d:22", 10+i) }

// mustRun asserts cmd exits with want.
func (e *rackEnv) mustRun(t *testing.T, i int, cmd string, want int) string {
	t.Helper()
	out, code, err := e.sshRun(nodeAddr(i), e.key, cmd, nil)
	if err != nil {
		t.Fatalf("ssh node-%d %q: %v", i, cmd, err)
	}
	if code != want {
		t.Fatalf("ssh node-%d %q: exit %d, want %d; output %q", i, cmd, code, want, out)
	}
	return out
}

func TestNode(t *testing.T) {
	e := newRackEnv(t, 6)

	t.Run("PXEInstallDiskBootSSH", func(t *testing.T) {
		n := e.startNode(t, 0, simnode.Knobs{}, nil)
		e.bootDev(t, 0, bmc.BootPXE, false)
		e.power(t, 0, bmc.PowerOn)
		l := wait(t, n, 0, "DHCP: 172.24.213.10/24", 30*time.Second)
		l = wait(t, n, l, "iPXE: kernel", 10*time.Second)
		l = wait(t, n, l, "Ignition ok", 10*time.Second)
		l = wait(t, n, l, simnode.LogInstalled, 10*time.Second)
		// The one-time PXE request was consumed: the reboot boots the disk.
		l = wait(t, n, l, "firmware: boot device disk", 20*time.Second)
		l = wait(t, n, l, "Ignition applied", 10*time.Second)
		wait(t, n, l, simnode.LogSSHUp+" on 172.24.213.10:22", 10*time.Second)

		leases, err := os.ReadFile(e.dhcp.LeaseFile)
		if err != nil || !strings.Contains(string(leases), nodeMAC(0)+" 172.24.213.10 ") {
			t.Errorf("dnsmasq leases lack node-0's lease (%v):\n%s", err, leases)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if bp, err := e.bmc.BootDevice(ctx, e.target(0)); err != nil || bp.Device != bmc.BootNone {
			t.Errorf("boot flags after the one-time PXE boot: %v, %v; want none (firmware clears them)", bp, err)
		}

		e.mustRun(t, 0, "test -f /ignition_ran", 0)
		e.mustRun(t, 0, "test -f /etc/systemd/network/10-priv-stable.network", 0)
		if got := e.mustRun(t, 0, "hostname", 0); strings.TrimSpace(got) == "" {
			t.Errorf("hostname printed nothing")
		}
		if got := e.mustRun(t, 0, "cat /etc/flatcar/update.conf", 0); !strings.Contains(got, "REBOOT_STRATEGY=reboot") {
			b, err := os.ReadFile(filepath.Join(n.DiskRoot(), "etc/flatcar/update.conf"))
			t.Errorf("cat /etc/flatcar/update.conf = %q; on disk %q, %v", got, b, err)
		}
		if _, err := os.Stat(filepath.Join(n.DiskRoot(), "etc/systemd/system/multi-user.target.wants")); err != nil {
			t.Errorf("enabled units not recorded: %v", err)
		}

		_, other, _ := ed25519.GenerateKey(rand.Reader)
		otherKey, _ := ssh.NewSignerFromKey(other)
		if _, _, err := e.sshRun(nodeAddr(0), otherKey, "true", nil); err == nil {
			t.Errorf("a key not in the Ignition logged in")
		}

		// busybox nc from the server namespace reaches sshd (ProxyCommand).
		ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel2()
		nc := exec.CommandContext(ctx2, "ip", "netns", "exec", e.dhcp.ServerNS, "busybox", "nc", "172.24.213.10", "22")
		nc.Stdin = strings.NewReader("")
		banner, _ := nc.Output()
		if !strings.HasPrefix(string(banner), "SSH-2.0-") {
			t.Errorf("busybox nc in %s: banner %q", e.dhcp.ServerNS, banner)
		}

		// Re-Ignition without PXE: remove the flag, set first_boot, point
		// grub.cfg at the installed config, reboot.
		e.mustRun(t, 0, "sudo rm -f /ignition_ran", 0)
		e.mustRun(t, 0, "test -f /ignition_ran", 1)
		grub := "set linux_append=\"flatcar.autologin flatcar.config.url=" + mgmtHTTP + "/ignition?mac=" + nodeMAC(0) + "&os=installed\"\n"
		e.writeMatchbox("profiles/node-node-0.json", map[string]any{"id": "node-node-0", "ignition_id": "node-node-0.ign"})
		e.writeMatchbox("ignition/node-node-0.ign", e.rendered(e.fqdn(0)+".ign"))
		e.writeMatchbox("groups/installed-node-0.json", map[string]any{"id": "installed-node-0", "profile": "node-node-0",
			"selector": map[string]string{"mac": nodeMAC(0), "os": "installed"}})
		if _, code, err := e.sshRun(nodeAddr(0), e.key, "sudo tee /usr/share/oem/grub.cfg", []byte(grub)); err != nil || code != 0 {
			t.Fatalf("tee grub.cfg: %d %v", code, err)
		}
		e.mustRun(t, 0, "sudo touch /boot/flatcar/first_boot", 0)
		from := len(n.Log())
		e.mustRun(t, 0, "sudo systemctl reboot", 0)
		l = wait(t, n, from, "rebooting", 10*time.Second)
		l = wait(t, n, l, "Ignition ok: "+mgmtHTTP+"/ignition?mac=", 20*time.Second)
		wait(t, n, l, simnode.LogSSHUp, 10*time.Second)
		e.mustRun(t, 0, "test -f /ignition_ran", 0)
		e.mustRun(t, 0, "test -f /boot/flatcar/first_boot", 1)

		// Power off stops SSH.
		from = len(n.Log())
		e.power(t, 0, bmc.PowerOff)
		wait(t, n, from, simnode.LogPowerOff, 10*time.Second)
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if c, err := testenv.DialFrom(dctx, e.dhcp.ServerNS, nodeAddr(0)); err == nil {
			c.Close()
			t.Errorf("SSH still answers after power off")
		}
		dcancel()

		// A disk boot (ipmi_sim drops the persistent flag, so the
		// persistence rules are unit-tested with fake flags) boots the
		// disk, without Ignition (no first_boot flag).
		e.bootDev(t, 0, bmc.BootDisk, false)
		from = len(n.Log())
		e.power(t, 0, bmc.PowerOn)
		l = wait(t, n, from, "firmware: boot device disk", 20*time.Second)
		wait(t, n, l, simnode.LogSSHUp, 10*time.Second)
		if strings.Contains(strings.Join(n.Log()[from:], "\n"), "Ignition applied") {
			t.Errorf("Ignition ran again on a plain disk boot")
		}
		ctx3, cancel3 := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel3()
		if bp, err := e.bmc.BootDevice(ctx3, e.target(0)); err != nil || bp.Device != bmc.BootNone {
			t.Errorf("one-time boot flags after boot: %v, %v; want none", bp, err)
		}
		// A reset restarts the machine.
		from = len(n.Log())
		e.power(t, 0, bmc.PowerReset)
		l = wait(t, n, from, "reset", 10*time.Second)
		l = wait(t, n, l, simnode.LogPowerOn, 10*time.Second)
		wait(t, n, l, simnode.LogSSHUp, 20*time.Second)
		// A power cycle (ipmi_sim: off, on a second later) restarts it.
		from = len(n.Log())
		e.power(t, 0, bmc.PowerCycle)
		l = wait(t, n, from, simnode.LogPowerOff, 10*time.Second)
		l = wait(t, n, l, simnode.LogPowerOn, 10*time.Second)
		wait(t, n, l, simnode.LogSSHUp, 20*time.Second)
		e.power(t, 0, bmc.PowerOff)
	})

	t.Run("InvalidIgnitionFailsVisibly", func(t *testing.T) {
		for name, ign := range map[string]string{
			"empty":       "",
			"not json":    "this is not JSON",
			"bad version": `{"ignition":{"version":"9.9.9"}}`,
			"bad field":   `{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"relative/path"}]}}`,
		} {
			t.Run(name, func(t *testing.T) {
				e.serveIgnition(1, []byte(ign))
				n := e.startNode(t, 1, simnode.Knobs{}, nil)
				e.bootDev(t, 1, bmc.BootPXE, false)
				e.power(t, 1, bmc.PowerOn)
				t.Cleanup(func() { e.power(t, 1, bmc.PowerOff) })
				l := wait(t, n, 0, "Ignition invalid", 30*time.Second)
				wait(t, n, l, "boot failed", 5*time.Second)
				for _, line := range n.Log() {
					if strings.Contains(line, simnode.LogInstalled) || strings.Contains(line, simnode.LogSSHUp) {
						t.Errorf("node went on after an invalid Ignition: %q", line)
					}
				}
			})
		}
		e.serveInstall(1)
	})

	t.Run("NoDiskInstallBootsNothing", func(t *testing.T) {
		n := e.startNode(t, 2, simnode.Knobs{}, nil)
		e.bootDev(t, 2, bmc.BootDisk, false)
		e.power(t, 2, bmc.PowerOn)
		wait(t, n, 0, "no bootable disk: nothing is installed", 30*time.Second)
		e.power(t, 2, bmc.PowerOff)
	})

	t.Run("LiveBootInstallsNothing", func(t *testing.T) {
		// A final config served to PXE (no installer): the node runs it
		// from RAM, reachable, and has nothing on disk after a reset.
		e.serveIgnition(2, e.rendered(e.fqdn(2)+".ign"))
		t.Cleanup(func() { e.serveInstall(2) })
		n := e.startNode(t, 2, simnode.Knobs{}, nil)
		e.bootDev(t, 2, bmc.BootPXE, false)
		e.power(t, 2, bmc.PowerOn)
		l := wait(t, n, 0, "live boot", 30*time.Second)
		wait(t, n, l, simnode.LogSSHUp+" on 172.24.213.12:22", 10*time.Second)
		e.mustRun(t, 2, "test -f /ignition_ran", 0)
		from := len(n.Log())
		e.power(t, 2, bmc.PowerReset)
		wait(t, n, from, "nothing is installed", 20*time.Second)
		e.power(t, 2, bmc.PowerOff)
	})

	t.Run("StartRack", func(t *testing.T) {
		// A node behind every BMC (rackctl-sim's way), fresh disks.
		var log bytes.Buffer
		r, err := simnode.StartRack(e.rack, e.dhcp, simnode.RackOptions{Dir: t.TempDir(), MAC: nodeMAC,
			Rewrite: map[string]string{mgmtHTTP: e.mb.HTTPEndpoint()}, Log: &lockedBuffer{b: &log}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if len(r.Nodes) != len(e.rack.BMCs) {
			t.Fatalf("%d nodes for %d BMCs", len(r.Nodes), len(e.rack.BMCs))
		}
		e.bootDev(t, 1, bmc.BootPXE, false)
		e.power(t, 1, bmc.PowerOn)
		wait(t, r.Nodes[1], 0, simnode.LogSSHUp+" on 172.24.213.11:22", 40*time.Second)
		e.mustRun(t, 1, "test -f /ignition_ran", 0)
		if g, err := r.Nodes[1].InstallGeneration(); err != nil || g != 1 {
			t.Errorf("install generation %d (%v) after one install, want 1", g, err)
		}
		if got := e.mustRun(t, 1, "cat "+simnode.InstallGenerationPath, 0); got != "1\n" {
			t.Errorf("over SSH %s = %q, want \"1\\n\"", simnode.InstallGenerationPath, got)
		}
		e.power(t, 1, bmc.PowerOff)
		wait(t, r.Nodes[1], 0, simnode.LogPowerOff, 10*time.Second)
		ns := r.Nodes[1].Net().NS
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left after Close", ns)
		}
		if !strings.Contains(log.String(), "bmc-1: "+simnode.LogInstalled) {
			t.Errorf("the rack's log lacks node bmc-1's install:\n%s", log.String())
		}
	})

	t.Run("Replace", func(t *testing.T) {
		// A new server in BMC 1's slot: the old one stops following the
		// BMC, the new one (its own MAC, namespace and empty disk) does.
		dir := t.TempDir()
		r, err := simnode.StartRack(e.rack, e.dhcp, simnode.RackOptions{Dir: dir, MAC: nodeMAC,
			Rewrite: map[string]string{mgmtHTTP: e.mb.HTTPEndpoint()}, Log: testWriter{t}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		old := r.Nodes[1]
		oldNS := old.Net().NS
		e.bootDev(t, 1, bmc.BootDisk, false)
		e.power(t, 1, bmc.PowerOn)
		wait(t, old, 0, "nothing is installed", 20*time.Second)
		for name, tc := range map[string]struct {
			i   int
			mac string
		}{
			"same MAC": {1, nodeMAC(1)}, "same MAC, other case": {1, strings.ToUpper(nodeMAC(1))},
			"no such server": {len(r.Nodes), "aa:bb:03:00:00:01"}, "negative": {-1, "aa:bb:03:00:00:01"},
		} {
			if _, err := r.Replace(tc.i, tc.mac); err == nil {
				t.Errorf("%s: Replace(%d, %s) accepted", name, tc.i, tc.mac)
			}
		}
		if r.Nodes[1] != old {
			t.Fatal("a refused Replace changed the rack")
		}
		const newMAC = "aa:bb:03:00:00:01"
		n, err := r.Replace(1, newMAC)
		if err != nil {
			t.Fatal(err)
		}
		oldLines := len(old.Log())
		if r.Nodes[1] != n || n == old || n.Net().MAC != newMAC {
			t.Errorf("after Replace: Nodes[1] is the new node %t, MAC %s; want the new node with %s", r.Nodes[1] == n, n.Net().MAC, newMAC)
		}
		if _, err := os.Stat("/run/netns/" + oldNS); err == nil {
			t.Errorf("the old server's namespace %s is left", oldNS)
		}
		if !strings.HasPrefix(n.DiskRoot(), filepath.Join(dir, "bmc-1.1")+"/") {
			t.Errorf("the new server's disk %s, want beneath %s", n.DiskRoot(), filepath.Join(dir, "bmc-1.1"))
		}
		// The chassis is on: the new server boots at once, from its empty
		// disk, with no BMC call; then it follows the BMC's power.
		l := wait(t, n, 0, simnode.LogPowerOn, 10*time.Second)
		wait(t, n, l, "nothing is installed", 20*time.Second)
		from := len(n.Log())
		e.power(t, 1, bmc.PowerOff)
		wait(t, n, from, simnode.LogPowerOff, 10*time.Second)
		if got := old.Log()[oldLines:]; len(got) != 0 {
			t.Errorf("the replaced server still follows the BMC: %q", got)
		}
		if g, err := n.InstallGeneration(); err != nil || g != 0 {
			t.Errorf("the new server's install generation %d (%v), want 0", g, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "bmc-1", "log")); err != nil {
			t.Errorf("the old server's disk is gone: %v", err)
		}
	})

	t.Run("Knobs", func(t *testing.T) {
		t.Run("InstallDuration", func(t *testing.T) {
			n := e.startNode(t, 3, simnode.Knobs{InstallDuration: 1500 * time.Millisecond}, nil)
			e.bootDev(t, 3, bmc.BootPXE, false)
			start := time.Now()
			e.power(t, 3, bmc.PowerOn)
			l := wait(t, n, 0, "installing to disk", 30*time.Second)
			began := time.Now()
			wait(t, n, l, simnode.LogInstalled, 20*time.Second)
			if d := time.Since(began); d < 1400*time.Millisecond {
				t.Errorf("install took %s (since power on %s), want at least 1.5s", d, time.Since(start))
			}
			e.power(t, 3, bmc.PowerOff)
		})
		t.Run("InstallHangs", func(t *testing.T) {
			n := e.startNode(t, 4, simnode.Knobs{InstallHangs: true}, nil)
			e.bootDev(t, 4, bmc.BootPXE, false)
			e.power(t, 4, bmc.PowerOn)
			l := wait(t, n, 0, "install: hangs", 30*time.Second)
			time.Sleep(time.Second)
			e.power(t, 4, bmc.PowerOff)
			wait(t, n, l, simnode.LogPowerOff, 10*time.Second)
			if strings.Contains(strings.Join(n.Log(), "\n"), simnode.LogInstalled+"\n") {
				t.Errorf("a hanging install finished")
			}
			// Nothing on disk: the next disk boot has nothing to boot.
			e.bootDev(t, 4, bmc.BootDisk, false)
			from := len(n.Log())
			e.power(t, 4, bmc.PowerOn)
			wait(t, n, from, "nothing is installed", 20*time.Second)
			e.power(t, 4, bmc.PowerOff)
		})
		t.Run("DiskDies", func(t *testing.T) {
			n := e.startNode(t, 5, simnode.Knobs{}, nil)
			e.bootDev(t, 5, bmc.BootPXE, false)
			e.power(t, 5, bmc.PowerOn)
			l := wait(t, n, 0, simnode.LogSSHUp, 40*time.Second)
			n.SetKnobs(simnode.Knobs{DiskDead: true})
			// sshd cannot read core's keys from a dead disk: no login
			// (commands on a dead disk are unit-tested).
			if out, code, err := e.sshRun(nodeAddr(5), e.key, "cat /ignition_ran", nil); err == nil {
				t.Errorf("login on a dead disk: %q, exit %d", out, code)
			}
			e.power(t, 5, bmc.PowerReset)
			wait(t, n, l, "no bootable disk: disk I/O error", 30*time.Second)
			e.power(t, 5, bmc.PowerOff)
		})
		t.Run("StaleConfig", func(t *testing.T) {
			// node-3 was installed above; it now re-Ignitions from a
			// config whose content changed after its first fetch.
			n := e.startNode(t, 3, simnode.Knobs{}, nil)
			u := mgmtHTTP + "/ignition?mac=" + nodeMAC(3) + "&os=installed"
			e.writeMatchbox("profiles/node-node-3.json", map[string]any{"id": "node-node-3", "ignition_id": "node-node-3.ign"})
			e.writeMatchbox("groups/installed-node-3.json", map[string]any{"id": "installed-node-3", "profile": "node-node-3",
				"selector": map[string]string{"mac": nodeMAC(3), "os": "installed"}})
			old := `{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"/etc/which","contents":{"source":"data:,old"}}]},"passwd":{"users":[{"name":"core","sshAuthorizedKeys":[` + fmt.Sprintf("%q", strings.TrimSpace(string(ssh.MarshalAuthorizedKey(e.key.PublicKey())))) + `]}]}}`
			e.writeMatchbox("ignition/node-node-3.ign", []byte(old))
			reIgnition := func() string {
				t.Helper()
				e.bootDev(t, 3, bmc.BootDisk, false)
				from := len(n.Log())
				e.power(t, 3, bmc.PowerOn)
				wait(t, n, from, simnode.LogSSHUp, 30*time.Second)
				e.mustRun(t, 3, "sudo touch /boot/flatcar/first_boot", 0)
				if _, code, err := e.sshRun(nodeAddr(3), e.key, "sudo tee /usr/share/oem/grub.cfg", []byte(`set linux_append="flatcar.config.url=`+u+`"`)); err != nil || code != 0 {
					t.Fatalf("tee: %d %v", code, err)
				}
				from = len(n.Log())
				e.mustRun(t, 3, "sudo systemctl reboot", 0)
				wait(t, n, from, "Ignition applied", 30*time.Second)
				wait(t, n, from, simnode.LogSSHUp, 30*time.Second)
				got := e.mustRun(t, 3, "cat /etc/which", 0)
				e.power(t, 3, bmc.PowerOff)
				wait(t, n, from, simnode.LogPowerOff, 10*time.Second)
				return got
			}
			if got := reIgnition(); got != "old" {
				t.Fatalf("first re-Ignition: /etc/which = %q", got)
			}
			e.writeMatchbox("ignition/node-node-3.ign", []byte(strings.Replace(old, "data:,old", "data:,new", 1)))
			n.SetKnobs(simnode.Knobs{StaleConfig: true})
			if got := reIgnition(); got != "old" {
				t.Errorf("stale node applied %q, want the stale \"old\"", got)
			}
			n.SetKnobs(simnode.Knobs{})
			if got := reIgnition(); got != "new" {
				t.Errorf("healthy node applied %q, want \"new\"", got)
			}
		})
	})
}

// TestLokomotiveNodeJoinsAndLeaves: a node booted from disk registers a
// Ready Node and heartbeats it; powered off past the grace period the Node
// goes NotReady, then disappears.
func TestLokomotiveNodeJoinsAndLeaves(t *testing.T) {
	e := newRackEnv(t, 1)
	kube := testenv.StartKubeWith(t, testenv.KubeOptions{NoControllerManager: true})
	n := e.startNode(t, 0, simnode.Knobs{}, kube)
	e.bootDev(t, 0, bmc.BootPXE, false)
	e.power(t, 0, bmc.PowerOn)
	wait(t, n, 0, "registered Node", 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Registered under its hostname; the rendered Flatcar config sets
	// none, so under the node's name rather than "localhost".
	host := strings.TrimSpace(e.mustRun(t, 0, "hostname", 0))
	if host == "localhost" {
		host = "node-0"
	}
	node, err := kube.Client().CoreV1().Nodes().Get(ctx, host, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Node %s: %v", host, err)
	}
	if ready(node) != corev1.ConditionTrue {
		t.Errorf("Node %s Ready = %q", host, ready(node))
	}
	first := heartbeat(node)
	// Heartbeat times are stored to the second: wait past the next one
	// plus a heartbeat period.
	time.Sleep(2 * time.Second)
	node, _ = kube.Client().CoreV1().Nodes().Get(ctx, host, metav1.GetOptions{})
	if node == nil || !heartbeat(node).After(first) {
		t.Errorf("no heartbeat renewal after %s", first)
	}
	from := len(n.Log())
	e.power(t, 0, bmc.PowerOff)
	wait(t, n, from, "NotReady", 10*time.Second)
	node, _ = kube.Client().CoreV1().Nodes().Get(ctx, host, metav1.GetOptions{})
	if node == nil || ready(node) == corev1.ConditionTrue {
		t.Errorf("Node still Ready after the grace period")
	}
	wait(t, n, from, "deleted", 10*time.Second)
	if _, err := kube.Client().CoreV1().Nodes().Get(ctx, host, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Node %s after 2×grace off: %v, want not found", host, err)
	}
}

func ready(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func heartbeat(n *corev1.Node) time.Time {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastHeartbeatTime.Time
		}
	}
	return time.Time{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
