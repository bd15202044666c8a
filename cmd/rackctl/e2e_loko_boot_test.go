package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// A Lokomotive rack of servers that boot, against a real kube-apiserver:
// the lokoctl stand-in (built from provision/testdata/lokoctl-standin)
// serves every node through matchbox as lokoctl's bare-metal module does
// (terraform with the matchbox provider; an install profile until the
// node's flag file exists, then its final profile), the BMCs PXE-boot the
// nodes, each installs, boots from disk and its kubelet registers its Node
// on the API server and keeps it Ready (internal/simnode). --verify cluster
// records a node only once it is Ready anew (cluster.Baseline).

const lokoBootDomain = "loko.localdomain"

var lokoBootNodes = []struct{ name, role string }{
	{"controller-0", "controller"}, {"worker-0", "worker"}, {"worker-1", "worker"},
}

type lokoBootRack struct {
	*e2eRack
	kube    *testenv.Kube
	nodes   *simnode.Rack
	lokoctl string
	pub     string // the spec's SSH key
}

// startLokoBootRack starts the rack's real parts, the API server and a
// booting server behind every BMC, and writes the Lokomotive spec.
func startLokoBootRack(t *testing.T, knobs map[int]simnode.Knobs) *lokoBootRack {
	t.Helper()
	e := newE2ERack(t, filepath.Join(t.TempDir(), "rack.yaml"), len(lokoBootNodes), "loko-secret-pw", "loko")
	l := &lokoBootRack{e2eRack: e, kube: testenv.StartKube(t), lokoctl: filepath.Join(t.TempDir(), "lokoctl")}
	repo, err := testenv.RepoRoot()
	must(t, err)
	build := exec.CommandContext(t.Context(), "go", "build", "-o", l.lokoctl, "./provision/testdata/lokoctl-standin")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the lokoctl stand-in: %v\n%s", err, out)
	}
	// The stand-in provisions matchbox through terraform and the mirror of
	// the matchbox provider; lokoctl gets TF_* but not RACKCTL_* by itself.
	t.Setenv("RACKCTL_LOKOCTL_TERRAFORM", e.tools.Terraform)
	t.Setenv("TF_CLI_CONFIG_FILE", e.tools.Terraformrc)
	l.pub = l.newKey()
	l.writeLokoSpec(nil)
	l.nodes, err = simnode.StartRack(e.bmcs, e.dhcp, simnode.RackOptions{
		Dir: t.TempDir(), MAC: func(i int) string { return e.macs[i] }, Log: testLog{t},
		Kube: l.kube.Client(), KubeGrace: 30 * time.Second,
	})
	must(t, err)
	t.Cleanup(func() { l.nodes.Close() })
	for i, k := range knobs {
		l.nodes.Nodes[i].SetKnobs(k)
	}
	return l
}

func (l *lokoBootRack) newKey() string {
	return writeOpsKey(l.t, filepath.Join(l.t.TempDir(), "id_loko"), "ops@loko")
}

// writeLokoSpec writes the rack.yaml; reprovision maps node index → value.
func (l *lokoBootRack) writeLokoSpec(reprovision map[int]string) {
	var b strings.Builder
	writeSpecHead(&b, "loko", "lokomotive", lokoBootDomain, l.dhcp, l.mb, l.root)
	fmt.Fprintf(&b, `install:
  cachedInstall: true
cluster:
  name: lokomotive
  updates: {strategy: "off"}
  sshPubKeys: [%q]
nodes:
`, l.pub)
	for i, n := range lokoBootNodes {
		bm := l.bmcs.BMCs[i]
		fmt.Fprintf(&b, "  - {name: %s, role: %s, mac: %q, bmcMac: %q, bmcAddress: %q, reprovision: %q}\n",
			n.name, n.role, l.macs[i], bm.MAC, bm.Addr, reprovision[i])
	}
	must(l.t, os.WriteFile(l.spec, []byte(b.String()), 0o644))
}

// lokoRun runs plan or apply with the real parts, lokoctl and --verify
// cluster against the API server.
func (l *lokoBootRack) lokoRun(what string, want int, cmd string, extra ...string) cliResult {
	l.t.Helper()
	args := append([]string{"--lokoctl", l.lokoctl, "--pass-env", "RACKCTL_LOKOCTL_TERRAFORM",
		"--verify", "cluster", "--kubeconfig", l.kube.Kubeconfig}, extra...)
	return l.run(what, want, cmd, args...)
}

func (l *lokoBootRack) flag(i int) (string, error) {
	b, err := os.ReadFile(filepath.Join(l.root, filepath.FromSlash(render.FlagFilePath(render.DefaultLayout(), schema.Lokomotive, l.macs[i]))))
	return strings.TrimSpace(string(b)), err
}

// served is the name of the matchbox profile node i gets when it PXE-boots.
func (l *lokoBootRack) servedProfile(i int) string {
	l.t.Helper()
	code, body, err := l.mb.Get(l.t.Context(), "/ipxe?mac="+strings.ReplaceAll(l.macs[i], ":", "-"))
	if err != nil {
		l.t.Fatal(err)
	}
	if code == 200 && strings.Contains(body, "vmlinuz") {
		return "install"
	}
	return "installed"
}

// TestE2ELokomotiveBoots: an empty Lokomotive rack whose servers boot, one
// apply with --verify cluster: lokoctl serves the installs, every node
// PXE-boots, installs, boots from disk, registers its Node and becomes
// Ready; each install is recorded only then, the same apply settles it
// (matchbox serves the installed profile, the boot device is disk), the
// plan after it is empty, and status shows each node joined, with the
// kubelet version its Node reports.
func TestE2ELokomotiveBoots(t *testing.T) {
	l := startLokoBootRack(t, nil)
	start := time.Now()
	r := l.lokoRun("apply (boot)", 0, "apply", "--auto-approve", "--verify-timeout", "150s")
	t.Logf("timing: empty rack to every node Ready and settled: %v", time.Since(start).Round(time.Millisecond))
	for i, n := range lokoBootNodes {
		if got, err := l.flag(i); err != nil || got != n.name+"."+lokoBootDomain {
			t.Errorf("%s: flag file %q, %v; want its FQDN once its Node was Ready", n.name, got, err)
		}
		if !strings.Contains(r.stdout, "verify: "+n.name+": Ready") {
			t.Errorf("apply did not report %s Ready:\n%s", n.name, r.stdout)
		}
		// Booted from disk and joined: the node's own log says so.
		if _, err := l.nodes.Nodes[i].WaitLog(t.Context(), 0, "kubelet: registered Node "+n.name+"."+lokoBootDomain); err != nil {
			t.Error(err)
		}
		if got := l.servedProfile(i); got != "installed" {
			t.Errorf("%s: matchbox still serves the %s profile after the apply settled it", n.name, got)
		}
		if got := l.chassisFile(i, "boot"); got != "default" {
			t.Errorf("%s: boot device %q after the apply, want default (disk)", n.name, got)
		}
	}
	l.lokoRun("plan after one apply", 0, "plan", "--detailed-exitcode")

	st := cli(t, "status", "-f", l.spec, "--root", l.root, "--kubeconfig", l.kube.Kubeconfig, "--timeout", "10s", "-o", "json")
	if st.code != 0 {
		t.Fatalf("status: exit %d\n%s", st.code, st.stderr)
	}
	var sv statusView
	must(t, json.Unmarshal([]byte(st.stdout), &sv))
	if sv.ServerVersion != testenv.KubeVersion {
		t.Errorf("status: control plane %q, want %s", sv.ServerVersion, testenv.KubeVersion)
	}
	for _, n := range sv.Nodes {
		if n.Joined != "yes" || n.Kubelet != testenv.KubeVersion || !n.Provisioned {
			t.Errorf("status of %s: joined %q kubelet %q provisioned %v; want yes, %s, true", n.Name, n.Joined, n.Kubelet, n.Provisioned, testenv.KubeVersion)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Day 2: reprovision worker-0. Only it is PXE-installed again: its
	// kubelet comes back with a new boot ID, which is what lets verify
	// record it while its Node was Ready all along; the others keep theirs.
	boots := l.bootIDs()
	l.writeLokoSpec(map[int]string{1: "1"})
	r = l.lokoRun("apply (reprovision worker-0)", 0, "apply", "--auto-approve", "--verify-timeout", "150s")
	after := l.bootIDs()
	for i, n := range lokoBootNodes {
		fqdn := n.name + "." + lokoBootDomain
		if changed := after[fqdn] != boots[fqdn]; changed != (i == 1) || after[fqdn] == "" {
			t.Errorf("%s: boot ID %q → %q; want a new one for worker-0 only", n.name, boots[fqdn], after[fqdn])
		}
		if got := l.servedProfile(i); got != "installed" {
			t.Errorf("%s: served the %s profile after the reprovision settled", n.name, got)
		}
	}
	if !strings.Contains(r.stdout, "verify: worker-0: Ready") || strings.Contains(r.stdout, "verify: worker-1:") {
		t.Errorf("the reprovision verified other nodes than worker-0:\n%s", r.stdout)
	}
	if got, err := l.flag(1); err != nil || got != "worker-0."+lokoBootDomain {
		t.Errorf("worker-0: flag file %q, %v after its reinstall", got, err)
	}
	l.lokoRun("plan after the reprovision", 0, "plan", "--detailed-exitcode")
}

// bootIDs are the boot IDs the nodes' kubelets report, by Node name.
func (l *lokoBootRack) bootIDs() map[string]string {
	l.t.Helper()
	list, err := l.kube.Client().CoreV1().Nodes().List(l.t.Context(), metav1.ListOptions{})
	must(l.t, err)
	out := map[string]string{}
	for _, n := range list.Items {
		out[n.Name] = n.Status.NodeInfo.BootID
	}
	return out
}

// TestE2ELokomotiveNodeNeverJoins: worker-1 never finishes installing, and
// a Node of its name is left Ready from before the install, its old
// kubelet still heartbeating (the same boot). The apply fails alone on it
// within --verify-timeout, naming it; it has no flag file; the others are
// recorded.
func TestE2ELokomotiveNodeNeverJoins(t *testing.T) {
	l := startLokoBootRack(t, map[int]simnode.Knobs{2: {InstallHangs: true}})
	stale := "worker-1." + lokoBootDomain
	old := testenv.Node(stale, corev1.ConditionTrue, testenv.KubeVersion, simnode.OSImage)
	old.Status.NodeInfo.BootID = "boot-before-the-install"
	must(t, l.kube.PutNode(t.Context(), old))
	ctx, cancel := context.WithCancel(context.Background())
	beats := make(chan struct{})
	go func() { // the old system's kubelet: Ready, same boot, fresh heartbeats
		defer close(beats)
		for ctx.Err() == nil {
			if n, err := l.kube.Client().CoreV1().Nodes().Get(ctx, stale, metav1.GetOptions{}); err == nil {
				for i := range n.Status.Conditions {
					n.Status.Conditions[i].LastHeartbeatTime = metav1.Now()
				}
				l.kube.Client().CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	defer func() { cancel(); <-beats }()

	const timeout = 60 * time.Second
	start := time.Now()
	r := l.lokoRun("apply (worker-1 never joins)", 1, "apply", "--auto-approve", "--verify-timeout", timeout.String())
	if took := time.Since(start); took > timeout+90*time.Second {
		t.Errorf("apply took %v with a %v verify timeout: more than one timeout for one dead node", took, timeout)
	}
	if !strings.Contains(r.stderr, "node worker-1 not Ready after "+timeout.String()) {
		t.Errorf("apply's error does not name worker-1 within the timeout:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "verify: worker-1: joined, not Ready (not ready anew: same boot ID") {
		t.Errorf("apply did not say why worker-1's Ready Node does not count:\n%s", r.stdout)
	}
	if _, err := l.flag(2); !os.IsNotExist(err) {
		t.Errorf("worker-1 has a flag file (%v) though it never installed", err)
	}
	for i, n := range lokoBootNodes[:2] {
		if got, err := l.flag(i); err != nil || got != n.name+"."+lokoBootDomain {
			t.Errorf("%s: flag file %q, %v; want it recorded", n.name, got, err)
		}
	}
	if got := l.servedProfile(2); got != "install" {
		t.Errorf("worker-1 is served the %s profile; want install still (not recorded)", got)
	}
}
