package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/internal/simrack"
)

// serve shows a rack without watch: node states observed from real
// ipmi_sim BMCs, no loop (watch null), the plan the spec would make —
// without running the provisioner, though the flags would let it — and a
// read-only page whose approve is refused.
func TestServeReadOnly(t *testing.T) {
	const password = "s3cret-sim-pass"
	sims := simrack.StartT(t, simrack.Options{N: 2, Password: password})
	root := t.TempDir()
	spec := simSpec(t, root, "admin", password, sims.BMCs)
	listen := freePort(t)
	startRackctl(t, "serve", "-f", spec, "--root", root, "--listen", listen, "--timeout", "10s",
		"--status-interval", "1h", "--dhcp=none", "--provisioner-run=auto", "--verify=none")
	var doc api.RackStatus
	waitFor(t, "the nodes observed", func() bool {
		var ok bool
		doc, ok = tryAPIStatus(listen)
		return ok && doc.Observation.State == api.ObservationObserved
	})
	if doc.Watch != nil || doc.Rack != "sim" || len(doc.Nodes) != 2 || doc.Nodes[0].State != api.StateOff {
		t.Errorf("watch %+v rack %q nodes %+v: want no loop, sim, two nodes off (ipmi_sim starts off)", doc.Watch, doc.Rack, doc.Nodes)
	}
	var plan api.PlanDoc
	waitFor(t, "the plan", func() bool {
		if err := json.Unmarshal([]byte(getBody(t, "http://"+listen+"/api/plan")), &plan); err != nil {
			t.Fatal(err)
		}
		return plan.State != api.PlanPending
	})
	if plan.State != api.PlanPlanned || plan.Plan == nil || !plan.Plan.Disruption.Disruptive {
		t.Fatalf("plan %s %q: want planned, disruptive (nothing installed yet)", plan.State, plan.Error)
	}
	if notes := strings.Join(plan.Plan.Notes, "\n"); !strings.Contains(notes, "provisioner not run (--provisioner-run=never)") {
		t.Errorf("plan notes %q: want the provisioner run left out", notes)
	}
	if page := getBody(t, "http://"+listen+"/"); !strings.Contains(page, serveReadOnly) || strings.Contains(page, `id="token"`) {
		t.Errorf("the page is not read-only:\n%s", page)
	}
	resp, err := http.Post("http://"+listen+"/api/approve", "application/json", strings.NewReader(`{"commit":"abcdef1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("approve through serve: %d, want 403", resp.StatusCode)
	}
	if h := getBody(t, "http://"+listen+"/api/history"); !strings.Contains(h, `"entries": []`) {
		t.Errorf("history of a rack never applied: %s", h)
	}
}

// With a certificate the listener speaks TLS only; a certificate without
// its key is refused before anything is served.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	if r := cli(t, "serve", "-f", "../../spec-examples/flatcar.yaml", "--root", t.TempDir(), "--listen", freePort(t), "--tls-cert-file", certFile); r.code != 1 ||
		!strings.Contains(r.stderr, "--tls-cert-file and --tls-key-file go together") {
		t.Errorf("a certificate without a key: exit %d\n%s", r.code, r.stderr)
	}
	listen := freePort(t)
	errb := startRackctl(t, "serve", "-f", "../../spec-examples/flatcar.yaml", "--root", t.TempDir(), "--listen", listen,
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--status-interval", "1h", "--dhcp=none", "--bmc=none",
		"--provisioner-run=never", "--verify=none")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	waitFor(t, "the HTTPS listener", func() bool {
		var err error
		resp, err = client.Get("https://" + listen + "/api/status")
		return err == nil
	})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("GET over TLS: %d", resp.StatusCode)
	}
	if plain, err := http.Get("http://" + listen + "/api/status"); err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered on a TLS listener")
		}
	}
	if !strings.Contains(errb.String(), "url=https://"+listen+"/") {
		t.Errorf("the start log does not give the https URL:\n%s", errb.String())
	}
}

// On a wildcard address without TLS, serve says so at start.
func TestServeNonLoopbackWarns(t *testing.T) {
	_, port, _ := net.SplitHostPort(freePort(t))
	errb := startRackctl(t, "serve", "-f", "../../spec-examples/flatcar.yaml", "--root", t.TempDir(), "--listen", "0.0.0.0:"+port,
		"--status-interval", "1h", "--dhcp=none", "--bmc=none", "--provisioner-run=never", "--verify=none")
	waitFor(t, "the start log", func() bool { return strings.Contains(errb.String(), "serving the web view") })
	if s := errb.String(); !strings.Contains(s, "is not a loopback address and serves plain HTTP") || !strings.Contains(s, "--tls-cert-file") {
		t.Errorf("no warning naming the fix:\n%s", s)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key; pool trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rackctl test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
