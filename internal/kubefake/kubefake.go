// Package kubefake is a fake Kubernetes API server for tests: a loopback TLS
// httptest server that speaks the subset of the Kubernetes REST API that
// package cluster uses (GET /version; nodes list, get and watch;
// serviceaccounts get/create and serviceaccounts/token create;
// clusterrolebindings get/create; secrets get/create), built on the real
// k8s.io/api types and apimachinery's codecs (request bodies are decoded
// whatever client-go sends, JSON or protobuf; answers are JSON, errors are
// metav1.Status objects).
//
// It is the fast-unit-test fake, not the reference: what rackctl claims
// about a cluster is tested against a real kube-apiserver v1.37.2 with etcd
// and the controller manager (internal/testenv.StartKube, binaries built
// by `make kube-tools`), which has the admission, RBAC, validation, resource
// versions, watch semantics and token controller this fake only imitates.
// Use the fake only for what a real server cannot be made to do on demand
// (a server that refuses watches with 405) and its network fixtures
// (ClosedPort, HangingListener, WriteKubeconfig for those), and say why in
// the test. The fake follows the API's wire format (over TLS, with a bearer
// token, since client-go sends credentials over TLS only) closely enough
// that client-go's decoding, watch framing, error mapping and timeouts run.
package kubefake

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
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

// Bearer is the admin credential the fake accepts; kubeconfigs written by
// WriteKubeconfig carry it.
const Bearer = "fake-admin-credential"

// ServerVersion is the GitVersion GET /version answers.
const ServerVersion = "v1.24.4"

// Server is an in-memory Kubernetes API server on loopback.
type Server struct {
	t   testing.TB
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
	nodeReqs int            // node list, get and watch requests

	noWatch        bool
	tokenFillDelay time.Duration
}

// New starts a fake API server; t.Cleanup stops it and ends open watches.
func New(t testing.TB) *Server {
	t.Helper()
	f := &Server{
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

// URL is the server's https://127.0.0.1:port address.
func (f *Server) URL() string { return f.srv.URL }

// Certificate is the server's TLS certificate.
func (f *Server) Certificate() *x509.Certificate { return f.srv.Certificate() }

// Kubeconfig writes a kubeconfig for f (trusting its certificate, with the
// Bearer credential) into a temp dir of t and returns its path.
func (f *Server) Kubeconfig(t testing.TB) string {
	t.Helper()
	return WriteKubeconfig(t, f.URL(), f.Certificate())
}

// SetNoWatch makes node watches fail with 405, as a server that cannot watch.
func (f *Server) SetNoWatch(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noWatch = v
}

// SetTokenFillDelay sets how long the fake token controller takes to fill a
// new service-account-token Secret; negative means never. The default is 0.
func (f *Server) SetTokenFillDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenFillDelay = d
}

// WriteKubeconfig writes a kubeconfig for an https server into a temp dir
// and returns its path. caCert is the server's certificate; nil skips
// verification (client-go sends credentials over TLS only, as kubectl does).
func WriteKubeconfig(t testing.TB, server string, caCert *x509.Certificate) string {
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
`, server, trust, Bearer)
	if err := os.WriteFile(p, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// SetNode adds or replaces a node and notifies watchers.
func (f *Server) SetNode(n *corev1.Node) {
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
			f.t.Errorf("kubefake: watcher too slow, event dropped")
		}
	}
}

// SetReady sets the Ready condition of an existing node (see Node for the
// values) and notifies watchers. It reports whether the node exists.
func (f *Server) SetReady(name string, ready corev1.ConditionStatus) bool {
	f.mu.Lock()
	n, ok := f.nodes[name]
	f.mu.Unlock()
	if !ok {
		return false
	}
	fresh := Node(name, ready, n.Status.NodeInfo.OSImage)
	n = n.DeepCopy()
	n.Status.Conditions = fresh.Status.Conditions
	f.SetNode(n)
	return true
}

// PutClusterRoleBinding stores a binding as if someone else created it.
func (f *Server) PutClusterRoleBinding(b *rbacv1.ClusterRoleBinding) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crbs[b.Name] = b.DeepCopy()
}

// PutSecret stores a secret as if someone else created it.
func (f *Server) PutSecret(s *corev1.Secret) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[s.Namespace+"/"+s.Name] = s.DeepCopy()
}

// State is a copy of the fake's objects and counters.
type State struct {
	ServiceAccounts     map[string]*corev1.ServiceAccount // key namespace/name
	ClusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
	Secrets             map[string]*corev1.Secret // key namespace/name
	Tokens              int                       // TokenRequests served
	LastExpiration      int64                     // expirationSeconds of the last TokenRequest
}

// Objects is the number of service accounts, bindings and secrets.
func (s State) Objects() int {
	return len(s.ServiceAccounts) + len(s.ClusterRoleBindings) + len(s.Secrets)
}

// State copies the state under the lock.
func (f *Server) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := State{ServiceAccounts: map[string]*corev1.ServiceAccount{}, ClusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
		Secrets: map[string]*corev1.Secret{}, Tokens: f.tokens, LastExpiration: f.lastExp}
	for k, v := range f.sas {
		st.ServiceAccounts[k] = v.DeepCopy()
	}
	for k, v := range f.crbs {
		st.ClusterRoleBindings[k] = v.DeepCopy()
	}
	for k, v := range f.secrets {
		st.Secrets[k] = v.DeepCopy()
	}
	return st
}

// CreateCount is how many objects of a resource ("serviceaccounts",
// "clusterrolebindings", "secrets") clients created.
func (f *Server) CreateCount(resource string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates[resource]
}

// NodeRequests is how many node list, get and watch requests were served:
// a test can wait for a client to start looking at nodes.
func (f *Server) NodeRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodeReqs
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/version" {
		writeJSON(w, http.StatusOK, version.Info{Major: "1", Minor: "24", GitVersion: ServerVersion, Platform: "linux/amd64"})
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+Bearer {
		writeStatus(w, apierrors.NewUnauthorized("no valid bearer token"))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	key := r.Method + " " + strings.Join(parts, "/")
	if strings.HasPrefix(key, "GET api/v1/nodes") {
		f.mu.Lock()
		f.nodeReqs++
		f.mu.Unlock()
	}
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
		if ok {
			n = n.DeepCopy()
		}
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

func (f *Server) listNodes(w http.ResponseWriter) {
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
func (f *Server) watchNodes(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	noWatch := f.noWatch
	f.mu.Unlock()
	if noWatch {
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
				f.t.Errorf("kubefake: marshal node: %v", err)
				return
			}
			if err := enc.Encode(metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: raw}}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

func (f *Server) serviceAccounts(w http.ResponseWriter, r *http.Request, ns string, rest []string) {
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
		if !decode(w, r, sa) {
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
		if !decode(w, r, tr) {
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

func (f *Server) bindings(w http.ResponseWriter, r *http.Request, rest []string) {
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
		if !decode(w, r, b) {
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

func (f *Server) secretsAPI(w http.ResponseWriter, r *http.Request, ns string, rest []string) {
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
		if !decode(w, r, s) {
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
func decode(w http.ResponseWriter, r *http.Request, into runtime.Object) bool {
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

// HangingListener accepts connections and never answers: an API server that
// is wedged, or a firewall that swallows packets after the handshake. It
// returns an https URL; t.Cleanup closes it.
func HangingListener(t testing.TB) string {
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

// ClosedPort returns the https URL of a loopback port that nothing listens on.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

// Node builds a Node as a kubelet registers it. ready is the status of its
// Ready condition; "" leaves the condition out (a node that just registered).
func Node(name string, ready corev1.ConditionStatus, osImage string) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: ServerVersion, OSImage: osImage},
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
