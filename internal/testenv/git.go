package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GitRepo is a repository made with the git CLI for tests that commit
// specs: branch main, a fixed identity, no system or global git config.
type GitRepo struct {
	t   testing.TB
	Dir string
	Env []string // the environment every git command runs with
}

// NewGitRepo initializes a repository in a temporary directory; a missing
// git fails the test.
func NewGitRepo(t testing.TB) *GitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required for this test: install git")
	}
	r := &GitRepo{t: t, Dir: t.TempDir(), Env: append(os.Environ(),
		"HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Alice Ops", "GIT_AUTHOR_EMAIL=alice@example.com",
		"GIT_COMMITTER_NAME=Alice Ops", "GIT_COMMITTER_EMAIL=alice@example.com")}
	r.Git("init", "-q", "-b", "main")
	return r
}

// Git runs git in the repository and returns its trimmed output; a
// failure fails the test.
func (r *GitRepo) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = r.Dir, r.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes rack.yaml, commits it with message msg (extra arguments
// go to git commit, e.g. -S) and returns the commit hash.
func (r *GitRepo) Commit(spec, msg string, extra ...string) string {
	r.t.Helper()
	return r.CommitFiles(map[string]string{"rack.yaml": spec}, msg, extra...)
}

// CommitFiles writes each file (a slash-separated path in the repository
// → its content; directories are made), commits them with message msg
// and returns the commit hash.
func (r *GitRepo) CommitFiles(files map[string]string, msg string, extra ...string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.Dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.Git("add", name)
	}
	r.Git(append([]string{"commit", "-q", "-m", msg}, extra...)...)
	return r.Git("rev-parse", "HEAD")
}

// Use reports later failures to t: a subtest that runs the next step.
func (r *GitRepo) Use(t testing.TB) { r.t = t }
