package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/reconcile"
)

// killRack is a lokomotive rack of three ipmi_sim BMCs, driven by a built
// rackctl binary with the real dnsmasq --test, a stand-in reload command
// and the lokoctl stand-in.
type killRack struct {
	t          *testing.T
	bin, dir   string
	root, spec string
	sims       *simrack.Rack
	lokoRecord string
}

// buildRackctl builds the rackctl binary; tags "rackctl_testhooks" builds
// it with the test hooks (RACKCTL_TEST_PAUSE_PHASE), "" as make build does.
func buildRackctl(t *testing.T, tags string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rackctl")
	out, err := exec.Command("go", "build", "-tags", tags, "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build rackctl: %v\n%s", err, out)
	}
	return bin
}

func lokoctlStandin(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../tools/bin/lokoctl-standin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("lokoctl stand-in missing (run scripts/build-tools.sh): %v", err)
	}
	return p
}

func newKillRack(t *testing.T) *killRack {
	for _, tool := range []string{"dnsmasq", "ipmi_sim", "ipmitool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: %v", tool, err)
		}
	}
	dir := t.TempDir()
	k := &killRack{t: t, bin: buildRackctl(t, "rackctl_testhooks"), dir: dir, root: filepath.Join(dir, "root"), spec: filepath.Join(dir, "rack.yaml"),
		sims: simrack.StartT(t, simrack.Options{N: 3, Password: "simpass1"}), lokoRecord: filepath.Join(dir, "lokoctl.jsonl")}
	oem := filepath.Join(k.root, "usr/share/oem")
	os.MkdirAll(oem, 0o755)
	os.WriteFile(filepath.Join(oem, "ipmi_user"), []byte("admin\n"), 0o600)
	os.WriteFile(filepath.Join(oem, "ipmi_password"), []byte("simpass1\n"), 0o600)
	k.writeSpec("", false)
	return k
}

// writeSpec writes rack.yaml: reprovision is node 1's value, exclude node 2's.
// The dynamic range ends at .200+the length of reprovision, so dnsmasq.conf
// changes with it.
func (k *killRack) writeSpec(reprovision string, exclude bool) {
	var nodes strings.Builder
	for i, b := range k.sims.BMCs {
		role, name := "worker", fmt.Sprintf("lokomotive-worker-%d", i-1)
		if i == 0 {
			role, name = "controller", "lokomotive-controller-0"
		}
		fmt.Fprintf(&nodes, "  - name: %s\n    role: %s\n    mac: aa:bb:cc:dd:00:%02x\n    bmcMac: aa:bb:cc:dd:01:%02x\n    bmcAddress: %q\n", name, role, i+1, i+1, b.Addr)
		if i == 1 && reprovision != "" {
			fmt.Fprintf(&nodes, "    reprovision: %q\n", reprovision)
		}
		if i == 2 && exclude {
			nodes.WriteString("    exclude: true\n")
		}
	}
	spec := `apiVersion: rackctl/v1alpha1
kind: Rack
name: rack-kill
provisioner: lokomotive
domain: k8s.localdomain
network:
  internal:
    subnet: 172.24.213.0/24
    gateway: 172.24.213.1
    dns: [172.24.213.1]
    dynamicRange: {start: 172.24.213.128, end: 172.24.213.` + fmt.Sprint(200+len(reprovision)) + `}
bmc:
  userFile: /usr/share/oem/ipmi_user
  passwordFile: /usr/share/oem/ipmi_password
cluster:
  name: lokomotive
  sshPubKeys:
    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxva29tb3RpdmUtZXhhbXBsZS1rZXk ops@example
  updates:
    strategy: reboot
nodes:
` + nodes.String()
	if err := os.WriteFile(k.spec, []byte(spec), 0o644); err != nil {
		k.t.Fatal(err)
	}
}

func (k *killRack) cmd(ctx context.Context, args ...string) *exec.Cmd {
	// The servers behind these BMCs do not boot: installs are assumed.
	base := []string{"-f", k.spec, "--root", k.root, "--dnsmasq-reload-cmd", "true", "--lokoctl", lokoctlStandin(k.t), "--timeout", "10s", "--verify", "flag"}
	if args[0] == "apply" {
		// --no-waves: this rack has no cluster to ask whether a wave's
		// nodes are Ready (the lokoctl stand-in, no kubeconfig), so a
		// waved apply stops at its first wave; what is killed here is
		// the one-step apply.
		base = append(base, "--auto-approve", "--no-waves")
	}
	c := exec.CommandContext(ctx, k.bin, append(args, base...)...)
	c.Env = append(os.Environ(), "RACKCTL_LOKOCTL_RECORD="+k.lokoRecord, "NO_COLOR=1")
	return c
}

func (k *killRack) run(args ...string) (int, string) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := k.cmd(ctx, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		k.t.Fatalf("%v: %v", args, err)
	}
	return code, string(out)
}

// settle applies until the plan is empty: a node PXE-booted on ipmi_sim
// keeps "pxe" as boot device, so the apply after an install sets disk.
func (k *killRack) settle() {
	k.t.Helper()
	for range 3 {
		code, out := k.run("plan", "--detailed-exitcode")
		if code == 0 {
			return
		}
		if code != 2 {
			k.t.Fatalf("plan: exit %d\n%s", code, out)
		}
		if code, out := k.run("apply"); code != 0 {
			k.t.Fatalf("apply: exit %d\n%s", code, out)
		}
	}
	code, out := k.run("plan", "--detailed-exitcode")
	k.t.Fatalf("not converged after 3 applies: exit %d\n%s", code, out)
}

// TestApplyKilledAtEachPhase kills rackctl apply with SIGKILL at the start
// of every phase (RACKCTL_TEST_PAUSE_PHASE) and shows that the next apply
// takes over the stale lock and converges, with no half-written file.
func TestApplyKilledAtEachPhase(t *testing.T) {
	k := newKillRack(t)
	k.settle()
	for i, phase := range reconcile.Layers {
		if phase == reconcile.LayerCredentials || phase == reconcile.LayerSettle || phase == reconcile.LayerReignite {
			// credentials needs bmc.rotate, settle observed installs
			// (--verify ssh), reignite nodes observed over SSH: this rack
			// has none of them, nothing to pause at.
			continue
		}
		t.Run(string(phase), func(t *testing.T) {
			// Reprovision node 1 and toggle node 2's exclude: every
			// layer gets changes.
			exclude := i%2 == 0
			k.writeSpec(strings.Repeat("r", i+1), exclude)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c := k.cmd(ctx, "apply")
			c.Env = append(c.Env, PauseEnv+"="+string(phase))
			var stderr bytes.Buffer
			pr, pw, _ := os.Pipe()
			c.Stdout, c.Stderr = &stderr, pw
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			paused := make(chan bool, 1)
			var errOut []byte
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := pr.Read(buf)
					errOut = append(errOut, buf[:n]...)
					if bytes.Contains(errOut, []byte("paused before phase "+string(phase))) {
						paused <- true
						return
					}
					if err != nil {
						paused <- false
						return
					}
				}
			}()
			select {
			case ok := <-paused:
				if !ok {
					c.Wait()
					t.Fatalf("apply ended without pausing at %s:\n%s\nstderr:\n%s", phase, lastLines(stderr.String(), 15), errOut)
				}
			case <-time.After(90 * time.Second):
				t.Fatalf("apply did not reach phase %s", phase)
			}
			if err := c.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			c.Wait()
			pr.Close()
			if _, err := os.Stat(filepath.Join(k.root, "var/lib/rackctl", reconcile.LockFile)); err != nil {
				t.Fatalf("no stale lock after the kill: %v", err)
			}
			if code, out := k.run("apply"); code != 0 {
				t.Fatalf("apply after the kill: exit %d\n%s", code, out)
			}
			k.settle()
			filepath.WalkDir(k.root, func(p string, d os.DirEntry, err error) error {
				if err == nil && strings.Contains(d.Name(), ".rackctl-") {
					t.Errorf("temp file left: %s", p)
				}
				return nil
			})
			if _, err := os.Stat(filepath.Join(k.root, "var/lib/rackctl", reconcile.LockFile)); err == nil {
				t.Error("lock left after a finished apply")
			}
		})
	}
}
