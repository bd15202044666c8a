// The tests of this package run client-go against fakeAPI, a loopback
// httptest server that speaks the subset of the Kubernetes REST API that
// package cluster uses (GET /version; nodes list and watch; serviceaccounts
// get/create and serviceaccounts/token create; clusterrolebindings get/create;
// secrets get/create), built on the real k8s.io/api types and apimachinery's
// codecs (request bodies are decoded whatever client-go sends, JSON or
// protobuf; answers are JSON, errors are metav1.Status objects).
//
// Why not a real API server: a kube-apiserver cannot run here within a test.
// Debian does not package it, and prebuilt binaries (what envtest downloads)
// cannot be fetched on this machine. k8s.io/kubernetes is served by the Go
// module proxy, and a throwaway module that requires it and replaces its 33
// staging modules by their v0.37.2 releases does resolve; but compiling
// cmd/kube-apiserver from it did not finish in 16 minutes on this 2-core
// machine, and it would still need an etcd (go.etcd.io/etcd/server/v3, a
// second large build): far more than a unit test or a CI run should spend.
// The fake follows the API's wire format (over TLS, with a bearer token, since
// client-go sends credentials over TLS only) closely enough that client-go's
// own decoding, watch framing, error mapping and timeouts are exercised.
package cluster

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
)

const fakeBearer = "fake-admin-credential"

// fakeAPI is an in-memory Kubernetes API server on loopback.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	rv       int
	nodes    map[string]*corev1.Node
	sas      map[string]*corev1.ServiceAccount // key ns/name
	crbs     map[string]*rbacv1.ClusterRoleBinding
	secrets  map[string]*corev1.Secret // key ns/name
	watchers map[chan watch.Event]struct{}
	creates  map[string]int // resource -> number of creates
	tokens   int            // TokenRequests served
	lastExp  int64          // expirationSeconds of the last TokenRequest

	// noWatch makes node watches fail with 405, as a server that cannot watch.
	noWatch bool
	// tokenFillDelay is how long the fake token controller takes to fill a new
	// service-account-token Secret; negative means never.
	tokenFillDelay time.Duration

	logs syncBuffer // what the clients made by client() logged
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		t:        t,
		nodes:    map[string]*corev1.Node{},
		sas:      map[string]*corev1.ServiceAccount{},
		crbs:     map[string]*rbacv1.ClusterRoleBinding{},
		secrets:  map[string]*corev1.Secret{},
		watchers: map[chan watch.Event]struct{}{},
		creates:  map[string]int{},
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.mu.Lock()
		for ch := range f.watchers {
			close(ch)
			delete(f.watchers, ch)
		}
		f.mu.Unlock()
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

// writeKubeconfig writes a kubeconfig for an https server into a temp dir and
// returns its path. caCert is the server's certificate; nil skips verification
// (client-go sends credentials over TLS only, as kubectl does).
func writeKubeconfig(t *testing.T, server string, caCert *x509.Certificate) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	trust := "insecure-skip-tls-verify: true"
	if caCert != nil {
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
		trust = "certificate-authority-data: " + base64.StdEncoding.EncodeToString(pemBytes)
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: rack
  cluster:
    server: %s
    %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: admin@rack
  context: {cluster: rack, user: admin}
current-context: admin@rack
`, server, trust, fakeBearer)
	if err := os.WriteFile(p, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// client returns a Client for f through a kubeconfig file, as rackctl builds it.
func (f *fakeAPI) client(t *testing.T, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(Config{Kubeconfig: writeKubeconfig(t, f.srv.URL, f.srv.Certificate()), Timeout: timeout, Log: testLogger(t, &f.logs)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// setNode adds or replaces a node and notifies watchers.
func (f *fakeAPI) setNode(n *corev1.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	n = n.DeepCopy()
	n.ResourceVersion = strconv.Itoa(f.rv)
	typ := watch.Modified
	if _, ok := f.nodes[n.Name]; !ok {
		typ = watch.Added
	}
	f.nodes[n.Name] = n
	for ch := range f.watchers {
		select {
		case ch <- watch.Event{Type: typ, Object: n.DeepCopy()}:
		default:
			f.t.Errorf("fake api: watcher too slow, event dropped")
		}
	}
}

// fakeState is a copy of the fake's objects and counters.
type fakeState struct {
	sas     map[string]*corev1.ServiceAccount
	crbs    map[string]*rbacv1.ClusterRoleBinding
	secrets map[string]*corev1.Secret
	tokens  int
	lastExp int64
}

// read copies the state under the lock.
func (f *fakeAPI) read() fakeState {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := fakeState{sas: map[string]*corev1.ServiceAccount{}, crbs: map[string]*rbacv1.ClusterRoleBinding{},
		secrets: map[string]*corev1.Secret{}, tokens: f.tokens, lastExp: f.lastExp}
	for k, v := range f.sas {
		st.sas[k] = v.DeepCopy()
	}
	for k, v := range f.crbs {
		st.crbs[k] = v.DeepCopy()
	}
	for k, v := range f.secrets {
		st.secrets[k] = v.DeepCopy()
	}
	return st
}

func (f *fakeAPI) createCount(res string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates[res]
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/version" {
		writeJSON(w, http.StatusOK, version.Info{Major: "1", Minor: "24", GitVersion: "v1.24.4", Platform: "linux/amd64"})
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+fakeBearer {
		writeStatus(w, apierrors.NewUnauthorized("no valid bearer token"))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	key := r.Method + " " + strings.Join(parts, "/")
	switch {
	case key == "GET api/v1/nodes":
		if r.URL.Query().Get("watch") == "true" {
			f.watchNodes(w, r)
			return
		}
		f.listNodes(w)
	case strings.HasPrefix(key, "GET api/v1/nodes/") && len(parts) == 4:
		f.mu.Lock()
		n, ok := f.nodes[parts[3]]
		f.mu.Unlock()
		if !ok {
			writeStatus(w, apierrors.NewNotFound(corev1.Resource("nodes"), parts[3]))
			return
		}
		writeObj(w, http.StatusOK, n)
	case len(parts) >= 5 && parts[0] == "api" && parts[2] == "namespaces" && parts[4] == "serviceaccounts":
		f.serviceAccounts(w, r, parts[3], parts[5:])
	case len(parts) >= 5 && parts[0] == "api" && parts[2] == "namespaces" && parts[4] == "secrets":
		f.secretsAPI(w, r, parts[3], parts[5:])
	case len(parts) >= 4 && strings.Join(parts[:4], "/") == "apis/rbac.authorization.k8s.io/v1/clusterrolebindings":
		f.bindings(w, r, parts[4:])
	default:
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: r.URL.Path}, ""))
	}
}

func (f *fakeAPI) listNodes(w http.ResponseWriter) {
	f.mu.Lock()
	list := &corev1.NodeList{ListMeta: metav1.ListMeta{ResourceVersion: strconv.Itoa(f.rv)}}
	for _, n := range f.nodes {
		list.Items = append(list.Items, *n.DeepCopy())
	}
	f.mu.Unlock()
	writeObj(w, http.StatusOK, list)
}

// watchNodes streams node events as newline-delimited JSON watch events, like
// the API server does for Accept: application/json.
func (f *fakeAPI) watchNodes(w http.ResponseWriter, r *http.Request) {
	if f.noWatch {
		writeStatus(w, apierrors.NewMethodNotSupported(corev1.Resource("nodes"), "watch"))
		return
	}
	ch := make(chan watch.Event, 100)
	f.mu.Lock()
	f.watchers[ch] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.watchers, ch)
		f.mu.Unlock()
	}()
	timeout := 5 * time.Minute
	if s, err := strconv.Atoi(r.URL.Query().Get("timeoutSeconds")); err == nil && s > 0 {
		timeout = time.Duration(s) * time.Second
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	end := time.NewTimer(timeout)
	defer end.Stop()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-end.C:
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			obj := ev.Object.(*corev1.Node)
			setKind(obj)
			raw, err := json.Marshal(obj)
			if err != nil {
				f.t.Errorf("fake api: marshal node: %v", err)
				return
			}
			if err := enc.Encode(metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: raw}}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

func (f *fakeAPI) serviceAccounts(w http.ResponseWriter, r *http.Request, ns string, rest []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gr := corev1.Resource("serviceaccounts")
	switch {
	case r.Method == http.MethodGet && len(rest) == 1:
		sa, ok := f.sas[ns+"/"+rest[0]]
		if !ok {
			writeStatus(w, apierrors.NewNotFound(gr, rest[0]))
			return
		}
		writeObj(w, http.StatusOK, sa)
	case r.Method == http.MethodPost && len(rest) == 0:
		sa := &corev1.ServiceAccount{}
		if !f.decode(w, r, sa) {
			return
		}
		if _, ok := f.sas[ns+"/"+sa.Name]; ok {
			writeStatus(w, apierrors.NewAlreadyExists(gr, sa.Name))
			return
		}
		sa.Namespace = ns
		sa.UID = types.UID("uid-sa-" + sa.Name)
		f.sas[ns+"/"+sa.Name] = sa
		f.creates["serviceaccounts"]++
		writeObj(w, http.StatusCreated, sa)
	case r.Method == http.MethodPost && len(rest) == 2 && rest[1] == "token":
		if _, ok := f.sas[ns+"/"+rest[0]]; !ok {
			writeStatus(w, apierrors.NewNotFound(gr, rest[0]))
			return
		}
		tr := &authenticationv1.TokenRequest{}
		if !f.decode(w, r, tr) {
			return
		}
		exp := int64(3600)
		if tr.Spec.ExpirationSeconds != nil {
			exp = *tr.Spec.ExpirationSeconds
		}
		if exp < 600 {
			writeStatus(w, apierrors.NewBadRequest("expirationSeconds: may not specify a duration less than 10 minutes"))
			return
		}
		f.tokens++
		f.lastExp = exp
		tr.Status = authenticationv1.TokenRequestStatus{
			Token:               fmt.Sprintf("bound-token-%s-%d", rest[0], f.tokens),
			ExpirationTimestamp: metav1.NewTime(time.Now().Add(time.Duration(exp) * time.Second)),
		}
		writeObj(w, http.StatusCreated, tr)
	default:
		writeStatus(w, apierrors.NewMethodNotSupported(gr, r.Method))
	}
}

func (f *fakeAPI) bindings(w http.ResponseWriter, r *http.Request, rest []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gr := rbacv1.Resource("clusterrolebindings")
	switch {
	case r.Method == http.MethodGet && len(rest) == 1:
		b, ok := f.crbs[rest[0]]
		if !ok {
			writeStatus(w, apierrors.NewNotFound(gr, rest[0]))
			return
		}
		writeObj(w, http.StatusOK, b)
	case r.Method == http.MethodPost && len(rest) == 0:
		b := &rbacv1.ClusterRoleBinding{}
		if !f.decode(w, r, b) {
			return
		}
		if _, ok := f.crbs[b.Name]; ok {
			writeStatus(w, apierrors.NewAlreadyExists(gr, b.Name))
			return
		}
		f.crbs[b.Name] = b
		f.creates["clusterrolebindings"]++
		writeObj(w, http.StatusCreated, b)
	default:
		writeStatus(w, apierrors.NewMethodNotSupported(gr, r.Method))
	}
}

func (f *fakeAPI) secretsAPI(w http.ResponseWriter, r *http.Request, ns string, rest []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gr := corev1.Resource("secrets")
	switch {
	case r.Method == http.MethodGet && len(rest) == 1:
		s, ok := f.secrets[ns+"/"+rest[0]]
		if !ok {
			writeStatus(w, apierrors.NewNotFound(gr, rest[0]))
			return
		}
		writeObj(w, http.StatusOK, s)
	case r.Method == http.MethodPost && len(rest) == 0:
		s := &corev1.Secret{}
		if !f.decode(w, r, s) {
			return
		}
		if _, ok := f.secrets[ns+"/"+s.Name]; ok {
			writeStatus(w, apierrors.NewAlreadyExists(gr, s.Name))
			return
		}
		s.Namespace = ns
		f.secrets[ns+"/"+s.Name] = s
		f.creates["secrets"]++
		if s.Type == corev1.SecretTypeServiceAccountToken && f.tokenFillDelay >= 0 {
			// The token controller fills in the token some time later.
			key, sa := ns+"/"+s.Name, s.Annotations[corev1.ServiceAccountNameKey]
			time.AfterFunc(f.tokenFillDelay, func() {
				f.mu.Lock()
				defer f.mu.Unlock()
				if cur, ok := f.secrets[key]; ok {
					cur = cur.DeepCopy()
					cur.Data = map[string][]byte{corev1.ServiceAccountTokenKey: []byte("legacy-token-" + sa)}
					f.secrets[key] = cur
				}
			})
		}
		writeObj(w, http.StatusCreated, s)
	default:
		writeStatus(w, apierrors.NewMethodNotSupported(gr, r.Method))
	}
}

// decode reads a request body in whatever encoding client-go chose.
func (f *fakeAPI) decode(w http.ResponseWriter, r *http.Request, into runtime.Object) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return false
	}
	if _, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, into); err != nil {
		writeStatus(w, apierrors.NewBadRequest("decode body: "+err.Error()))
		return false
	}
	return true
}

// setKind fills in apiVersion and kind, as the API server's answers carry them.
func setKind(obj runtime.Object) {
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err == nil && len(gvks) > 0 {
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
}

func writeObj(w http.ResponseWriter, code int, obj runtime.Object) {
	obj = obj.DeepCopyObject()
	setKind(obj)
	writeJSON(w, code, obj)
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.APIVersion, st.Kind = "v1", "Status"
	writeJSON(w, int(st.Code), &st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// hangingListener accepts connections and never answers: an API server that is
// wedged, or a firewall that swallows packets after the handshake.
func hangingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "https://" + ln.Addr().String()
}

// closedPort returns the URL of a loopback port that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

// node builds a Node as a kubelet registers it.
func node(name string, ready corev1.ConditionStatus, osImage string) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.24.4", OSImage: osImage},
		},
	}
	if ready != "" {
		cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: ready}
		if ready != corev1.ConditionTrue {
			cond.Reason, cond.Message = "KubeletNotReady", "container runtime network not ready"
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, cond}
	}
	return n
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
