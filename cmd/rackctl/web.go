package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/pflag"
)

// webFlags are the web view's settings, shared by watch and serve.
type webFlags struct {
	approveTokenFile string
	tlsCertFile      string
	tlsKeyFile       string
}

// registerWebFlags registers the flags of watch's web view.
func registerWebFlags(f *pflag.FlagSet, wf *webFlags) {
	f.StringVar(&wf.approveTokenFile, "approve-token-file", "", "file holding the token the web view's approve action requires (without it the page is read-only)")
	registerTLSFlags(f, wf)
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
