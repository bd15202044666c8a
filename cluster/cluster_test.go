package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/rackctl/rackctl/internal/kubefake"
)

const flatcarImage = "Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)"

func TestParseOSVersion(t *testing.T) {
	tests := map[string]struct {
		image, want string
	}{
		"flatcar stable":             {flatcarImage, "3510.2.1"},
		"flatcar without codename":   {"Flatcar Container Linux by Kinvolk 3815.2.0", "3815.2.0"},
		"flatcar nightly":            {"Flatcar Container Linux by Kinvolk 3602.0.0+nightly-20230615-2100 (Oklo)", "3602.0.0+nightly-20230615-2100"},
		"coreos container linux":     {"Container Linux by CoreOS 2512.3.0 (Oklo)", "2512.3.0"},
		"ubuntu":                     {"Ubuntu 22.04.3 LTS", ""},
		"debian":                     {"Debian GNU/Linux 12 (bookworm)", ""},
		"container linux no version": {"Flatcar Container Linux by Kinvolk", ""},
		"empty":                      {"", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ParseOSVersion(tc.image); got != tc.want {
				t.Errorf("ParseOSVersion(%q) = %q, want %q", tc.image, got, tc.want)
			}
		})
	}
}

func TestDefaultKubeconfig(t *testing.T) {
	root := t.TempDir()
	lokoDir := "home/core/lokomotive"
	t.Setenv("KUBECONFIG", "/env/kubeconfig")
	if got := DefaultKubeconfig(root, lokoDir); got != "/env/kubeconfig" {
		t.Errorf("without assets: got %q, want $KUBECONFIG", got)
	}
	p := filepath.Join(root, lokoDir, LokomotiveKubeconfig)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{lokoDir, "/" + lokoDir} {
		if got := DefaultKubeconfig(root, dir); got != p {
			t.Errorf("DefaultKubeconfig(root, %q) = %q, want %q", dir, got, p)
		}
	}
	t.Setenv("KUBECONFIG", "")
	if got := DefaultKubeconfig(t.TempDir(), lokoDir); got != "" {
		t.Errorf("nothing found: got %q, want empty", got)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrNoKubeconfig) {
		t.Errorf("New without kubeconfig: err = %v, want ErrNoKubeconfig", err)
	}
	if _, err := New(Config{Kubeconfig: filepath.Join(t.TempDir(), "missing")}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New with a missing file: err = %v, want not-exist", err)
	}
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(bad, []byte("{not yaml: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Kubeconfig: bad}); err == nil {
		t.Error("New with a broken kubeconfig: want an error")
	}
}

// TestStatusUnreachable, TestStatusCanceled and TestWaitReadyUnreachable
// need no API server at all: kubefake.ClosedPort and HangingListener are a
// refused port and a listener that accepts and never answers.
func TestStatusUnreachable(t *testing.T) {
	tests := map[string]struct {
		server     func(t testing.TB) string
		reasonPart string
	}{
		"closed port":    {kubefake.ClosedPort, "connection refused"},
		"hanging server": {kubefake.HangingListener, "no answer within"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			const timeout = 700 * time.Millisecond
			c, err := New(Config{Kubeconfig: kubefake.WriteKubeconfig(t, tc.server(t), nil), Timeout: timeout, Log: testLogger(t, &syncBuffer{})})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			st, err := c.Status(context.Background(), []string{"node-0"})
			took := time.Since(start)
			if err != nil {
				t.Fatalf("Status: %v (an unreachable API server is not an error)", err)
			}
			if st.Reached {
				t.Error("Reached = true, want false")
			}
			if !strings.Contains(st.Reason, tc.reasonPart) {
				t.Errorf("Reason = %q, want it to contain %q", st.Reason, tc.reasonPart)
			}
			if took > timeout+2*time.Second {
				t.Errorf("Status took %s, want about the timeout %s", took, timeout)
			}
			if n := st.Nodes["node-0"]; n.Joined || n.Ready || n.Reason == "" {
				t.Errorf("node-0 = %+v, want unknown with a reason", n)
			}
		})
	}
}

func TestStatusCanceled(t *testing.T) {
	c, err := New(Config{Kubeconfig: kubefake.WriteKubeconfig(t, kubefake.HangingListener(t), nil), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Status(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Status with a canceled context: err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Status took %s after cancel", took)
	}
}

// progressLog records Progress calls.
type progressLog struct {
	mu    sync.Mutex
	calls []string
}

func (p *progressLog) record(node string, st NodeStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	state := "missing"
	switch {
	case st.Ready:
		state = "ready"
	case st.Joined:
		state = "notready"
	}
	p.calls = append(p.calls, node+"="+state)
}

func (p *progressLog) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

func count(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestWaitReadyUnreachable(t *testing.T) {
	c, err := New(Config{Kubeconfig: kubefake.WriteKubeconfig(t, kubefake.HangingListener(t), nil), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	notReady, err := c.WaitReady(context.Background(), []string{"n1", "n2"}, WaitOptions{Timeout: time.Second, Poll: 100 * time.Millisecond})
	if !errors.Is(err, ErrNotReady) || !slices.Equal(notReady, []string{"n1", "n2"}) {
		t.Errorf("WaitReady = %v, %v; want [n1 n2] and ErrNotReady", notReady, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("WaitReady took %s, want about its 1s timeout", took)
	}
}

// TestWaitReadyWatchUnsupported runs against internal/kubefake because a
// real kube-apiserver always serves watches: the fake answers a node watch
// with 405, as a proxy in front of the API server may, and WaitReady must
// fall back to polling. (Watches forbidden by RBAC, the other fallback,
// are tested on the real server in TestWaitReady.)
func TestWaitReadyWatchUnsupported(t *testing.T) {
	f := kubefake.New(t)
	f.SetNoWatch(true)
	f.SetNode(kubefake.Node("node-a", corev1.ConditionFalse, flatcarImage))
	time.AfterFunc(300*time.Millisecond, func() { f.SetReady("node-a", corev1.ConditionTrue) })
	var prog progressLog
	c := newClient(t, f.Kubeconfig(t), 2*time.Second, nil)
	notReady, err := c.WaitReady(context.Background(), []string{"node-a"},
		WaitOptions{Timeout: 10 * time.Second, Poll: 100 * time.Millisecond, Progress: prog.record})
	if err != nil || len(notReady) != 0 {
		t.Fatalf("WaitReady = %v, %v; want none, nil", notReady, err)
	}
	if calls := prog.get(); !slices.Equal(calls, []string{"node-a=notready", "node-a=ready"}) {
		t.Errorf("progress %v, want notready then ready", calls)
	}
	if n := f.NodeRequests(); n < 3 {
		t.Errorf("%d node requests, want the refused watch and at least two lists", n)
	}
}

func TestPortForwardHint(t *testing.T) {
	if PortForwardHint != "kubectl -n lokomotive-system port-forward svc/web-ui 8080:80" {
		t.Errorf("PortForwardHint = %q", PortForwardHint)
	}
}
