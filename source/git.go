package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Defaults for GitConfig.
const (
	DefaultBranch   = "main"
	DefaultSpecPath = "rack.yaml"
	DefaultInterval = time.Minute
	DefaultTimeout  = time.Minute
)

// GitConfig configures a git source.
type GitConfig struct {
	// URL of the repository: any URL go-git understands (https://, ssh://,
	// git@host:path, file://) or a local path.
	URL string
	// Branch to follow. Default DefaultBranch.
	Branch string
	// Path of the spec inside the repository. Default DefaultSpecPath.
	Path string
	// Dir holds the source's bare clone; it belongs to the source (put it
	// under the state dir). Created if missing; reused across restarts.
	Dir string
	// Interval between fetches. Default DefaultInterval.
	Interval time.Duration
	// Timeout of one fetch. Default DefaultTimeout.
	Timeout time.Duration

	// Verify turns on commit signature verification: only a head commit
	// signed by a key of Keyring or SSHAllowedSigners is sent.
	Verify bool
	// Keyring holds ASCII-armored OpenPGP public keys (one or more blocks).
	Keyring []byte
	// SSHAllowedSigners is in git's gpg.ssh.allowedSignersFile format
	// ("principals [options] keytype base64 [comment]"); the options
	// namespaces=, valid-after= and valid-before= are honoured.
	SSHAllowedSigners []byte

	// AllowNonFastForward lets the source follow a head that does not
	// descend from the last applied commit (a rewritten history).
	AllowNonFastForward bool
	// LastApplied is the commit the caller last applied (it persists it);
	// empty when nothing was applied yet.
	LastApplied string

	// WebhookSecret, when set, is required by WebhookHandler.
	WebhookSecret []byte
	// Auth for the remote; nil for none (local paths, public https).
	Auth transport.AuthMethod
	// Log receives debug and warning messages; nil discards them.
	Log *slog.Logger
}

// Git follows one branch of a git repository and sends a Revision for each
// new head commit that passes the fast-forward and signature checks.
type Git struct {
	url       string // as given: only ever handed to go-git's fetch
	remoteID  string // the redacted URL, stored in the clone as origin
	name      string // redacted URL@branch, for messages
	branch    plumbing.ReferenceName
	remoteRef plumbing.ReferenceName
	specPath  string
	dir       string
	interval  time.Duration
	timeout   time.Duration
	verifier  *verifier // nil when verification is off
	allowNFF  bool
	secret    []byte
	auth      transport.AuthMethod
	log       *slog.Logger

	trigger chan struct{}
	running atomic.Bool

	// State, owned by Run.
	applied  string // last commit sent or told by the caller
	observed string // last remote head handled, whatever the outcome
	// sentSpec is the spec of the last revision sent (valid when sent):
	// a head whose spec is the same is admitted but not sent.
	sentSpec []byte
	sent     bool

	afterSync func(head string) // test hook
}

// NewGit checks cfg and returns a source; it does no I/O on the remote.
func NewGit(cfg GitConfig) (*Git, error) {
	if cfg.URL == "" {
		return nil, errors.New("git source: url is empty")
	}
	shown := RedactURL(cfg.URL)
	if cfg.Dir == "" {
		return nil, fmt.Errorf("git source %s: clone dir is empty", shown)
	}
	if cfg.Branch == "" {
		cfg.Branch = DefaultBranch
	}
	branch := plumbing.NewBranchReferenceName(cfg.Branch)
	if err := branch.Validate(); err != nil {
		return nil, fmt.Errorf("git source %s: branch %q: %w", shown, cfg.Branch, err)
	}
	if cfg.Path == "" {
		cfg.Path = DefaultSpecPath
	}
	specPath := path.Clean(strings.TrimPrefix(cfg.Path, "./"))
	if path.IsAbs(specPath) || specPath == ".." || strings.HasPrefix(specPath, "../") || specPath == "." {
		return nil, fmt.Errorf("git source %s: spec path %q must be relative to the repository root", shown, cfg.Path)
	}
	if cfg.Interval < 0 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("git source %s: negative interval or timeout", shown)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.LastApplied != "" && !plumbing.IsHash(cfg.LastApplied) {
		return nil, fmt.Errorf("git source %s: last applied commit %q is not a full commit hash", shown, cfg.LastApplied)
	}
	name := shown + "@" + cfg.Branch
	var v *verifier
	if cfg.Verify {
		var err error
		if v, err = newVerifier(cfg.Keyring, cfg.SSHAllowedSigners); err != nil {
			return nil, fmt.Errorf("git source %s: %w", name, err)
		}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Git{
		url:       cfg.URL,
		remoteID:  shown,
		name:      name,
		branch:    branch,
		remoteRef: plumbing.NewRemoteReferenceName("origin", cfg.Branch),
		specPath:  specPath,
		dir:       cfg.Dir,
		interval:  cfg.Interval,
		timeout:   cfg.Timeout,
		verifier:  v,
		allowNFF:  cfg.AllowNonFastForward,
		secret:    cfg.WebhookSecret,
		auth:      cfg.Auth,
		log:       log.With("source", "git", "repo", name),
		trigger:   make(chan struct{}, 1),
		applied:   cfg.LastApplied,
	}, nil
}

// Trigger asks Run to fetch now. It never blocks; triggers that arrive while
// a fetch is pending are merged into it. Wire it to SIGHUP or a webhook.
func (g *Git) Trigger() {
	select {
	case g.trigger <- struct{}{}:
	default:
	}
}

// Run fetches at once, then every Interval and on Trigger, until ctx is
// cancelled (it then returns nil). The first successful sync sends the head
// revision even when it equals LastApplied, so the caller has a spec to work
// from; later syncs send only when the head moved. The last revision sent
// counts as applied for the fast-forward check. Run returns an error only if
// the clone directory cannot be used; Run must not be called concurrently.
func (g *Git) Run(ctx context.Context, out chan<- Event) error {
	if !g.running.CompareAndSwap(false, true) {
		return fmt.Errorf("git source %s: already running", g.name)
	}
	defer g.running.Store(false)

	repo, err := g.open()
	if err != nil {
		return redactErr(err, g.url)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-g.trigger:
		}
		if !g.sync(ctx, repo, out) {
			return nil
		}
		timer.Reset(g.interval)
	}
}

// open opens the bare clone in g.dir, creating it when the directory is
// missing or empty.
func (g *Git) open() (*git.Repository, error) {
	repo, err := git.PlainOpen(g.dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return g.create()
	}
	if err != nil {
		return nil, fmt.Errorf("git source %s: open clone %s: %w", g.name, g.dir, err)
	}
	rem, err := repo.Remote("origin")
	if err != nil {
		return nil, fmt.Errorf("git source %s: clone %s: remote origin: %w", g.name, g.dir, err)
	}
	urls := rem.Config().URLs
	switch {
	case len(urls) > 0 && urls[0] == g.remoteID:
	case len(urls) > 0 && urls[0] == g.url:
		// A clone made before the URL was kept redacted: drop the secret.
		cfg, err := repo.Config()
		if err != nil {
			return nil, fmt.Errorf("git source %s: clone %s: read config: %w", g.name, g.dir, err)
		}
		cfg.Remotes["origin"].URLs = []string{g.remoteID}
		if err := repo.SetConfig(cfg); err != nil {
			return nil, fmt.Errorf("git source %s: clone %s: write config: %w", g.name, g.dir, err)
		}
	default:
		var shown []string
		for _, u := range urls {
			shown = append(shown, RedactURL(u))
		}
		return nil, fmt.Errorf("git source %s: clone dir %s belongs to another repository (%s); remove it or choose another dir",
			g.name, g.dir, strings.Join(shown, " "))
	}
	return repo, nil
}

func (g *Git) create() (*git.Repository, error) {
	entries, err := os.ReadDir(g.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(g.dir, 0o700); err != nil {
			return nil, fmt.Errorf("git source %s: create clone dir: %w", g.name, err)
		}
	case err != nil:
		return nil, fmt.Errorf("git source %s: read clone dir: %w", g.name, err)
	case len(entries) > 0:
		return nil, fmt.Errorf("git source %s: clone dir %s is not empty and not a git repository", g.name, g.dir)
	}
	repo, err := git.PlainInit(g.dir, true)
	if err != nil {
		return nil, fmt.Errorf("git source %s: init clone %s: %w", g.name, g.dir, err)
	}
	_, err = repo.CreateRemote(&config.RemoteConfig{
		Name:  "origin",
		URLs:  []string{g.remoteID}, // the secret stays out of the state dir
		Fetch: []config.RefSpec{g.refSpec()},
	})
	if err != nil {
		return nil, fmt.Errorf("git source %s: add remote: %w", g.name, err)
	}
	return repo, nil
}

func (g *Git) refSpec() config.RefSpec {
	return config.RefSpec("+" + g.branch.String() + ":" + g.remoteRef.String())
}

// sync fetches and handles the head; it returns false when ctx ended.
func (g *Git) sync(ctx context.Context, repo *git.Repository, out chan<- Event) bool {
	head, ev := g.poll(ctx, repo)
	if g.afterSync != nil {
		defer g.afterSync(head)
	}
	if ev == nil {
		return true
	}
	if ev.Err != nil {
		ev.Err = redactErr(ev.Err, g.url)
		g.log.Warn("sync failed", "err", ev.Err)
	}
	return send(ctx, out, *ev)
}

// poll returns the remote head and the event to send, if any.
func (g *Git) poll(ctx context.Context, repo *git.Repository) (string, *Event) {
	hash, ev, ok := g.fetch(ctx, repo)
	if !ok {
		return "", ev
	}
	head := hash.String()
	if head == g.observed {
		return head, nil // nothing new: skip the work
	}
	commit, err := repo.CommitObject(hash)
	if err != nil {
		return head, &Event{Err: fmt.Errorf("git source %s: read commit %s: %w", g.name, head, err)}
	}
	signedBy, ev := g.admit(repo, commit, head)
	if ev != nil {
		return head, ev
	}
	spec, ev := g.readSpec(commit, head)
	if ev != nil {
		return head, ev
	}
	g.observed, g.applied = head, head
	if g.sent && bytes.Equal(spec, g.sentSpec) {
		// A commit elsewhere in the repository (another rack of a fleet):
		// nothing for this spec to plan. It was admitted, so later heads
		// are judged against it.
		g.log.Info("new commit leaves the spec unchanged; not sent", "commit", head, "path", g.specPath)
		return head, nil
	}
	g.sentSpec, g.sent = spec, true
	g.log.Info("new revision", "commit", head, "signed_by", signedBy)
	return head, &Event{Revision: &Revision{
		Commit:      head,
		Author:      commit.Author.Name,
		AuthorEmail: commit.Author.Email,
		Time:        commit.Committer.When,
		Message:     commit.Message,
		Spec:        spec,
		Path:        g.specPath,
		SignedBy:    signedBy,
	}}
}

// fetch fetches the branch and resolves its remote head. ok is false when
// there is no head: ev says why, or is nil when ctx ended.
func (g *Git) fetch(ctx context.Context, repo *git.Repository) (_ plumbing.Hash, ev *Event, ok bool) {
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, g.timeout)
	err := repo.FetchContext(fctx, &git.FetchOptions{
		RemoteName: "origin",
		RemoteURL:  g.url, // origin holds the redacted URL
		RefSpecs:   []config.RefSpec{g.refSpec()},
		Auth:       g.auth,
		Force:      true, // the tracking ref follows rewrites; we judge them in admit
		Tags:       git.NoTags,
	})
	cancel()
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if ctx.Err() != nil {
			return plumbing.ZeroHash, nil, false
		}
		return plumbing.ZeroHash, &Event{Err: fmt.Errorf("git source %s: fetch: %w", g.name, err)}, false
	}
	ref, err := repo.Reference(g.remoteRef, true)
	if err != nil {
		return plumbing.ZeroHash, &Event{Err: fmt.Errorf("git source %s: resolve %s: %w", g.name, g.remoteRef, err)}, false
	}
	g.log.Debug("fetched", "head", ref.Hash().String(), "took", time.Since(start))
	return ref.Hash(), nil, true
}

// reject is the event for a commit that will not be applied; the head is
// marked observed so that the same head is not judged again.
func (g *Git) reject(head string, commit *object.Commit, err error) *Event {
	g.observed = head
	return &Event{Err: fmt.Errorf("git source %s: %w", g.name, &CommitError{
		Commit: head, Author: commit.Author.Name, AuthorEmail: commit.Author.Email, Err: err,
	})}
}

// admit checks a new head may be applied: it descends from the last
// applied commit (unless non-fast-forwards are allowed) and, with a
// verifier, is signed by a trusted key, whose name it returns.
func (g *Git) admit(repo *git.Repository, commit *object.Commit, head string) (signedBy string, ev *Event) {
	if g.applied != "" && g.applied != head {
		ff, err := g.descends(repo, commit)
		if err != nil {
			return "", &Event{Err: fmt.Errorf("git source %s: check ancestry of %s: %w", g.name, head, err)}
		}
		if !ff {
			if !g.allowNFF {
				return "", g.reject(head, commit, fmt.Errorf("%w %s (history rewritten?)", ErrNotFastForward, shortHash(g.applied)))
			}
			g.log.Warn("following a non-fast-forward head", "head", head, "last_applied", g.applied)
		}
	}
	if g.verifier == nil {
		return "", nil
	}
	signedBy, err := g.verifier.verify(commit)
	if err != nil {
		return "", g.reject(head, commit, err)
	}
	return signedBy, nil
}

// readSpec reads the spec file from the commit; a commit without one is
// rejected.
func (g *Git) readSpec(commit *object.Commit, head string) ([]byte, *Event) {
	f, err := commit.File(g.specPath)
	if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, g.reject(head, commit, fmt.Errorf("%s: %w", g.specPath, ErrSpecNotFound))
	}
	if err != nil {
		return nil, &Event{Err: fmt.Errorf("git source %s: commit %s: %s: %w", g.name, shortHash(head), g.specPath, err)}
	}
	r, err := f.Reader()
	if err != nil {
		return nil, &Event{Err: fmt.Errorf("git source %s: commit %s: read %s: %w", g.name, shortHash(head), g.specPath, err)}
	}
	spec, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return nil, &Event{Err: fmt.Errorf("git source %s: commit %s: read %s: %w", g.name, shortHash(head), g.specPath, err)}
	}
	return spec, nil
}

// descends reports whether commit descends from g.applied. A last applied
// commit missing from the fetched history (force-pushed away before this
// clone was made) does not count as an ancestor.
func (g *Git) descends(repo *git.Repository, commit *object.Commit) (bool, error) {
	base, err := repo.CommitObject(plumbing.NewHash(g.applied))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return base.IsAncestor(commit)
}
