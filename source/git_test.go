package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

const gitWait = 10 * time.Second

// testRepo is a bare "remote" and a working clone, driven by the git CLI.
type testRepo struct {
	t    *testing.T
	bare string
	work string
	env  []string
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is required by this test but not installed: %v", name, err)
	}
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	needTool(t, "git")
	root := t.TempDir()
	r := &testRepo{
		t:    t,
		bare: filepath.Join(root, "remote.git"),
		work: filepath.Join(root, "work"),
		env: append(os.Environ(),
			"HOME="+root, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=Ada Author", "GIT_AUTHOR_EMAIL=ada@example.com",
			"GIT_COMMITTER_NAME=Ada Author", "GIT_COMMITTER_EMAIL=ada@example.com",
		),
	}
	r.git(root, "init", "-q", "--bare", "-b", "main", r.bare)
	r.git(root, "clone", "-q", r.bare, r.work)
	r.git(r.work, "checkout", "-q", "-b", "main")
	return r
}

func (r *testRepo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, r.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes rack.yaml, commits with the CLI (extra args such as -S go
// to git commit; git -c options go in cfg) and pushes; it returns the hash.
func (r *testRepo) commit(content, msg string, cfg []string, extra ...string) string {
	r.t.Helper()
	writeFile(r.t, filepath.Join(r.work, "rack.yaml"), content)
	r.git(r.work, "add", "rack.yaml")
	args := append(append([]string{}, cfg...), "commit", "-q", "-m", msg)
	r.git(r.work, append(args, extra...)...)
	return r.push()
}

// commitPGP commits with go-git, signed by e, and pushes.
func (r *testRepo) commitPGP(content, msg string, e *openpgp.Entity) string {
	r.t.Helper()
	writeFile(r.t, filepath.Join(r.work, "rack.yaml"), content)
	repo, err := git.PlainOpen(r.work)
	if err != nil {
		r.t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := wt.Add("rack.yaml"); err != nil {
		r.t.Fatal(err)
	}
	sig := &object.Signature{Name: "Pat Signer", Email: "pat@example.com", When: time.Now()}
	if _, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: e}); err != nil {
		r.t.Fatal(err)
	}
	return r.push()
}

func (r *testRepo) push() string {
	r.t.Helper()
	r.git(r.work, "push", "-q", "-f", "origin", "HEAD:main")
	return r.git(r.work, "rev-parse", "HEAD")
}

// source starts a git source on the repo; it returns the source, its events
// and a channel receiving the remote head after each sync.
func (r *testRepo) source(t *testing.T, cfg GitConfig) (*Git, <-chan Event, <-chan string) {
	t.Helper()
	cfg.URL = r.bare
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "clone")
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour // only the first sync and Trigger fetch
	}
	cfg.Log = testLog(t)
	g, err := NewGit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	synced := make(chan string, 64)
	g.afterSync = func(head string) { synced <- head }
	return g, start(t, g), synced
}

func waitSync(t *testing.T, synced <-chan string) string {
	t.Helper()
	select {
	case h := <-synced:
		return h
	case <-time.After(gitWait):
		t.Fatal("no sync within", gitWait)
		return ""
	}
}

func TestGitFollow(t *testing.T) {
	r := newTestRepo(t)
	c1 := r.commit("v1\n", "first", nil)

	g, ch, synced := r.source(t, GitConfig{})
	rev := nextRevision(t, ch, gitWait)
	want := Revision{Commit: c1, Author: "Ada Author", AuthorEmail: "ada@example.com", Message: "first\n", Spec: []byte("v1\n"), Path: "rack.yaml"}
	rev.Time = time.Time{}
	if !revEqual(*rev, want) {
		t.Fatalf("revision %+v, want %+v", *rev, want)
	}
	waitSync(t, synced)

	// No new commit: the sync skips and sends nothing.
	g.Trigger()
	waitSync(t, synced)
	none(t, ch, 50*time.Millisecond)

	// On demand: a commit then Trigger is fetched at once.
	begin := time.Now()
	c2 := r.commit("v2\n", "second", nil)
	pushed := time.Now()
	g.Trigger()
	rev = nextRevision(t, ch, gitWait)
	if rev.Commit != c2 || string(rev.Spec) != "v2\n" {
		t.Fatalf("got %s %q, want %s v2", rev.Commit, rev.Spec, c2)
	}
	t.Logf("LATENCY git trigger: push→event %s, commit start→event %s",
		time.Since(pushed).Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))

	// By interval, on a second source with a short interval.
	_, ch2, _ := r.source(t, GitConfig{Interval: 100 * time.Millisecond})
	if rev := nextRevision(t, ch2, gitWait); rev.Commit != c2 {
		t.Fatalf("second source starts at %s, want %s", rev.Commit, c2)
	}
	c3 := r.commit("v3\n", "third", nil)
	pushed = time.Now()
	if rev := nextRevision(t, ch2, gitWait); rev.Commit != c3 {
		t.Fatalf("got %s, want %s", rev.Commit, c3)
	}
	t.Logf("LATENCY git interval 100ms: push→event %s", time.Since(pushed).Round(time.Millisecond))
}

func revEqual(a, b Revision) bool {
	return a.Commit == b.Commit && a.Author == b.Author && a.AuthorEmail == b.AuthorEmail &&
		a.Message == b.Message && bytes.Equal(a.Spec, b.Spec) && a.Path == b.Path && a.SignedBy == b.SignedBy && a.Time.Equal(b.Time)
}

func TestGitNonFastForward(t *testing.T) {
	tests := map[string]struct {
		allow   bool
		stopped bool // force-push happens while rackctl is down; LastApplied tells the source
	}{
		"force-push refused":              {},
		"force-push allowed":              {allow: true},
		"force-push while stopped":        {stopped: true},
		"force-push while stopped, allow": {stopped: true, allow: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newTestRepo(t)
			base := r.commit("base\n", "base", nil)
			a := r.commit("a\n", "a", nil)
			rewrite := func() string {
				r.git(r.work, "reset", "-q", "--hard", base)
				return r.commit("b\n", "b rewrites a", nil)
			}

			var g *Git
			var ch <-chan Event
			var synced <-chan string
			var b string
			if tc.stopped {
				b = rewrite()
				g, ch, synced = r.source(t, GitConfig{LastApplied: a, AllowNonFastForward: tc.allow})
			} else {
				g, ch, synced = r.source(t, GitConfig{AllowNonFastForward: tc.allow})
				if rev := nextRevision(t, ch, gitWait); rev.Commit != a {
					t.Fatalf("start at %s, want %s", rev.Commit, a)
				}
				waitSync(t, synced)
				b = rewrite()
				g.Trigger()
			}

			if tc.allow {
				if rev := nextRevision(t, ch, gitWait); rev.Commit != b || string(rev.Spec) != "b\n" {
					t.Fatalf("got %s %q, want %s", rev.Commit, rev.Spec, b)
				}
				return
			}
			ev := next(t, ch, gitWait)
			if !errors.Is(ev.Err, ErrNotFastForward) {
				t.Fatalf("event %+v, want ErrNotFastForward", ev)
			}
			var ce *CommitError
			if !errors.As(ev.Err, &ce) || ce.Commit != b || ce.Author != "Ada Author" {
				t.Fatalf("error %v does not name commit %s and its author", ev.Err, b)
			}
			t.Logf("reported: %v", ev.Err)
			waitSync(t, synced)

			// Same head again: skipped, not reported twice.
			g.Trigger()
			waitSync(t, synced)
			none(t, ch, 50*time.Millisecond)

			// The source did not move: history restored on top of a is followed.
			r.git(r.work, "reset", "-q", "--hard", a)
			c := r.commit("c\n", "c on top of a", nil)
			g.Trigger()
			if rev := nextRevision(t, ch, gitWait); rev.Commit != c {
				t.Fatalf("got %s, want %s", rev.Commit, c)
			}
		})
	}
}

func TestGitSpecMissing(t *testing.T) {
	r := newTestRepo(t)
	c := r.commit("x\n", "first", nil)
	_, ch, _ := r.source(t, GitConfig{Path: "racks/a/rack.yaml"})
	ev := next(t, ch, gitWait)
	var ce *CommitError
	if !errors.Is(ev.Err, ErrSpecNotFound) || !errors.As(ev.Err, &ce) || ce.Commit != c {
		t.Fatalf("event %+v, want ErrSpecNotFound for %s", ev, c)
	}
}

func TestGitSubdirPath(t *testing.T) {
	r := newTestRepo(t)
	if err := os.MkdirAll(filepath.Join(r.work, "racks", "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(r.work, "racks", "a", "rack.yaml"), "sub\n")
	r.git(r.work, "add", ".")
	r.git(r.work, "commit", "-q", "-m", "sub")
	r.push()
	_, ch, _ := r.source(t, GitConfig{Path: "./racks/a/rack.yaml"})
	if rev := nextRevision(t, ch, gitWait); string(rev.Spec) != "sub\n" || rev.Path != "racks/a/rack.yaml" {
		t.Fatalf("got %q at %q", rev.Spec, rev.Path)
	}
}

func TestGitCloneDir(t *testing.T) {
	r := newTestRepo(t)
	c1 := r.commit("v1\n", "first", nil)
	dir := filepath.Join(t.TempDir(), "clone")

	// First run clones; a restart reuses the clone and knows LastApplied.
	run := func(cfg GitConfig) *Revision {
		t.Helper()
		cfg.URL, cfg.Dir, cfg.Log = r.bare, dir, testLog(t)
		g, err := NewGit(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan Event, 4)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx, ch) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		select {
		case ev := <-ch:
			if ev.Err != nil {
				t.Fatal(ev.Err)
			}
			return ev.Revision
		case <-time.After(gitWait):
			t.Fatal("no event")
		}
		return nil
	}
	if rev := run(GitConfig{}); rev.Commit != c1 {
		t.Fatalf("got %s", rev.Commit)
	}
	c2 := r.commit("v2\n", "second", nil)
	if rev := run(GitConfig{LastApplied: c1}); rev.Commit != c2 {
		t.Fatalf("got %s, want %s", rev.Commit, c2)
	}

	// A clone of another repository is not silently reused.
	other := newTestRepo(t)
	other.commit("o\n", "o", nil)
	g, err := NewGit(GitConfig{URL: other.bare, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Run(t.Context(), make(chan Event, 1)); err == nil || !strings.Contains(err.Error(), "another repository") {
		t.Fatalf("Run = %v, want an error about another repository", err)
	}
	// Nor is a non-empty directory that is not a repository.
	junk := t.TempDir()
	writeFile(t, filepath.Join(junk, "x"), "x")
	g, err = NewGit(GitConfig{URL: r.bare, Dir: junk})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Run(t.Context(), make(chan Event, 1)); err == nil {
		t.Fatal("Run in a non-empty directory: want error")
	}
}

func TestGitFetchError(t *testing.T) {
	_, ch, _ := (&testRepo{bare: filepath.Join(t.TempDir(), "nope.git")}).source(t, GitConfig{})
	if ev := next(t, ch, gitWait); ev.Err == nil || !strings.Contains(ev.Err.Error(), "fetch") {
		t.Fatalf("event %+v, want a fetch error", ev)
	}
}

func TestNewGitErrors(t *testing.T) {
	tests := map[string]GitConfig{
		"no url":            {Dir: "d"},
		"no dir":            {URL: "u"},
		"bad branch":        {URL: "u", Dir: "d", Branch: "a..b"},
		"absolute path":     {URL: "u", Dir: "d", Path: "/rack.yaml"},
		"path escapes":      {URL: "u", Dir: "d", Path: "../rack.yaml"},
		"bad last applied":  {URL: "u", Dir: "d", LastApplied: "abc"},
		"verify no keys":    {URL: "u", Dir: "d", Verify: true},
		"verify bad pgp":    {URL: "u", Dir: "d", Verify: true, Keyring: []byte("not a key")},
		"verify bad ssh":    {URL: "u", Dir: "d", Verify: true, SSHAllowedSigners: []byte("a@b ssh-ed25519 !!!")},
		"negative interval": {URL: "u", Dir: "d", Interval: -1},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := NewGit(cfg); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]struct{ in, want, secret string }{
		"password":                 {in: "https://bot:s3cret@git.example.com/r.git", want: "https://bot:xxxxx@git.example.com/r.git", secret: "s3cret"},
		"token as http user":       {in: "https://ghp_t0ken@github.com/o/r.git", want: "https://xxxxx@github.com/o/r.git", secret: "ghp_t0ken"},
		"password net/url refuses": {in: "https://bot:p%zz w/rd@host/r.git", want: "https://bot:xxxxx@host/r.git", secret: "p%zz w/rd"},
		"@ in the password":        {in: "http://bot:a@b@host:8080/r.git", want: "http://bot:xxxxx@host:8080/r.git", secret: "a@b"},
		"percent-encoded password": {in: "https://bot:p%40ss%2Fw@host/r.git", want: "https://bot:xxxxx@host/r.git", secret: "p%40ss%2Fw"},
		"ssh user kept":            {in: "ssh://git@host/r.git", want: "ssh://git@host/r.git"},
		"scp-like":                 {in: "git@host:o/r.git", want: "git@host:o/r.git"},
		"local path":               {in: "/srv/git/r.git", want: "/srv/git/r.git"},
		"no credentials":           {in: "https://host/r.git", want: "https://host/r.git"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := RedactURL(tc.in); got != tc.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if tc.secret == "" {
				return
			}
			// Errors quoting the URL, raw or percent-encoded, are scrubbed
			// and keep their chain.
			dec, err := url.PathUnescape(tc.secret)
			if err != nil {
				dec = tc.secret
			}
			inner := fmt.Errorf("Get %q: %w (user %s, %s)", tc.in, ErrSpecNotFound, url.QueryEscape(tc.secret), dec)
			err = redactErr(inner, tc.in)
			msg := err.Error()
			if strings.Contains(msg, tc.secret) || strings.Contains(msg, url.QueryEscape(tc.secret)) || strings.Contains(msg, dec) || !errors.Is(err, ErrSpecNotFound) {
				t.Errorf("redacted error %q (is ErrSpecNotFound: %v)", err, errors.Is(err, ErrSpecNotFound))
			}
			g, err := NewGit(GitConfig{URL: tc.in, Dir: "d", Branch: "a..b"})
			if err == nil || strings.Contains(err.Error(), tc.secret) {
				t.Errorf("NewGit error %v: want one without the secret", err)
			}
			if g != nil && strings.Contains(g.name, tc.secret) {
				t.Errorf("name %q leaks the secret", g.name)
			}
		})
	}
}

// A remote that accepts the connection and never answers: the fetch ends at
// the timeout with an error event, and Run goes on.
func TestGitFetchTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	g, err := NewGit(GitConfig{
		URL: "http://" + ln.Addr().String() + "/rack.git", Dir: filepath.Join(t.TempDir(), "clone"),
		Timeout: 300 * time.Millisecond, Interval: time.Hour, Log: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := start(t, g)
	begin := time.Now()
	ev := next(t, ch, 5*time.Second)
	if ev.Err == nil || !errors.Is(ev.Err, context.DeadlineExceeded) && !strings.Contains(ev.Err.Error(), "deadline") && !strings.Contains(ev.Err.Error(), "timeout") {
		t.Fatalf("event %+v, want a fetch timeout", ev)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("fetch took %s despite a 300ms timeout", d)
	}
	t.Logf("timed out after %s: %v", time.Since(begin).Round(time.Millisecond), ev.Err)
}

// In a fleet repository a commit to one rack's spec is not a revision for
// another rack's source: its sync sends nothing, and the next commit that
// does change the spec is sent (judged against the skipped head).
func TestGitOtherFileUnchanged(t *testing.T) {
	r := newTestRepo(t)
	write := func(rack, content, msg string) string {
		t.Helper()
		p := filepath.Join(r.work, "racks", rack, "rack.yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, content)
		r.git(r.work, "add", ".")
		r.git(r.work, "commit", "-q", "-m", msg)
		return r.push()
	}
	write("a", "a1\n", "a1")
	c1 := write("b", "b1\n", "b1")
	g, ch, synced := r.source(t, GitConfig{Path: "racks/b/rack.yaml"})
	if rev := nextRevision(t, ch, gitWait); rev.Commit != c1 || string(rev.Spec) != "b1\n" {
		t.Fatalf("first revision %s %q, want %s b1", rev.Commit, rev.Spec, c1)
	}
	waitSync(t, synced)

	other := write("a", "a2\n", "rack a only")
	g.Trigger()
	if h := waitSync(t, synced); h != other {
		t.Fatalf("synced %s, want the new head %s", h, other)
	}
	none(t, ch, 50*time.Millisecond)

	c3 := write("b", "b2\n", "rack b")
	g.Trigger()
	if rev := nextRevision(t, ch, gitWait); rev.Commit != c3 || string(rev.Spec) != "b2\n" {
		t.Fatalf("revision %s %q, want %s b2", rev.Commit, rev.Spec, c3)
	}
}
