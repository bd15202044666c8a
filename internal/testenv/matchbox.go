package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Matchbox is a real matchbox server on free 127.0.0.1 ports.
type Matchbox struct {
	HTTP string // "127.0.0.1:PORT" of the HTTP API (iPXE, Ignition)
	RPC  string // "127.0.0.1:PORT" of the TLS gRPC API (the terraform provider)
	// CertDir holds ca.crt, client.crt and client.key for the provider:
	// point matchbox.clientCertDir at it, or copy it with TLS.CopyClientCerts.
	CertDir string
	TLS     TLSFiles
	DataDir string // profiles/, groups/, ignition/ ...
	LogFile string // matchbox's output

	bin, assetsDir string
	mu             sync.Mutex
	cmd            *exec.Cmd
	done           chan struct{}
}

// StartMatchbox generates certificates under dir, starts tools/bin/matchbox
// (building it with scripts/build-tools.sh when missing) on two free
// loopback ports and waits until it serves HTTP and accepts gRPC
// connections. Close stops it.
func StartMatchbox(ctx context.Context, dir string) (*Matchbox, error) {
	tl, err := FindTools(ctx)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("testenv: matchbox: %w", err)
	}
	tls, err := WriteTLS(filepath.Join(dir, "tls"))
	if err != nil {
		return nil, err
	}
	m := &Matchbox{
		CertDir:   tls.ClientDir,
		TLS:       tls,
		DataDir:   filepath.Join(dir, "data"),
		LogFile:   filepath.Join(dir, "matchbox.log"),
		bin:       tl.Matchbox,
		assetsDir: filepath.Join(dir, "assets"),
	}
	for _, d := range []string{"profiles", "groups", "ignition", "cloud", "generic"} {
		if err := os.MkdirAll(filepath.Join(m.DataDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("testenv: matchbox: %w", err)
		}
	}
	if err := os.MkdirAll(m.assetsDir, 0o755); err != nil {
		return nil, fmt.Errorf("testenv: matchbox: %w", err)
	}
	// A port found free can be taken before matchbox binds it: retry.
	for attempt := 0; ; attempt++ {
		if m.HTTP, err = freeTCP(); err != nil {
			return nil, err
		}
		if m.RPC, err = freeTCP(); err != nil {
			return nil, err
		}
		err = m.Start(ctx)
		if err == nil {
			return m, nil
		}
		if attempt == 2 || ctx.Err() != nil {
			return nil, err
		}
	}
}

func freeTCP() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("testenv: free port: %w", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// HTTPEndpoint is "http://" + HTTP, the spec's matchbox.httpEndpoint.
func (m *Matchbox) HTTPEndpoint() string { return "http://" + m.HTTP }

// Start runs matchbox (again, after Stop) on the same ports and data dir
// and waits until it is ready.
func (m *Matchbox) Start(ctx context.Context) error {
	logf, err := os.OpenFile(m.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testenv: matchbox: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(m.bin,
		"-address", m.HTTP,
		"-rpc-address", m.RPC,
		"-data-path", m.DataDir,
		"-assets-path", m.assetsDir,
		"-ca-file", m.TLS.CA,
		"-cert-file", m.TLS.ServerCert,
		"-key-file", m.TLS.ServerKey,
		"-log-level", "debug",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: a killed test binary or demo leaves no matchbox behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testenv: start matchbox: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			m.Stop()
			return fmt.Errorf("testenv: matchbox exited at start:\n%s", tail(m.LogFile, 2000))
		case <-ctx.Done():
			m.Stop()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if m.ready(ctx) {
			return nil
		}
		if time.Now().After(deadline) {
			m.Stop()
			return fmt.Errorf("testenv: matchbox not ready after 15s:\n%s", tail(m.LogFile, 2000))
		}
	}
}

func (m *Matchbox) ready(ctx context.Context) bool {
	if code, _, err := m.Get(ctx, "/"); err != nil || code == 0 {
		return false
	}
	c, err := net.DialTimeout("tcp", m.RPC, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Get fetches path from the HTTP API and returns the status and body.
func (m *Matchbox) Get(ctx context.Context, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.HTTP+path, nil)
	if err != nil {
		return 0, "", fmt.Errorf("matchbox GET %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("matchbox GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("matchbox GET %s: read body: %w", path, err)
	}
	return resp.StatusCode, string(b), nil
}

// Stop ends matchbox (SIGTERM, then SIGKILL after 5s) and waits for it.
func (m *Matchbox) Stop() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Close stops matchbox; its files stay in the directory.
func (m *Matchbox) Close() error {
	m.Stop()
	return nil
}

// Log returns the end of matchbox's output (at most n bytes).
func (m *Matchbox) Log(n int) string { return tail(m.LogFile, n) }

// tail returns the last n bytes of a file, or why it cannot.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no " + filepath.Base(path) + ")"
		}
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
