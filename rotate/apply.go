package rotate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/rackctl/rackctl/bmc"
)

// Sentinel errors of Apply; test with errors.Is. The error returned is a
// *FailedError naming the BMCs.
var (
	// ErrNotSwitched: phase 1 failed on at least one BMC, so rackctl's
	// credential files were not switched and everything stays on the old
	// account. Rerunning resumes.
	ErrNotSwitched = errors.New("credentials not switched")
	// ErrOldNotDisabled: the files were switched but the old account could
	// not be disabled on every BMC. Rerunning resumes.
	ErrOldNotDisabled = errors.New("old account not disabled everywhere")
	// ErrStalePlan: the plan was made before a switch that has happened
	// since (or the other way round), or for another user.
	ErrStalePlan = errors.New("rotation plan is stale")
)

// FailedError names the BMCs that failed in a phase.
type FailedError struct {
	// Err is ErrNotSwitched or ErrOldNotDisabled.
	Err   error
	Nodes []string
	Total int
}

func (e *FailedError) Error() string {
	what := "creating and verifying the new account"
	if errors.Is(e.Err, ErrOldNotDisabled) {
		what = "disabling the old account"
	}
	return fmt.Sprintf("%s failed on %d of %d BMCs (%s): %v", what, len(e.Nodes), e.Total, strings.Join(e.Nodes, ", "), e.Err)
}

func (e *FailedError) Unwrap() error { return e.Err }

// Status is where one BMC is in this run's state machine:
// pending → acting → verifying → done or failed. Waiting is the end of a
// BMC that passed phase 1 while another failed it: it keeps the new
// account, but nothing was switched.
type Status string

const (
	StatusPending   Status = "pending"
	StatusActing    Status = "acting"
	StatusVerifying Status = "verifying"
	StatusDone      Status = "done"
	StatusFailed    Status = "failed"
	StatusWaiting   Status = "waiting"
)

// Options configure Apply.
type Options struct {
	// Files are rackctl's credential files, switched in phase 2.
	Files CredentialFiles
	// StateDir holds rotation.json (required).
	StateDir string
	// Progress, when set, is told each step as it starts (serialized;
	// never a secret).
	Progress func(node, msg string)
	// Logger receives debug logs (default: discard).
	Logger *slog.Logger
}

// Report is the outcome of Apply. It holds no secret.
type Report struct {
	User    string `json:"user"`
	OldUser string `json:"oldUser"`
	// Switched: rackctl's credential files hold the new account
	// (SwitchedNow: they were switched by this run).
	Switched    bool `json:"switched"`
	SwitchedNow bool `json:"switchedNow,omitempty"`
	// Complete: switched and the old account disabled on every BMC.
	Complete bool         `json:"complete"`
	Nodes    []NodeResult `json:"nodes"`
}

// NodeResult is one BMC's outcome.
type NodeResult struct {
	Node   string `json:"node"`
	Slot   int    `json:"slot,omitempty"`
	Phase  Phase  `json:"phase"`
	Status Status `json:"status"`
	// Created: the account was written (name, password, enable, privilege)
	// in this run. Resumed: earlier progress was proven and kept.
	Created bool `json:"created,omitempty"`
	Resumed bool `json:"resumed,omitempty"`
	// RolledBack: phase 1 failed on this BMC after its new slot was
	// touched, and the slot was disabled again (read back).
	RolledBack bool   `json:"rolledBack,omitempty"`
	Note       string `json:"note,omitempty"`
	Error      string `json:"error,omitempty"`
}

type applier struct {
	c    Accounts
	p    *Plan
	req  Request
	opts Options
	j    *journal
	log  *slog.Logger
	pmu  sync.Mutex
}

func (a *applier) progress(node, msg string) {
	a.log.Info("rotate", "node", node, "step", msg)
	if a.opts.Progress == nil {
		return
	}
	a.pmu.Lock()
	defer a.pmu.Unlock()
	a.opts.Progress(node, msg)
}

// Apply carries out a plan made by MakePlan from the same request. Phase 1
// creates, enables and proves the new account on every BMC not proven
// yet; only when every BMC passed, phase 2 switches rackctl's credential
// files (backups <file>.old, 0600) and disables (or deletes) the old
// account as the new user. Progress is saved in <StateDir>/rotation.json
// after every step, so a rerun (a new MakePlan, then Apply) resumes.
//
// The error is a *FailedError (ErrNotSwitched, ErrOldNotDisabled) when BMCs
// failed; the Report is filled in either case.
func Apply(ctx context.Context, c Accounts, p *Plan, req Request, opts Options) (*Report, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	if err := opts.Files.check(); err != nil {
		return nil, err
	}
	if opts.StateDir == "" {
		return nil, errors.New("rotate: no state directory")
	}
	if p.User != req.New.User {
		return nil, fmt.Errorf("%w: plan rotates to %q, the request to %q", ErrStalePlan, p.User, req.New.User)
	}
	loaded, err := LoadState(opts.StateDir)
	if err != nil {
		return nil, err
	}
	st := loaded.forUser(p.User)
	if p.Switched != switchedMode(req, st) {
		return nil, fmt.Errorf("%w: the credential files were switched after it was made; plan again", ErrStalePlan)
	}
	if st == nil {
		st = NewState(req.New.User, req.Old.User)
	}
	a := &applier{c: c, p: p, req: req, opts: opts, log: opts.Logger,
		j: &journal{s: st, dir: opts.StateDir, now: time.Now}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	rep := &Report{User: p.User, OldUser: st.OldUser}
	results := map[string]*NodeResult{}
	for _, s := range p.Steps {
		results[s.Node] = &NodeResult{Node: s.Node, Slot: s.Slot, Phase: s.From, Status: StatusPending, Note: s.Note}
	}
	collect := func() {
		rep.Nodes = rep.Nodes[:0]
		for _, s := range p.Steps {
			rep.Nodes = append(rep.Nodes, *results[s.Node])
		}
		rep.Switched, rep.Complete = st.Switched, st.Complete
	}

	if !p.Switched {
		if failed := a.phase1(ctx, results); len(failed) > 0 {
			for _, r := range results {
				if r.Status == StatusDone {
					r.Status = StatusWaiting
				}
			}
			collect()
			return rep, &FailedError{Err: ErrNotSwitched, Nodes: failed, Total: len(p.Steps)}
		}
		if err := a.switchFiles(); err != nil {
			collect()
			return rep, err
		}
		rep.SwitchedNow = true
	} else if !st.Switched {
		// A switch was started and interrupted: finish it.
		if err := a.switchFiles(); err != nil {
			collect()
			return rep, err
		}
		rep.SwitchedNow = true
	}

	if failed := a.phase2(ctx, results); len(failed) > 0 {
		collect()
		return rep, &FailedError{Err: ErrOldNotDisabled, Nodes: failed, Total: len(p.Steps)}
	}
	if err := a.j.change(func(s *State) {
		s.Complete = true
		s.CompletedAt = a.j.now().UTC()
	}); err != nil {
		collect()
		return rep, err
	}
	collect()
	return rep, nil
}

func (a *applier) targets(pred func(BMCStep) bool) []bmc.Target {
	var ts []bmc.Target
	for _, s := range a.p.Steps {
		if pred(s) {
			ts = append(ts, bmc.Target{Node: s.Node, Address: s.Address, Protocol: s.Protocol})
		}
	}
	return ts
}

// phase1 runs the create machine on every BMC and returns the failed ones
// in plan order.
func (a *applier) phase1(ctx context.Context, results map[string]*NodeResult) []string {
	res := bmc.ForEach(ctx, a.c.Config().Parallel, a.targets(func(BMCStep) bool { return true }),
		func(ctx context.Context, t bmc.Target) (NodeResult, error) {
			return a.create(ctx, t, *a.p.step(t.Node)), nil
		})
	var failed []string
	for _, s := range a.p.Steps {
		r := res[s.Node]
		if r.Err != nil { // ctx ended before the BMC's turn
			r.Value = *results[s.Node]
			r.Value.Status, r.Value.Error = StatusFailed, r.Err.Error()
		}
		*results[s.Node] = r.Value
		if r.Value.Status == StatusFailed {
			failed = append(failed, s.Node)
		}
	}
	return failed
}

// create is one BMC's phase-1 state machine.
func (a *applier) create(ctx context.Context, t bmc.Target, s BMCStep) NodeResult {
	r := NodeResult{Node: s.Node, Slot: s.Slot, Phase: s.From, Status: StatusPending, Note: s.Note}
	t.Credentials = a.req.Old
	fail := func(err error) NodeResult {
		r.Status, r.Error = StatusFailed, err.Error()
		a.progress(s.Node, "failed: "+r.Error)
		if jerr := a.j.update(s.Node, func(n *NodeState) { n.Error = r.Error }); jerr != nil {
			r.Error += "; " + jerr.Error()
		}
		return r
	}
	if s.Error != "" {
		return fail(fmt.Errorf("not planned: %s", s.Error))
	}
	// From the first write on, a failure must not leave the new slot
	// enabled: it may hold a half-written name or password (or one that
	// does not log in), and it has ADMINISTRATOR. Nothing is switched, so
	// disabling it loses nothing; a rerun writes it again.
	rollback := func(cause error) NodeResult {
		if err := a.rollback(ctx, t, s.Slot); err != nil {
			cause = fmt.Errorf("%w; rollback failed, new user %d may still be enabled: %v (disable it with: %s)", cause, s.Slot, err, disableHint(t, s.Slot))
		} else {
			r.RolledBack, r.Phase = true, PhasePending
			r.Note = fmt.Sprintf("new user %d disabled again (rolled back)", s.Slot)
			if jerr := a.j.update(s.Node, func(n *NodeState) { n.Phase = PhasePending }); jerr != nil {
				cause = fmt.Errorf("%w; %v", cause, jerr)
			}
		}
		return fail(cause)
	}
	if s.From.AtLeast(PhaseVerified) {
		r.Resumed = true
		r.Status = StatusVerifying
	}
	for {
		switch r.Status {
		case StatusPending:
			if err := a.j.update(s.Node, func(n *NodeState) {
				*n = NodeState{Slot: s.Slot, OldSlot: s.OldSlot, Phase: PhasePending}
			}); err != nil {
				return fail(err)
			}
			r.Status = StatusActing
		case StatusActing:
			// A BMC may number a new account itself: that is the slot to
			// prove, roll back and remember.
			slot, err := a.createAccount(ctx, t, s.Slot)
			s.Slot, r.Slot = cmp.Or(slot, s.Slot), cmp.Or(slot, s.Slot)
			if err != nil {
				return rollback(err)
			}
			r.Created, r.Phase = true, PhaseCreated
			if err := a.j.update(s.Node, func(n *NodeState) { n.Slot, n.Phase, n.Error = s.Slot, PhaseCreated, "" }); err != nil {
				return rollback(err)
			}
			r.Status = StatusVerifying
		case StatusVerifying:
			// The proof that counts: a real RMCP+ session keyed by every
			// byte of the password given, at ADMINISTRATOR.
			a.progress(s.Node, "test login as "+a.req.New.User)
			if err := a.c.TestLogin(ctx, t, a.req.New); err != nil {
				err = fmt.Errorf("new account does not log in: %w", err)
				if len(a.req.New.Password) > bmc.PasswordSize16 && errors.Is(err, bmc.ErrAuth) {
					err = fmt.Errorf("%w (the password is %d bytes: a BMC without IPMI 2.0 20-byte passwords keeps only %d; choose a password of at most %d bytes)",
						err, len(a.req.New.Password), bmc.PasswordSize16, bmc.PasswordSize16)
				}
				return rollback(err)
			}
			r.Phase = PhaseVerified
			if err := a.j.update(s.Node, func(n *NodeState) {
				n.Slot, n.OldSlot, n.Phase, n.Error = s.Slot, s.OldSlot, PhaseVerified, ""
			}); err != nil {
				return rollback(err)
			}
			r.Status = StatusDone
		default:
			return r
		}
	}
}

// disableHint says how an operator disables slot by hand.
func disableHint(t bmc.Target, slot int) string {
	if t.Protocol == bmc.ProtocolRedfish {
		return fmt.Sprintf("PATCH Enabled: false on account %d of %s's AccountService", slot, t.Node)
	}
	return fmt.Sprintf("rackctl ipmi %s user disable %d", t.Node, slot)
}

// rollback disables the new slot as the old user and reads the user list
// back: the slot must not be enabled. It runs even when ctx was cancelled
// (an interrupted write is the case it is for), bounded by the client's
// timeout per call.
func (a *applier) rollback(ctx context.Context, t bmc.Target, slot int) error {
	ctx = context.WithoutCancel(ctx)
	a.progress(t.Node, fmt.Sprintf("roll back: disable new user %d", slot))
	t.Credentials = a.req.Old
	if err := a.c.DisableUser(ctx, t, slot); err != nil {
		return err
	}
	users, err := a.c.Users(ctx, t)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.ID == slot && u.Enabled {
			return fmt.Errorf("bmc %s: user %d still enabled after disabling it", t.Node, slot)
		}
	}
	return nil
}

// createAccount writes the new account into slot: name and password (over
// IPMI as bytes in RMCP+ messages, read back and tested by the BMC; over
// Redfish in one PATCH or POST with the Administrator role), then enables
// it with administrator access. It returns the slot the account has.
func (a *applier) createAccount(ctx context.Context, t bmc.Target, slot int) (int, error) {
	a.progress(t.Node, fmt.Sprintf("set user %d name %q and password", slot, a.req.New.User))
	got, err := a.c.WriteAccount(ctx, t, slot, a.req.New)
	if err != nil {
		return got, err
	}
	a.progress(t.Node, fmt.Sprintf("enable user %d", got))
	a.progress(t.Node, grantAction(t.Protocol, got))
	return got, a.c.EnableAccount(ctx, t, got)
}

// switchFiles backs up rackctl's credential files and replaces them with
// the new account. SwitchStarted is saved between the two, so an
// interrupted switch is finished (not backed up again) by the next run.
func (a *applier) switchFiles() error {
	f := a.opts.Files
	if !a.j.s.SwitchStarted {
		a.progress("", fmt.Sprintf("back up %s and %s to *%s", f.UserFile, f.PasswordFile, BackupSuffix))
		if err := f.backup(); err != nil {
			return err
		}
		if err := a.j.change(func(s *State) { s.SwitchStarted = true }); err != nil {
			return err
		}
	}
	a.progress("", fmt.Sprintf("switch %s and %s to user %q", f.UserFile, f.PasswordFile, a.req.New.User))
	if err := f.write(a.req.New.User, a.req.New.Password); err != nil {
		return err
	}
	return a.j.change(func(s *State) {
		s.Switched = true
		s.SwitchedAt = a.j.now().UTC()
	})
}

// phase2 disables the old account on every BMC not done yet, as the new
// user, and returns the failed ones in plan order.
func (a *applier) phase2(ctx context.Context, results map[string]*NodeResult) []string {
	res := bmc.ForEach(ctx, a.c.Config().Parallel, a.targets(func(s BMCStep) bool { return !s.Done }),
		func(ctx context.Context, t bmc.Target) (NodeResult, error) {
			return a.disableOld(ctx, t, *a.p.step(t.Node), *results[t.Node]), nil
		})
	var failed []string
	for _, s := range a.p.Steps {
		r, ok := res[s.Node]
		if !ok {
			results[s.Node].Status = StatusDone
			continue
		}
		if r.Err != nil {
			r.Value = *results[s.Node]
			r.Value.Status, r.Value.Error = StatusFailed, r.Err.Error()
		}
		*results[s.Node] = r.Value
		if r.Value.Status == StatusFailed {
			failed = append(failed, s.Node)
		}
	}
	return failed
}

// disableOld is one BMC's phase-2 state machine.
func (a *applier) disableOld(ctx context.Context, t bmc.Target, s BMCStep, r NodeResult) NodeResult {
	t.Credentials = a.req.New
	oldUser := a.j.s.OldUser
	fail := func(err error) NodeResult {
		r.Status, r.Error = StatusFailed, err.Error()
		a.progress(s.Node, "failed: "+r.Error)
		if jerr := a.j.update(s.Node, func(n *NodeState) { n.Error = r.Error }); jerr != nil {
			r.Error += "; " + jerr.Error()
		}
		return r
	}
	if s.Error != "" && a.p.Switched {
		return fail(fmt.Errorf("not planned: %s", s.Error))
	}
	oldSlot := s.OldSlot
	if n, ok := a.j.s.Nodes[s.Node]; ok && n.OldSlot != 0 {
		oldSlot = n.OldSlot
	}
	r.Status = StatusActing
	if oldSlot == 0 || oldUser == "" {
		r.Status, r.Phase = StatusDone, PhaseOldDisabled
		r.Note = "old account unknown: nothing disabled"
		return r
	}
	for {
		switch r.Status {
		case StatusActing:
			if err := a.removeOld(ctx, t, oldSlot, &r); err != nil {
				return fail(err)
			}
			r.Status = StatusVerifying
		case StatusVerifying:
			a.progress(s.Node, fmt.Sprintf("check user %d is disabled", oldSlot))
			users, err := a.c.Users(ctx, t)
			if err != nil {
				return fail(err)
			}
			if !oldAccountGone(users, oldSlot, oldUser, a.req.DeleteOld, true) {
				return fail(fmt.Errorf("bmc %s: old user %d %q still enabled after disabling it", s.Node, oldSlot, oldUser))
			}
			if a.req.Old != a.req.New {
				// The old password is at hand (first run): it must be refused.
				err := a.c.TestLogin(ctx, t, a.req.Old)
				if err == nil {
					return fail(fmt.Errorf("bmc %s: old account %q still logs in after disabling it", s.Node, oldUser))
				}
				if !errors.Is(err, bmc.ErrAuth) {
					return fail(fmt.Errorf("check the old account is refused: %w", err))
				}
			}
			r.Phase = PhaseOldDisabled
			if err := a.j.update(s.Node, func(n *NodeState) {
				n.Phase, n.OldSlot, n.Error = PhaseOldDisabled, oldSlot, ""
				if n.Slot == 0 {
					n.Slot = s.Slot
				}
			}); err != nil {
				return fail(err)
			}
			r.Status = StatusDone
		default:
			return r
		}
	}
}

// removeOld disables the old account and, with DeleteOld, deletes it
// (IPMI: clears its name with a raw Set User Name, as ipmitool has no user
// delete; Redfish: DELETE, or clearing the name where slots are fixed). A
// BMC that refuses keeps the disabled account; that is noted, not failed.
func (a *applier) removeOld(ctx context.Context, t bmc.Target, slot int, r *NodeResult) error {
	a.progress(t.Node, fmt.Sprintf("disable old user %d", slot))
	if err := a.c.DisableUser(ctx, t, slot); err != nil {
		return err
	}
	if !a.req.DeleteOld {
		return nil
	}
	a.progress(t.Node, fmt.Sprintf("clear the name of old user %d", slot))
	if err := a.c.DeleteAccount(ctx, t, slot); err != nil {
		if !errors.Is(err, bmc.ErrCommand) {
			return err
		}
		r.Note = fmt.Sprintf("old user %d disabled; the BMC refused to clear its name: %v", slot, err)
	}
	return nil
}
