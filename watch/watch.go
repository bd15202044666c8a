package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rackctl/rackctl/nodessh"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/source"
	"github.com/rackctl/rackctl/state"
)

// Defaults of Config.
const (
	DefaultDriftInterval = 10 * time.Minute
	DefaultBackoffMin    = 10 * time.Second
	DefaultBackoffMax    = 10 * time.Minute
	DefaultPollInterval  = 2 * time.Second
)

// Reconciler plans and applies a validated rack. The engine provides the
// real one (engine.Engine.Reconciler, apply's own path); tests use fakes.
type Reconciler interface {
	// Plan builds the plan of rack against the live state, recording
	// commit in it.
	Plan(ctx context.Context, rack *schema.Rack, commit string) (*reconcile.Plan, error)
	// Apply carries out p (made by Plan for rack), recording p.Commit in
	// the history. It must return when ctx is cancelled, leaving no lock.
	Apply(ctx context.Context, rack *schema.Rack, p *reconcile.Plan) (reconcile.Result, error)
}

// ProgressReconciler is a Reconciler whose Apply also reports its
// progress as it goes (reconcile.Event): the loop's live rollout metrics
// follow the waves with it. The engine's Reconciler is one. A Reconciler
// that wraps another by embedding it and overrides Apply must override
// ApplyProgress too, or the loop calls the embedded one.
type ProgressReconciler interface {
	ApplyProgress(ctx context.Context, rack *schema.Rack, p *reconcile.Plan, progress func(reconcile.Event)) (reconcile.Result, error)
}

// Config configures a Watcher.
type Config struct {
	Source     source.Source
	Reconciler Reconciler
	// StateDir holds watch-events.jsonl, watch-state.json and approvals/.
	StateDir string
	// Policy is used as given; start from DefaultPolicy.
	Policy Policy
	// DriftInterval between re-plans of the applied revision; zero means
	// DefaultDriftInterval, negative turns drift checks off.
	DriftInterval time.Duration
	// BackoffMin and BackoffMax bound the wait after a failure: it doubles
	// from BackoffMin with every failure in a row, up to BackoffMax.
	BackoffMin, BackoffMax time.Duration
	// PollInterval is how often a held plan checks for its approval or an
	// opened window. Default DefaultPollInterval.
	PollInterval time.Duration
	// Webhook, when set, is served on /webhook by Handler
	// (source.Git.WebhookHandler).
	Webhook http.Handler
	Log     *slog.Logger
	Now     func() time.Time
	// OnEvent, when set, sees every record the loop writes, after it is
	// written; it runs on the loop's goroutine.
	OnEvent func(EventRecord)
	// Pins reads the commit of a rollback pin (pin.json); the git source
	// (source.Git) is one. Nil: a pin cannot be followed and nothing is
	// applied while one is set.
	Pins PinReader
}

// Status is the loop's state, as /healthz shows it.
type Status struct {
	Running     bool      `json:"running"`
	LastApplied string    `json:"lastApplied,omitempty"`
	Current     string    `json:"current,omitempty"` // revision reconciled: the newest valid one, or the pinned one
	Held        string    `json:"held,omitempty"`    // commit waiting, if any
	HeldReason  string    `json:"heldReason,omitempty"`
	Failures    int       `json:"failures"`
	LastError   string    `json:"lastError,omitempty"`
	NextRetry   time.Time `json:"nextRetry,omitzero"`
	// Pin is the rollback pin while one is set (rackctl pin/rollback).
	Pin *PinStatus `json:"pin,omitempty"`
}

// Watcher is the GitOps loop: for each revision from its source it
// validates, plans, checks the policy and applies.
type Watcher struct {
	cfg   Config
	state state.Dir
	log   *slog.Logger
	m     *metrics

	mu     sync.Mutex
	status Status
	spec   *schema.Rack // of the revision reconciled (the pinned one while pinned), for Spec

	// Owned by the loop goroutine.
	cur      *desired // what is reconciled: head, or the pinned revision
	head     *desired // newest valid revision from the source
	pins     pinState
	maint    maintenanceState
	held     *Decision
	heldKey  string
	failures int
	retry    *time.Timer
	retryC   <-chan time.Time
}

// desired is the newest valid revision.
type desired struct {
	rev  source.Revision
	rack *schema.Rack
}

// New checks cfg and returns a Watcher.
func New(cfg Config) (*Watcher, error) {
	if cfg.Source == nil || cfg.Reconciler == nil {
		return nil, errors.New("watch: source and reconciler are required")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("watch: no state dir")
	}
	if cfg.DriftInterval == 0 {
		cfg.DriftInterval = DefaultDriftInterval
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	cfg.BackoffMax = max(cfg.BackoffMax, cfg.BackoffMin)
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{cfg: cfg, state: state.New(cfg.StateDir), log: log, m: newMetrics()}
	last, err := w.state.LastApplied()
	if err != nil {
		log.Warn("watch state unreadable, starting afresh", "err", err)
	}
	w.status.LastApplied = last
	if last != "" {
		w.m.lastApplied.WithLabelValues(last).Set(1)
	}
	return w, nil
}

// Status returns the loop's current state; safe for concurrent use.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// Spec is the reconciled revision's spec (the pinned one while pinned;
// nil before one); safe for concurrent use. The API observes this rack.
func (w *Watcher) Spec() *schema.Rack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.spec
}

func (w *Watcher) setStatus(f func(*Status)) {
	w.mu.Lock()
	f(&w.status)
	w.mu.Unlock()
}

// Backoff is the wait after the n-th failure in a row (n ≥ 1): min·2ⁿ⁻¹,
// at most max.
func Backoff(n int, minWait, maxWait time.Duration) time.Duration {
	d := minWait
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	return min(d, maxWait)
}

// Run reconciles every revision the source sends, drift on the drift
// interval, held plans once approved or in their window, and failures
// with backoff, until ctx is cancelled; it then returns nil once the
// current reconcile has stopped (reconcile.Apply sees the cancellation).
// It returns an error only if the source cannot run at all.
func (w *Watcher) Run(ctx context.Context) error {
	events, stop := w.startSource(ctx)
	defer stop()
	w.setStatus(func(s *Status) { s.Running = true })
	defer w.setStatus(func(s *Status) { s.Running = false })

	var driftC <-chan time.Time
	if w.cfg.DriftInterval > 0 {
		t := time.NewTicker(w.cfg.DriftInterval)
		defer t.Stop()
		driftC = t.C
	}
	poll := time.NewTicker(w.cfg.PollInterval)
	defer poll.Stop()
	w.maintenanceChanged() // the overrides as the loop starts

	defer w.stopRetry()

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events.c:
			if !ok {
				if events.err != nil {
					return events.err
				}
				return nil
			}
			w.handleEvent(ctx, ev)
		case <-w.retryC:
			w.retryC = nil
			if w.cur != nil {
				w.reconcile(ctx, TriggerRetry)
			}
		case <-driftC:
			if w.cur != nil && w.held == nil && w.failures == 0 {
				w.reconcile(ctx, TriggerDrift)
			}
		case <-poll.C:
			if w.pins.seen && w.pinChanged() {
				w.forwardOperatorRecords() // who pinned or unpinned, before what the loop does about it
				w.followPinNow(ctx)
				continue
			}
			if w.maintenanceChanged() && w.cur != nil && w.held == nil && w.failures == 0 {
				w.reconcile(ctx, TriggerDrift) // a drift check at once, not at the next interval
				continue
			}
			if w.releasable() {
				w.reconcile(ctx, TriggerRelease)
			}
		}
	}
}

// RunOnce handles the source's first event (the current revision) and
// returns what became of it. A held plan is not waited for, a failure not
// retried.
func (w *Watcher) RunOnce(ctx context.Context) (Outcome, error) {
	events, stop := w.startSource(ctx)
	defer stop()
	defer w.stopRetry()
	select {
	case <-ctx.Done():
		return OutcomeCancelled, ctx.Err()
	case ev, ok := <-events.c:
		if !ok {
			if events.err != nil {
				return OutcomeFailed, events.err
			}
			return OutcomeCancelled, errors.New("watch: source stopped without a revision")
		}
		return w.handleEvent(ctx, ev)
	}
}

// sourceEvents is the running source: c is closed when Run returns, with
// err set before.
type sourceEvents struct {
	c   chan source.Event
	err error
}

func (w *Watcher) startSource(ctx context.Context) (*sourceEvents, func()) {
	sctx, cancel := context.WithCancel(ctx)
	raw := make(chan source.Event)
	se := &sourceEvents{c: make(chan source.Event)}
	done := make(chan struct{})
	go func() {
		err := w.cfg.Source.Run(sctx, raw)
		if err != nil {
			err = fmt.Errorf("watch: source: %w", err)
		}
		se.err = err
		close(done)
	}()
	go func() {
		defer close(se.c)
		for {
			select {
			case ev := <-raw:
				select {
				case se.c <- ev:
				case <-sctx.Done():
					return
				}
			case <-done:
				return
			}
		}
	}()
	return se, func() { cancel(); <-done }
}

// handleEvent takes one source event: a refused commit is recorded, a
// revision validated and, when valid, reconciled.
func (w *Watcher) handleEvent(ctx context.Context, ev source.Event) (Outcome, error) {
	w.pins.seen = true
	if ev.Err != nil {
		w.m.sourceErrs.Inc()
		var ce *source.CommitError
		if errors.As(ev.Err, &ce) {
			w.log.Warn("commit skipped", "commit", ce.Commit, "author", ce.Author, "err", ev.Err)
			w.m.revisions.WithLabelValues(string(TriggerRevision), string(OutcomeSkipped)).Inc()
			w.record(EventRecord{Trigger: TriggerRevision, Outcome: OutcomeSkipped, Commit: ce.Commit,
				Author: ce.Author, AuthorEmail: ce.AuthorEmail, Reason: ev.Err.Error()})
			return OutcomeSkipped, ev.Err
		}
		w.log.Warn("spec source", "err", ev.Err)
		w.setStatus(func(s *Status) { s.LastError = ev.Err.Error() })
		return OutcomeFailed, ev.Err
	}
	rev := *ev.Revision
	log := w.log.With("commit", rev.Commit)
	log.Info("new revision", "author", rev.Author, "time", rev.Time, "signedBy", rev.SignedBy)
	rack, err := parse(rev)
	if err != nil {
		rec := revRecord(rev, TriggerRevision, OutcomeRejected)
		var diags schema.Errors
		if errors.As(err, &diags) {
			rec.Diagnostics = diags
			rec.Reason = fmt.Sprintf("%s is not valid (%d problem(s)); first: %s", rev.Path, len(diags), diags[0])
		} else {
			rec.Reason = err.Error()
		}
		log.Warn("spec rejected, keeping the previous state", "reason", rec.Reason)
		w.m.revisions.WithLabelValues(string(TriggerRevision), string(OutcomeRejected)).Inc()
		w.record(rec)
		return OutcomeRejected, err
	}
	w.head = &desired{rev: rev, rack: rack}
	changed := w.pinChanged()
	pin := w.pins.pin
	switch {
	case w.pins.loadErr != "":
		if changed {
			w.followPinNow(ctx)
		}
		return OutcomeFailed, errors.New(w.pins.loadErr)
	case pin != nil && pin.Commit != rev.Commit:
		w.reportPinned(rev)
		if !changed && w.cur != nil {
			return OutcomePinned, nil
		}
		return w.followPinNow(ctx) // new, or not followed so far: try again
	}
	if changed {
		w.followPin(ctx) // the pin went, or names the head: status and metrics
	}
	if w.held != nil && w.cur != nil && w.cur.rev.Commit != rev.Commit {
		log.Info("new revision supersedes the held one", "held", w.cur.rev.Commit)
	}
	return w.switchTo(ctx, w.head, TriggerRevision)
}

// followPinNow reconciles what a changed pin says, at once.
func (w *Watcher) followPinNow(ctx context.Context) (Outcome, error) {
	d, trig, err := w.followPin(ctx)
	if err != nil {
		return OutcomeFailed, err
	}
	if d == nil { // unpinned before the source sent a valid head
		w.cur = nil
		return OutcomeUnchanged, nil
	}
	return w.switchTo(ctx, d, trig)
}

// switchTo makes d the revision the loop reconciles, drops what was held
// or retried for the previous one, and reconciles d.
func (w *Watcher) switchTo(ctx context.Context, d *desired, trig Trigger) (Outcome, error) {
	w.cur = d
	w.mu.Lock()
	w.spec = d.rack
	w.mu.Unlock()
	w.failures = 0
	w.stopRetry()
	w.setHeld(nil, "")
	w.setStatus(func(s *Status) { s.Current, s.Failures, s.NextRetry = d.rev.Commit, 0, time.Time{} })
	return w.reconcile(ctx, trig)
}

// parse validates a revision's spec; a panic in the validator (a bug) is an
// error, not the end of the loop.
func parse(rev source.Revision) (rack *schema.Rack, err error) {
	defer func() {
		if r := recover(); r != nil {
			rack, err = nil, fmt.Errorf("validate %s: panic: %v", rev.Path, r)
		}
	}()
	return schema.Parse(rev.Path, rev.Spec)
}

// reconcile plans and applies w.cur; a panic is recovered and counts as a
// failure.
func (w *Watcher) reconcile(ctx context.Context, trig Trigger) (out Outcome, err error) {
	cur := w.cur
	start := w.cfg.Now()
	defer func() {
		if r := recover(); r != nil {
			w.m.panics.Inc()
			err = fmt.Errorf("reconcile of %s panicked: %v", cur.rev.Commit, r)
			w.log.Error("reconcile panicked", "commit", cur.rev.Commit, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			out = OutcomeFailed
			w.fail(trig, cur, OutcomeFailed, err, nil)
		}
		w.m.duration.WithLabelValues(string(trig), string(out)).Observe(w.cfg.Now().Sub(start).Seconds())
		w.m.revisions.WithLabelValues(string(trig), string(out)).Inc()
	}()
	return w.reconcileOnce(ctx, trig, cur)
}

// reconcileOnce plans the desired revision and, if it has changes the
// policy lets through, applies it; every outcome is recorded.
func (w *Watcher) reconcileOnce(ctx context.Context, trig Trigger, cur *desired) (Outcome, error) {
	commit := cur.rev.Commit
	log := w.log.With("commit", commit, "trigger", string(trig))
	p, err := w.cfg.Reconciler.Plan(ctx, cur.rack, commit)
	if err != nil {
		if ctx.Err() != nil {
			return OutcomeCancelled, err
		}
		err = fmt.Errorf("plan %s: %w", commit, err)
		w.fail(trig, cur, OutcomeFailed, err, nil)
		return OutcomeFailed, err
	}
	w.m.observeBMC(p)
	counts := p.Counts()
	if trig == TriggerDrift {
		w.observeDrift(p, log)
	}
	if !p.HasChanges() {
		log.Debug("no changes")
		w.succeeded(cur)
		if trig != TriggerDrift {
			rec := revRecord(cur.rev, trig, OutcomeUnchanged)
			rec.Planned = &counts
			w.record(rec)
		}
		return OutcomeUnchanged, nil
	}

	dec := w.cfg.Policy.Check(cur.rack, p, w.state.Approved(commit), w.cfg.Now())
	var decRec *state.PolicyDecision
	if len(dec.Disruptive) > 0 || dec.OutsideWindow {
		decRec = (*state.PolicyDecision)(&dec)
	}
	if dec.Hold() {
		w.hold(trig, cur, &dec, decRec, counts, log)
		return OutcomeHeld, nil
	}
	w.setHeld(nil, "")
	return w.applyPlan(ctx, trig, cur, p, &dec, decRec, counts, log)
}

// observeDrift sets the drift gauge to the changes a drift check found.
func (w *Watcher) observeDrift(p *reconcile.Plan, log *slog.Logger) {
	n := 0
	for _, c := range p.Changes {
		if c.Action != reconcile.ActionNoop {
			n++
		}
	}
	n += len(p.Allocations)
	w.m.drift.Set(float64(n))
	if n > 0 {
		log.Warn("drift found", "changes", n)
	}
}

// hold keeps a plan the policy holds back, recording it once per commit
// and reason.
func (w *Watcher) hold(trig Trigger, cur *desired, dec *Decision, decRec *state.PolicyDecision, counts reconcile.Counts, log *slog.Logger) {
	commit := cur.rev.Commit
	w.setHeld(dec, commit)
	key := commit + "\x00" + dec.Reason()
	if key == w.heldKey {
		return
	}
	w.heldKey = key
	log.Warn("plan held", "reason", dec.Reason(), "disruptiveNodes", dec.DisruptiveNodes())
	rec := revRecord(cur.rev, trig, OutcomeHeld)
	rec.Planned, rec.Policy, rec.Reason = &counts, decRec, dec.Reason()
	w.record(rec)
}

// applyPlan applies a plan the policy let through and records how it
// ended.
func (w *Watcher) applyPlan(ctx context.Context, trig Trigger, cur *desired, p *reconcile.Plan, dec *Decision, decRec *state.PolicyDecision, counts reconcile.Counts, log *slog.Logger) (Outcome, error) {
	commit := cur.rev.Commit
	log.Info("applying", "add", counts.Add, "change", counts.Change, "destroy", counts.Destroy, "disruptiveNodes", dec.DisruptiveNodes())
	res, err := w.reconcilerApply(ctx, cur.rack, p)
	w.m.observeResult(res)
	if err == nil && res.Outcome != reconcile.OutcomeSuccess && res.Outcome != "" {
		err = fmt.Errorf("apply ended %s", res.Outcome)
	}
	if err != nil {
		if ctx.Err() != nil {
			log.Warn("apply stopped: the loop is shutting down", "err", err)
			rec := revRecord(cur.rev, trig, OutcomeCancelled)
			rec.Planned, rec.Policy, rec.Reason = &counts, decRec, err.Error()
			w.record(rec)
			return OutcomeCancelled, err
		}
		err = fmt.Errorf("apply %s: %w", commit, err)
		out := OutcomeApplyFailed
		if res.Outcome == reconcile.OutcomeRolloutStopped {
			out = OutcomeRolloutStopped
		}
		w.fail(trig, cur, out, err, &counts, failures(res)...)
		return out, err
	}
	if dec.Approved {
		if err := w.state.RemoveApproval(commit); err != nil {
			log.Warn("remove approval", "err", err)
		}
	}
	w.succeeded(cur)
	if trig == TriggerDrift {
		w.m.drift.Set(0)
	}
	log.Info("applied", "done", len(res.Done))
	rec := revRecord(cur.rev, trig, OutcomeApplied)
	rec.Planned, rec.Policy = &counts, decRec
	w.record(rec)
	return OutcomeApplied, nil
}

// reconcilerApply applies p, following its rollout's waves in the live
// metrics when the Reconciler reports progress.
func (w *Watcher) reconcilerApply(ctx context.Context, rack *schema.Rack, p *reconcile.Plan) (reconcile.Result, error) {
	w.m.rolloutStarts(p)
	defer w.m.rolloutEnds()
	if pr, ok := w.cfg.Reconciler.(ProgressReconciler); ok {
		return pr.ApplyProgress(ctx, rack, p, w.m.observeProgress)
	}
	return w.cfg.Reconciler.Apply(ctx, rack, p)
}

// releasable tells whether a held plan may now go: its approval arrived or
// its window opened.
func (w *Watcher) releasable() bool {
	if w.held == nil || w.cur == nil {
		return false
	}
	d := w.held
	if len(d.OverLimit) > 0 && !d.Approved && w.state.Approved(w.cur.rev.Commit) {
		return true
	}
	return d.OutsideWindow && w.cfg.Policy.InWindow(w.cfg.Now())
}

func (w *Watcher) setHeld(d *Decision, commit string) {
	w.held = d
	if d == nil {
		w.heldKey = ""
		w.m.held.Set(0)
		w.setStatus(func(s *Status) { s.Held, s.HeldReason = "", "" })
		return
	}
	w.m.held.Set(1)
	w.setStatus(func(s *Status) { s.Held, s.HeldReason = commit, d.Reason() })
}

func (w *Watcher) succeeded(cur *desired) {
	w.failures = 0
	w.stopRetry()
	w.m.failures.Set(0)
	commit := cur.rev.Commit
	now := w.cfg.Now()
	prev := w.Status().LastApplied
	if prev != commit {
		if err := w.state.SaveWatchState(state.WatchState{LastApplied: commit, Time: now.UTC()}); err != nil {
			w.log.Warn("save watch state", "commit", commit, "err", err)
		}
	}
	w.m.lastApplied.Reset()
	w.m.lastApplied.WithLabelValues(commit).Set(1)
	w.m.lastTime.Set(float64(now.Unix()))
	w.setStatus(func(s *Status) {
		s.LastApplied, s.Failures, s.LastError, s.NextRetry = commit, 0, "", time.Time{}
	})
}

// fail records a failed reconcile, with the changes that failed when an
// apply ran, and arms the retry.
func (w *Watcher) fail(trig Trigger, cur *desired, out Outcome, err error, counts *reconcile.Counts, failed ...state.WatchFailure) {
	w.failures++
	wait := Backoff(w.failures, w.cfg.BackoffMin, w.cfg.BackoffMax)
	w.stopRetry()
	w.retry = time.NewTimer(wait)
	w.retryC = w.retry.C
	next := w.cfg.Now().Add(wait)
	w.m.failures.Set(float64(w.failures))
	w.log.Error("reconcile failed", "commit", cur.rev.Commit, "trigger", string(trig), "failures", w.failures, "retryIn", wait, "err", err)
	w.setStatus(func(s *Status) { s.Failures, s.LastError, s.NextRetry = w.failures, err.Error(), next })
	rec := revRecord(cur.rev, trig, out)
	rec.Planned, rec.Reason, rec.Failed = counts, err.Error(), failed
	w.record(rec)
}

// failures are the failed changes of an apply as recorded: a wait that
// ran out (the context's deadline, or an SSH verify that never saw the
// node finish its Ignition run) is marked TimedOut.
func failures(res reconcile.Result) []state.WatchFailure {
	var out []state.WatchFailure
	for _, f := range res.Failed {
		wf := state.WatchFailure{Layer: string(f.Change.Layer), Node: f.Change.Node, Address: f.Change.Address}
		if f.Err != nil {
			var notYet *nodessh.NotYetError
			wf.Error = f.Err.Error()
			wf.TimedOut = errors.Is(f.Err, context.DeadlineExceeded) || errors.As(f.Err, &notYet)
		}
		out = append(out, wf)
	}
	return out
}

func (w *Watcher) stopRetry() {
	if w.retry != nil {
		w.retry.Stop()
		w.retry, w.retryC = nil, nil
	}
}

func (w *Watcher) record(r EventRecord) {
	if r.Time.IsZero() {
		r.Time = w.cfg.Now().UTC()
	}
	if err := w.state.AppendWatchEvent(r); err != nil {
		w.log.Warn("record watch event", "commit", r.Commit, "err", err)
	}
	if w.cfg.OnEvent != nil {
		w.cfg.OnEvent(r)
	}
}

func revRecord(rev source.Revision, trig Trigger, out Outcome) EventRecord {
	return EventRecord{
		Trigger: trig, Outcome: out, Commit: rev.Commit, Author: rev.Author, AuthorEmail: rev.AuthorEmail,
		CommitTime: rev.Time.UTC(), SignedBy: rev.SignedBy,
	}
}
