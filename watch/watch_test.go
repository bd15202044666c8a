package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/source"
	"github.com/rackctl/rackctl/state"
)

func historyCommits(t *testing.T, stateDir string) []string {
	t.Helper()
	recs, err := state.New(stateDir).ReadHistory()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Commit+":"+string(r.Outcome))
	}
	return out
}

func fileExists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	return err == nil
}

// A commit is validated, planned and applied: the files appear under the
// root and the history names the commit. Then a second commit follows.
func TestGitCommitApplied(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	c1 := repo.Commit(baseSpec(t), "first")
	rec := newTestReconciler(t)
	rec.applyStart = make(chan string, 10)
	l := startLoop(t, Config{Source: gitSource(t, repo, nil), Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy()})

	ev := l.expect(t, OutcomeApplied)
	if ev.Commit != c1 || ev.Author != "Alice Ops" || ev.CommitTime.IsZero() || ev.Planned == nil || ev.Planned.Add == 0 {
		t.Errorf("record %+v: want commit %s by Alice Ops with planned additions", ev, c1)
	}
	<-rec.applyStart
	if !fileExists(t, filepath.Join(rec.root, "etc/hosts")) {
		t.Error("etc/hosts not written under the root")
	}
	if got := historyCommits(t, rec.stateDir); !slices.Equal(got, []string{c1 + ":success"}) {
		t.Errorf("history %v, want %s:success", got, c1)
	}
	if last, _ := state.New(rec.stateDir).LastApplied(); last != c1 {
		t.Errorf("LastApplied %q, want %s", last, c1)
	}

	// Next commit: a new worker label. Time from commit to apply start is
	// one poll interval (100 ms here) plus fetch and plan.
	spec2 := strings.Replace(baseSpec(t), "metadata.node-type: storage", "metadata.node-type: gpu", 1)
	start := time.Now()
	c2 := repo.Commit(spec2, "second")
	if got := <-rec.applyStart; got != c2 {
		t.Fatalf("apply started for %s, want %s", got, c2)
	}
	t.Logf("git (poll interval 100ms): commit to apply start %v", time.Since(start).Round(time.Millisecond))
	l.expect(t, OutcomeApplied)
	if got := historyCommits(t, rec.stateDir); len(got) != 2 || got[1] != c2+":success" {
		t.Errorf("history %v, want %s second", got, c2)
	}
	if st := l.w.Status(); st.LastApplied != c2 || !st.Running {
		t.Errorf("status %+v", st)
	}
}

// A spec that fails validation never reaches plan; the record carries the
// positioned diagnostics and the previous state stays.
func TestBadSpecRejected(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	c1 := repo.Commit(baseSpec(t), "good")
	rec := newTestReconciler(t)
	l := startLoop(t, Config{Source: gitSource(t, repo, nil), Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy()})
	l.expect(t, OutcomeApplied)
	hosts, _ := os.ReadFile(filepath.Join(rec.root, "etc/hosts"))

	c2 := repo.Commit(badSpec(t), "bad")
	ev := l.expect(t, OutcomeRejected)
	if ev.Commit != c2 || len(ev.Diagnostics) == 0 {
		t.Fatalf("record %+v: want commit %s with diagnostics", ev, c2)
	}
	d := ev.Diagnostics[0]
	if d.File != "rack.yaml" || d.Line == 0 || d.Col == 0 || !strings.Contains(ev.Reason, "rack.yaml:") {
		t.Errorf("diagnostic %+v, reason %q: want a rack.yaml:line:col position", d, ev.Reason)
	}
	if slices.Contains(rec.planned(), c2) {
		t.Error("the invalid commit was planned")
	}
	if last, _ := state.New(rec.stateDir).LastApplied(); last != c1 {
		t.Errorf("LastApplied %q, want the previous commit %s", last, c1)
	}
	if now, _ := os.ReadFile(filepath.Join(rec.root, "etc/hosts")); string(now) != string(hosts) {
		t.Error("etc/hosts changed after a rejected commit")
	}
	evs, err := state.New(rec.stateDir).ReadWatchEvents()
	if err != nil || len(evs) != 2 || evs[1].Outcome != OutcomeRejected || len(evs[1].Diagnostics) == 0 {
		t.Errorf("ReadWatchEvents = %+v, %v", evs, err)
	}
}

// With verification on, a signed commit applies and an unsigned one on top
// is skipped; the rack stays at the signed commit.
func TestUnsignedCommitSkipped(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	keyDir := t.TempDir()
	key := filepath.Join(keyDir, "id")
	if out, err := runCmd("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f", key); err != nil {
		t.Fatalf("ssh-keygen (needed to sign commits): %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	repo.Git("config", "gpg.format", "ssh")
	c1 := repo.Commit(baseSpec(t), "signed", "--gpg-sign="+key)
	rec := newTestReconciler(t)
	src := gitSource(t, repo, func(c *source.GitConfig) {
		c.Verify = true
		c.SSHAllowedSigners = []byte("alice@example.com " + string(pub))
	})
	l := startLoop(t, Config{Source: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy()})
	ev := l.expect(t, OutcomeApplied)
	if ev.SignedBy == "" {
		t.Errorf("applied record has no signer: %+v", ev)
	}
	spec2 := strings.Replace(baseSpec(t), "metadata.node-type: storage", "metadata.node-type: gpu", 1)
	c2 := repo.Commit(spec2, "unsigned", "--no-gpg-sign")
	ev = l.expect(t, OutcomeSkipped)
	if ev.Commit != c2 || !strings.Contains(ev.Reason, "not signed") {
		t.Errorf("record %+v: want %s skipped as unsigned", ev, c2)
	}
	if slices.Contains(rec.planned(), c2) {
		t.Error("the unsigned commit was planned")
	}
	if last, _ := state.New(rec.stateDir).LastApplied(); last != c1 {
		t.Errorf("LastApplied %q, want %s", last, c1)
	}
}

// A commit that reinstalls 2 of 5 workers (limit 25% → 1) is held until
// `rackctl approve`, then re-planned and applied; the approval is used up.
func TestHeldUntilApproved(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	repo.Commit(baseSpec(t), "base")
	rec := newTestReconciler(t)
	l := startLoop(t, Config{Source: gitSource(t, repo, nil), Reconciler: rec, StateDir: rec.stateDir,
		Policy: DefaultPolicy(), PollInterval: 50 * time.Millisecond})
	l.expect(t, OutcomeApplied)

	// One worker: within the limit, applied at once.
	c2 := repo.Commit(withReprovision(t, baseSpec(t), "a", "lokomotive-worker-0"), "one worker")
	ev := l.expect(t, OutcomeApplied)
	if ev.Commit != c2 || ev.Policy == nil || !slices.Equal(ev.Policy.Disruptive["worker"], []string{"lokomotive-worker-0"}) {
		t.Errorf("record %+v: want %s applied with worker-0 disruptive", ev, c2)
	}

	spec3 := withReprovision(t, baseSpec(t), "a", "lokomotive-worker-0")
	spec3 = withReprovision(t, spec3, "b", "lokomotive-worker-1", "lokomotive-worker-2")
	c3 := repo.Commit(spec3, "two workers")
	ev = l.expect(t, OutcomeHeld)
	if ev.Commit != c3 || !strings.Contains(ev.Reason, "worker: 2 nodes > limit 1") {
		t.Fatalf("record %+v: want %s held over the worker limit", ev, c3)
	}
	if st := l.w.Status(); st.Held != c3 {
		t.Errorf("status %+v: want %s held", st, c3)
	}
	// Polls while held write no more records.
	time.Sleep(200 * time.Millisecond)
	select {
	case r := <-l.events:
		t.Fatalf("unexpected record while held: %+v", r)
	default:
	}
	if got := historyCommits(t, rec.stateDir); len(got) != 2 {
		t.Fatalf("history %v: the held commit must not be applied", got)
	}

	full, err := Approve(rec.stateDir, c3[:10])
	if err != nil || full != c3 {
		t.Fatalf("Approve(%s) = %q, %v; want %s", c3[:10], full, err, c3)
	}
	ev = l.expect(t, OutcomeApplied)
	if ev.Commit != c3 || ev.Trigger != TriggerRelease || !ev.Policy.Approved {
		t.Errorf("record %+v: want %s applied on release, approved", ev, c3)
	}
	if fileExists(t, state.New(rec.stateDir).ApprovalPath(c3)) {
		t.Error("approval file left after the apply")
	}
	if st := l.w.Status(); st.Held != "" || st.LastApplied != c3 {
		t.Errorf("status %+v", st)
	}
}

// Outside the allowed windows a disruptive plan waits, a non-disruptive
// one applies; when the window opens the held one goes.
func TestDisruptiveWindow(t *testing.T) {
	win, err := ParseWindow("Mon-Fri 09:00-17:00")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 11, 7, 12, 0, 0, 0, time.UTC) // a Saturday
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pol := DefaultPolicy()
	pol.Windows, pol.Location = []Window{win}, time.UTC

	src := make(chanSource)
	rec := newTestReconciler(t)
	l := startLoop(t, Config{Source: src, Reconciler: rec, StateDir: rec.stateDir, Policy: pol, Now: clock, PollInterval: 20 * time.Millisecond})
	src <- revision("c1", baseSpec(t))
	l.expect(t, OutcomeApplied) // no disruptive change: any time
	src <- revision("c2", withReprovision(t, baseSpec(t), "a", "lokomotive-worker-0"))
	ev := l.expect(t, OutcomeHeld)
	if !ev.Policy.OutsideWindow {
		t.Errorf("record %+v: want held outside the window", ev)
	}
	mu.Lock()
	now = time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC) // Monday 09:00
	mu.Unlock()
	ev = l.expect(t, OutcomeApplied)
	if ev.Commit != "c2" || ev.Trigger != TriggerRelease {
		t.Errorf("record %+v: want c2 applied when the window opened", ev)
	}
}

// Cancelling the context (SIGTERM) in the middle of an apply stops it
// cleanly: Run returns, no apply lock is left, and the next start
// converges.
func TestCancelMidApply(t *testing.T) {
	repo := testenv.NewGitRepo(t)
	c1 := repo.Commit(baseSpec(t), "first")
	rec := newTestReconciler(t)
	rec.blockApply = true
	rec.applyStart = make(chan string, 1)
	cfg := Config{Source: gitSource(t, repo, nil), Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy()}
	l := startLoop(t, cfg)
	<-rec.applyStart
	time.Sleep(50 * time.Millisecond) // inside the files phase's BeforePhase
	l.cancel()
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		l.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	ev := l.expect(t, OutcomeCancelled)
	if ev.Commit != c1 {
		t.Errorf("record %+v", ev)
	}
	if fileExists(t, filepath.Join(rec.stateDir, reconcile.LockFile)) {
		t.Fatal("apply lock left after cancel")
	}
	if fileExists(t, filepath.Join(rec.root, "etc/hosts")) {
		t.Error("etc/hosts written although the apply was stopped before its files phase")
	}

	// Restart: the same source configuration converges.
	rec.mu.Lock()
	rec.blockApply, rec.applyStart = false, nil
	rec.mu.Unlock()
	cfg.Source = gitSource(t, repo, func(c *source.GitConfig) { c.LastApplied, _ = state.New(rec.stateDir).LastApplied() })
	l2 := startLoop(t, cfg)
	l2.expect(t, OutcomeApplied)
	if !fileExists(t, filepath.Join(rec.root, "etc/hosts")) {
		t.Error("restart did not converge")
	}
	if got := historyCommits(t, rec.stateDir); len(got) == 0 || got[len(got)-1] != c1+":success" {
		t.Errorf("history %v", got)
	}
}

// A panic in the Reconciler is recovered, recorded and retried with backoff;
// the loop carries on.
func TestPanicRecovered(t *testing.T) {
	src := make(chanSource)
	rec := newTestReconciler(t)
	rec.planPanics = 1
	l := startLoop(t, Config{Source: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy(),
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	src <- revision("c1", baseSpec(t))
	ev := l.expect(t, OutcomeFailed)
	if !strings.Contains(ev.Reason, "panicked") || !strings.Contains(ev.Reason, "injected panic") {
		t.Errorf("reason %q: want the panic", ev.Reason)
	}
	ev = l.expect(t, OutcomeApplied)
	if ev.Trigger != TriggerRetry {
		t.Errorf("record %+v: want applied on retry", ev)
	}
	if st := l.w.Status(); st.Failures != 0 || st.LastApplied != "c1" {
		t.Errorf("status %+v", st)
	}
	body := scrape(t, l.w)
	if !strings.Contains(body, "rackctl_watch_panics_total 1") {
		t.Errorf("metrics lack the panic:\n%s", grep(body, "panics"))
	}
}

// Failures back off exponentially up to the cap and a success resets it.
func TestBackoffGrowsAndCaps(t *testing.T) {
	tests := map[string]struct {
		n    int
		want time.Duration
	}{
		"first":   {1, 10 * time.Second},
		"second":  {2, 20 * time.Second},
		"third":   {3, 40 * time.Second},
		"sixth":   {6, 320 * time.Second},
		"capped":  {7, 10 * time.Minute},
		"far out": {1000, 10 * time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Backoff(tc.n, DefaultBackoffMin, DefaultBackoffMax); got != tc.want {
				t.Errorf("Backoff(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}

	// In the loop: the waits between failed attempts grow and cap.
	src := make(chanSource)
	rec := newTestReconciler(t)
	rec.planErrs = 5
	l := startLoop(t, Config{Source: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy(),
		BackoffMin: 40 * time.Millisecond, BackoffMax: 160 * time.Millisecond})
	src <- revision("c1", baseSpec(t))
	for range 5 {
		l.expect(t, OutcomeFailed)
	}
	l.expect(t, OutcomeApplied)
	rec.mu.Lock()
	times := rec.planTimes
	rec.mu.Unlock()
	var gaps []time.Duration
	for i := 1; i < len(times); i++ {
		gaps = append(gaps, times[i].Sub(times[i-1]))
	}
	t.Logf("gaps between attempts: %v", gaps)
	wantMin := []time.Duration{40, 80, 160, 160, 160}
	if len(gaps) != len(wantMin) {
		t.Fatalf("%d attempts after the first, want %d", len(gaps), len(wantMin))
	}
	for i, g := range gaps {
		lo := wantMin[i] * time.Millisecond
		if g < lo || g > lo+2*time.Second {
			t.Errorf("gap %d = %v, want about %v", i, g, lo)
		}
	}
}

// Drift: a managed file removed behind rackctl's back is put back on the
// drift interval, without a new commit.
func TestDriftReconciled(t *testing.T) {
	src := make(chanSource)
	rec := newTestReconciler(t)
	l := startLoop(t, Config{Source: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy(), DriftInterval: 100 * time.Millisecond})
	src <- revision("c1", baseSpec(t))
	l.expect(t, OutcomeApplied)
	hosts := filepath.Join(rec.root, "etc/hosts")
	if err := os.Remove(hosts); err != nil {
		t.Fatal(err)
	}
	ev := l.expect(t, OutcomeApplied)
	if ev.Trigger != TriggerDrift || ev.Commit != "c1" {
		t.Errorf("record %+v: want c1 re-applied on drift", ev)
	}
	if !fileExists(t, hosts) {
		t.Error("etc/hosts not restored")
	}
	if body := scrapeUntil(t, l.w, `rackctl_watch_reconciles_total{outcome="applied",trigger="drift"} 1`); !strings.Contains(body, `rackctl_watch_reconciles_total{outcome="applied",trigger="drift"} 1`) {
		t.Errorf("metrics:\n%s", grep(body, "reconciles_total"))
	}
}

// The file source end to end, saved as editors do: write a temp file and
// rename it over the spec (atomic save), then vim's backup rename and new
// write. The time from save to apply start is logged.
func TestFileSourceEditorSave(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "rack.yaml")
	if err := os.WriteFile(spec, []byte(baseSpec(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	fsrc, err := source.NewFile(source.FileConfig{Path: spec})
	if err != nil {
		t.Fatal(err)
	}
	rec := newTestReconciler(t)
	rec.applyStart = make(chan string, 10)
	l := startLoop(t, Config{Source: fsrc, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy()})
	l.expect(t, OutcomeApplied)
	<-rec.applyStart

	// Atomic save: temp file renamed over the spec.
	spec2 := strings.Replace(baseSpec(t), "metadata.node-type: storage", "metadata.node-type: gpu", 1)
	tmp := filepath.Join(dir, ".rack.yaml.swp")
	if err := os.WriteFile(tmp, []byte(spec2), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := os.Rename(tmp, spec); err != nil {
		t.Fatal(err)
	}
	commit := <-rec.applyStart
	lat := time.Since(start)
	t.Logf("file source (debounce %v): save (rename) to apply start %v", source.DefaultDebounce, lat.Round(time.Millisecond))
	if !strings.HasPrefix(commit, "sha256:") {
		t.Errorf("commit %q: want the content hash", commit)
	}
	l.expect(t, OutcomeApplied)
	lok, _ := os.ReadFile(filepath.Join(rec.root, "home/core/lokomotive/lokocfg.vars"))
	if !strings.Contains(string(lok), "gpu") {
		t.Error("the renamed-in spec was not applied (lokocfg.vars lacks the new label)")
	}

	// vim: rename the spec to a backup, write a new file.
	spec3 := strings.Replace(spec2, "metadata.node-type: gpu", "metadata.node-type: fpga", 1)
	if err := os.Rename(spec, spec+"~"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := os.WriteFile(spec, []byte(spec3), 0o644); err != nil {
		t.Fatal(err)
	}
	<-rec.applyStart
	t.Logf("file source: vim-style save to apply start %v", time.Since(start).Round(time.Millisecond))
	l.expect(t, OutcomeApplied)
}

// RunOnce handles the current revision and returns its outcome.
func TestRunOnce(t *testing.T) {
	tests := map[string]struct {
		spec string
		want Outcome
	}{
		"valid":   {baseSpec(t), OutcomeApplied},
		"invalid": {badSpec(t), OutcomeRejected},
		"held":    {withReprovision(t, baseSpec(t), "x", "lokomotive-controller-0", "lokomotive-controller-1"), OutcomeHeld},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			repo := testenv.NewGitRepo(t)
			repo.Commit(tc.spec, name)
			rec := newTestReconciler(t)
			w, err := New(Config{Source: gitSource(t, repo, nil), Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy(), Log: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := w.RunOnce(context.Background())
			if got != tc.want {
				t.Errorf("RunOnce = %s, %v; want %s", got, err, tc.want)
			}
			var diags schema.Errors
			if tc.want == OutcomeRejected && !errors.As(err, &diags) {
				t.Errorf("error %v: want schema.Errors", err)
			}
		})
	}
}

// /metrics, /healthz and /webhook.
func TestHandler(t *testing.T) {
	src := make(chanSource)
	rec := newTestReconciler(t)
	hooked := make(chan struct{}, 1)
	hook := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hooked <- struct{}{}
		rw.WriteHeader(http.StatusAccepted)
	})
	l := startLoop(t, Config{Source: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy(), Webhook: hook})
	src <- revision("c1", baseSpec(t))
	l.expect(t, OutcomeApplied)
	srv := httptest.NewServer(l.w.Handler())
	defer srv.Close()

	body := get(t, srv.URL+"/metrics", http.StatusOK)
	for _, want := range []string{
		`rackctl_watch_last_applied_info{commit="c1"} 1`,
		`rackctl_watch_actions_total{layer="files",outcome="done"}`,
		`rackctl_watch_reconcile_duration_seconds_bucket{outcome="applied",trigger="revision"`,
		`rackctl_watch_held 0`,
		`rackctl_watch_drift_changes 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	health := get(t, srv.URL+"/healthz", http.StatusOK)
	if !strings.Contains(health, `"running":true`) || !strings.Contains(health, `"lastApplied":"c1"`) {
		t.Errorf("/healthz = %s", health)
	}
	resp, err := http.Post(srv.URL+"/webhook", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST /webhook: %s", resp.Status)
	}
	select {
	case <-hooked:
	case <-time.After(time.Second):
		t.Error("webhook handler not called")
	}
}

// A rollout whose canary does not become healthy: the loop records
// rollout-stopped, counts it, and the other nodes are not reinstalled. The
// plan disrupts 2 of 5 workers, over the default limit (1), but in waves
// of one: it is not held.
func TestRolloutStopped(t *testing.T) {
	src := make(chanSource)
	rec := newTestReconciler(t)
	l := startLoop(t, Config{Source: src, Reconciler: rec, StateDir: rec.stateDir, Policy: DefaultPolicy()})
	spec := baseSpec(t) + "rollout: {settle: 0s, timeout: 1s, maxUnavailable: {worker: 1}}\n"
	src <- revision("c1", spec)
	l.expect(t, OutcomeApplied)
	rec.mu.Lock()
	rec.unhealthy = map[string]string{"lokomotive-worker-0": "not Ready"}
	rec.reinstalled = nil
	rec.mu.Unlock()
	src <- revision("c2", withReprovision(t, spec, "r2", "lokomotive-worker-0", "lokomotive-worker-1", "lokomotive-controller-0"))
	ev := l.expect(t, OutcomeRolloutStopped)
	if !strings.Contains(ev.Reason, "rollout stopped at wave 1 of 3") || !strings.Contains(ev.Reason, "lokomotive-worker-0 (not Ready)") {
		t.Errorf("reason %q: want wave 1 and the unhealthy canary named", ev.Reason)
	}
	rec.mu.Lock()
	reinstalled := slices.Clone(rec.reinstalled)
	rec.mu.Unlock()
	if !slices.Equal(reinstalled, []string{"lokomotive-worker-0"}) {
		t.Errorf("reinstalled %v, want the canary alone", reinstalled)
	}
	srv := httptest.NewServer(l.w.Handler())
	defer srv.Close()
	body := get(t, srv.URL+"/metrics", http.StatusOK)
	for _, want := range []string{"rackctl_rollout_stopped_total 1", "rackctl_rollout_wave 0",
		`rackctl_watch_reconciles_total{outcome="rollout-stopped",trigger="revision"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestBMCReachabilityFromPlan(t *testing.T) {
	m := newMetrics()
	m.observeBMC(&reconcile.Plan{Observed: reconcile.Observations{
		reconcile.NodeKey(reconcile.LayerBMC, "n1", reconcile.AspectPower): "on",
		reconcile.NodeKey(reconcile.LayerBMC, "n2", reconcile.AspectPower): reconcile.Unreachable,
		// Not power states: no reachability from them.
		reconcile.NodeKey(reconcile.LayerBMC, "n3", reconcile.AspectAddressSource): "static",
		reconcile.FileKey("etc/hosts"):                                             "sha256:x",
	}})
	w := &Watcher{m: m}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	body := get(t, srv.URL+"/metrics", http.StatusOK)
	for _, want := range []string{`rackctl_watch_bmc_reachable{node="n1"} 1`, `rackctl_watch_bmc_reachable{node="n2"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `node="n3"`) {
		t.Error("/metrics has a reachability for a BMC whose power was not read")
	}
}

func TestApproveErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"", "..", "a/b"} {
		if _, err := Approve(dir, c); err == nil {
			t.Errorf("Approve(%q): no error", c)
		}
	}
	for _, c := range []string{"abcdef0111", "abcdef0222"} {
		if err := state.New(dir).AppendWatchEvent(EventRecord{Outcome: OutcomeHeld, Commit: c}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Approve(dir, "abcdef0"); !errors.Is(err, ErrAmbiguousCommit) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if got, err := Approve(dir, "abcdef01"); err != nil || got != "abcdef0111" {
		t.Errorf("Approve = %q, %v", got, err)
	}
	if !state.New(dir).Approved("abcdef0111") {
		t.Error("approval not recorded")
	}
}

func scrape(t *testing.T, w *Watcher) string {
	t.Helper()
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	return get(t, srv.URL+"/metrics", http.StatusOK)
}

// scrapeUntil scrapes until the metrics contain want or 2 s passed: the
// loop counts a reconcile just after it records its event.
func scrapeUntil(t *testing.T, w *Watcher, want string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		body := scrape(t, w)
		if strings.Contains(body, want) || time.Now().After(deadline) {
			return body
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string, code int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %s, want %d\n%s", url, resp.Status, code, b)
	}
	return string(b)
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return fmt.Sprint(out)
}

// heldGate is a health gate that finds every node healthy, but holds the
// first question about node until released: the wave of node is waiting
// to become healthy meanwhile (a fake: the engine's gate is tested on the
// simulated rack).
type heldGate struct {
	node           string
	asked, release chan struct{}
	once           sync.Once
}

func (g *heldGate) Unhealthy(ctx context.Context, nodes []string) (map[string]string, error) {
	if slices.Contains(nodes, g.node) {
		g.once.Do(func() {
			close(g.asked)
			select {
			case <-g.release:
			case <-ctx.Done():
			}
		})
	}
	return nil, nil
}

// TestRolloutMetricsLive: while a rollout runs, /metrics shows the wave
// being waited on (rackctl_rollout_wave_in_progress) and its nodes by
// state; once it is done, no wave is in progress and every node is
// healthy. 3 of 5 workers reinstalled in waves of one: the scrape happens
// while wave 2 waits to become healthy.
func TestRolloutMetricsLive(t *testing.T) {
	src := make(chanSource)
	rec := newTestReconciler(t)
	rec.unhealthy = map[string]string{} // follow the spec's rollout
	l := startLoop(t, Config{Source: src, Reconciler: progressing{rec}, StateDir: rec.stateDir, Policy: DefaultPolicy()})
	srv := httptest.NewServer(l.w.Handler())
	defer srv.Close()
	spec := baseSpec(t) + "rollout: {settle: 0s, timeout: 1m, maxUnavailable: {worker: 1}}\n"
	src <- revision("c1", spec)
	l.expect(t, OutcomeApplied)

	gate := &heldGate{node: "lokomotive-worker-1", asked: make(chan struct{}), release: make(chan struct{})}
	rec.mu.Lock()
	rec.gate = gate
	rec.mu.Unlock()
	src <- revision("c2", withReprovision(t, spec, "r2", "lokomotive-worker-0", "lokomotive-worker-1", "lokomotive-worker-2"))
	select {
	case <-gate.asked:
	case <-time.After(time.Minute): // a bound on a hang, no timing assertion
		t.Fatal("wave 2 was never gated on health")
	}
	assertMetrics(t, get(t, srv.URL+"/metrics", http.StatusOK), "while wave 2 waits", "rackctl_rollout_wave_in_progress 2",
		`rackctl_rollout_wave_nodes{state="healthy"} 1`, `rackctl_rollout_wave_nodes{state="in_progress"} 1`,
		`rackctl_rollout_wave_nodes{state="pending"} 1`, `rackctl_rollout_wave_nodes{state="unhealthy"} 0`)
	close(gate.release)
	l.expect(t, OutcomeApplied)
	assertMetrics(t, get(t, srv.URL+"/metrics", http.StatusOK), "after the rollout", "rackctl_rollout_wave_in_progress 0",
		`rackctl_rollout_wave_nodes{state="healthy"} 3`, `rackctl_rollout_wave_nodes{state="in_progress"} 0`,
		`rackctl_rollout_wave_nodes{state="pending"} 0`, "rackctl_rollout_wave 3")
}

func assertMetrics(t *testing.T, body, when string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("%s: /metrics lacks %s", when, w)
		}
	}
}
