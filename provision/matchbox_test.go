package provision

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tlsFiles are the PEM files of a test CA, matchbox's server certificate
// and the Terraform provider's client certificate.
type tlsFiles struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// writeTLS generates a CA, a server certificate for 127.0.0.1 and a client
// certificate, and writes them as PEM files under dir.
func writeTLS(t *testing.T, dir string) tlsFiles {
	t.Helper()
	now := time.Now()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatalf("generate key: %v", err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatalf("marshal key: %v", err)
		}
		return write(name, "PRIVATE KEY", der)
	}

	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rackctl test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatalf("create %s certificate: %v", cn, err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, "matchbox", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cliDER, cliKey := leaf(3, "rackctl", x509.ExtKeyUsageClientAuth, nil)
	return tlsFiles{
		CA:         write("ca.crt", "CERTIFICATE", caDER),
		ServerCert: write("server.crt", "CERTIFICATE", srvDER),
		ServerKey:  writeKey("server.key", srvKey),
		ClientCert: write("client.crt", "CERTIFICATE", cliDER),
		ClientKey:  writeKey("client.key", cliKey),
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// matchbox is a real matchbox server on loopback.
type matchbox struct {
	t        *testing.T
	bin      string
	httpAddr string
	rpcAddr  string
	dataDir  string
	tls      tlsFiles

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *bytes.Buffer
}

func startMatchbox(t *testing.T, bin string, tls tlsFiles) *matchbox {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"profiles", "groups", "ignition", "cloud", "generic"} {
		if err := os.MkdirAll(filepath.Join(dir, "data", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &matchbox{
		t:        t,
		bin:      bin,
		httpAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		rpcAddr:  "127.0.0.1:" + strconv.Itoa(freePort(t)),
		dataDir:  dir,
		tls:      tls,
		out:      new(bytes.Buffer),
	}
	m.start()
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("matchbox output:\n%s", m.output())
		}
	})
	return m
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (m *matchbox) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.String()
}

// start runs matchbox with the same addresses and data dir as before and
// waits until it serves HTTP and accepts gRPC connections.
func (m *matchbox) start() {
	m.t.Helper()
	cmd := exec.Command(m.bin,
		"-address", m.httpAddr,
		"-rpc-address", m.rpcAddr,
		"-data-path", filepath.Join(m.dataDir, "data"),
		"-assets-path", filepath.Join(m.dataDir, "assets"),
		"-ca-file", m.tls.CA,
		"-cert-file", m.tls.ServerCert,
		"-key-file", m.tls.ServerKey,
		"-log-level", "debug",
	)
	w := lockedWriter{&m.mu, m.out}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start matchbox: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			m.t.Fatalf("matchbox exited at start:\n%s", m.output())
		default:
		}
		resp, err := http.Get("http://" + m.httpAddr + "/")
		if err == nil {
			resp.Body.Close()
			if c, err := net.DialTimeout("tcp", m.rpcAddr, time.Second); err == nil {
				c.Close()
				return
			}
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("matchbox not ready after 10s:\n%s", m.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends matchbox (SIGTERM, then SIGKILL) and waits for it.
func (m *matchbox) stop() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// get fetches path from matchbox's HTTP API; it fails the test on a
// transport error and returns the status and body.
func (m *matchbox) get(ctx context.Context, path string) (int, string) {
	m.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.httpAddr+path, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		m.t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func (m *matchbox) String() string {
	return fmt.Sprintf("matchbox http=%s rpc=%s", m.httpAddr, m.rpcAddr)
}
