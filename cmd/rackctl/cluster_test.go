// Tests of the cluster-facing commands (status's Kubernetes columns,
// ui-token, apply --verify cluster) run rackctl in-process against a real
// kube-apiserver v1.37.2 with etcd and the controller manager's token
// controller (internal/testenv.StartKube; build the binaries once with
// `make kube-tools`), and against ipmi_sim BMCs from internal/simrack. No
// kubelet runs: the tests register the Node objects with client-go and set
// their Ready condition where a node would have joined.
//
// internal/kubefake appears only as kubefake.ClosedPort (an API address
// that refuses connections) in TestClusterStatusUnreachable.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/internal/kubefake"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
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
	k := testenv.StartKube(t)
	ctx := t.Context()
	// The controller registered with its FQDN, worker-0 (one release behind,
	// within the skew Kubernetes allows) with its short name; worker-1 has
	// not joined.
	kubelets := map[string]string{"controller-0": testenv.KubeVersion, "worker-0": "v1.36.4"}
	for _, n := range []*corev1.Node{
		testenv.Node("controller-0."+simDomain, corev1.ConditionTrue, kubelets["controller-0"], simOSImage),
		testenv.Node("worker-0", corev1.ConditionFalse, kubelets["worker-0"], simOSImage),
	} {
		if err := k.PutNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	r := cli(t, "status", "-f", spec, "--root", root, "--kubeconfig", k.Kubeconfig, "--timeout", "10s", "-o", "json")
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	var st statusView
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	if st.APIReached != "yes" || st.ServerVersion != testenv.KubeVersion {
		t.Errorf("kubernetesAPIReached %q (%s), version %q; want yes, %s", st.APIReached, st.APIReason, st.ServerVersion, testenv.KubeVersion)
	}
	want := map[string]string{"controller-0": "yes", "worker-0": "not ready", "worker-1": "no"}
	if len(st.Nodes) != len(want) {
		t.Fatalf("got %d nodes, want %d: %+v", len(st.Nodes), len(want), st.Nodes)
	}
	for _, n := range st.Nodes {
		if n.Joined != want[n.Name] {
			t.Errorf("%s: joined %q, want %q", n.Name, n.Joined, want[n.Name])
		}
		wantOS := "3510.2.1"
		if kubelets[n.Name] == "" {
			wantOS = ""
		}
		if n.Kubelet != kubelets[n.Name] || n.OSVersion != wantOS {
			t.Errorf("%s: kubeletVersion %q osVersion %q, want %q and %q", n.Name, n.Kubelet, n.OSVersion, kubelets[n.Name], wantOS)
		}
	}

	for _, full := range []bool{false, true} {
		args := []string{"status", "-f", spec, "--root", root, "--kubeconfig", k.Kubeconfig, "--timeout", "10s"}
		if full {
			args = append(args, "--full")
		}
		human := cli(t, args...)
		if human.code != 0 || !strings.Contains(human.stdout, "Kubernetes API reached: yes, control plane "+testenv.KubeVersion+"\n") {
			t.Errorf("human status (full %v): exit %d, lacks the API line with the control-plane version:\n%s%s", full, human.code, human.stdout, human.stderr)
		}
		header := false
		for line := range strings.Lines(human.stdout) {
			f := strings.Fields(line)
			switch {
			case len(f) > 0 && f[0] == "NODE":
				header = slices.Contains(f, "KUBELET")
			case len(f) > 7 && slices.Contains(lokoNodes, f[0]):
				// NODE MAC IP BMC POWER PROVISIONED JOINED(one or two words) KUBELET HOSTNAMES...
				v := f[7]
				if want[f[0]] == "not ready" {
					v = f[8]
				}
				if wantV := cmp.Or(kubelets[f[0]], "-"); v != wantV {
					t.Errorf("status row of %s: KUBELET %q, want %q\n%s", f[0], v, wantV, human.stdout)
				}
			}
		}
		if !header {
			t.Errorf("status header lacks KUBELET:\n%s", human.stdout)
		}
		if full && !strings.Contains(human.stdout, "kubelet v1.36.4") {
			t.Errorf("status --full lacks worker-0's kubelet version:\n%s", human.stdout)
		}
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
	var st statusView
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

// uiUIDs are the UIDs of the Web UI account's objects on the server.
func uiUIDs(t *testing.T, k *testenv.Kube) string {
	t.Helper()
	ctx, cs := t.Context(), k.Client()
	var uids []string
	if sa, err := cs.CoreV1().ServiceAccounts(cluster.UINamespace).Get(ctx, cluster.UIServiceAccount, metav1.GetOptions{}); err == nil {
		uids = append(uids, "sa="+string(sa.UID))
	}
	if crb, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, cluster.UIBinding, metav1.GetOptions{}); err == nil {
		uids = append(uids, "crb="+string(crb.UID))
	}
	if s, err := cs.CoreV1().Secrets(cluster.UINamespace).Get(ctx, cluster.UITokenSecret, metav1.GetOptions{}); err == nil {
		uids = append(uids, "secret="+string(s.UID))
	}
	return strings.Join(uids, " ")
}

func TestUITokenCLI(t *testing.T) {
	k := testenv.StartKube(t)
	for _, mode := range []struct {
		name string
		args []string
		objs int // sa, crb (, secret)
	}{
		{"token request", nil, 2},
		{"long-lived", []string{"--long-lived"}, 3},
	} {
		t.Run(mode.name, func(t *testing.T) {
			args := append([]string{"ui-token", "--kubeconfig", k.Kubeconfig, "--log-level", "debug"}, mode.args...)
			r := cli(t, args...)
			if r.code != 0 {
				t.Fatalf("ui-token: exit %d\n%s", r.code, r.stderr)
			}
			tok := strings.TrimSpace(r.stdout)
			if tok == "" || strings.Contains(tok, "\n") {
				t.Fatalf("stdout has %d lines, want exactly one token line", strings.Count(r.stdout, "\n"))
			}
			if !strings.Contains(r.stderr, "kubectl -n lokomotive-system port-forward svc/web-ui 8080:80") {
				t.Errorf("stderr lacks the port-forward hint:\n%s", r.stderr)
			}
			// The printed token logs in as the Web UI account, which RBAC lets
			// see the cluster.
			cs, err := kubernetes.NewForConfig(&rest.Config{Host: k.URL, BearerToken: tok, TLSClientConfig: rest.TLSClientConfig{CAFile: k.CAFile}})
			if err != nil {
				t.Fatal(err)
			}
			who, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if want := "system:serviceaccount:kube-system:headlamp-admin"; err != nil || who.Status.UserInfo.Username != want {
				t.Errorf("the printed token authenticates as %v (%v), want %s", who, err, want)
			}
			if _, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{}); err != nil {
				t.Errorf("the printed token cannot list nodes: %v", err)
			}
			objects := uiUIDs(t, k)
			if n := len(strings.Fields(objects)); n != mode.objs {
				t.Errorf("objects %q, want %d", objects, mode.objs)
			}

			r2 := cli(t, args...)
			if r2.code != 0 {
				t.Fatalf("second ui-token: exit %d\n%s", r2.code, r2.stderr)
			}
			tok2 := strings.TrimSpace(r2.stdout)
			if tok2 == "" {
				t.Error("second ui-token printed no token")
			}
			if mode.args != nil && tok2 != tok {
				t.Error("second long-lived ui-token printed another token, want the Secret's")
			}
			if got := uiUIDs(t, k); got != objects {
				t.Errorf("objects after the second call %q, want %q (reused)", got, objects)
			}
			for _, out := range []string{r.stderr, r2.stderr} {
				for _, tk := range []string{tok, tok2} {
					if strings.Contains(out, tk) {
						t.Error("a token appears on stderr")
					}
				}
			}
		})
	}
}

// TestApplyVerifyCluster reinstalls worker-1 (its flag file removed) with
// --verify cluster: the install is recorded only once the node is Ready.
func TestApplyVerifyCluster(t *testing.T) {
	loko := lokoctlStandin(t)
	k := testenv.StartKube(t)
	flag := func(root string) string {
		return filepath.Join(root, filepath.FromSlash(render.FlagFilePath(render.DefaultLayout(), schema.Lokomotive, lokoMAC(2))))
	}
	// setup installs the rack with --verify flag, then removes worker-1's
	// flag file: the next apply installs worker-1 again. The cluster has
	// the three nodes registered, worker-1 (being reinstalled) not Ready.
	setup := func(t *testing.T) (root, spec string) {
		root, spec = lokoRack(t)
		t.Setenv("RACKCTL_LOKOCTL_RECORD", filepath.Join(t.TempDir(), "lokoctl.jsonl"))
		r := cli(t, "apply", "-f", spec, "--root", root, "--dhcp", "none", "--provisioner-run", "auto",
			"--lokoctl", loko, "--timeout", "5s", "--auto-approve", "--verify", "flag") // no node boots: assumed
		if r.code != 0 {
			t.Fatalf("first apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if err := os.Remove(flag(root)); err != nil {
			t.Fatalf("first apply wrote no flag file for worker-1: %v", err)
		}
		t.Cleanup(func() {
			if err := k.Client().CoreV1().Nodes().DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
				t.Errorf("delete nodes: %v", err)
			}
		})
		return root, spec
	}
	apply := func(root, spec, verifyTimeout string) cliResult {
		return cli(t, "apply", "-f", spec, "--root", root, "--dhcp", "none", "--provisioner-run", "auto",
			"--lokoctl", loko, "--timeout", "5s", "--auto-approve",
			"--verify", "cluster", "--kubeconfig", k.Kubeconfig, "--verify-timeout", verifyTimeout)
	}
	register := func(t *testing.T, ready map[string]corev1.ConditionStatus) {
		t.Helper()
		for name, s := range ready {
			if err := k.PutNode(t.Context(), testenv.Node(name+"."+simDomain, s, testenv.KubeVersion, simOSImage)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// rackctlAsks counts rackctl's (its user agent's) watches of nodes, as
	// the API server's audit log has them: only the verify phase watches
	// (the baseline before the apply is a list).
	rackctlAsks := func(t *testing.T) int {
		evs, err := k.Requests("nodes", "rackctl")
		if err != nil {
			t.Error(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Verb == "watch" {
				n++
			}
		}
		return n
	}

	t.Run("becomes ready", func(t *testing.T) {
		root, spec := setup(t)
		register(t, map[string]corev1.ConditionStatus{"controller-0": corev1.ConditionTrue, "worker-0": corev1.ConditionTrue, "worker-1": corev1.ConditionFalse})
		before := rackctlAsks(t)
		// Once rackctl looks at the nodes (the verify phase), worker-1's
		// kubelet reports Ready about a second later.
		done := make(chan struct{})
		kubelet := make(chan error, 1)
		go func() {
			defer close(kubelet)
			for rackctlAsks(t) == before {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			select {
			case <-done:
			case <-time.After(time.Second):
				kubelet <- k.SetNodeReady(context.Background(), "worker-1."+simDomain, corev1.ConditionTrue)
			}
		}()
		start := time.Now()
		r := apply(root, spec, "30s")
		close(done)
		if err := <-kubelet; err != nil {
			t.Error(err)
		}
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

	// worker-1's Node is Ready from before the install, its kubelet (the
	// same boot) still posting: that is not the install coming back.
	t.Run("ready from before", func(t *testing.T) {
		root, spec := setup(t)
		register(t, map[string]corev1.ConditionStatus{"controller-0": corev1.ConditionTrue, "worker-0": corev1.ConditionTrue})
		old := testenv.Node("worker-1."+simDomain, corev1.ConditionTrue, testenv.KubeVersion, simOSImage)
		old.Status.NodeInfo.BootID = "the-old-boot"
		if err := k.PutNode(t.Context(), old); err != nil {
			t.Fatal(err)
		}
		r := apply(root, spec, "2s")
		if r.code != 1 || !strings.Contains(r.stderr, "node worker-1 not Ready after 2s") ||
			!strings.Contains(r.stdout, "not ready anew: same boot ID as before the apply") {
			t.Fatalf("apply with worker-1 Ready from before: exit %d, want 1 naming worker-1 and why\n%s%s", r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(flag(root)); !os.IsNotExist(err) {
			t.Errorf("flag file of an install never seen: %v, want it absent", err)
		}
	})

	t.Run("never ready", func(t *testing.T) {
		root, spec := setup(t)
		// worker-1 never registers again.
		register(t, map[string]corev1.ConditionStatus{"controller-0": corev1.ConditionTrue, "worker-0": corev1.ConditionTrue})
		r := apply(root, spec, "2s")
		if r.code != 1 || !strings.Contains(r.stderr, "node worker-1 not Ready after 2s") {
			t.Fatalf("apply with worker-1 never Ready: exit %d, want 1 naming worker-1\n%s%s", r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(flag(root)); !os.IsNotExist(err) {
			t.Errorf("flag file of an unverified install: %v, want it absent", err)
		}
	})
}
