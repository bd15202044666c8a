package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/state"
)

// freePort is a loopback address nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// gitHTTPServer serves the bare repositories under dir with the real
// `git http-backend` (smart HTTP) on loopback, behind basic auth.
func gitHTTPServer(t *testing.T, dir, user, password string) *httptest.Server {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is required for this test: install git")
	}
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"}, Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// noSecretUnder fails when any file under dir holds secret, or when
// someFiles and there is no file to check.
func noSecretUnder(t *testing.T, dir, secret string, someFiles bool) {
	t.Helper()
	checked := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			return nil
		}
		checked++
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the repository password", p)
		}
		return nil
	})
	if checked == 0 && someFiles {
		t.Errorf("nothing under %s to check", dir)
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The password of a --repo URL reaches no log line, error, record, metric
// or file of the state dir, whether the fetch works or fails.
func TestWatchRedactsRepoPassword(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	spec, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	repo := testenv.NewGitRepo(t)
	c1 := repo.Commit(string(spec), "spec")
	srvDir := t.TempDir()
	repo.Git("clone", "-q", "--bare", repo.Dir, filepath.Join(srvDir, "x.git"))
	srv := gitHTTPServer(t, srvDir, "bot", secret)
	host := strings.TrimPrefix(srv.URL, "http://")
	url := "http://bot:" + secret + "@" + host + "/x.git"

	root := t.TempDir()
	stateDir := filepath.Join(root, "var/lib/rackctl")
	listen := freePort(t)
	var out, errb syncBuffer
	g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := append([]string{"watch", "--repo", url, "--root", root, "--interval", "100ms", "--listen", listen, "--log-level", "debug"}, filesOnly...)
	done := make(chan int, 1)
	go func() { done <- execute(ctx, g, args) }()
	waitFor(t, "the commit applied over HTTP", func() bool { return historyHas(t, stateDir, c1) })
	var scraped string
	// The metric is set just after the history record is written.
	waitFor(t, "the applied commit in /metrics", func() bool {
		scraped = getBody(t, "http://"+listen+"/metrics")
		return strings.Contains(scraped, "rackctl_watch_last_applied_info")
	})
	scraped += getBody(t, "http://"+listen+"/healthz")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch exit %d\nstderr: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "bot:xxxxx@"+host) || !strings.Contains(errb.String(), "--repo-password-file") {
		t.Errorf("the log does not name the repository (redacted) or does not warn of the password in argv:\n%s", errb.String())
	}

	t.Run("password from a file", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		froot := t.TempDir()
		r := cli(t, append([]string{"watch", "--once", "--root", froot, "--listen", "", "--repo", "http://bot@" + host + "/x.git", "--repo-password-file", pw}, filesOnly...)...)
		if r.code != 0 || !historyHas(t, filepath.Join(froot, "var/lib/rackctl"), c1) {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("output holds the password:\n%s%s", r.stdout, r.stderr)
		}
		noSecretUnder(t, filepath.Join(froot, "var/lib/rackctl"), secret, true)
		if r := cli(t, "watch", "--once", "--root", froot, "--listen", "", "--repo", "ssh://git@"+host+"/x.git", "--repo-password-file", pw); r.code != 1 || !strings.Contains(r.stderr, "http") {
			t.Errorf("ssh URL with --repo-password-file: exit %d\nstderr: %s", r.code, r.stderr)
		}
	})

	// Failures: a repository the server does not have, a dead port, a
	// bad branch name; each quotes the URL somewhere on its way.
	dead := freePort(t)
	fails := map[string][]string{
		"missing repository": {"--repo", "http://bot:" + secret + "@" + host + "/missing.git"},
		"dead port":          {"--repo", "http://bot:" + secret + "@" + dead + "/x.git"},
		"bad branch":         {"--repo", url, "--branch", "a..b"},
		"token as user":      {"--repo", "http://" + secret + "@" + dead + "/x.git"},
	}
	for name, extra := range fails {
		t.Run(name, func(t *testing.T) {
			froot := t.TempDir()
			r := cli(t, append(append([]string{"watch", "--once", "--root", froot, "--listen", "", "--fetch-timeout", "5s", "--log-level", "debug"}, extra...), filesOnly...)...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("output holds the password:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(froot, "var/lib/rackctl")); err == nil {
				noSecretUnder(t, filepath.Join(froot, "var/lib/rackctl"), secret, false)
			}
		})
	}

	for what, text := range map[string]string{"stdout": out.String(), "stderr": errb.String(), "metrics and healthz": scraped} {
		if strings.Contains(text, secret) {
			t.Errorf("%s holds the password:\n%s", what, text)
		}
	}
	if evs, err := state.New(stateDir).ReadWatchEvents(); err != nil || len(evs) == 0 {
		t.Errorf("watch events: %v, %d records", err, len(evs))
	}
	noSecretUnder(t, stateDir, secret, true) // history.jsonl, watch-events.jsonl, the clone's config
}

func hubSignature(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// The HTTP server of watch: a client that sends its body slowly is cut off
// after --http-timeout; POST /webhook with --webhook-secret-file needs the
// body's HMAC (GitHub/Flux style): a missing or bad one is refused with
// 401 and fetches nothing, a good one fetches at once.
func TestWatchHTTPServer(t *testing.T) {
	spec, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	repo := testenv.NewGitRepo(t)
	c1 := repo.Commit(string(spec), "spec")
	secretFile := filepath.Join(t.TempDir(), "webhook")
	if err := os.WriteFile(secretFile, []byte("hook-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	stateDir := filepath.Join(root, "var/lib/rackctl")
	listen := freePort(t)
	var out, errb syncBuffer
	g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A fetch interval of an hour: only the webhook makes the loop fetch.
	args := append([]string{"watch", "--repo", repo.Dir, "--root", root, "--interval", "1h", "--listen", listen,
		"--http-timeout", "500ms", "--webhook-secret-file", secretFile}, filesOnly...)
	done := make(chan int, 1)
	go func() { done <- execute(ctx, g, args) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, "the first commit applied", func() bool { return historyHas(t, stateDir, c1) })

	t.Run("slow body is cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\n{", listen)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(conn) // returns when the server closes
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %s", time.Since(start))
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("closed after %s, want about --http-timeout", took)
		}
	})

	body := `{"ref":"refs/heads/main"}`
	post := func(header, value string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+listen+"/webhook", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	c2 := repo.Commit(strings.Replace(string(spec), "metadata.node-type: storage", "metadata.node-type: gpu", 1), "spec")
	refused := map[string][2]string{
		"missing signature":       {"", ""},
		"signature, wrong key":    {"X-Hub-Signature-256", hubSignature("other", body)},
		"signature of other body": {"X-Hub-Signature-256", hubSignature("hook-s3cret", body+" ")},
		"gitlab token, wrong":     {"X-Gitlab-Token", "hook-s3cre"},
	}
	for name, h := range refused {
		if code := post(h[0], h[1]); code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, code)
		}
	}
	time.Sleep(time.Second)
	if historyHas(t, stateDir, c2) {
		t.Fatal("a refused webhook made the loop fetch and apply")
	}
	if code := post("X-Hub-Signature-256", hubSignature("hook-s3cret", body)); code != http.StatusAccepted {
		t.Fatalf("good signature: status %d, want 202", code)
	}
	waitFor(t, "the commit the webhook announced applied", func() bool { return historyHas(t, stateDir, c2) })
}

func TestLoopbackOnly(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:9747": true, "[::1]:9747": true, "localhost:9747": true, "127.1.2.3:0": true,
		"0.0.0.0:9747": false, "[::]:9747": false, ":9747": false, "10.0.0.1:9747": false, "mgmt.example.com:9747": false, "garbage": false,
	}
	for addr, want := range tests {
		if got := loopbackOnly(addr); got != want {
			t.Errorf("loopbackOnly(%q) = %v, want %v", addr, got, want)
		}
	}
}
