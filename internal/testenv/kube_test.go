package testenv

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestKubeVersionsPinned: the versions that name the cache directory are
// the ones tools/kube pins and scripts/build-kube.sh builds.
func TestKubeVersionsPinned(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "tools/kube/go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "scripts/build-kube.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes ` + regexp.QuoteMeta(KubeVersion) + `\b`),
		regexp.MustCompile(`(?m)^(?:require )?\s*go\.etcd\.io/etcd/server/v3 ` + regexp.QuoteMeta(EtcdVersion) + `\b`),
		// Every staging module at the release's v0.x.y.
		regexp.MustCompile(`(?m)^\s*k8s\.io/apiserver => k8s\.io/apiserver v0\.` + regexp.QuoteMeta(strings.TrimPrefix(KubeVersion, "v1.")) + `$`),
	} {
		if !want.Match(gomod) {
			t.Errorf("tools/kube/go.mod lacks %s", want)
		}
	}
	for _, want := range []string{"KUBE_VERSION=" + KubeVersion + "\n", "ETCD_VERSION=" + EtcdVersion + "\n",
		"${RACKCTL_KUBE_CACHE:-/var/cache/rackctl/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}}"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("scripts/build-kube.sh lacks %q", want)
		}
	}
	for _, staging := range regexp.MustCompile(`(?m)^\s*(k8s\.io/\S+) => (\S+) (\S+)$`).FindAllSubmatch(gomod, -1) {
		if string(staging[1]) != string(staging[2]) || string(staging[3]) != "v0."+strings.TrimPrefix(KubeVersion, "v1.") {
			t.Errorf("tools/kube/go.mod: replace %s => %s %s, want the same module at the release's v0 version", staging[1], staging[2], staging[3])
		}
	}
}

// TestFindKubeMissing: an empty or stale cache is an error naming the
// build command, never a silent skip.
func TestFindKubeMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("RACKCTL_KUBE_CACHE", dir)
	_, err := FindKube()
	if err == nil || !strings.Contains(err.Error(), "make kube-tools") || !strings.Contains(err.Error(), "kube-apiserver") {
		t.Fatalf("empty cache: err = %v, want kube-apiserver missing and the build command", err)
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "etcd"} {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := FindKube(); err == nil || !strings.Contains(err.Error(), "stamp") {
		t.Errorf("no stamp: err = %v, want it to name the stamp", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stamp"), []byte("0000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FindKube(); err == nil || !strings.Contains(err.Error(), "another tools/kube") || !strings.Contains(err.Error(), "make kube-tools") {
		t.Errorf("stale stamp: err = %v, want a rebuild asked for", err)
	}
	stamp, err := kubeStamp()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stamp"), []byte(stamp+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := FindKube(); err != nil || b.APIServer != filepath.Join(dir, "kube-apiserver") {
		t.Errorf("complete cache: %+v, %v", b, err)
	}
}

// TestStartKubeMissingFails runs StartKube in a child test process with an
// empty cache: the test must FAIL with the build command, not skip.
func TestStartKubeMissingFails(t *testing.T) {
	if os.Getenv("TESTENV_KUBE_CHILD") == "1" {
		StartKube(t)
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^TestStartKubeMissingFails$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTENV_KUBE_CHILD=1", "RACKCTL_KUBE_CACHE="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--- FAIL: TestStartKubeMissingFails") || !strings.Contains(string(out), KubeBuildCommand) {
		t.Errorf("StartKube without binaries: err %v, want a failed test naming %q:\n%s", err, KubeBuildCommand, out)
	}
	if strings.Contains(string(out), "SKIP") {
		t.Errorf("StartKube without binaries skipped:\n%s", out)
	}
}

func TestStartKube(t *testing.T) {
	start := time.Now()
	k := StartKube(t)
	t.Logf("control plane up in %s", time.Since(start).Round(time.Millisecond))
	ctx := t.Context()
	cs := k.Client()

	// The admin kubeconfig works as written, and the server is the pinned release.
	rc, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := kc.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil || string(raw) != "ok" {
		t.Fatalf("/readyz = %q, %v; want ok", raw, err)
	}
	raw, err = kc.Discovery().RESTClient().Get().AbsPath("/version").DoRaw(ctx)
	var v version.Info
	if err != nil || json.Unmarshal(raw, &v) != nil || v.GitVersion != KubeVersion {
		t.Errorf("/version = %s, %v; want gitVersion %s (the build's -X flags)", raw, err, KubeVersion)
	}
	if u, err := url.Parse(k.URL); err != nil || u.Hostname() != "127.0.0.1" {
		t.Errorf("URL %s: want loopback", k.URL)
	}

	// A service account with no binding gets a token from the TokenRequest
	// API; the token authenticates as that account, and RBAC denies it.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody", Namespace: "default"}}
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exp := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, "nobody",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil || tr.Status.Token == "" {
		t.Fatalf("TokenRequest: %v", err)
	}
	sacs, err := kubernetes.NewForConfig(&rest.Config{Host: k.URL, BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: k.CAFile}, UserAgent: "unbound-sa"})
	if err != nil {
		t.Fatal(err)
	}
	who, err := sacs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || who.Status.UserInfo.Username != "system:serviceaccount:default:nobody" {
		t.Fatalf("SelfSubjectReview with the issued token = %+v, %v", who, err)
	}
	if _, err := sacs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("unbound service account lists nodes: err = %v, want Forbidden (RBAC)", err)
	}
	if _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("admin lists nodes: %v", err)
	}
	// The audit log shows the denied request.
	evs, err := k.Requests("nodes", "unbound-sa")
	if err != nil || len(evs) == 0 || evs[0].Verb != "list" || evs[0].User.Username != "system:serviceaccount:default:nobody" || evs[0].ResponseStatus.Code != 403 {
		t.Errorf("audit of the denied list: %+v, %v", evs, err)
	}

	// The token controller of the controller manager fills a
	// service-account-token Secret.
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "nobody-token", Namespace: "default",
			Annotations: map[string]string{corev1.ServiceAccountNameKey: "nobody"}},
		Type: corev1.SecretTypeServiceAccountToken,
	}
	if _, err := cs.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var filled []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && len(filled) == 0; time.Sleep(100 * time.Millisecond) {
		s, err := cs.CoreV1().Secrets("default").Get(ctx, "nobody-token", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		filled = s.Data[corev1.ServiceAccountTokenKey]
	}
	if len(filled) == 0 {
		t.Fatal("token controller did not fill the service-account-token Secret within 30s")
	}

	// A registered Node reads back with its Ready condition.
	if err := k.PutNode(ctx, Node("n1", corev1.ConditionFalse, "v1.37.2", "Flatcar Container Linux by Kinvolk 3510.2.1 (Oklo)")); err != nil {
		t.Fatal(err)
	}
	if err := k.SetNodeReady(ctx, "n1", corev1.ConditionTrue); err != nil {
		t.Fatal(err)
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil || len(n.Status.Conditions) != 1 || n.Status.Conditions[0].Status != corev1.ConditionTrue || n.Status.NodeInfo.KubeletVersion != "v1.37.2" {
		t.Errorf("node n1 = %+v, %v; want one Ready=True condition and kubelet v1.37.2", n.Status, err)
	}

	// Close stops everything: nothing listens on the API port any more.
	k.Close()
	addr := strings.TrimPrefix(k.URL, "https://")
	ctx2, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if c, err := (&net.Dialer{}).DialContext(ctx2, "tcp", addr); err == nil {
		c.Close()
		t.Error("API server still accepts connections after Close")
	}
}
