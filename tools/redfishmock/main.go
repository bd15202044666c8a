// Command redfishmock serves github.com/ironcore-dev/metal-operator's
// Redfish mock BMC (bmc/mock/server, v0.6.1) over HTTPS on a loopback port,
// as an independent server for the contract tests of rackctl's Redfish
// driver. It lives in its own module: the mock pins a gofish that bmclib
// v2.3.4 cannot compile against, so it must never enter rackctl's go.mod.
//
// The mock speaks plain HTTP with Basic auth only; this front adds what a
// real BMC has and the mock lacks, and nothing else:
//   - TLS with a fresh self-signed certificate (written to -cert as PEM, so
//     a test can pin it as CA or by fingerprint);
//   - SessionService: POST .../Sessions checks the login against the mock
//     and answers X-Auth-Token; requests with the token are forwarded with
//     the session's Basic auth; DELETE ends the session;
//   - disabled accounts are refused (the mock logs them in);
//   - ETags: GET answers carry one (a digest of the body); a PATCH whose
//     If-Match differs from the resource's current ETag gets 412, and
//     -etag-conflicts N answers the first N PATCHes with 412 regardless;
//   - account passwords are dropped from GET answers (the mock echoes them;
//     real BMCs answer null);
//   - -refuse-login USER refuses that user's logins (a BMC that stores an
//     account but does not let it in).
//
// Every request is logged to stdout as "REQ METHOD PATH STATUS", the first
// line is "LISTEN host:port".
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/ironcore-dev/metal-operator/bmc/mock/server"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "HTTPS address to serve on (loopback)")
	certFile := flag.String("cert", "", "write the server's self-signed certificate (PEM) here")
	conflicts := flag.Int("etag-conflicts", 0, "answer the first N PATCH requests with 412 Precondition Failed")
	refuse := flag.String("refuse-login", "", "refuse every login of this user name (a BMC that does not take a new account)")
	flag.Parse()

	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	innerAddr := inner.Addr().String()
	inner.Close()
	mock := server.NewMockServer(logr.Discard(), innerAddr, server.WithAuth())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go mock.Start(ctx)
	waitFor(innerAddr)

	cert, der, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	if *certFile != "" {
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if err := os.WriteFile(*certFile, pemBytes, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	f := &front{inner: "http://" + innerAddr, sessions: map[string]session{}, conflicts: *conflicts, refuse: *refuse}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	srv := &http.Server{Handler: f, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func waitFor(addr string) {
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	log.Fatalf("mock did not start on %s", addr)
}

func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "redfishmock"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, nil
}

type session struct{ user, pass string }

type front struct {
	inner     string
	mu        sync.Mutex
	sessions  map[string]session
	conflicts int
	refuse    string
}

const sessionsPath = "/redfish/v1/SessionService/Sessions"

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	f.serve(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
	fmt.Printf("REQ %s %s %d\n", r.Method, r.URL.Path, rec.Code)
}

func (f *front) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/redfish/v1" || path == "/redfish":
		f.forward(w, r, session{})
		return
	case r.Method == http.MethodPost && path == sessionsPath:
		f.login(w, r)
		return
	}
	s, ok := f.auth(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="redfish"`)
		redfishError(w, http.StatusUnauthorized, "Base.1.8.NoValidSession", "no valid session or credentials")
		return
	}
	if strings.HasPrefix(path, sessionsPath+"/") {
		f.sessionResource(w, r, path)
		return
	}
	if r.Method == http.MethodPatch && !f.etagOK(r, s) {
		redfishError(w, http.StatusPreconditionFailed, "Base.1.8.PreconditionFailed", "the ETag supplied did not match the ETag required to change this resource")
		return
	}
	f.forward(w, r, s)
}

func (f *front) login(w http.ResponseWriter, r *http.Request) {
	var body struct{ UserName, Password string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		redfishError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "malformed session request")
		return
	}
	s := session{body.UserName, body.Password}
	if !f.valid(s) {
		redfishError(w, http.StatusUnauthorized, "Base.1.8.ResourceAtUriUnauthorized", "login refused")
		return
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	id := hex.EncodeToString(tok[:8])
	f.mu.Lock()
	f.sessions[hex.EncodeToString(tok)] = s
	f.sessions["id:"+id] = s
	f.mu.Unlock()
	w.Header().Set("X-Auth-Token", hex.EncodeToString(tok))
	w.Header().Set("Location", sessionsPath+"/"+id)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"@odata.id": sessionsPath + "/" + id, "Id": id, "UserName": s.user})
}

func (f *front) sessionResource(w http.ResponseWriter, r *http.Request, path string) {
	id := strings.TrimPrefix(path, sessionsPath+"/")
	f.mu.Lock()
	s, ok := f.sessions["id:"+id]
	if ok && r.Method == http.MethodDelete {
		delete(f.sessions, "id:"+id)
		for k, v := range f.sessions {
			if v == s && !strings.HasPrefix(k, "id:") && k == r.Header.Get("X-Auth-Token") {
				delete(f.sessions, k)
			}
		}
	}
	f.mu.Unlock()
	if !ok {
		redfishError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "no such session")
		return
	}
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"@odata.id": path, "Id": id, "UserName": s.user})
}

func (f *front) auth(r *http.Request) (session, bool) {
	if tok := r.Header.Get("X-Auth-Token"); tok != "" {
		f.mu.Lock()
		s, ok := f.sessions[tok]
		f.mu.Unlock()
		return s, ok && !strings.HasPrefix(tok, "id:")
	}
	u, p, ok := r.BasicAuth()
	if !ok {
		return session{}, false
	}
	s := session{u, p}
	return s, f.valid(s)
}

// valid: the mock accepts the password and the account is enabled.
func (f *front) valid(s session) bool {
	if s.user == "" || s.user == f.refuse {
		return false
	}
	resp, body := f.get("/redfish/v1/AccountService/Accounts", s)
	if resp == nil || resp.StatusCode != http.StatusOK {
		return false
	}
	var coll struct {
		Members []struct {
			ID string `json:"@odata.id"`
		}
	}
	json.Unmarshal(body, &coll)
	for _, m := range coll.Members {
		_, b := f.get(m.ID, s)
		var acct struct {
			UserName string
			Enabled  bool
		}
		json.Unmarshal(b, &acct)
		if acct.UserName == s.user {
			return acct.Enabled
		}
	}
	return false
}

func (f *front) get(path string, s session) (*http.Response, []byte) {
	req, _ := http.NewRequest(http.MethodGet, f.inner+path, nil)
	req.SetBasicAuth(s.user, s.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `W/"` + hex.EncodeToString(sum[:8]) + `"`
}

func (f *front) etagOK(r *http.Request, s session) bool {
	f.mu.Lock()
	forced := f.conflicts > 0
	if forced {
		f.conflicts--
	}
	f.mu.Unlock()
	if forced {
		return false
	}
	want := r.Header.Get("If-Match")
	if want == "" || want == "*" {
		return true
	}
	_, body := f.get(r.URL.Path, s)
	return etag(scrub(body)) == want
}

// scrub drops "Password" from an answer, as real BMCs do not echo it.
func scrub(body []byte) []byte {
	if !bytes.Contains(body, []byte(`"Password"`)) {
		return body
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	delete(m, "Password")
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

func (f *front) forward(w http.ResponseWriter, r *http.Request, s session) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req, _ := http.NewRequest(r.Method, f.inner+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	if s.user != "" {
		req.SetBasicAuth(s.user, s.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		redfishError(w, http.StatusBadGateway, "Base.1.8.InternalError", err.Error())
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	for k, v := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	if r.Method == http.MethodGet && resp.StatusCode == http.StatusOK {
		out = scrub(out)
		w.Header().Set("ETag", etag(out))
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

func redfishError(w http.ResponseWriter, code int, id, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": id, "message": msg,
		"@Message.ExtendedInfo": []map[string]string{{"MessageId": id, "Message": msg}},
	}})
}
