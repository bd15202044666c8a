package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/pflag"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/fleet"
)

// webFlags are the web view's settings, shared by watch and serve.
type webFlags struct {
	approveTokenFile string
	tlsCertFile      string
	tlsKeyFile       string
	fleetEndpoints   string
	fleetTimeout     time.Duration
}

// registerWebFlags registers the flags of watch's web view.
func registerWebFlags(f *pflag.FlagSet, wf *webFlags) {
	f.StringVar(&wf.approveTokenFile, "approve-token-file", "", "file holding the token the web view's approve action requires (without it the page is read-only)")
	registerTLSFlags(f, wf)
	registerFleetFlags(f, wf)
}

// registerFleetFlags registers the fleet page's flags (watch and serve).
func registerFleetFlags(f *pflag.FlagSet, wf *webFlags) {
	f.StringVar(&wf.fleetEndpoints, "fleet-endpoints", "", "endpoints file of the racks the web view's fleet page shows (docs/fleet.md); without it there is no fleet page")
	f.DurationVar(&wf.fleetTimeout, "fleet-timeout", api.DefaultFleetTimeout, "longest the fleet page waits for one rack's GET /api/status")
}

// fleet is the fleet page's GET /api/fleet over --fleet-endpoints; nil
// without it.
func (wf webFlags) fleet(ctx context.Context) (*api.Fleet, error) {
	if wf.fleetEndpoints == "" {
		return nil, nil
	}
	if wf.fleetTimeout <= 0 {
		return nil, fmt.Errorf("--fleet-timeout %s: want a positive duration", wf.fleetTimeout)
	}
	eps, err := fleet.LoadEndpoints(ctx, wf.fleetEndpoints)
	if err != nil {
		return nil, fmt.Errorf("--fleet-endpoints (web.fleetEndpoints): %w", err)
	}
	return api.NewFleet(api.FleetConfig{Query: fleet.APIQuery(&http.Client{}, eps, wf.fleetTimeout),
		Timeout: wf.fleetTimeout, CacheFor: api.DefaultFleetCache}), nil
}

// registerTLSFlags registers the listener's TLS flags alone (serve's page
// is read-only: it has no loop to release a commit to).
func registerTLSFlags(f *pflag.FlagSet, wf *webFlags) {
	f.StringVar(&wf.tlsCertFile, "tls-cert-file", "", "serve --listen over HTTPS with this PEM certificate (with --tls-key-file)")
	f.StringVar(&wf.tlsKeyFile, "tls-key-file", "", "the PEM private key of --tls-cert-file")
}

// tlsConfig is nil without a certificate.
func (wf webFlags) tlsConfig() (*tls.Config, error) {
	if wf.tlsCertFile == "" && wf.tlsKeyFile == "" {
		return nil, nil
	}
	if wf.tlsCertFile == "" || wf.tlsKeyFile == "" {
		return nil, errors.New("--tls-cert-file and --tls-key-file go together (watch.tlsCertFile, watch.tlsKeyFile): set both, or neither for plain HTTP")
	}
	cert, err := tls.LoadX509KeyPair(wf.tlsCertFile, wf.tlsKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file %s, --tls-key-file %s: %w", wf.tlsCertFile, wf.tlsKeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// approveToken is the token of --approve-token-file; nil when unset.
func (wf webFlags) approveToken() ([]byte, error) {
	if wf.approveTokenFile == "" {
		return nil, nil
	}
	tok, err := readSecretFile(wf.approveTokenFile)
	if err != nil {
		return nil, fmt.Errorf("--approve-token-file: %w", err)
	}
	return tok, nil
}

// listenURL is the page's address for people: a wildcard host is shown as
// loopback, where it is reachable too.
func listenURL(addr string, https bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}
