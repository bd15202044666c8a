package bmc

import (
	"bufio"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Redfish contract tests run against metal-operator's mock BMC (an
// independent implementation, tools/redfishmock), built once per test
// binary from its own module and started per test on a loopback port.

var (
	mockBuild    sync.Once
	mockBin      string
	mockBuildErr error
)

func redfishMockBinary(t *testing.T) string {
	t.Helper()
	mockBuild.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(file), "..", "tools", "redfishmock")
		dir, err := os.MkdirTemp("", "redfishmock")
		if err != nil {
			mockBuildErr = err
			return
		}
		mockBin = filepath.Join(dir, "redfishmock")
		cmd := exec.Command("go", "build", "-o", mockBin, ".")
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			mockBuildErr = err
			mockBin = string(out)
		}
	})
	if mockBuildErr != nil {
		t.Fatalf("build tools/redfishmock: %v\n%s", mockBuildErr, mockBin)
	}
	return mockBin
}

type redfishMock struct {
	addr string
	cert *x509.Certificate
	pem  []byte
	mu   sync.Mutex
	log  []string
}

// requests counts the logged requests with this method and path prefix.
func (m *redfishMock) requests(method, prefix string) (n int, codes []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.log {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "REQ" && f[1] == method && strings.HasPrefix(f[2], prefix) {
			n++
			codes = append(codes, f[3])
		}
	}
	return n, codes
}

func startRedfishMock(t *testing.T, args ...string) *redfishMock {
	t.Helper()
	bin := redfishMockBinary(t)
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0", "-cert", certFile}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	m := &redfishMock{}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "LISTEN "); ok {
				ready <- a
				continue
			}
			m.mu.Lock()
			m.log = append(m.log, line)
			m.mu.Unlock()
		}
	}()
	select {
	case m.addr = <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("redfishmock did not start")
	}
	m.pem, err = os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(m.pem)
	if m.cert, err = x509.ParseCertificate(blk.Bytes); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *redfishMock) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(m.cert)
	return p
}

func (m *redfishMock) target(node string) Target {
	return Target{Node: node, Address: m.addr, Protocol: ProtocolRedfish}
}

// mockAdmin is the mock's administrator account (Accounts/2).
var mockAdmin = Credentials{User: "foo", Password: "bar"}
