package testenv

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The control plane scripts/build-kube.sh builds from tools/kube; the
// versions name the cache directory and must match tools/kube/go.mod
// (TestKubeVersionsPinned checks).
const (
	KubeVersion = "v1.37.2"
	EtcdVersion = "v3.7.0"
)

// KubeBuildCommand is what builds the binaries StartKube needs; every
// "missing" error names it.
const KubeBuildCommand = "make kube-tools (scripts/build-kube.sh; about 15 minutes cold on 2 cores, cached after)"

// KubeCacheDir is where scripts/build-kube.sh puts the binaries:
// $RACKCTL_KUBE_CACHE, else /var/cache/rackctl/kube-<version>-etcd-<version>.
func KubeCacheDir() string {
	if d := os.Getenv("RACKCTL_KUBE_CACHE"); d != "" {
		return d
	}
	return filepath.Join("/var/cache/rackctl", "kube-"+KubeVersion+"-etcd-"+EtcdVersion)
}

// KubeBinaries are the paths of the built control plane.
type KubeBinaries struct {
	APIServer, ControllerManager, Etcd string
}

// FindKube returns the binaries in KubeCacheDir when all are there and were
// built from the current tools/kube (the stamp build-kube.sh writes is the
// SHA-256 of tools/kube/go.mod, go.sum and etcd/main.go, concatenated). It
// never builds (a cold build takes longer than a test should wait): the
// error says what is missing and names KubeBuildCommand.
func FindKube() (KubeBinaries, error) {
	dir := KubeCacheDir()
	b := KubeBinaries{
		APIServer:         filepath.Join(dir, "kube-apiserver"),
		ControllerManager: filepath.Join(dir, "kube-controller-manager"),
		Etcd:              filepath.Join(dir, "etcd"),
	}
	for _, p := range []string{b.APIServer, b.ControllerManager, b.Etcd} {
		fi, err := os.Stat(p)
		if err != nil {
			return KubeBinaries{}, fmt.Errorf("testenv: %s (Kubernetes %s, etcd %s) is not built: %w; build it with %s", filepath.Base(p), KubeVersion, EtcdVersion, err, KubeBuildCommand)
		}
		if fi.Mode()&0o111 == 0 {
			return KubeBinaries{}, fmt.Errorf("testenv: %s is not executable; rebuild with %s", p, KubeBuildCommand)
		}
	}
	want, err := kubeStamp()
	if err != nil {
		return KubeBinaries{}, err
	}
	got, err := os.ReadFile(filepath.Join(dir, "stamp"))
	if err != nil {
		return KubeBinaries{}, fmt.Errorf("testenv: %s has no build stamp (%w): rebuild with %s", dir, err, KubeBuildCommand)
	}
	if strings.TrimSpace(string(got)) != want {
		return KubeBinaries{}, fmt.Errorf("testenv: the binaries in %s were built from another tools/kube than this checkout's: rebuild with %s", dir, KubeBuildCommand)
	}
	return b, nil
}

// kubeStamp is build-kube.sh's stamp() in Go.
func kubeStamp() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum", "etcd/main.go"} {
		b, err := os.ReadFile(filepath.Join(root, "tools", "kube", filepath.FromSlash(f)))
		if err != nil {
			return "", fmt.Errorf("testenv: kube build stamp: %w", err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// KubeOptions change what StartKubeWith starts.
type KubeOptions struct {
	// NoControllerManager leaves out kube-controller-manager: no token
	// controller fills service-account-token Secrets, no default service
	// accounts appear.
	NoControllerManager bool
}

// Kube is a real Kubernetes control plane on free loopback ports: etcd,
// kube-apiserver (RBAC authorization, static-token authentication for the
// admin and the controller manager, service-account tokens signed by a
// throwaway key, an audit log of node requests) and, unless left out,
// kube-controller-manager running the service-account and token controllers.
type Kube struct {
	// URL is the API server's https://127.0.0.1:PORT.
	URL string
	// Kubeconfig is the path of an admin kubeconfig (group system:masters,
	// bearer token, the API server's CA).
	Kubeconfig string
	// CAFile is the PEM CA that signed the API server's certificate.
	CAFile string
	// AuditLog is the API server's audit log (JSON lines) of the requests
	// on the resources rackctl uses: it shows what a client asked the
	// server and what the server answered, see Requests.
	AuditLog string
	Dir      string

	adminToken string
	caPEM      []byte
	cs         kubernetes.Interface
	procs      []*kubeProc // in start order; stopped in reverse
}

// StartKube starts a control plane with the controller manager for t and
// stops it in t.Cleanup. Missing binaries fail the test with the command
// that builds them; the test is never skipped.
func StartKube(t testing.TB) *Kube {
	t.Helper()
	return StartKubeWith(t, KubeOptions{})
}

// StartKubeWith is StartKube with options.
func StartKubeWith(t testing.TB, o KubeOptions) *Kube {
	t.Helper()
	bins, err := FindKube()
	if err != nil {
		t.Fatal(err)
	}
	k, err := launchKube(t.Context(), bins, t.TempDir(), o)
	if k != nil {
		// Registered before any check: a half-started control plane stops too.
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("control plane logs (end):\n%s", k.Logs(3000))
			}
			k.Close()
		})
	}
	if err != nil {
		t.Fatalf("start kubernetes control plane: %v", err)
	}
	return k
}

// startTimeout bounds each component's start; the API server takes about 4 s
// on an idle 2-core machine, much more when the machine is busy compiling.
const startTimeout = 90 * time.Second

// launchKube starts the components under dir. On error the returned Kube
// (when not nil) holds what did start; Close stops it.
func launchKube(ctx context.Context, bins KubeBinaries, dir string, o KubeOptions) (*Kube, error) {
	k := &Kube{Dir: dir, AuditLog: filepath.Join(dir, "audit.log")}
	f, err := k.writeFiles(dir)
	if err != nil {
		return nil, err
	}
	etcdURL, err := k.startEtcd(ctx, bins, dir)
	if err != nil {
		return k, err
	}
	if err := k.startAPIServer(ctx, bins, dir, etcdURL, f); err != nil {
		return k, err
	}
	kcmConfig, err := k.connect(ctx, dir, f.kcmToken)
	if err != nil {
		return k, err
	}
	if o.NoControllerManager {
		return k, nil
	}
	return k, k.startControllerManager(ctx, bins, dir, kcmConfig, f.saKey)
}

// kubeFiles are what the components are started with.
type kubeFiles struct {
	tls            TLSFiles
	saKey, saPub   string // the service-account signing key pair
	tokens, policy string // the token file and the audit policy
	kcmToken       string // the controller manager's token
}

// writeFiles writes the TLS files, the service-account keys, the tokens
// and the audit policy under dir.
func (k *Kube) writeFiles(dir string) (kubeFiles, error) {
	var f kubeFiles
	tlsFiles, err := WriteTLS(filepath.Join(dir, "tls"))
	if err != nil {
		return f, err
	}
	f.tls = tlsFiles
	k.CAFile = tlsFiles.CA
	if k.caPEM, err = os.ReadFile(k.CAFile); err != nil {
		return f, fmt.Errorf("testenv: kube: %w", err)
	}
	f.saKey, f.saPub = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := writeECKey(f.saKey, f.saPub); err != nil {
		return f, err
	}
	k.adminToken = randomToken()
	f.kcmToken = randomToken()
	f.tokens = filepath.Join(dir, "tokens.csv")
	// token,user,uid,"groups": the admin is in system:masters (RBAC's
	// superuser group); the controller manager has the identity the RBAC
	// bootstrap roles grant its permissions to, as on a real cluster.
	csv := fmt.Sprintf("%s,admin,admin-uid,\"system:masters\"\n%s,system:kube-controller-manager,kcm-uid\n", k.adminToken, f.kcmToken)
	if err := os.WriteFile(f.tokens, []byte(csv), 0o600); err != nil {
		return f, fmt.Errorf("testenv: kube: %w", err)
	}
	f.policy = filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(f.policy, []byte(auditPolicy), 0o600); err != nil {
		return f, fmt.Errorf("testenv: kube: %w", err)
	}
	return f, nil
}

// startEtcd starts etcd and returns its client URL. A port found free can
// be taken before the server binds it: the start is retried on new ports
// when the log says so.
func (k *Kube) startEtcd(ctx context.Context, bins KubeBinaries, dir string) (string, error) {
	for attempt := 0; ; attempt++ {
		client, err1 := freeTCP()
		peer, err2 := freeTCP()
		if err := errors.Join(err1, err2); err != nil {
			return "", err
		}
		etcdURL := "http://" + client
		p, err := startProc(ctx, "etcd", filepath.Join(dir, fmt.Sprintf("etcd-%d.log", attempt)), bins.Etcd,
			"-data-dir", filepath.Join(dir, "etcd"), "-listen-client-url", etcdURL, "-listen-peer-url", "http://"+peer)
		if err != nil {
			return "", err
		}
		err = p.waitReady(ctx, func(ctx context.Context) error {
			return httpOK(ctx, http.DefaultClient, etcdURL+"/health", "", `"health":"true"`)
		})
		if err == nil {
			k.procs = append(k.procs, p)
			return etcdURL, nil
		}
		p.stop()
		if attempt == 2 || !strings.Contains(p.log(4000), "address already in use") {
			return "", err
		}
	}
}

// startAPIServer starts kube-apiserver on etcdURL, retried on new ports as
// etcd is, and sets k.URL.
func (k *Kube) startAPIServer(ctx context.Context, bins KubeBinaries, dir, etcdURL string, f kubeFiles) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.caPEM)
	apiHTTP := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for attempt := 0; ; attempt++ {
		addr, err := freeTCP()
		if err != nil {
			return err
		}
		k.URL = "https://" + addr
		port := addr[strings.LastIndexByte(addr, ':')+1:]
		p, err := startProc(ctx, "kube-apiserver", filepath.Join(dir, fmt.Sprintf("kube-apiserver-%d.log", attempt)), bins.APIServer,
			"--etcd-servers="+etcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port="+port,
			"--tls-cert-file="+f.tls.ServerCert,
			"--tls-private-key-file="+f.tls.ServerKey,
			"--cert-dir="+filepath.Join(dir, "apiserver-certs"),
			"--token-auth-file="+f.tokens,
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file="+f.saPub,
			"--service-account-signing-key-file="+f.saKey,
			"--service-cluster-ip-range=10.0.0.0/24",
			// The default reconciler writes the advertise address into the
			// kubernetes Endpoints and refuses a loopback one.
			"--endpoint-reconciler-type=none",
			"--audit-policy-file="+f.policy,
			"--audit-log-path="+k.AuditLog,
			"--profiling=false",
		)
		if err != nil {
			return err
		}
		err = p.waitReady(ctx, func(ctx context.Context) error { return httpOK(ctx, apiHTTP, k.URL+"/readyz", k.adminToken, "ok") })
		if err == nil {
			k.procs = append(k.procs, p)
			return nil
		}
		p.stop()
		if attempt == 2 || !strings.Contains(p.log(4000), "address already in use") {
			return err
		}
	}
}

// connect writes the admin and controller-manager kubeconfigs (returning
// the latter's path), makes the client, and waits for kube-system.
func (k *Kube) connect(ctx context.Context, dir, kcmToken string) (kcmConfig string, err error) {
	k.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := k.writeKubeconfig(k.Kubeconfig, "admin", k.adminToken); err != nil {
		return "", err
	}
	kcmConfig = filepath.Join(dir, "kcm.kubeconfig")
	if err := k.writeKubeconfig(kcmConfig, "system:kube-controller-manager", kcmToken); err != nil {
		return "", err
	}
	cs, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		return "", fmt.Errorf("testenv: kube client: %w", err)
	}
	k.cs = cs
	// /readyz does not wait for the system namespaces; objects of kube-system
	// cannot be created before it exists.
	if err := waitFor(ctx, "namespace kube-system", func(ctx context.Context) error {
		_, err := cs.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
		return err
	}); err != nil {
		return "", err
	}
	return kcmConfig, nil
}

// startControllerManager starts the controller manager (service-account
// controllers only) and waits until it works.
func (k *Kube) startControllerManager(ctx context.Context, bins KubeBinaries, dir, kcmConfig, saKey string) error {
	cs := k.cs
	p, err := startProc(ctx, "kube-controller-manager", filepath.Join(dir, "kube-controller-manager.log"), bins.ControllerManager,
		"--kubeconfig="+kcmConfig,
		"--controllers=serviceaccount-token-controller,serviceaccount-controller",
		"--service-account-private-key-file="+saKey,
		"--root-ca-file="+k.CAFile,
		"--leader-elect=false",
		"--secure-port=0",
	)
	if err != nil {
		return err
	}
	k.procs = append(k.procs, p)
	// The service-account controller creates each namespace's "default"
	// account once its informers have synced: the controller manager is
	// then working, with the permissions RBAC gives it.
	err = p.waitReady(ctx, func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	return err
}

// auditPolicy records, without bodies, the requests on what rackctl reads
// and writes: nodes, service accounts and their tokens, secrets, and
// cluster role bindings.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources:
  - {group: "", resources: [nodes, nodes/status, serviceaccounts, serviceaccounts/token, secrets]}
  - {group: rbac.authorization.k8s.io, resources: [clusterrolebindings]}
- level: None
`

// RESTConfig is an admin client configuration.
func (k *Kube) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            k.URL,
		BearerToken:     k.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: k.caPEM},
		Timeout:         30 * time.Second,
		QPS:             100, Burst: 100,
		// Not the default (the binary's name): a test binary named
		// rackctl.test must not pass for rackctl in the audit log.
		UserAgent: "testenv",
	}
}

// Client is an admin clientset.
func (k *Kube) Client() kubernetes.Interface { return k.cs }

// KubeconfigFor writes a kubeconfig with another bearer token (a service
// account's, say) into a temp dir of t and returns its path.
func (k *Kube) KubeconfigFor(t testing.TB, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := k.writeKubeconfig(p, "user", token); err != nil {
		t.Fatal(err)
	}
	return p
}

func (k *Kube) writeKubeconfig(path, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: k.URL, CertificateAuthorityData: k.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: user}
	cfg.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("testenv: write kubeconfig: %w", err)
	}
	return os.Chmod(path, 0o600)
}

// AuditEvent is the part of an audit log line Requests reads.
type AuditEvent struct {
	Verb      string `json:"verb"`
	UserAgent string `json:"userAgent"`
	User      struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	Stage string `json:"stage"`
}

// Requests returns the audit events of requests on resource (e.g. "nodes",
// "serviceaccounts") whose user agent is userAgent ("" for all), in
// the order the server logged them. A watch appears when it starts
// (ResponseStarted) and when it ends (ResponseComplete).
func (k *Kube) Requests(resource, userAgent string) ([]AuditEvent, error) {
	f, err := os.Open(k.AuditLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("testenv: audit log: %w", err)
	}
	defer f.Close()
	var out []AuditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var ev AuditEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue // a line being written
		}
		if ev.ObjectRef.Resource == resource && (userAgent == "" || ev.UserAgent == userAgent) {
			out = append(out, ev)
		}
	}
	return out, sc.Err()
}

// Node is a Node object as a kubelet would register it: the hostname
// label, the given Ready condition ("" for none yet), kubelet version and
// OS image.
func Node(name string, ready corev1.ConditionStatus, kubelet, osImage string) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, corev1.LabelOSStable: "linux",
		}},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion: kubelet, OSImage: osImage, OperatingSystem: "linux", Architecture: "amd64",
		}},
	}
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{readyCondition(ready)}
	}
	return n
}

func readyCondition(s corev1.ConditionStatus) corev1.NodeCondition {
	c := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: s,
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		Reason: "KubeletReady", Message: "kubelet is posting ready status",
	}
	if s != corev1.ConditionTrue {
		c.Reason, c.Message = "KubeletNotReady", "container runtime network not ready"
	}
	return c
}

// PutNode registers n like a kubelet does (create, then its status through
// the status subresource), or replaces the labels and status of the Node
// of that name.
func (k *Kube) PutNode(ctx context.Context, n *corev1.Node) error {
	nodes := k.cs.CoreV1().Nodes()
	cur, err := nodes.Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		if cur, err = nodes.Get(ctx, n.Name, metav1.GetOptions{}); err == nil {
			cur.Labels = n.Labels
			cur, err = nodes.Update(ctx, cur, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("testenv: put node %s: %w", n.Name, err)
	}
	cur.Status = n.Status
	if _, err := nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("testenv: put node %s status: %w", n.Name, err)
	}
	return nil
}

// SetNodeReady sets the Ready condition of an existing Node, as its
// kubelet would.
func (k *Kube) SetNodeReady(ctx context.Context, name string, s corev1.ConditionStatus) error {
	n, err := k.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("testenv: set node %s ready: %w", name, err)
	}
	kept := n.Status.Conditions[:0]
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			kept = append(kept, c)
		}
	}
	n.Status.Conditions = append(kept, readyCondition(s))
	if _, err := k.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("testenv: set node %s ready: %w", name, err)
	}
	return nil
}

// Logs returns the end of each component's output (at most n bytes each).
func (k *Kube) Logs(n int) string {
	var b strings.Builder
	for _, p := range k.procs {
		fmt.Fprintf(&b, "--- %s\n%s\n", p.name, p.log(n))
	}
	return b.String()
}

// Close stops the components, the controller manager first and etcd last.
func (k *Kube) Close() error {
	for i := len(k.procs) - 1; i >= 0; i-- {
		k.procs[i].stop()
	}
	k.procs = nil
	return nil
}

// kubeProc is one running component.
type kubeProc struct {
	name, logFile string
	cmd           *exec.Cmd
	done          chan struct{}
	once          sync.Once
}

func startProc(ctx context.Context, name, logFile, bin string, args ...string) (*kubeProc, error) {
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testenv: %s: %w", name, err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = filepath.Dir(logFile)
	// Its own process group, and killed with the test binary: nothing is
	// left listening when a test is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start %s: %w", name, err)
	}
	p := &kubeProc{name: name, logFile: logFile, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	if ctx.Err() != nil {
		p.stop()
		return nil, ctx.Err()
	}
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits, ctx ends or
// startTimeout passes; the error carries the end of the process's log.
func (p *kubeProc) waitReady(ctx context.Context, ready func(context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = ready(rctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("testenv: %s exited at start:\n%s", p.name, p.log(3000))
		case <-ctx.Done():
			return fmt.Errorf("testenv: %s: %w", p.name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: %s not ready after %s (last: %v):\n%s", p.name, startTimeout, last, p.log(3000))
		}
	}
}

// stop ends the process group (SIGTERM, SIGKILL after 10 s) and waits.
func (p *kubeProc) stop() {
	p.once.Do(func() {
		pid := p.cmd.Process.Pid
		syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

func (p *kubeProc) log(n int) string { return tail(p.logFile, n) }

// waitFor polls f until it succeeds, ctx ends or startTimeout passes.
func waitFor(ctx context.Context, what string, f func(context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(rctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: %s not there after %s: %w", what, startTimeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: wait for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// httpOK GETs url (with a bearer token when given) and wants 200 and a body
// containing want.
func httpOK(ctx context.Context, c *http.Client, url, token, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
		return fmt.Errorf("GET %s: %s: %.300s", url, resp.Status, b)
	}
	return nil
}

// writeECKey writes a new P-256 private key (PKCS#8 PEM, 0600) and its
// public key (PKIX PEM): the service-account token signing key.
func writeECKey(path, pubPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("testenv: service-account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("testenv: service-account key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("testenv: service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("testenv: service-account key: %w", err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return fmt.Errorf("testenv: service-account key: %w", err)
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}
