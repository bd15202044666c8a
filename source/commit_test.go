package source

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/testenv"
)

// ReadCommit resolves a full hash or a prefix among the branch head and its
// ancestors, reads that commit's spec, and refuses what is unknown, off the
// branch, ambiguous or (with verification) not signed by a trusted key,
// as it would refuse such a head.
func TestReadCommit(t *testing.T) {
	trusted, trustedPub := testenv.PGPKey(t, "Trusted")
	r := newTestRepo(t)
	a := r.commitPGP("spec: a\n", "a", trusted)
	unsigned := r.commit("spec: unsigned\n", "unsigned", nil)
	// A commit on a side branch, not on main.
	r.git(r.work, "checkout", "-q", "-b", "side")
	writeFile(t, r.work+"/rack.yaml", "spec: side\n")
	r.git(r.work, "commit", "-q", "-am", "side")
	side := r.git(r.work, "rev-parse", "HEAD")
	r.git(r.work, "checkout", "-q", "main")
	head := r.commitPGP("spec: head\n", "head", trusted)

	g, events, synced := r.source(t, GitConfig{Verify: true, Keyring: trustedPub})
	if ev := nextRevision(t, events, gitWait); ev.Commit != head {
		t.Fatalf("first revision %s, want head %s", ev.Commit, head)
	}
	waitSync(t, synced)
	// The side commit reaches the clone through a merge into main that is
	// then force-pushed away: fetched, but no longer on the branch.
	r.git(r.work, "merge", "-q", "--no-edit", "-s", "ours", "side")
	r.push()
	g.Trigger()
	waitSync(t, synced)
	next(t, events, gitWait) // the merge head (unsigned: refused)
	r.git(r.work, "reset", "-q", "--hard", head)
	r.push()
	g.Trigger()
	waitSync(t, synced)

	ctx := context.Background()
	tests := map[string]struct {
		name     string
		want     string // commit read
		wantSpec string
		wantErr  error
	}{
		"full hash of an ancestor": {name: a, want: a, wantSpec: "spec: a\n"},
		"prefix of the head":       {name: head[:9], want: head, wantSpec: "spec: head\n"},
		"upper-case prefix":        {name: strings.ToUpper(a[:8]), want: a, wantSpec: "spec: a\n"},
		"unsigned ancestor":        {name: unsigned, wantErr: ErrUnsigned},
		"commit off the branch":    {name: side, wantErr: ErrNotOnBranch},
		"unknown commit":           {name: "deadbeefdeadbeef", wantErr: ErrUnknownCommit},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rev, err := g.ReadCommit(ctx, tc.name)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ReadCommit(%s) = %v, want %v", tc.name, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadCommit(%s): %v", tc.name, err)
			}
			if rev.Commit != tc.want || string(rev.Spec) != tc.wantSpec || rev.SignedBy == "" || rev.Author == "" {
				t.Errorf("ReadCommit(%s) = %+v, want %s with spec %q, signed", tc.name, rev, tc.want, tc.wantSpec)
			}
		})
	}
	for _, bad := range []string{"abc", "not-a-hash", "../../etc"} {
		if _, err := g.ReadCommit(ctx, bad); err == nil || !strings.Contains(err.Error(), "not a commit hash") {
			t.Errorf("ReadCommit(%q) = %v, want a not-a-commit-hash error", bad, err)
		}
	}
}
