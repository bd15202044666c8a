package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Sentinel errors of [Git.ReadCommit]; test them with errors.Is.
var (
	// ErrUnknownCommit: no commit of the clone has that name.
	ErrUnknownCommit = errors.New("no such commit in the fetched history")
	// ErrNotOnBranch: the commit exists but is neither the branch head nor
	// one of its ancestors (another branch, or history rewritten away).
	ErrNotOnBranch = errors.New("commit is not on the branch (not the head or one of its ancestors)")
	// ErrAmbiguousCommit: the prefix names more than one commit.
	ErrAmbiguousCommit = errors.New("commit prefix matches more than one commit")
)

// MinCommitPrefix is the shortest commit prefix ReadCommit expands, as
// git's default abbreviation.
const MinCommitPrefix = 7

// ReadCommit returns the revision of one commit of the followed branch, as
// the last fetch left the clone (it does not fetch): name is a full hash or
// a prefix of at least MinCommitPrefix hex digits. The commit must be the
// branch head or one of its ancestors, and with GitConfig.Verify it must
// carry a valid signature by a configured key, exactly as a head must: a
// pin (the caller's use) is no way around signed commits. Refusals are a
// *CommitError wrapping ErrUnsigned, ErrUnknownKey, ErrBadSignature or
// ErrSpecNotFound; a name that does not resolve wraps ErrUnknownCommit,
// ErrNotOnBranch or ErrAmbiguousCommit. ReadCommit is safe to call while
// Run runs: it opens the clone read-only on its own.
func (g *Git) ReadCommit(ctx context.Context, name string) (*Revision, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if !isHexPrefix(name) {
		return nil, fmt.Errorf("git source %s: %q is not a commit hash (want at least %d hex digits)", g.name, name, MinCommitPrefix)
	}
	repo, err := git.PlainOpen(g.dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("git source %s: no clone in %s yet: rackctl watch makes it at its first fetch", g.name, g.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("git source %s: open clone %s: %w", g.name, g.dir, err)
	}
	commit, err := g.resolveOnBranch(ctx, repo, name)
	if err != nil {
		return nil, err
	}
	hash := commit.Hash.String()
	var signedBy string
	if g.verifier != nil {
		if signedBy, err = g.verifier.verify(commit); err != nil {
			return nil, fmt.Errorf("git source %s: %w", g.name, &CommitError{
				Commit: hash, Author: commit.Author.Name, AuthorEmail: commit.Author.Email, Err: err})
		}
	}
	spec, ev := g.readSpec(commit, hash)
	if ev != nil {
		return nil, ev.Err
	}
	return &Revision{
		Commit: hash, Author: commit.Author.Name, AuthorEmail: commit.Author.Email,
		Time: commit.Committer.When, Message: commit.Message, Spec: spec, Path: g.specPath, SignedBy: signedBy,
	}, nil
}

// resolveOnBranch finds the one commit named by prefix among the branch
// head and its ancestors; when there is none it tells an unknown commit
// from one off the branch.
func (g *Git) resolveOnBranch(ctx context.Context, repo *git.Repository, prefix string) (*object.Commit, error) {
	ref, err := repo.Reference(g.remoteRef, true)
	if err != nil {
		return nil, fmt.Errorf("git source %s: branch not fetched yet (%v): rackctl watch fetches it", g.name, err)
	}
	log, err := repo.Log(&git.LogOptions{From: ref.Hash()})
	if err != nil {
		return nil, fmt.Errorf("git source %s: history of %s: %w", g.name, shortHash(ref.Hash().String()), err)
	}
	onBranch, err := matchCommits(ctx, log, prefix)
	if err != nil {
		return nil, fmt.Errorf("git source %s: history of %s: %w", g.name, shortHash(ref.Hash().String()), err)
	}
	switch len(onBranch) {
	case 1:
		return onBranch[0], nil
	case 0:
	default:
		return nil, fmt.Errorf("git source %s: %s: %w", g.name, prefix, ErrAmbiguousCommit)
	}
	all, err := repo.CommitObjects()
	if err != nil {
		return nil, fmt.Errorf("git source %s: list commits: %w", g.name, err)
	}
	anywhere, err := matchCommits(ctx, all, prefix)
	if err != nil {
		return nil, fmt.Errorf("git source %s: list commits: %w", g.name, err)
	}
	if len(anywhere) > 0 {
		return nil, fmt.Errorf("git source %s: %s: %w as fetched (head %s)", g.name, prefix, ErrNotOnBranch, shortHash(ref.Hash().String()))
	}
	return nil, fmt.Errorf("git source %s: %s: %w (the clone is fetched every --interval; SIGHUP fetches now)", g.name, prefix, ErrUnknownCommit)
}

// matchCommits returns the commits of iter whose hash starts with prefix,
// stopping at a full match or a second one.
func matchCommits(ctx context.Context, iter object.CommitIter, prefix string) ([]*object.Commit, error) {
	defer iter.Close()
	var out []*object.Commit
	err := iter.ForEach(func(c *object.Commit) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := c.Hash.String()
		if !strings.HasPrefix(h, prefix) {
			return nil
		}
		out = append(out, c)
		if h == prefix || len(out) > 1 {
			return storer.ErrStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return out, nil
}

func isHexPrefix(s string) bool {
	if len(s) < MinCommitPrefix || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
