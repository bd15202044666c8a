package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rackctl/rackctl/internal/fanout"
	"github.com/rackctl/rackctl/internal/termtext"
	"github.com/rackctl/rackctl/state"
)

// ErrStalePlan is returned (wrapped in a *StaleError) when something a plan
// was made from changed before it was applied.
var ErrStalePlan = errors.New("plan is stale: run plan again")

// StaleError lists what changed since the plan was made.
type StaleError struct {
	Changed []StaleKey
}

// StaleKey is one Observed input that differs now.
type StaleKey struct {
	Key     ObsKey `json:"key"`
	Planned string `json:"planned"`
	Now     string `json:"now"`
}

func (e *StaleError) Error() string {
	var b strings.Builder
	b.WriteString("changed since the plan was made: ")
	for i, k := range e.Changed {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 5 {
			fmt.Fprintf(&b, "and %d more", len(e.Changed)-5)
			break
		}
		b.WriteString(k.Key.String())
		switch {
		case k.Now == Absent:
			b.WriteString(" (deleted)")
		case k.Planned == Absent:
			b.WriteString(" (created)")
		default:
			b.WriteString(" (modified)")
		}
	}
	return b.String() + ": " + ErrStalePlan.Error()
}

func (e *StaleError) Unwrap() error { return ErrStalePlan }

// Status is what an Event reports.
type Status string

const (
	StatusStarted Status = "started"
	StatusDone    Status = "done"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "not-attempted"
)

// Event reports the progress of one change.
type Event struct {
	Time   time.Time
	Layer  Layer
	Change *Change
	Status Status
	Err    error
	// Wave and Nodes: an event of a rollout's wave (Layer LayerRollout).
	Wave  int
	Nodes []string
}

// ApplyOptions configures an Applier.
type ApplyOptions struct {
	Root     string // host root of the files layer
	StateDir string
	Commit   string // recorded in the history, optional
	// Executors of the layers after files; one with LayerFiles replaces the
	// built-in file executor.
	Executors []Executor
	Log       *slog.Logger
	Progress  func(Event) // optional; called from one goroutine at a time
	Now       func() time.Time
	// Validate checks a file's new content before the built-in file
	// executor writes it, by path relative to the root (dnsmasq --test
	// for dnsmasq.conf); an error fails the change, nothing is written.
	Validate map[string]func(ctx context.Context, content []byte) error
	// BeforePhase, when set, is called before each phase that has changes
	// to run. The CLI uses it for the test-only RACKCTL_TEST_PAUSE_PHASE.
	BeforePhase func(ctx context.Context, l Layer)
	// Waves says how a plan's rollout is followed.
	Waves WaveOptions
}

// String is a one-line progress message, e.g.
// "files: create file etc/hosts: done". Errors carry the output of
// programs and the content of files; termtext keeps their control
// characters off the terminal.
func (e Event) String() string {
	s := string(e.Layer)
	if e.Wave > 0 {
		s += fmt.Sprintf(": wave %d (%s)", e.Wave, summarize(e.Nodes, 10))
	}
	if e.Change != nil {
		s += ": " + string(e.Change.Action) + " " + eventAddress(e.Layer, e.Change.Address)
	}
	s += ": " + string(e.Status)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return termtext.Lines(s)
}

// eventAddress is a change's address after its layer's name: without
// its kind when that is the layer ("bmc: pxe-reinstall node-0", not
// "bmc: pxe-reinstall bmc node-0").
func eventAddress(l Layer, address string) string {
	if rest, ok := strings.CutPrefix(address, string(l)+":"); ok {
		return rest
	}
	return displayAddress(address)
}

// Result tells what an apply did. Its changes carry no Content or Diff.
type Result struct {
	Outcome      Outcome       `json:"outcome"`
	Done         []Change      `json:"done"`
	Failed       []ChangeError `json:"failed"`
	NotAttempted []Change      `json:"notAttempted"`
	BackupDir    string        `json:"backupDir,omitempty"` // where replaced files were saved, if any were
	Warnings     []string      `json:"warnings,omitempty"`
	// Rollout is what was done of the plan's waves, when it had any.
	Rollout *RolloutReport `json:"rollout,omitempty"`
}

// Summary is the closing line of an apply, terraform-style.
func (r Result) Summary() string {
	n := countChanges(r.Done)
	switch r.Outcome {
	case OutcomeSuccess:
		if len(r.Done) == 0 {
			return "Apply complete! Nothing to do."
		}
		return fmt.Sprintf("Apply complete! Changes: %d added, %d changed, %d destroyed.", n.Add, n.Change, n.Destroy)
	case "":
		return "Nothing applied."
	default:
		return fmt.Sprintf("Apply %s: %d done, %d failed, %d not attempted.", r.Outcome, len(r.Done), len(r.Failed), len(r.NotAttempted))
	}
}

// ChangeError is a change that failed, with why.
type ChangeError struct {
	Change Change
	Err    error
}

// MarshalJSON writes the error as a string.
func (e ChangeError) MarshalJSON() ([]byte, error) {
	msg := ""
	if e.Err != nil {
		msg = e.Err.Error()
	}
	return json.Marshal(struct {
		Change Change `json:"change"`
		Error  string `json:"error"`
	}{e.Change, msg})
}

func (e ChangeError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Change.Action, displayAddress(e.Change.Address), e.Err)
}

func (e ChangeError) Unwrap() error { return e.Err }

// Applier runs plans against one rack.
type Applier struct {
	emitMu    sync.Mutex
	opts      ApplyOptions
	log       *slog.Logger
	executors map[Layer]Executor
	plugins   []Plugin // Plugins; tests run others
}

// NewApplier checks opts and returns an Applier.
func NewApplier(opts ApplyOptions) (*Applier, error) {
	if opts.StateDir == "" {
		return nil, errors.New("apply: no state dir")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Applier{opts: opts, log: log, executors: map[Layer]Executor{}, plugins: Plugins}
	for _, e := range opts.Executors {
		l := e.Layer()
		if !slices.Contains(Layers, l) {
			return nil, fmt.Errorf("apply: executor for unknown layer %q", l)
		}
		if _, dup := a.executors[l]; dup {
			return nil, fmt.Errorf("apply: two executors for layer %s", l)
		}
		a.executors[l] = e
	}
	return a, nil
}

// Apply runs p with a new Applier; see (*Applier).Apply.
func Apply(ctx context.Context, p *Plan, opts ApplyOptions) (Result, error) {
	a, err := NewApplier(opts)
	if err != nil {
		return Result{}, err
	}
	return a.Apply(ctx, p)
}

// Apply takes the apply lock, refuses a stale plan, and runs the plan's
// changes phase by phase, one phase per layer in the order of Plugins.
// Within a phase every change is attempted; what a failure stops is the
// layer's FailurePolicy. Each layer persists what its phase leaves
// behind (BeforePhase, AfterPhase): the files layer the allocation and the
// file manifest, the flags layer the node record (nodes.json). Every run
// that got past the checks is appended to the history. Nothing is written
// if ctx is done before the start.
func (a *Applier) Apply(ctx context.Context, p *Plan) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("apply: %w", err)
	}
	if p.FormatVersion != FormatVersion {
		return Result{}, fmt.Errorf("apply: plan format version %d is not supported", p.FormatVersion)
	}
	if err := checkWaves(p, a.opts.Waves); err != nil {
		return Result{}, err
	}
	started := a.opts.Now()
	backupDir := state.New(a.opts.StateDir).BackupDir(started)
	execs, err := a.executorsFor(p, backupDir)
	if err != nil {
		return Result{}, err
	}
	for _, l := range layerNames(a.plugins) {
		if pc, ok := execs[l].(preChecker); ok {
			if err := pc.precheck(p); err != nil {
				return Result{}, fmt.Errorf("apply: %w", err)
			}
		}
	}
	if err := os.MkdirAll(a.opts.StateDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("apply: state dir: %w", err)
	}
	lk, tookOver, err := state.New(a.opts.StateDir).Lock(started, a.log)
	if err != nil {
		return Result{}, fmt.Errorf("apply: %w", err)
	}
	defer func() {
		if err := lk.Release(); err != nil {
			a.log.Warn("apply lock", "err", err)
		}
	}()
	if err := a.prepare(ctx, p, execs, tookOver); err != nil {
		return Result{}, err
	}
	run := &applyRun{res: Result{Outcome: OutcomeSuccess, Done: []Change{}, Failed: []ChangeError{}, NotAttempted: []Change{}}}
	a.runPhases(ctx, p, execs, run)
	if _, err := os.Stat(backupDir); err == nil {
		run.res.BackupDir = backupDir
	}
	a.record(p, started, run)
	return run.res, run.err
}

// executorsFor is the caller's executors, with a layer's own one (the
// files layer's) where the caller gave none; it refuses a plan with a
// change no executor can run.
func (a *Applier) executorsFor(p *Plan, backupDir string) (map[Layer]Executor, error) {
	execs := maps.Clone(a.executors)
	for _, l := range a.plugins {
		if d, ok := l.(defaulter); ok && execs[l.Layer()] == nil {
			execs[l.Layer()] = d.defaultExecutor(a, backupDir)
		}
	}
	layers := layerNames(a.plugins)
	for _, c := range p.Changes {
		if !slices.Contains(layers, c.Layer) {
			return nil, fmt.Errorf("apply: change %s: unknown layer %q", c.Address, c.Layer)
		}
		if _, ok := execs[c.Layer]; !ok && c.Action != ActionNoop {
			return nil, fmt.Errorf("apply: change %s: no executor for layer %s", c.Address, c.Layer)
		}
	}
	return execs, nil
}

// prepare readies the executors under the lock (tookOver: an apply was
// killed before) and refuses a stale plan.
func (a *Applier) prepare(ctx context.Context, p *Plan, execs map[Layer]Executor, tookOver bool) error {
	for _, l := range layerNames(a.plugins) {
		if r, ok := execs[l].(recoverer); ok && tookOver {
			r.afterKilledApply()
		}
		if pr, ok := execs[l].(Preparer); ok {
			if err := pr.Prepare(p); err != nil {
				return fmt.Errorf("apply: %s: %w", l, err)
			}
		}
	}
	if err := a.checkObserved(ctx, p, execs); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// applyRun is the state of one Apply across its phases.
type applyRun struct {
	res     Result
	err     error
	stopped bool
	// failedNodes, once a PerNode phase failed for some nodes only: later
	// phases run for the other nodes.
	failedNodes map[string]bool
	// only, while a rollout runs a wave, is a change as that wave runs it,
	// false when it is not the wave's.
	only func(Change) (Change, bool)
}

// fail records a failure that stops every later phase.
func (r *applyRun) fail(err error) {
	r.res.Outcome = OutcomeFailed
	r.err = errors.Join(r.err, err)
	r.stopped = true
}

// split sorts layer l's changes into those to run and those skipped for
// earlier failures.
func (r *applyRun) split(p *Plan, l Plugin) (phase, skip []Change) {
	for _, c := range p.Changes {
		if c.Layer != l.Layer() || c.Action == ActionNoop {
			continue
		}
		if r.only != nil {
			var ok bool
			if c, ok = r.only(c); !ok {
				continue
			}
		}
		if r.failedNodes != nil && (c.Node == "" || r.failedNodes[c.Node] || l.Policy() == AllOrNothing) {
			skip = append(skip, c)
			continue
		}
		phase = append(phase, c)
	}
	if r.stopped {
		return nil, append(skip, phase...)
	}
	return phase, skip
}

// runLayer runs one layer's phase and what it persists.
func (a *Applier) runLayer(ctx context.Context, p *Plan, l Plugin, exec Executor, run *applyRun) {
	layer := l.Layer()
	phase, skip := run.split(p, l)
	a.skip(layer, skip, run)
	if run.stopped {
		return
	}
	if len(phase) > 0 {
		if err := l.BeforePhase(a, p); err != nil {
			a.skip(layer, phase, run)
			run.fail(err)
			return
		}
		a.log.Info("apply phase", "layer", string(layer), "changes", len(phase))
		if a.opts.BeforePhase != nil {
			a.opts.BeforePhase(ctx, layer)
		}
	}
	done, failed, notRun := a.runPhase(ctx, exec, layer, phase)
	run.res.Done = append(run.res.Done, slim(done...)...)
	run.res.Failed = append(run.res.Failed, failed...)
	run.res.NotAttempted = append(run.res.NotAttempted, slim(notRun...)...)
	if len(notRun) > 0 {
		run.res.Outcome = OutcomeCancelled
		run.err = fmt.Errorf("apply: phase %s: %w", layer, ctx.Err())
		run.stopped = true
	}
	if len(failed) > 0 {
		a.phaseFailed(ctx, l, len(phase), failed, run)
	}
	if err := l.AfterPhase(a, p, !run.stopped); err != nil {
		run.fail(err)
	}
}

// skip reports changes not attempted.
func (a *Applier) skip(layer Layer, cs []Change, run *applyRun) {
	for i := range cs {
		a.emit(Event{Layer: layer, Change: &cs[i], Status: StatusSkipped})
	}
	run.res.NotAttempted = append(run.res.NotAttempted, slim(cs...)...)
}

// phaseFailed applies l's FailurePolicy to the failed changes of its phase.
func (a *Applier) phaseFailed(ctx context.Context, l Plugin, n int, failed []ChangeError, run *applyRun) {
	if run.res.Outcome != OutcomeCancelled {
		run.res.Outcome = OutcomeFailed
	}
	if ctx.Err() != nil {
		run.res.Outcome = OutcomeCancelled
	}
	errs := make([]error, len(failed))
	for i, f := range failed {
		errs[i] = f
	}
	run.err = errors.Join(run.err, fmt.Errorf("apply: phase %s: %d of %d changes failed: %w", l.Layer(), len(failed), n, errors.Join(errs...)))
	if l.Policy() != PerNode || ctx.Err() != nil || !allNodes(failed) {
		run.stopped = true
		return
	}
	if run.failedNodes == nil {
		run.failedNodes = map[string]bool{}
	}
	for _, f := range failed {
		run.failedNodes[f.Change.Node] = true
	}
}

// record appends the run to the history.
func (a *Applier) record(p *Plan, started time.Time, run *applyRun) {
	res := &run.res
	rec := HistoryRecord{
		Time: started.UTC(), Finished: a.opts.Now().UTC(),
		RackName: p.RackName, SpecHash: p.SpecHash, Commit: a.opts.Commit,
		Planned: p.Counts(), Allocations: len(p.Allocations),
		Done: len(res.Done), Failed: len(res.Failed), NotAttempted: len(res.NotAttempted),
		Outcome: res.Outcome, BackupDir: res.BackupDir, Verified: a.observedInstalls(res.Done), Rollout: res.Rollout,
	}
	if rec.Commit == "" {
		rec.Commit = p.Commit
	}
	if run.err != nil {
		rec.Error = run.err.Error()
	}
	if err := state.New(a.opts.StateDir).AppendHistory(rec); err != nil {
		res.Warnings = append(res.Warnings, err.Error())
		a.log.Warn("history not written", "err", err)
	}
}

// InstallObserver is implemented by a verify-layer executor that tells
// whether it sees a node run its config before recording the install
// (VerifyExecutor with a Verifier) or records it without looking.
type InstallObserver interface {
	ObservesInstalls() bool
}

// observedInstalls counts the done verify changes whose executor saw the
// node run its config: what `rackctl rollback` calls verified.
func (a *Applier) observedInstalls(done []Change) int {
	obs, ok := a.executors[LayerVerify].(InstallObserver)
	if !ok || !obs.ObservesInstalls() {
		return 0
	}
	n := 0
	for _, c := range done {
		if c.Layer == LayerVerify {
			n++
		}
	}
	return n
}

// runPhase runs the changes of one phase, several at once when the
// executor is Concurrent. It returns the changes done, failed, and not
// started because ctx ended, each in plan order.
func (a *Applier) runPhase(ctx context.Context, exec Executor, layer Layer, phase []Change) (done []Change, failed []ChangeError, notRun []Change) {
	if len(phase) == 0 {
		return nil, nil, nil
	}
	limit := 1
	if c, ok := exec.(Concurrent); ok && c.Concurrency() > 1 {
		limit = c.Concurrency()
	}
	started := make([]bool, len(phase))
	announce := startedInOrder(len(phase), func(i int) {
		a.emit(Event{Layer: layer, Change: &phase[i], Status: StatusStarted})
	})
	errs := fanout.Each(ctx, limit, phase, func(ctx context.Context, i int, _ Change) error {
		started[i] = true
		announce(i)
		return a.applyChange(ctx, exec, layer, &phase[i])
	})
	for i := range phase {
		switch {
		case !started[i]:
			notRun = append(notRun, phase[i])
			a.emit(Event{Layer: layer, Change: &phase[i], Status: StatusSkipped})
		case errs[i] != nil:
			failed = append(failed, ChangeError{Change: slim(phase[i])[0], Err: errs[i]})
		default:
			done = append(done, phase[i])
		}
	}
	return done, failed, notRun
}

// startedInOrder returns a func that calls emit(i) only after emit(i-1)
// has returned: fanout starts items in plan order, but their goroutines
// may be scheduled in any, and the "started" lines should read in plan
// order. Item i-1 was started before item i, so the wait always ends.
func startedInOrder(n int, emit func(i int)) func(i int) {
	turn := make([]chan struct{}, n)
	for i := range turn {
		turn[i] = make(chan struct{})
	}
	return func(i int) {
		if i > 0 {
			<-turn[i-1]
		}
		emit(i)
		close(turn[i])
	}
}

// applyChange applies one change and reports its outcome.
func (a *Applier) applyChange(ctx context.Context, exec Executor, layer Layer, c *Change) error {
	err := exec.Apply(ctx, *c)
	if err != nil {
		a.log.Error("change failed", "layer", string(layer), "address", c.Address, "err", err)
		a.emit(Event{Layer: layer, Change: c, Status: StatusFailed, Err: err})
		return err
	}
	a.emit(Event{Layer: layer, Change: c, Status: StatusDone})
	return nil
}

func allNodes(failed []ChangeError) bool {
	for _, f := range failed {
		if f.Change.Node == "" {
			return false
		}
	}
	return true
}

// saveState saves the allocation and the manifest after the files phase.
// On success they are the plan's; after a failure only the manifest is
// widened, so files written or not yet deleted stay managed.
func (a *Applier) saveState(p *Plan, filesOK bool) error {
	if filesOK && p.NextState.Version != 0 {
		if err := state.New(a.opts.StateDir).SaveAllocation(p.NextState); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	if p.Managed.Version == 0 {
		return nil
	}
	m := p.Managed
	if !filesOK {
		old, err := state.New(a.opts.StateDir).LoadManifest()
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		m = p.Managed.Union(old)
	}
	if err := state.New(a.opts.StateDir).SaveManifest(m); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// recordIntent widens the saved manifest with every file the plan
// manages before the files phase writes any: a kill between a write and
// saveState must not leave a written file unrecorded, or a later spec that
// drops it would never delete it. Entries of the old manifest stay, so
// pending deletes are not forgotten either.
func (a *Applier) recordIntent(p *Plan) error {
	if p.Managed.Version == 0 {
		return nil
	}
	old, err := state.New(a.opts.StateDir).LoadManifest()
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	m := p.Managed.Union(old)
	if slices.Equal(m.Files, old.Files) {
		return nil
	}
	if err := state.New(a.opts.StateDir).SaveManifest(m); err != nil {
		return fmt.Errorf("apply: record the files about to be written: %w", err)
	}
	return nil
}

// checkObserved re-reads every input the plan observed. A planned delete
// whose file is gone already is fine: its end state is reached.
func (a *Applier) checkObserved(ctx context.Context, p *Plan, execs map[Layer]Executor) error {
	deletes := map[ObsKey]bool{}
	for _, c := range p.Changes {
		if rel, ok := strings.CutPrefix(c.Address, FilePrefix); ok && c.Action == ActionDelete {
			deletes[FileKey(rel)] = true
		}
	}
	var stale []StaleKey
	for _, key := range p.Observed.Keys() {
		planned := p.Observed[key]
		now, err := a.observe(ctx, key, execs)
		if err != nil {
			return fmt.Errorf("check plan: %w", err)
		}
		if now == planned || (now == Absent && deletes[key]) {
			continue
		}
		stale = append(stale, StaleKey{Key: key, Planned: planned, Now: now})
	}
	if len(stale) > 0 {
		return &StaleError{Changed: stale}
	}
	return nil
}

// observe re-reads one input: a state dir file itself, anything else
// through the executor of the key's layer.
func (a *Applier) observe(ctx context.Context, key ObsKey, execs map[Layer]Executor) (string, error) {
	if key.Layer == StateLayer {
		h, err := stateDigest(a.opts.StateDir, key.Path)
		if err != nil {
			return "", fmt.Errorf("observed key %s: %w", key, err)
		}
		return h, nil
	}
	o, ok := execs[key.Layer].(Observer)
	if !ok {
		return "", fmt.Errorf("observed key %s: no executor can check it", key)
	}
	v, err := o.Observe(ctx, key)
	if err != nil {
		return "", fmt.Errorf("observe %s: %w", key, err)
	}
	return v, nil
}

// stateDigest is the observed value of the state file name: its digest,
// or Absent.
func stateDigest(stateDir, name string) (string, error) {
	h, found, err := state.New(stateDir).Digest(name)
	if err != nil {
		return "", err
	}
	if !found {
		return Absent, nil
	}
	return h, nil
}

func (a *Applier) emit(e Event) {
	if a.opts.Progress == nil {
		return
	}
	a.emitMu.Lock()
	defer a.emitMu.Unlock()
	e.Time = a.opts.Now()
	a.opts.Progress(e)
}

// slim copies changes without their Content and Diff.
func slim(cs ...Change) []Change {
	out := make([]Change, len(cs))
	for i, c := range cs {
		c.Content, c.Diff = nil, ""
		out[i] = c
	}
	return out
}
