// The tests of this package run client-go against kubefake, a loopback TLS
// server that speaks the subset of the Kubernetes REST API that package
// cluster uses; internal/kubefake's package comment says why it is a fake and
// not a real kube-apiserver.
package cluster

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/kubefake"
)

// fakeAPI is a kubefake server plus what the clients made by client() logged.
type fakeAPI struct {
	*kubefake.Server
	logs syncBuffer
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	return &fakeAPI{Server: kubefake.New(t)}
}

// client returns a Client for f through a kubeconfig file, as rackctl builds it.
func (f *fakeAPI) client(t *testing.T, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(Config{Kubeconfig: f.Kubeconfig(t), Timeout: timeout, Log: testLogger(t, &f.logs)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
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
