package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultTimeout bounds one API request (and the whole of Status) when
// Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// LokomotiveKubeconfig is where lokoctl writes the cluster's admin kubeconfig,
// relative to the Lokomotive configuration directory.
const LokomotiveKubeconfig = "lokoctl-assets/cluster-assets/auth/kubeconfig"

// ErrNoKubeconfig is returned by New when no kubeconfig path is given.
var ErrNoKubeconfig = errors.New("no kubeconfig: give a path (flag or KUBECONFIG)")

// Config configures a Client.
type Config struct {
	// Kubeconfig is the path of the kubeconfig file; several paths joined by
	// the OS list separator (as in $KUBECONFIG) are merged like kubectl does.
	Kubeconfig string
	// Timeout bounds each API request and the whole of Status; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Log receives progress at debug and info level; nil discards it.
	Log *slog.Logger
}

// Client reads node state from the Kubernetes API and manages the Web UI
// service account. It is safe for concurrent use.
type Client struct {
	host    string
	timeout time.Duration
	log     *slog.Logger
	// cs has an HTTP client timeout; watchCS has none (a watch is a long
	// request) and is bounded by its context and the watch's timeoutSeconds.
	cs      kubernetes.Interface
	watchCS kubernetes.Interface
}

// DefaultKubeconfig returns Lokomotive's assets kubeconfig
// (<root>/<lokomotiveDir>/lokoctl-assets/cluster-assets/auth/kubeconfig) when
// that file exists, else $KUBECONFIG, else "". lokomotiveDir is taken under
// root even when absolute, like every host path of rackctl.
func DefaultKubeconfig(root, lokomotiveDir string) string {
	if lokomotiveDir != "" {
		p := filepath.Join(root, lokomotiveDir, LokomotiveKubeconfig)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return os.Getenv("KUBECONFIG")
}

// New loads the kubeconfig and returns a Client. It does not contact the API
// server.
func New(cfg Config) (*Client, error) {
	if cfg.Kubeconfig == "" {
		return nil, fmt.Errorf("cluster: %w", ErrNoKubeconfig)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(cfg.Kubeconfig)}
	for _, p := range rules.Precedence {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("cluster: kubeconfig: %w", err)
		}
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster: load kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	return newFromREST(rc, timeout, log)
}

// newFromREST builds the clientsets; tests use it with a rest.Config of their own.
func newFromREST(rc *rest.Config, timeout time.Duration, log *slog.Logger) (*Client, error) {
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "rackctl"
	// Fail fast on a dead address instead of the default 30 s dial timeout.
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	rc.Dial = dialer.DialContext
	// No client-side throttling: rackctl issues few requests, and a wait on
	// the limiter would not honour Timeout.
	rc.QPS, rc.Burst = 1000, 1000

	watchRC := rest.CopyConfig(rc)
	watchRC.Timeout = 0
	rc.Timeout = timeout

	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("cluster: client for %s: %w", rc.Host, err)
	}
	watchCS, err := kubernetes.NewForConfig(watchRC)
	if err != nil {
		return nil, fmt.Errorf("cluster: watch client for %s: %w", rc.Host, err)
	}
	return &Client{host: rc.Host, timeout: timeout, log: log.With("api", rc.Host), cs: cs, watchCS: watchCS}, nil
}

// Host returns the API server address from the kubeconfig.
func (c *Client) Host() string { return c.host }

// withTimeout bounds ctx by the client's timeout unless it already ends sooner.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}
