package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/notify"
)

// hookServer is a webhook receiver on loopback answering code; it keeps
// each body with its signature header.
type hookServer struct {
	*httptest.Server
	got chan [2]string // body, signature
}

func newHookServer(t *testing.T, code int) *hookServer {
	t.Helper()
	h := &hookServer{got: make(chan [2]string, 10)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.got <- [2]string{string(b), r.Header.Get(notify.SignatureHeader)}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

// secretFile writes content to a 0600 file and returns its path.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// notifyConfig is a config with a signed webhook "hook" and a command
// "log" that writes its stdin to out.
func notifyConfig(t *testing.T, root, hookURL, out string) {
	t.Helper()
	writeConfig(t, root, `apiVersion: rackctl/v1alpha1
kind: Config
notifications:
  - name: hook
    kind: webhook
    urlFile: `+secretFile(t, hookURL)+`
    secretFile: `+secretFile(t, "hook-key")+`
  - name: log
    kind: command
    command: [sh, -c, 'cat > "$0"', `+out+`]
`)
}

// TestNotifyTestCmd: `rackctl notify test` sends a signed test event to
// the webhook and the command, --target picks one, an unknown target and
// a failing one exit 1.
func TestNotifyTestCmd(t *testing.T) {
	hook := newHookServer(t, http.StatusOK)
	root, out := t.TempDir(), filepath.Join(t.TempDir(), "event.json")
	notifyConfig(t, root, hook.URL+"/secret-path-Zq81", out)

	r := cli(t, "notify", "test", "--root", root)
	if r.code != 0 || !strings.Contains(r.stdout, "hook") || !strings.Contains(r.stdout, "log") || strings.Count(r.stdout, "sent") != 2 {
		t.Fatalf("notify test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	got := <-hook.got
	if !notify.Verify([]byte("hook-key"), []byte(got[0]), got[1]) {
		t.Errorf("signature %q does not verify the body", got[1])
	}
	var e notify.Event
	if err := json.Unmarshal([]byte(got[0]), &e); err != nil || e.Kind != notify.KindTest || e.Version != notify.FormatVersion {
		t.Errorf("webhook body %s (%v)", got[0], err)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), `"kind":"test"`) {
		t.Errorf("command stdin %s (%v)", b, err)
	}

	os.Remove(out)
	r = cli(t, "notify", "test", "--root", root, "--target", "hook", "-o", "json")
	var res []testResult
	if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil || len(res) != 1 || res[0].Target != "hook" || !res[0].OK {
		t.Errorf("--target hook: exit %d, %+v (%v)\n%s", r.code, res, err, r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("--target hook ran the command target too")
	}
	<-hook.got

	r = cli(t, "notify", "test", "--root", root, "--target", "nope")
	if r.code != 1 || !strings.Contains(r.stderr, "no such notification target") || !strings.Contains(r.stderr, "hook, log") {
		t.Errorf("--target nope: exit %d\n%s", r.code, r.stderr)
	}

	failing := newHookServer(t, http.StatusInternalServerError)
	notifyConfig(t, root, failing.URL+"/secret-path-Zq81", out)
	r = cli(t, "notify", "test", "--root", root)
	if r.code != 1 || !strings.Contains(r.stdout, "failed: post to http://127.0.0.1") || strings.Contains(r.stdout+r.stderr, "secret-path-Zq81") {
		t.Errorf("failing target: exit %d (want 1, the failure without the URL's path)\n%s%s", r.code, r.stdout, r.stderr)
	}

	writeConfig(t, root, "apiVersion: rackctl/v1alpha1\nkind: Config\nnotifications:\n  - name: gone\n    kind: slack\n    urlFile: /nonexistent/slack-url\n")
	for _, args := range [][]string{{"notify", "test"}, append([]string{"watch", "--once", "-f", example, "--listen", ""}, filesOnly...)} {
		r = cli(t, append(args, "--root", root)...)
		if r.code != 1 || !strings.Contains(r.stderr, "notification target gone: url file") || !strings.Contains(r.stderr, "/nonexistent/slack-url") {
			t.Errorf("%v with a missing url file: exit %d\n%s", args, r.code, r.stderr)
		}
	}

	r = cli(t, "notify", "test", "--root", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "no notification targets") {
		t.Errorf("no config: exit %d\n%s", r.code, r.stderr)
	}
}

// TestNotifyConfigInvalid: a bad notifications: section stops commands
// with each problem at file:line:col.
func TestNotifyConfigInvalid(t *testing.T) {
	root := t.TempDir()
	cfg := writeConfig(t, root, `apiVersion: rackctl/v1alpha1
kind: Config
notifications:
  - name: chat
    kind: slack
    url: https://hooks.slack.example/services/T/B/Zq81
  - name: pager
    kind: command
`)
	for _, args := range [][]string{{"notify", "test"}, {"config", "view"}, {"watch", "--once", "-f", example, "--listen", ""}} {
		r := cli(t, append(args, "--root", root)...)
		if r.code != 1 || !strings.Contains(r.stderr, cfg+":6:5: notifications[0].url: inline URLs are not allowed") || strings.Contains(r.stderr, "Zq81") {
			t.Errorf("%v: exit %d, want 1 with the position and without the URL\n%s", args, r.code, r.stderr)
		}
	}
	writeConfig(t, root, "apiVersion: rackctl/v1alpha1\nkind: Config\nnotifications:\n  - name: pager\n    kind: command\n")
	if r := cli(t, "config", "view", "--root", root); r.code != 1 || !strings.Contains(r.stderr, cfg+":4:5: notifications[0]: a command target needs command") {
		t.Errorf("command without argv: exit %d\n%s", r.code, r.stderr)
	}
}

// TestConfigViewNotifications: config view lists the targets with the
// files their URL and key come from, never what the files hold.
func TestConfigViewNotifications(t *testing.T) {
	root := t.TempDir()
	urlFile := secretFile(t, "https://hooks.slack.example/services/T/B/Zq81")
	writeConfig(t, root, "apiVersion: rackctl/v1alpha1\nkind: Config\nnotifications:\n  - name: chat\n    kind: slack\n    urlFile: "+urlFile+"\n    events: [commit.held]\n")
	r := cli(t, "config", "view", "--root", root)
	if r.code != 0 || !strings.Contains(r.stdout, "chat") || !strings.Contains(r.stdout, "URL in "+urlFile+" (not shown)") ||
		!strings.Contains(r.stdout, "commit.held") || strings.Contains(r.stdout, "Zq81") {
		t.Errorf("config view: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	v := viewJSON(t, "--root", root)
	if len(v.Notifications) != 1 || v.Notifications[0].URLFile != urlFile || v.Notifications[0].Timeout != "10s" ||
		!strings.HasSuffix(v.Notifications[0].Where, ":4:5") {
		t.Errorf("config view -o json notifications %+v", v.Notifications)
	}
}

// TestWatchNotifiesRejected: watch --once on an invalid spec sends the
// rejection, with its position, to the command target before it exits.
func TestWatchNotifiesRejected(t *testing.T) {
	hook := newHookServer(t, http.StatusOK)
	root, out := t.TempDir(), filepath.Join(t.TempDir(), "event.json")
	notifyConfig(t, root, hook.URL, out)
	r := cli(t, append([]string{"watch", "--once", "-f", "testdata/bad-mac.yaml", "--root", root, "--listen", ""}, filesOnly...)...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the command target did not run before watch exited: %v", err)
	}
	var e notify.Event
	if err := json.Unmarshal(b, &e); err != nil || e.Kind != notify.KindRejected || e.Rejected == nil ||
		len(e.Rejected.Diagnostics) == 0 || e.Rejected.Diagnostics[0].Line != 14 || e.Rejected.Diagnostics[0].Col != 5 {
		t.Errorf("event %s (%v): want commit.rejected at bad-mac.yaml:14:5", b, err)
	}
	if got := <-hook.got; !strings.Contains(got[0], `"commit.rejected"`) {
		t.Errorf("webhook got %s", got[0])
	}
}
