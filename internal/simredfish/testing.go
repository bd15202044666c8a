package simredfish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"
)

// StartT starts a BMC in t.TempDir() (unless opts.Dir is set) with user
// "admin" and a fixed test password unless given, and closes it in
// t.Cleanup.
func StartT(t testing.TB, opts Options) *BMC {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Password == "" {
		opts.Password = "Passw0rd-sim"
	}
	b, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start simulated Redfish BMC: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Client is an HTTPS client that trusts only the BMC's CA.
func (b *BMC) Client(timeout time.Duration) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.CAPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: tr, Timeout: timeout}
}
