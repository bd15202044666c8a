// Most tests of this package run client-go against a real kube-apiserver
// v1.37.2 with etcd and the controller manager's token controller, started
// on loopback by internal/testenv.StartKube (build the binaries once with
// `make kube-tools`). internal/kubefake remains for what a real server
// cannot be made to do on demand: a closed port, a listener that never
// answers, and an API server that refuses to watch (HTTP 405); each such
// test says so.
package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rackctl/rackctl/internal/testenv"
)

// newClient returns a Client through a kubeconfig file, as rackctl builds
// it, logging at debug level to the test and to logs (nil: test only).
func newClient(t *testing.T, kubeconfig string, timeout time.Duration, logs *syncBuffer) *Client {
	t.Helper()
	if logs == nil {
		logs = &syncBuffer{}
	}
	c, err := New(Config{Kubeconfig: kubeconfig, Timeout: timeout, Log: testLogger(t, logs)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// putNode registers a node on the real API server as its kubelet would.
func putNode(t *testing.T, k *testenv.Kube, name string, ready corev1.ConditionStatus, kubelet, osImage string, labels map[string]string) {
	t.Helper()
	n := testenv.Node(name, ready, kubelet, osImage)
	for key, v := range labels {
		n.Labels[key] = v
	}
	if err := k.PutNode(t.Context(), n); err != nil {
		t.Fatal(err)
	}
}

// serviceAccountKubeconfig creates service account name in default, binds
// it to a ClusterRole of the given rules (none: no binding at all) and
// returns a kubeconfig with a TokenRequest token of it.
func serviceAccountKubeconfig(t *testing.T, k *testenv.Kube, name string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	ctx, cs := t.Context(), k.Client()
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(rules) > 0 {
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: "default"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return k.KubeconfigFor(t, tr.Status.Token)
}

// tokenClient is a clientset that authenticates with token.
func tokenClient(t *testing.T, k *testenv.Kube, token string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: k.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: k.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// whoAmI asks the API server whom token authenticates as.
func whoAmI(t *testing.T, k *testenv.Kube, token string) string {
	t.Helper()
	r, err := tokenClient(t, k, token).AuthenticationV1().SelfSubjectReviews().Create(context.Background(),
		&authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview: %v", err)
	}
	return r.Status.UserInfo.Username
}

// jwtLifetime reads exp-iat from a service-account JWT (the API server
// signed it; only its claims are read here).
func jwtLifetime(t *testing.T, token string) time.Duration {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT (%d parts)", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT claims: %v", err)
	}
	var c struct{ Exp, Iat int64 }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("JWT claims: %v", err)
	}
	return time.Duration(c.Exp-c.Iat) * time.Second
}

// syncBuffer collects log output for assertions (a token must never be in it).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger logs at debug level to the test's output and to logs.
func testLogger(t *testing.T, logs *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
