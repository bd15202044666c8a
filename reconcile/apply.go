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

	"github.com/rackctl/rackctl/internal/rootfs"
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
	Key     string `json:"key"`
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
		b.WriteString(displayAddress(k.Key))
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

// Executor carries out the changes of one layer. Apply is called once per
// change, in plan order, and must be idempotent.
type Executor interface {
	Layer() Layer
	Apply(ctx context.Context, c Change) error
}

// Observer is implemented by executors that can re-read what a plan
// observed: ok is false for a key that is not theirs.
type Observer interface {
	Observe(ctx context.Context, key string) (value string, ok bool, err error)
}

// StatePrefix starts the Observed keys of files in the state dir, e.g.
// "state:allocation.json"; Apply checks them itself.
const StatePrefix = "state:"

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
}

// String is a one-line progress message, e.g.
// "files: create file etc/hosts: done". Errors carry the output of
// programs and the content of files; termtext keeps their control
// characters off the terminal.
func (e Event) String() string {
	s := string(e.Layer)
	if e.Change != nil {
		s += ": " + string(e.Change.Action) + " " + displayAddress(e.Change.Address)
	}
	s += ": " + string(e.Status)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return termtext.Lines(s)
}

// Result tells what an apply did. Its changes carry no Content or Diff.
type Result struct {
	Outcome      Outcome       `json:"outcome"`
	Done         []Change      `json:"done"`
	Failed       []ChangeError `json:"failed"`
	NotAttempted []Change      `json:"notAttempted"`
	BackupDir    string        `json:"backupDir,omitempty"` // where replaced files were saved, if any were
	Warnings     []string      `json:"warnings,omitempty"`
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
	a := &Applier{opts: opts, log: log, executors: map[Layer]Executor{}}
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
// changes phase by phase (files, dhcp, flags, provisioner, bmc, verify).
// Within a phase every change is attempted; a failure stops the phases
// after it, except that BMC failures of some nodes only stop those nodes'
// later changes. Once the files phase has succeeded the plan's allocation
// and file manifest are saved; once the flags phase has, the node record
// (nodes.json). Every run that got past the checks is appended
// to the history. Nothing is written if ctx is done before the start.
func (a *Applier) Apply(ctx context.Context, p *Plan) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("apply: %w", err)
	}
	if p.FormatVersion != FormatVersion {
		return Result{}, fmt.Errorf("apply: plan format version %d is not supported", p.FormatVersion)
	}
	started := a.opts.Now()
	backupDir := state.New(a.opts.StateDir).BackupDir(started)
	execs := maps.Clone(a.executors)
	var builtin *FileExecutor
	if _, ok := execs[LayerFiles]; !ok {
		builtin = NewFileExecutor(FileConfig{Root: a.opts.Root, BackupDir: backupDir, Log: a.log, Validate: a.opts.Validate})
		execs[LayerFiles] = builtin
	}
	for _, c := range p.Changes {
		if !slices.Contains(Layers, c.Layer) {
			return Result{}, fmt.Errorf("apply: change %s: unknown layer %q", c.Address, c.Layer)
		}
		if _, ok := execs[c.Layer]; !ok && c.Action != ActionNoop {
			return Result{}, fmt.Errorf("apply: change %s: no executor for layer %s", c.Address, c.Layer)
		}
	}

	if builtin != nil {
		if err := refuseLinks(p, a.opts.Root); err != nil {
			return Result{}, fmt.Errorf("apply: %w", err)
		}
	}
	if err := state.New(a.opts.StateDir).Ensure(); err != nil {
		return Result{}, fmt.Errorf("apply: %w", err)
	}
	lk, tookOver, err := state.New(a.opts.StateDir).Lock(started, a.log)
	if err != nil {
		return Result{}, fmt.Errorf("apply: %w", err)
	}
	if tookOver && builtin != nil {
		// An apply was killed: drop the temp files its writes may have
		// left beside the files this plan writes.
		builtin.cfg.CleanTemp = true
	}
	defer func() {
		if err := lk.Release(); err != nil {
			a.log.Warn("apply lock", "err", err)
		}
	}()

	for _, l := range Layers {
		if pr, ok := execs[l].(Preparer); ok {
			if err := pr.Prepare(p); err != nil {
				return Result{}, fmt.Errorf("apply: %s: %w", l, err)
			}
		}
	}
	if err := a.checkObserved(ctx, p, execs); err != nil {
		return Result{}, fmt.Errorf("apply: %w", err)
	}

	res := Result{Outcome: OutcomeSuccess, Done: []Change{}, Failed: []ChangeError{}, NotAttempted: []Change{}}
	var runErr error
	stopped := false
	// failedNodes, once a per-node phase (bmc) failed for some nodes only:
	// later phases run for the other nodes.
	var failedNodes map[string]bool
	for _, layer := range Layers {
		var phase, skip []Change
		for _, c := range p.Changes {
			if c.Layer != layer || c.Action == ActionNoop {
				continue
			}
			// credentials is all or nothing: after any node failed, none of it.
			if failedNodes != nil && (c.Node == "" || failedNodes[c.Node] || layer == LayerCredentials) {
				skip = append(skip, c)
				continue
			}
			phase = append(phase, c)
		}
		if stopped {
			skip, phase = append(skip, phase...), nil
		}
		for i := range skip {
			a.emit(Event{Layer: layer, Change: &skip[i], Status: StatusSkipped})
		}
		res.NotAttempted = append(res.NotAttempted, slim(skip...)...)
		if stopped {
			continue
		}
		if layer == LayerFiles && len(phase) > 0 {
			if err := a.recordIntent(p); err != nil {
				for i := range phase {
					a.emit(Event{Layer: layer, Change: &phase[i], Status: StatusSkipped})
				}
				res.NotAttempted = append(res.NotAttempted, slim(phase...)...)
				res.Outcome = OutcomeFailed
				runErr = errors.Join(runErr, err)
				stopped = true
				continue
			}
		}
		if len(phase) > 0 {
			a.log.Info("apply phase", "layer", string(layer), "changes", len(phase))
			if a.opts.BeforePhase != nil {
				a.opts.BeforePhase(ctx, layer)
			}
		}
		done, failed, notRun := a.runPhase(ctx, execs[layer], layer, phase)
		res.Done = append(res.Done, slim(done...)...)
		res.Failed = append(res.Failed, failed...)
		res.NotAttempted = append(res.NotAttempted, slim(notRun...)...)
		if len(notRun) > 0 {
			res.Outcome = OutcomeCancelled
			runErr = fmt.Errorf("apply: phase %s: %w", layer, ctx.Err())
			stopped = true
		}
		if len(failed) > 0 {
			if res.Outcome != OutcomeCancelled {
				res.Outcome = OutcomeFailed
			}
			if ctx.Err() != nil {
				res.Outcome = OutcomeCancelled
			}
			errs := make([]error, len(failed))
			for i, f := range failed {
				errs[i] = f
			}
			runErr = errors.Join(runErr, fmt.Errorf("apply: phase %s: %d of %d changes failed: %w", layer, len(failed), len(phase), errors.Join(errs...)))
			if layer == LayerBMC && ctx.Err() == nil && allNodes(failed) {
				if failedNodes == nil {
					failedNodes = map[string]bool{}
				}
				for _, f := range failed {
					failedNodes[f.Change.Node] = true
				}
			} else {
				stopped = true
			}
		}
		switch layer {
		case LayerFiles:
			if err := a.saveState(p, !stopped); err != nil {
				res.Outcome = OutcomeFailed
				runErr = errors.Join(runErr, err)
				stopped = true
			}
		case LayerFlags:
			if !stopped && p.NextNodes.Version != 0 {
				if err := state.New(a.opts.StateDir).SaveNodes(p.NextNodes); err != nil {
					res.Outcome = OutcomeFailed
					runErr = errors.Join(runErr, fmt.Errorf("apply: %w", err))
					stopped = true
				}
			}
		}
	}

	if _, err := os.Stat(backupDir); err == nil {
		res.BackupDir = backupDir
	}
	rec := HistoryRecord{
		Time: started.UTC(), Finished: a.opts.Now().UTC(),
		RackName: p.RackName, SpecHash: p.SpecHash, Commit: a.opts.Commit,
		Planned: p.Counts(), Allocations: len(p.Allocations),
		Done: len(res.Done), Failed: len(res.Failed), NotAttempted: len(res.NotAttempted),
		Outcome: res.Outcome, BackupDir: res.BackupDir,
	}
	if rec.Commit == "" {
		rec.Commit = p.Commit
	}
	if runErr != nil {
		rec.Error = runErr.Error()
	}
	if err := state.New(a.opts.StateDir).AppendHistory(rec); err != nil {
		res.Warnings = append(res.Warnings, err.Error())
		a.log.Warn("history not written", "err", err)
	}
	return res, runErr
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
	errs := make([]error, len(phase))
	started := make([]bool, len(phase))
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range phase {
		c := &phase[i]
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		started[i] = true
		a.emit(Event{Layer: layer, Change: c, Status: StatusStarted})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := exec.Apply(ctx, *c)
			errs[i] = err
			if err != nil {
				a.log.Error("change failed", "layer", string(layer), "address", c.Address, "err", err)
				a.emit(Event{Layer: layer, Change: c, Status: StatusFailed, Err: err})
				return
			}
			a.emit(Event{Layer: layer, Change: c, Status: StatusDone})
		}()
		if limit == 1 {
			wg.Wait()
		}
	}
	wg.Wait()
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

// refuseLinks reads every file the plan observed or changes, before the
// state dir or the lock is touched: a link planted beneath the root since
// the plan was made fails the apply with nothing written at all. The
// check under the lock (checkObserved) still decides; this only makes a
// refusal leave no trace.
func refuseLinks(p *Plan, root string) error {
	paths := map[string]bool{}
	for key := range p.Observed {
		if rel, ok := strings.CutPrefix(key, FilePrefix); ok {
			paths[rel] = true
		}
	}
	for _, c := range p.Changes {
		if rel, ok := strings.CutPrefix(c.Address, FilePrefix); ok && c.Layer == LayerFiles {
			paths[rel] = true
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(paths)) {
		if err := checkPath(rel); err != nil {
			return err
		}
		if _, _, _, err := readCurrent(root, rel); errors.Is(err, rootfs.ErrLink) {
			return err
		}
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
	deletes := map[string]bool{}
	for _, c := range p.Changes {
		if c.Action == ActionDelete {
			deletes[c.Address] = true
		}
	}
	var stale []StaleKey
	for _, key := range slices.Sorted(maps.Keys(p.Observed)) {
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

func (a *Applier) observe(ctx context.Context, key string, execs map[Layer]Executor) (string, error) {
	if name, ok := strings.CutPrefix(key, StatePrefix); ok {
		h, err := stateDigest(a.opts.StateDir, name)
		if err != nil {
			return "", fmt.Errorf("observed key %q: %w", key, err)
		}
		return h, nil
	}
	for _, l := range Layers {
		o, ok := execs[l].(Observer)
		if !ok {
			continue
		}
		v, mine, err := o.Observe(ctx, key)
		if err != nil {
			return "", fmt.Errorf("observe %s: %w", key, err)
		}
		if mine {
			return v, nil
		}
	}
	return "", fmt.Errorf("observed key %q: no executor can check it", key)
}

// hashFile is the Observed value of a state file.
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
