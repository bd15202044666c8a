package watch

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/source"
	"github.com/rackctl/rackctl/state"
)

// specWithLabel is the example spec with its storage worker relabelled,
// which changes the rendered Lokomotive config (a file under the root).
func specWithLabel(t *testing.T, label string) string {
	t.Helper()
	return strings.Replace(baseSpec(t), "metadata.node-type: storage", "metadata.node-type: "+label, 1)
}

// lokocfg reads the rendered Lokomotive config under the test root.
func lokocfg(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(lokocfgPath(t, root))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lokocfgPath(t *testing.T, root string) string {
	t.Helper()
	var found string
	err := filepath.WalkDir(filepath.Join(root, "home"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, "lokocfg.vars") {
			found = p
		}
		return err
	})
	if err != nil || found == "" {
		t.Fatalf("no lokocfg.vars under %s: %v", root, err)
	}
	return found
}

func pinAt(t *testing.T, stateDir, commit string) {
	t.Helper()
	if err := SetPin(stateDir, state.Pin{Commit: commit, By: "alice", At: time.Now(), Reason: "bad label"}); err != nil {
		t.Fatal(err)
	}
}

// expectOperator waits for the next record and checks it is the
// operator's pin or unpin, handed on by the running loop (so notification
// targets see pin.changed) before the loop acts on it.
func (l *loop) expectOperator(t *testing.T, out Outcome, by, commit string) EventRecord {
	t.Helper()
	r := l.expectTrig(t, out, TriggerOperator)
	if r.Author != by || r.Commit != commit {
		t.Fatalf("%s record %+v: want by %s of %s", out, r, by, commit)
	}
	return r
}

// expectTrig waits for the next record and checks its outcome and trigger.
func (l *loop) expectTrig(t *testing.T, out Outcome, trig Trigger) EventRecord {
	t.Helper()
	r := l.expect(t, out)
	if r.Trigger != trig {
		t.Fatalf("%s record for %s has trigger %s, want %s", out, r.Commit, r.Trigger, trig)
	}
	return r
}

// Commits A and B are applied; pinning A applies A again and keeps it
// through commit C (recorded "pinned", never planned) and through a drift
// fix, which restores A's files; unpinning applies the head C.
func TestPinKeepsCommitUntilUnpinned(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	a := repo.Commit(specWithLabel(t, "a"), "a")
	rec := newTestReconciler(t)
	src := gitSource(t, repo, nil)
	l := startLoop(t, Config{Source: src, Pins: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy(),
		PollInterval: 50 * time.Millisecond, DriftInterval: 300 * time.Millisecond})
	l.expect(t, OutcomeApplied)
	cfgA := lokocfg(t, rec.root)
	b := repo.Commit(specWithLabel(t, "b"), "b")
	if r := l.expect(t, OutcomeApplied); r.Commit != b {
		t.Fatalf("applied %s, want b %s", r.Commit, b)
	}
	if lokocfg(t, rec.root) == cfgA {
		t.Fatal("b's label did not change lokocfg.vars: the test cannot tell a from b")
	}

	pinAt(t, rec.stateDir, a[:9]+a[9:]) // the CLI resolves prefixes; the file holds the full hash
	l.expectOperator(t, OutcomePin, "alice", a)
	if r := l.expectTrig(t, OutcomeApplied, TriggerPin); r.Commit != a {
		t.Fatalf("pin applied %s, want a %s", r.Commit, a)
	}
	if got := lokocfg(t, rec.root); got != cfgA {
		t.Errorf("after the pin the rendered config is not a's:\n%s", got)
	}
	st := l.w.Status()
	if st.Pin == nil || st.Pin.Commit != a || st.Pin.By != "alice" || st.Pin.Error != "" || st.LastApplied != a {
		t.Errorf("status %+v, pin %+v: want pinned to a by alice, a applied", st, st.Pin)
	}
	srv := httptest.NewServer(l.w.Handler())
	defer srv.Close()
	if h := get(t, srv.URL+"/healthz", http.StatusOK); !strings.Contains(h, `"pin":{"commit":"`+a+`","by":"alice"`) {
		t.Errorf("/healthz lacks the pin: %s", h)
	}
	if m := scrape(t, l.w); !strings.Contains(m, `rackctl_watch_pinned_info{commit="`+a+`"} 1`) {
		t.Errorf("metrics lack the pin:\n%s", grep(m, "pinned"))
	}

	c := repo.Commit(specWithLabel(t, "c"), "c")
	r := l.expectTrig(t, OutcomePinned, TriggerRevision)
	if r.Commit != c || !strings.Contains(r.Reason, "not applied: pinned to "+a[:12]) {
		t.Errorf("record %+v: want c %s not applied, pinned to a", r, c)
	}
	// Drift against the pinned commit: a hand edit is undone to a's files.
	if err := os.WriteFile(lokocfgPath(t, rec.root), []byte("# edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := l.expectTrig(t, OutcomeApplied, TriggerDrift); r.Commit != a {
		t.Errorf("drift fix applied %s, want the pinned a %s", r.Commit, a)
	}
	if got := lokocfg(t, rec.root); got != cfgA {
		t.Errorf("lokocfg.vars after the drift fix:\n%s\nwant a's:\n%s", got, cfgA)
	}
	if slices.Contains(rec.planned(), c) {
		t.Fatal("c was planned while pinned")
	}

	if had, err := Unpin(rec.stateDir, "bob", "label fixed", time.Now()); !had || err != nil {
		t.Fatalf("Unpin = %v, %v", had, err)
	}
	l.expectOperator(t, OutcomeUnpin, "bob", a)
	if r := l.expectTrig(t, OutcomeApplied, TriggerUnpin); r.Commit != c {
		t.Fatalf("unpin applied %s, want the head c %s", r.Commit, c)
	}
	if st := l.w.Status(); st.Pin != nil || st.LastApplied != c {
		t.Errorf("status after unpin %+v: want no pin, c applied", st)
	}
	if m := scrape(t, l.w); strings.Contains(m, "rackctl_watch_pinned_info{") {
		t.Errorf("pin metric still set after unpin:\n%s", grep(m, "pinned"))
	}
	evs, err := state.New(rec.stateDir).ReadWatchEvents()
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range evs {
		if e.Trigger == TriggerOperator {
			ops = append(ops, string(e.Outcome)+" "+e.Author+" "+e.Reason)
		}
	}
	want2 := []string{"pin alice pinned by alice: bad label", "unpin bob unpinned by bob: label fixed"}
	if !slices.Equal(ops, want2) {
		t.Errorf("operator records %q, want %q", ops, want2)
	}
}

// A pin survives a restart: a new loop on the same state dir reconciles
// the pinned commit, not the head, from its first event.
func TestPinSurvivesRestart(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	a := repo.Commit(specWithLabel(t, "a"), "a")
	rec := newTestReconciler(t)
	clone := filepath.Join(t.TempDir(), "clone")
	newSrc := func() *source.Git {
		return gitSource(t, repo, func(c *source.GitConfig) { c.Dir = clone })
	}
	src := newSrc()
	l := startLoop(t, Config{Source: src, Pins: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy(), PollInterval: 50 * time.Millisecond})
	l.expect(t, OutcomeApplied)
	pinAt(t, rec.stateDir, a)
	l.expectOperator(t, OutcomePin, "alice", a)
	l.expectTrig(t, OutcomeUnchanged, TriggerPin)
	l.stop(t)

	b := repo.Commit(specWithLabel(t, "b"), "b")
	src = newSrc()
	l = startLoop(t, Config{Source: src, Pins: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy(), PollInterval: 50 * time.Millisecond})
	if r := l.expectTrig(t, OutcomePinned, TriggerRevision); r.Commit != b {
		t.Fatalf("pinned record for %s, want b %s", r.Commit, b)
	}
	if r := l.expectTrig(t, OutcomeUnchanged, TriggerPin); r.Commit != a {
		t.Fatalf("after restart reconciled %s, want the pinned a %s", r.Commit, a)
	}
	if slices.Contains(rec.planned(), b) {
		t.Error("b was planned after the restart")
	}
}

// With signature verification on, a pin of an unsigned commit (pin.json
// written by hand, past the CLI's check) is not followed: nothing is
// planned or applied, and the status says why.
func TestPinObeysSignatures(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	key := filepath.Join(t.TempDir(), "id")
	if out, err := runCmd("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f", key); err != nil {
		t.Fatalf("ssh-keygen (needed to sign commits): %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	repo.Git("config", "gpg.format", "ssh")
	unsigned := repo.Commit(specWithLabel(t, "unsigned"), "unsigned", "--no-gpg-sign")
	signed := repo.Commit(specWithLabel(t, "signed"), "signed", "--gpg-sign="+key)
	rec := newTestReconciler(t)
	src := gitSource(t, repo, func(c *source.GitConfig) {
		c.Verify = true
		c.SSHAllowedSigners = []byte("alice@example.com " + string(pub))
	})
	l := startLoop(t, Config{Source: src, Pins: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy(), PollInterval: 50 * time.Millisecond})
	l.expect(t, OutcomeApplied)

	if err := state.New(rec.stateDir).SavePin(state.Pin{Commit: unsigned, By: "mallory", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r := l.expectTrig(t, OutcomeFailed, TriggerPin)
	if r.Commit != unsigned || !strings.Contains(r.Reason, "not signed") {
		t.Errorf("record %+v: want the unsigned pin refused", r)
	}
	if slices.Contains(rec.planned(), unsigned) {
		t.Error("the unsigned pinned commit was planned")
	}
	st := l.w.Status()
	if st.Pin == nil || !strings.Contains(st.Pin.Error, "not signed") || st.LastApplied != signed {
		t.Errorf("status %+v pin %+v: want the pin error shown and the signed commit still applied", st, st.Pin)
	}
}

// rollback's choice: after A (installs verified), B (applied, nothing
// installed, so nothing verified) and C (apply failed), the last good
// commit is A; pinning it applies A.
func TestRollbackPinsLastVerified(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	rec := newTestReconciler(t)
	rec.verify = true
	if _, err := LastGood(rec.stateDir); !errors.Is(err, ErrNoGoodCommit) {
		t.Fatalf("LastGood on an empty state dir = %v, want ErrNoGoodCommit", err)
	}
	a := repo.Commit(withReprovision(t, specWithLabel(t, "a"), "v1", "lokomotive-worker-1"), "a")
	src := gitSource(t, repo, nil)
	pol := DefaultPolicy()
	l := startLoop(t, Config{Source: src, Pins: src, Reconciler: rec, StateDir: rec.stateDir, Policy: pol,
		PollInterval: 50 * time.Millisecond, BackoffMin: time.Hour})
	l.expect(t, OutcomeApplied)
	b := repo.Commit(withReprovision(t, specWithLabel(t, "b"), "v1", "lokomotive-worker-1"), "b")
	if r := l.expect(t, OutcomeApplied); r.Commit != b {
		t.Fatalf("applied %s, want b", r.Commit)
	}
	rec.mu.Lock()
	rec.failReason = "reprovision v2"
	rec.mu.Unlock()
	c := repo.Commit(withReprovision(t, specWithLabel(t, "c"), "v2", "lokomotive-worker-1"), "c")
	if r := l.expect(t, OutcomeApplyFailed); r.Commit != c {
		t.Fatalf("apply-failed %s, want c %s", r.Commit, c)
	}

	good, err := LastGood(rec.stateDir)
	if err != nil || good.Commit != a || good.Verified != 1 {
		t.Fatalf("LastGood = %+v, %v: want a %s with 1 verified install (b verified nothing, c failed)", good, err, a)
	}
	if err := SetPin(rec.stateDir, state.Pin{Commit: good.Commit, By: "alice", At: time.Now(), Rollback: true}); err != nil {
		t.Fatal(err)
	}
	if r := l.expectOperator(t, OutcomePin, "alice", a); !strings.Contains(r.Reason, "rolled back by alice") {
		t.Errorf("rollback record %+v: want it named a rollback", r)
	}
	if r := l.expectTrig(t, OutcomeApplied, TriggerPin); r.Commit != a {
		t.Fatalf("rollback applied %s, want a %s", r.Commit, a)
	}
}
