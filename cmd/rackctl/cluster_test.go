// Tests of the cluster-facing commands (status's Kubernetes columns,
// ui-token, apply --verify cluster) run rackctl in-process against
// internal/kubefake, a fake Kubernetes API server on loopback, and against
// ipmi_sim BMCs from internal/simrack.
//
// Why a fake API server: a real kube-apiserver (plus the etcd it needs)
// could not be built here in reasonable time — Debian does not package it,
// prebuilt binaries cannot be fetched on this machine, and compiling
// cmd/kube-apiserver from k8s.io/kubernetes did not finish in 16 minutes on
// this 2-core machine. internal/kubefake's package comment has the details;
// the fake speaks the API's wire format over TLS with a bearer token, so
// client-go's decoding, watch framing, error mapping and timeouts all run.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/rackctl/rackctl/internal/kubefake"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

const (
	simDomain  = "sim.localdomain"
	simOSImage = "Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)"
)

// lokoNodes are the names of the nodes lokoSimSpec writes, one per BMC.
var lokoNodes = []string{"controller-0", "worker-0", "worker-1"}

// lokoMAC is node i's primary MAC in lokoSimSpec.
func lokoMAC(i int) string { return fmt.Sprintf("02:00:00:00:%02x:01", i) }

// lokoSimSpec is simSpec's lokomotive variant: controller-0, worker-0 and
// worker-1, whose BMCs are the three given simulators.
func lokoSimSpec(t *testing.T, root, user, password string, bmcs []simrack.BMC) string {
	t.Helper()
	if len(bmcs) != len(lokoNodes) {
		t.Fatalf("lokoSimSpec: %d BMCs, want %d", len(bmcs), len(lokoNodes))
	}
	oem := filepath.Join(root, "usr/share/oem")
	if err := os.MkdirAll(oem, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"ipmi_user": user, "ipmi_password": password} {
		if err := os.WriteFile(filepath.Join(oem, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString(`apiVersion: rackctl/v1alpha1
kind: Rack
name: sim
provisioner: lokomotive
domain: ` + simDomain + `
network:
  internal: {subnet: 172.24.213.0/24, gateway: 172.24.213.1, dns: [172.24.213.1]}
bmc: {userFile: /usr/share/oem/ipmi_user, passwordFile: /usr/share/oem/ipmi_password}
cluster:
  name: lokomotive
  sshPubKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNpbS1yYWNrLWtleQ test@sim"]
nodes:
`)
	for i, bm := range bmcs {
		role := "worker"
		if i == 0 {
			role = "controller"
		}
		fmt.Fprintf(&b, "  - {name: %s, role: %s, mac: %q, bmcMac: %q, bmcAddress: %q}\n", lokoNodes[i], role, lokoMAC(i), bm.MAC, bm.Addr)
	}
	spec := filepath.Join(t.TempDir(), "rack.yaml")
	if err := os.WriteFile(spec, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec
}

// lokoRack starts three simulators and writes a lokomotive spec for them.
func lokoRack(t *testing.T) (root, spec string) {
	t.Helper()
	const password = "s3cret-sim-pass"
	sims := simrack.StartT(t, simrack.Options{N: 3, Password: password})
	root = t.TempDir()
	return root, lokoSimSpec(t, root, "admin", password, sims.BMCs)
}

func TestClusterStatus(t *testing.T) {
	root, spec := lokoRack(t)
	api := kubefake.New(t)
	// The controller registered with its FQDN, worker-0 with its short name;
	// worker-1 has not joined.
	api.SetNode(kubefake.Node("controller-0."+simDomain, corev1.ConditionTrue, simOSImage))
	api.SetNode(kubefake.Node("worker-0", corev1.ConditionFalse, simOSImage))
	kc := api.Kubeconfig(t)

	r := cli(t, "status", "-f", spec, "--root", root, "--kubeconfig", kc, "--timeout", "5s", "-o", "json")
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	var st rackStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	if st.APIReached != "yes" || st.ServerVersion != kubefake.ServerVersion {
		t.Errorf("kubernetesAPIReached %q (%s), version %q; want yes, %s", st.APIReached, st.APIReason, st.ServerVersion, kubefake.ServerVersion)
	}
	want := map[string]string{"controller-0": "yes", "worker-0": "not ready", "worker-1": "no"}
	if len(st.Nodes) != len(want) {
		t.Fatalf("got %d nodes, want %d: %+v", len(st.Nodes), len(want), st.Nodes)
	}
	for _, n := range st.Nodes {
		if n.Joined != want[n.Name] {
			t.Errorf("%s: joined %q, want %q", n.Name, n.Joined, want[n.Name])
		}
		registered := n.Name != "worker-1"
		if got := n.Kubelet != "" && n.OSVersion != ""; got != registered {
			t.Errorf("%s: kubeletVersion %q osVersion %q, want them set: %v", n.Name, n.Kubelet, n.OSVersion, registered)
		}
		if registered && (n.Kubelet != kubefake.ServerVersion || n.OSVersion != "3510.2.1") {
			t.Errorf("%s: kubeletVersion %q osVersion %q, want %s and 3510.2.1", n.Name, n.Kubelet, n.OSVersion, kubefake.ServerVersion)
		}
	}

	human := cli(t, "status", "-f", spec, "--root", root, "--kubeconfig", kc, "--timeout", "5s")
	if human.code != 0 || !strings.Contains(human.stdout, "Kubernetes API reached: yes") {
		t.Errorf("human status: exit %d, lacks the API line:\n%s%s", human.code, human.stdout, human.stderr)
	}
}

func TestClusterStatusUnreachable(t *testing.T) {
	root, spec := lokoRack(t)
	kc := kubefake.WriteKubeconfig(t, kubefake.ClosedPort(t), nil)
	start := time.Now()
	r := cli(t, "status", "-f", spec, "--root", root, "--kubeconfig", kc, "--timeout", "2s", "-o", "json")
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("status: exit %d, want 0 (an unreachable API is a state, not an error)\n%s", r.code, r.stderr)
	}
	var st rackStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	if st.APIReached != "no" || !strings.Contains(st.APIReason, "connection refused") {
		t.Errorf("kubernetesAPIReached %q reason %q, want no with the refused connection as reason", st.APIReached, st.APIReason)
	}
	for _, n := range st.Nodes {
		if n.Joined == "yes" {
			t.Errorf("%s: joined yes with no API", n.Name)
		}
	}
	if took > 8*time.Second {
		t.Errorf("status took %s with --timeout 2s", took)
	}
}

func TestUITokenCLI(t *testing.T) {
	api := kubefake.New(t)
	kc := api.Kubeconfig(t)

	r := cli(t, "ui-token", "--kubeconfig", kc, "--log-level", "debug")
	if r.code != 0 {
		t.Fatalf("ui-token: exit %d\n%s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	if tok == "" || strings.Contains(tok, "\n") {
		t.Fatalf("stdout %q, want exactly one token line", r.stdout)
	}
	if !strings.Contains(r.stderr, "kubectl -n lokomotive-system port-forward svc/web-ui 8080:80") {
		t.Errorf("stderr lacks the port-forward hint:\n%s", r.stderr)
	}
	objects := api.State().Objects()

	r2 := cli(t, "ui-token", "--kubeconfig", kc, "--log-level", "debug")
	if r2.code != 0 {
		t.Fatalf("second ui-token: exit %d\n%s", r2.code, r2.stderr)
	}
	tok2 := strings.TrimSpace(r2.stdout)
	if tok2 == "" {
		t.Error("second ui-token printed no token")
	}
	if got := api.State().Objects(); got != objects {
		t.Errorf("objects after the second call: %d, want %d (reused)", got, objects)
	}
	if n := api.CreateCount("serviceaccounts"); n != 1 {
		t.Errorf("%d service accounts created, want 1", n)
	}
	for _, out := range []string{r.stderr, r2.stderr} {
		for _, tk := range []string{tok, tok2} {
			if strings.Contains(out, tk) {
				t.Errorf("token %q appears on stderr", tk)
			}
		}
	}
}

// TestApplyVerifyCluster reinstalls worker-1 (its flag file removed) with
// --verify cluster: the install is recorded only once the node is Ready.
func TestApplyVerifyCluster(t *testing.T) {
	loko := lokoctlStandin(t)
	flag := func(root string) string {
		return filepath.Join(root, filepath.FromSlash(render.FlagFilePath(render.DefaultLayout(), schema.Lokomotive, lokoMAC(2))))
	}
	// setup installs the rack with --verify flag, then removes worker-1's
	// flag file: the next apply installs worker-1 again.
	setup := func(t *testing.T) (root, spec string) {
		root, spec = lokoRack(t)
		t.Setenv("RACKCTL_LOKOCTL_RECORD", filepath.Join(t.TempDir(), "lokoctl.jsonl"))
		r := cli(t, "apply", "-f", spec, "--root", root, "--dhcp", "none", "--provisioner-run", "auto",
			"--lokoctl", loko, "--timeout", "5s", "--auto-approve")
		if r.code != 0 {
			t.Fatalf("first apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if err := os.Remove(flag(root)); err != nil {
			t.Fatalf("first apply wrote no flag file for worker-1: %v", err)
		}
		return root, spec
	}
	apply := func(root, spec, kc, verifyTimeout string) cliResult {
		return cli(t, "apply", "-f", spec, "--root", root, "--dhcp", "none", "--provisioner-run", "auto",
			"--lokoctl", loko, "--timeout", "5s", "--auto-approve",
			"--verify", "cluster", "--kubeconfig", kc, "--verify-timeout", verifyTimeout)
	}

	t.Run("becomes ready", func(t *testing.T) {
		root, spec := setup(t)
		api := kubefake.New(t)
		api.SetNode(kubefake.Node("controller-0."+simDomain, corev1.ConditionTrue, simOSImage))
		api.SetNode(kubefake.Node("worker-0."+simDomain, corev1.ConditionTrue, simOSImage))
		api.SetNode(kubefake.Node("worker-1."+simDomain, corev1.ConditionFalse, simOSImage))
		// Once rackctl looks at the nodes (the verify phase), worker-1
		// becomes Ready about a second later.
		done := make(chan struct{})
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			for api.NodeRequests() == 0 {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			select {
			case <-done:
			case <-time.After(time.Second):
				api.SetReady("worker-1."+simDomain, corev1.ConditionTrue)
			}
		}()
		start := time.Now()
		r := apply(root, spec, api.Kubeconfig(t), "30s")
		close(done)
		<-stopped
		if r.code != 0 {
			t.Fatalf("apply --verify cluster: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if took := time.Since(start); took < time.Second {
			t.Errorf("apply took %s: it did not wait for the node", took)
		}
		if !strings.Contains(r.stdout, "verify: worker-1: joined, not Ready") || !strings.Contains(r.stdout, "verify: worker-1: Ready") {
			t.Errorf("apply output lacks the verify progress:\n%s", r.stdout)
		}
		if _, err := os.Stat(flag(root)); err != nil {
			t.Errorf("flag file after a verified install: %v", err)
		}
	})

	t.Run("never ready", func(t *testing.T) {
		root, spec := setup(t)
		api := kubefake.New(t)
		api.SetNode(kubefake.Node("controller-0."+simDomain, corev1.ConditionTrue, simOSImage))
		api.SetNode(kubefake.Node("worker-0."+simDomain, corev1.ConditionTrue, simOSImage))
		r := apply(root, spec, api.Kubeconfig(t), "2s")
		if r.code != 1 || !strings.Contains(r.stderr, "node worker-1 not Ready after 2s") {
			t.Fatalf("apply with worker-1 never Ready: exit %d, want 1 naming worker-1\n%s%s", r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(flag(root)); !os.IsNotExist(err) {
			t.Errorf("flag file of an unverified install: %v, want it absent", err)
		}
	})
}
