// Package bmctest starts the independent Redfish BMC (tools/redfishmock,
// metal-operator's mock behind an HTTPS front) for the tests of bmc,
// rotate and their callers. It imports nothing of rackctl, so bmc's own
// tests can use it.
package bmctest

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

// The mock is built once per test binary from its own module and started
// per test on a loopback port; t.Cleanup stops it.

var (
	mockBuild    sync.Once
	mockBin      string
	mockBuildErr error
)

func mockBinary(t testing.TB) string {
	t.Helper()
	mockBuild.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(file), "..", "..", "tools", "redfishmock")
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

// RedfishMock is one running mock BMC.
type RedfishMock struct {
	// Addr is its host:port on loopback.
	Addr string
	// Cert is its self-signed certificate (PEM in PEM).
	Cert *x509.Certificate
	PEM  []byte
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
}

// Requests counts the logged requests with this method and path prefix.
func (m *RedfishMock) Requests(method, prefix string) (n int, codes []string) {
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

// StartRedfishMock starts a mock BMC; args are redfishmock's flags
// (-etag-conflicts N, -refuse-login USER, -listen ADDR to take over the
// address of a stopped one).
func StartRedfishMock(t testing.TB, args ...string) *RedfishMock {
	t.Helper()
	bin := mockBinary(t)
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
	m := &RedfishMock{cmd: cmd}
	t.Cleanup(m.Stop)
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
	case m.Addr = <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("redfishmock did not start")
	}
	m.PEM, err = os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(m.PEM)
	if m.Cert, err = x509.ParseCertificate(blk.Bytes); err != nil {
		t.Fatal(err)
	}
	return m
}

// WaitRequests is Requests once it counts want, or after a second: the
// log arrives through a pipe, after the answer.
func (m *RedfishMock) WaitRequests(method, prefix string, want int) (n int, codes []string) {
	deadline := time.Now().Add(time.Second)
	for {
		n, codes = m.Requests(method, prefix)
		if n >= want || time.Now().After(deadline) {
			return n, codes
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the mock (its state is lost).
func (m *RedfishMock) Stop() {
	if m.cmd.ProcessState == nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
}

// Pool is a CA pool holding the mock's certificate.
func (m *RedfishMock) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(m.Cert)
	return p
}

// Admin is the mock's administrator account (Accounts/2, foo/bar).
const AdminUser, AdminPassword = "foo", "bar"
