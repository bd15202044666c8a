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
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

func TestStatusReachable(t *testing.T) {
	f := newFakeAPI(t)
	// Controller registered with its FQDN; workers with short names and an FQDN
	// hostname label on one of them.
	f.SetNode(kubefake.Node("lokomotive-controller-0.k8s.localdomain", corev1.ConditionTrue, flatcarImage))
	w0 := kubefake.Node("lokomotive-worker-0", corev1.ConditionFalse, flatcarImage)
	f.SetNode(w0)
	w1 := kubefake.Node("worker-one", corev1.ConditionTrue, "Ubuntu 22.04.3 LTS")
	w1.Labels[corev1.LabelHostname] = "lokomotive-worker-1.k8s.localdomain"
	f.SetNode(w1)
	f.SetNode(kubefake.Node("unrelated", corev1.ConditionTrue, flatcarImage))

	c := f.client(t, 5*time.Second)
	names := []string{
		"lokomotive-controller-0",             // short name → FQDN node name
		"lokomotive-worker-0.k8s.localdomain", // FQDN → short node name
		"lokomotive-worker-1.k8s.localdomain", // hostname label
		"lokomotive-worker-2.k8s.localdomain", // missing
	}
	st, err := c.Status(context.Background(), names)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if !st.Reached || st.ServerVersion != "v1.24.4" || st.Reason != "" {
		t.Errorf("Status = reached %v version %q reason %q, want reached v1.24.4 and no reason", st.Reached, st.ServerVersion, st.Reason)
	}
	want := map[string]NodeStatus{
		names[0]: {Joined: true, Ready: true, Name: "lokomotive-controller-0.k8s.localdomain", KubeletVersion: "v1.24.4", OSImage: flatcarImage, OSVersion: "3510.2.1"},
		names[1]: {Joined: true, Name: "lokomotive-worker-0", KubeletVersion: "v1.24.4", OSImage: flatcarImage, OSVersion: "3510.2.1",
			Reason: "not ready: Ready=False: KubeletNotReady: container runtime network not ready"},
		names[2]: {Joined: true, Ready: true, Name: "worker-one", KubeletVersion: "v1.24.4", OSImage: "Ubuntu 22.04.3 LTS"},
		names[3]: {Reason: ReasonNotJoined},
	}
	if len(st.Nodes) != len(want) {
		t.Errorf("got %d nodes, want %d: %+v", len(st.Nodes), len(want), st.Nodes)
	}
	for name, w := range want {
		if got := st.Nodes[name]; got != w {
			t.Errorf("node %s:\n got  %+v\n want %+v", name, got, w)
		}
	}
}

func TestStatusUnauthorized(t *testing.T) {
	f := newFakeAPI(t)
	f.SetNode(kubefake.Node("node-0", corev1.ConditionTrue, flatcarImage))
	kc := f.Kubeconfig(t)
	raw, err := os.ReadFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kc, []byte(strings.ReplaceAll(string(raw), kubefake.Bearer, "wrong-credential")), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Kubeconfig: kc, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(context.Background(), []string{"node-0"})
	if err == nil {
		t.Fatal("Status with a wrong credential: want an error")
	}
	if !st.Reached || !strings.Contains(st.Reason, "no valid bearer token") {
		t.Errorf("Status = reached %v reason %q; want reached with the server's answer as reason", st.Reached, st.Reason)
	}
	if n := st.Nodes["node-0"]; n.Joined || n.Reason == "" {
		t.Errorf("node-0 = %+v, want unknown with a reason", n)
	}
}

func TestStatusNoReadyCondition(t *testing.T) {
	f := newFakeAPI(t)
	f.SetNode(kubefake.Node("fresh", "", flatcarImage))
	st, err := f.client(t, 5*time.Second).Status(context.Background(), []string{"fresh"})
	if err != nil {
		t.Fatal(err)
	}
	got := st.Nodes["fresh"]
	if !got.Joined || got.Ready || !strings.Contains(got.Reason, "no Ready condition") {
		t.Errorf("fresh node: %+v, want joined, not ready, reason about the missing condition", got)
	}
}

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

func TestWaitReady(t *testing.T) {
	for _, mode := range []string{"watch", "poll"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeAPI(t)
			f.SetNoWatch(mode == "poll")
			f.SetNode(kubefake.Node("lokomotive-controller-0", corev1.ConditionTrue, flatcarImage))
			f.SetNode(kubefake.Node("lokomotive-worker-0", corev1.ConditionFalse, flatcarImage))
			// worker-1 is being reprovisioned: it registers later, then becomes Ready.
			time.AfterFunc(300*time.Millisecond, func() {
				f.SetNode(kubefake.Node("lokomotive-worker-1", corev1.ConditionUnknown, flatcarImage))
			})
			time.AfterFunc(600*time.Millisecond, func() {
				f.SetNode(kubefake.Node("lokomotive-worker-0", corev1.ConditionTrue, flatcarImage))
				f.SetNode(kubefake.Node("lokomotive-worker-1", corev1.ConditionTrue, flatcarImage))
			})
			var prog progressLog
			c := f.client(t, 2*time.Second)
			poll := 100 * time.Millisecond
			if mode == "watch" {
				poll = time.Hour // progress can only come from the watch
			}
			start := time.Now()
			notReady, err := c.WaitReady(context.Background(),
				[]string{"lokomotive-controller-0.k8s.localdomain", "lokomotive-worker-0", "lokomotive-worker-1"},
				WaitOptions{Timeout: 10 * time.Second, Poll: poll, Progress: prog.record})
			if err != nil || len(notReady) != 0 {
				t.Fatalf("WaitReady = %v, %v; want none, nil", notReady, err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("WaitReady took %s", took)
			}
			calls := prog.get()
			for _, want := range []string{
				"lokomotive-controller-0.k8s.localdomain=ready",
				"lokomotive-worker-0=notready", "lokomotive-worker-0=ready",
				"lokomotive-worker-1=missing", "lokomotive-worker-1=ready",
			} {
				if !slices.Contains(calls, want) {
					t.Errorf("progress calls %v lack %q", calls, want)
				}
			}
			// Only changes are reported.
			if n := count(calls, "lokomotive-controller-0.k8s.localdomain=ready"); n != 1 {
				t.Errorf("controller reported %d times, want once: %v", n, calls)
			}
		})
	}
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

func TestWaitReadyTimeout(t *testing.T) {
	f := newFakeAPI(t)
	f.SetNode(kubefake.Node("node-a", corev1.ConditionTrue, flatcarImage))
	f.SetNode(kubefake.Node("node-b", corev1.ConditionFalse, flatcarImage))
	c := f.client(t, 2*time.Second)
	start := time.Now()
	notReady, err := c.WaitReady(context.Background(), []string{"node-a", "node-b", "node-c"},
		WaitOptions{Timeout: 800 * time.Millisecond, Poll: 100 * time.Millisecond})
	took := time.Since(start)
	if !errors.Is(err, ErrNotReady) {
		t.Errorf("err = %v, want ErrNotReady", err)
	}
	if !slices.Equal(notReady, []string{"node-b", "node-c"}) {
		t.Errorf("notReady = %v, want [node-b node-c]", notReady)
	}
	if took < 800*time.Millisecond || took > 3*time.Second {
		t.Errorf("WaitReady took %s, want about its 800ms timeout", took)
	}
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

func TestUIToken(t *testing.T) {
	f := newFakeAPI(t)
	c := f.client(t, 5*time.Second)
	ctx := context.Background()

	tok1, err := c.UIToken(ctx, TokenOptions{})
	if err != nil {
		t.Fatalf("first UIToken: %v", err)
	}
	if tok1 == "" {
		t.Fatal("first UIToken: empty token")
	}
	if f.State().LastExpiration != int64(DefaultTokenExpiration/time.Second) {
		t.Errorf("expirationSeconds = %d, want the default %d", f.State().LastExpiration, int64(DefaultTokenExpiration/time.Second))
	}
	sa := f.State().ServiceAccounts[UINamespace+"/"+UIServiceAccount]
	if sa == nil {
		t.Fatal("service account not created")
	}
	crb := f.State().ClusterRoleBindings[UIBinding]
	if crb == nil {
		t.Fatal("clusterrolebinding not created")
	}
	wantRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"}
	wantSubj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "headlamp-admin", Namespace: "kube-system"}}
	if crb.RoleRef != wantRef || !slices.Equal(crb.Subjects, wantSubj) {
		t.Errorf("binding = %+v %+v, want %+v %+v", crb.RoleRef, crb.Subjects, wantRef, wantSubj)
	}

	tok2, err := c.UIToken(ctx, TokenOptions{Expiration: time.Hour})
	if err != nil {
		t.Fatalf("second UIToken: %v", err)
	}
	if tok2 == "" || tok2 == tok1 {
		t.Errorf("second token %q: want a new non-empty token", tok2)
	}
	if f.State().LastExpiration != 3600 {
		t.Errorf("expirationSeconds = %d, want 3600", f.State().LastExpiration)
	}
	if n, m := f.CreateCount("serviceaccounts"), f.CreateCount("clusterrolebindings"); n != 1 || m != 1 {
		t.Errorf("creates: %d service accounts, %d bindings; want 1 each (reused on the second call)", n, m)
	}
	if _, err := c.UIToken(ctx, TokenOptions{Expiration: time.Minute}); err == nil {
		t.Error("UIToken with a 1m expiration: want an error")
	}
	for _, tok := range []string{tok1, tok2} {
		if strings.Contains(f.logs.String(), tok) {
			t.Errorf("token %q appears in the log", tok)
		}
	}
}

func TestUITokenForeignBinding(t *testing.T) {
	tests := map[string]*rbacv1.ClusterRoleBinding{
		"other role": {
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: UIServiceAccount, Namespace: UINamespace}},
		},
		"other subject": {
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: UIServiceAccount, Namespace: "default"}},
		},
	}
	for name, crb := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeAPI(t)
			crb.Name = UIBinding
			f.PutClusterRoleBinding(crb)
			_, err := f.client(t, 5*time.Second).UIToken(context.Background(), TokenOptions{})
			if !errors.Is(err, ErrForeignObject) {
				t.Fatalf("err = %v, want ErrForeignObject", err)
			}
			if got := f.State().ClusterRoleBindings[UIBinding]; got.RoleRef != crb.RoleRef || !slices.Equal(got.Subjects, crb.Subjects) {
				t.Errorf("foreign binding was changed: %+v", got)
			}
			if f.State().Tokens != 0 {
				t.Errorf("%d tokens issued, want none", f.State().Tokens)
			}
		})
	}
}

func TestUITokenExistingBindingWithMoreSubjects(t *testing.T) {
	f := newFakeAPI(t)
	f.PutClusterRoleBinding(&rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: UIBinding},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{
			{Kind: "User", Name: "ops"},
			{Kind: "ServiceAccount", Name: UIServiceAccount, Namespace: UINamespace},
		},
	})
	if _, err := f.client(t, 5*time.Second).UIToken(context.Background(), TokenOptions{}); err != nil {
		t.Fatalf("UIToken: %v", err)
	}
	if n := f.CreateCount("clusterrolebindings"); n != 0 {
		t.Errorf("%d bindings created, want the existing one reused", n)
	}
}

func TestUITokenLongLived(t *testing.T) {
	f := newFakeAPI(t)
	f.SetTokenFillDelay(400 * time.Millisecond)
	c := f.client(t, 5*time.Second)
	ctx := context.Background()
	tok, err := c.UIToken(ctx, TokenOptions{LongLived: true})
	if err != nil {
		t.Fatalf("UIToken long-lived: %v", err)
	}
	if tok != "legacy-token-"+UIServiceAccount {
		t.Errorf("token = %q, want the one the token controller filled in", tok)
	}
	s := f.State().Secrets[UINamespace+"/"+UITokenSecret]
	if s == nil || s.Type != corev1.SecretTypeServiceAccountToken || s.Annotations[corev1.ServiceAccountNameKey] != UIServiceAccount {
		t.Fatalf("secret = %+v, want a service-account-token secret for %s", s, UIServiceAccount)
	}
	// Second call reuses the filled secret.
	tok2, err := c.UIToken(ctx, TokenOptions{LongLived: true})
	if err != nil || tok2 != tok {
		t.Errorf("second long-lived UIToken = %q, %v; want the same token", tok2, err)
	}
	if n := f.CreateCount("secrets"); n != 1 {
		t.Errorf("%d secrets created, want 1", n)
	}
	if f.State().Tokens != 0 {
		t.Errorf("%d TokenRequests, want none on the long-lived path", f.State().Tokens)
	}
	if strings.Contains(f.logs.String(), tok) {
		t.Error("long-lived token appears in the log")
	}
}

func TestUITokenLongLivedNeverFilled(t *testing.T) {
	f := newFakeAPI(t)
	f.SetTokenFillDelay(-1)
	start := time.Now()
	_, err := f.client(t, 5*time.Second).UIToken(context.Background(), TokenOptions{LongLived: true, SecretWait: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not fill in the token") {
		t.Errorf("err = %v, want a timeout waiting for the token controller", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("UIToken took %s, want about its 500ms wait", took)
	}
}

func TestUITokenForeignSecret(t *testing.T) {
	f := newFakeAPI(t)
	f.PutSecret(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: UITokenSecret, Namespace: UINamespace},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"token": []byte("not-ours")},
	})
	_, err := f.client(t, 5*time.Second).UIToken(context.Background(), TokenOptions{LongLived: true})
	if !errors.Is(err, ErrForeignObject) {
		t.Errorf("err = %v, want ErrForeignObject", err)
	}
}

func TestPortForwardHint(t *testing.T) {
	if PortForwardHint != "kubectl -n lokomotive-system port-forward svc/web-ui 8080:80" {
		t.Errorf("PortForwardHint = %q", PortForwardHint)
	}
}
