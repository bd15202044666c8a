package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLSFiles are the PEM files of a throwaway CA, matchbox's server
// certificate (for 127.0.0.1) and a client certificate for the terraform
// provider.
type TLSFiles struct {
	CA, ServerCert, ServerKey string
	// ClientDir holds ca.crt, client.crt and client.key: the names the
	// rendered flatcar.tf reads from matchbox.clientCertDir.
	ClientDir string
}

// WriteTLS generates the certificates: server files under dir/server,
// the client's under dir/matchbox-client. Keys are 0600.
func WriteTLS(dir string) (TLSFiles, error) {
	srvDir, cliDir := filepath.Join(dir, "server"), filepath.Join(dir, "matchbox-client")
	for _, d := range []string{srvDir, cliDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return TLSFiles{}, fmt.Errorf("testenv: tls: %w", err)
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TLSFiles{}, fmt.Errorf("testenv: tls: generate key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rackctl test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return TLSFiles{}, fmt.Errorf("testenv: tls: create CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return TLSFiles{}, fmt.Errorf("testenv: tls: %w", err)
	}
	write := func(p, typ string, der []byte) error {
		return os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP, certPath, keyPath string) error {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(7 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			return err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return err
		}
		if err := write(certPath, "CERTIFICATE", der); err != nil {
			return err
		}
		return write(keyPath, "PRIVATE KEY", kder)
	}
	f := TLSFiles{
		CA:         filepath.Join(srvDir, "ca.crt"),
		ServerCert: filepath.Join(srvDir, "server.crt"),
		ServerKey:  filepath.Join(srvDir, "server.key"),
		ClientDir:  cliDir,
	}
	for _, p := range []string{f.CA, filepath.Join(cliDir, "ca.crt")} {
		if err := write(p, "CERTIFICATE", caDER); err != nil {
			return TLSFiles{}, fmt.Errorf("testenv: tls: %w", err)
		}
	}
	if err := leaf(2, "matchbox", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}, f.ServerCert, f.ServerKey); err != nil {
		return TLSFiles{}, fmt.Errorf("testenv: tls: server certificate: %w", err)
	}
	if err := leaf(3, "rackctl", x509.ExtKeyUsageClientAuth, nil, filepath.Join(cliDir, "client.crt"), filepath.Join(cliDir, "client.key")); err != nil {
		return TLSFiles{}, fmt.Errorf("testenv: tls: client certificate: %w", err)
	}
	return f, nil
}

// CopyClientCerts copies ca.crt, client.crt and client.key from the client
// dir into dst (created 0700), for a matchbox.clientCertDir elsewhere.
func (f TLSFiles) CopyClientCerts(dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("testenv: copy client certs: %w", err)
	}
	for _, n := range []string{"ca.crt", "client.crt", "client.key"} {
		b, err := os.ReadFile(filepath.Join(f.ClientDir, n))
		if err != nil {
			return fmt.Errorf("testenv: copy client certs: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o600); err != nil {
			return fmt.Errorf("testenv: copy client certs: %w", err)
		}
	}
	return nil
}
