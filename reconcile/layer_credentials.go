package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/rotate"
)

// CredentialsPrefix starts the credentials layer's addresses:
// "credentials:NODE" (one BMC's part), "credentials:files" (the switch).
const CredentialsPrefix = "credentials:"

// Rotation is the real CredentialRotator: package rotate over the BMCs' account management (any protocol's driver).
type Rotation struct {
	Client rotate.Accounts
	// Old are the credentials in force (rackctl's files), New the account
	// bmc.rotate names.
	Old, New  bmc.Credentials
	DeleteOld bool
	// Files are rackctl's credential files (host paths), switched by Apply.
	Files    rotate.CredentialFiles
	StateDir string // holds rotate.StateFile
	// Progress, when set, is told each step (never a secret).
	Progress func(node, msg string)
	Log      *slog.Logger
}

var _ CredentialRotator = (*Rotation)(nil)

func (r *Rotation) request(targets []bmc.Target) rotate.Request {
	return rotate.Request{Targets: targets, Old: r.Old, New: r.New, DeleteOld: r.DeleteOld}
}

// PlanRotation runs rotate.MakePlan with the state in StateDir.
func (r *Rotation) PlanRotation(ctx context.Context, targets []bmc.Target) (*rotate.Plan, error) {
	st, err := rotate.LoadState(r.StateDir)
	if err != nil {
		return nil, err
	}
	return rotate.MakePlan(ctx, r.Client, r.request(targets), st)
}

// ApplyRotation runs rotate.Apply.
func (r *Rotation) ApplyRotation(ctx context.Context, targets []bmc.Target, p *rotate.Plan) (*rotate.Report, error) {
	return rotate.Apply(ctx, r.Client, p, r.request(targets), rotate.Options{
		Files: r.Files, StateDir: r.StateDir, Progress: r.Progress, Logger: r.Log,
	})
}

// Users reads t's users as the old account, or as the new one once the
// switch has started (as rotate.MakePlan does).
func (r *Rotation) Users(ctx context.Context, t bmc.Target) ([]bmc.User, error) {
	t.Credentials = r.Old
	if r.Old == r.New {
		return r.Client.Users(ctx, t)
	}
	st, err := rotate.LoadState(r.StateDir)
	if err != nil {
		return nil, err
	}
	if st != nil && st.User == r.New.User && st.SwitchStarted {
		t.Credentials = r.New
	}
	return r.Client.Users(ctx, t)
}

// usersDigest is the observed value of a BMC's user list: every slot's
// ID, name, enable status and privilege. No secret is in it.
func usersDigest(users []bmc.User) string {
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "%d\t%q\t%t\t%s\n", u.ID, u.Name, u.Enabled, u.Privilege)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// credentialsLayer rotates the BMC credentials (bmc.rotate): one change
// per BMC with something left to do, and the switch of the credential
// files. A rotation covers every BMC at once: it does not run after any
// node failed, and applies all of it or switches nothing.
type credentialsLayer struct{ persistNothing }

func (credentialsLayer) Layer() Layer          { return LayerCredentials }
func (credentialsLayer) Policy() FailurePolicy { return AllOrNothing }

func (credentialsLayer) Plan(ctx context.Context, pl *planner) error {
	rot := pl.rack.BMC.Rotate
	if !pl.cfg.Enabled || rot == nil {
		return nil
	}
	if pl.cfg.Rotation == nil {
		pl.note("credentials layer off (the bmc layer is off): bmc.rotate not planned")
		return nil
	}
	if pl.targeted != nil {
		pl.note("bmc.rotate not planned with -target: a rotation covers every BMC of the rack at once")
		return nil
	}
	if len(pl.maintenance) > 0 {
		pl.note("bmc.rotate not planned while nodes are in maintenance: a rotation covers every BMC of the rack at once")
		return nil
	}
	h, err := stateDigest(pl.opts.StateDir, rotate.StateFile)
	if err != nil {
		return fmt.Errorf("state %s: %w", rotate.StateFile, err)
	}
	pl.observe(StateKey(rotate.StateFile), h)
	targets := make([]bmc.Target, len(pl.rack.Nodes))
	for i := range pl.rack.Nodes {
		n := &pl.rack.Nodes[i]
		targets[i] = pl.bmcTarget(n)
	}
	rp, err := pl.cfg.Rotation.PlanRotation(ctx, targets)
	if err != nil {
		return fmt.Errorf("credentials layer (bmc.rotate): %w", err)
	}
	if rp.Done() {
		return nil
	}
	var left []bmc.Target
	for _, s := range rp.Steps {
		if !s.Done {
			left = append(left, bmc.Target{Node: s.Node, Address: s.Address, Protocol: s.Protocol})
		}
	}
	users := bmc.ForEach(ctx, pl.cfg.BMCParallel, left, func(ctx context.Context, t bmc.Target) (string, error) {
		us, err := pl.cfg.Rotation.Users(ctx, t)
		if err != nil {
			return Unreachable, nil
		}
		return usersDigest(us), nil
	})
	var failed []string
	for _, s := range rp.Steps {
		if s.Done {
			continue
		}
		pl.observe(NodeKey(LayerCredentials, s.Node, AspectUsers), users[s.Node].Value)
		if s.Error != "" {
			failed = append(failed, s.Node)
		}
		pl.add(rotateChange(rp, s))
	}
	if !rp.Switched {
		pl.add(switchChange(rp))
	}
	if len(failed) > 0 {
		pl.note(fmt.Sprintf("bmc.rotate: BMCs not planned (%s): the rotation will fail and switch nothing", summarize(failed, 10)))
	}
	return nil
}

// rotateChange is one BMC's part of the rotation rp.
func rotateChange(rp *rotate.Plan, s rotate.BMCStep) Change {
	c := Change{
		Layer: LayerCredentials, Action: ActionRotateCredentials, Address: CredentialsPrefix + s.Node, Node: s.Node,
		Notes: append([]string(nil), s.Actions...),
		Detail: &Detail{BMCAddress: s.Address, BMCProtocol: s.Protocol, Rotation: &RotationDetail{
			User: rp.User, OldUser: rp.OldUser, Slot: s.Slot, Reuse: s.Reuse, OldSlot: s.OldSlot, Switched: rp.Switched,
		}},
	}
	how := "new"
	if s.Reuse {
		how = "reuse"
	}
	switch {
	case s.Error != "":
		c.Reason = fmt.Sprintf("bmc.rotate: user %s: BMC not planned: %s", rp.User, s.Error)
		c.Notes = append(c.Notes, "apply fails this BMC and so switches nothing: fix it and plan again")
	case rp.Switched:
		c.Reason = fmt.Sprintf("bmc.rotate: user %s in slot %d, credential files switched already; old user %s in slot %d left to disable", rp.User, s.Slot, rp.OldUser, s.OldSlot)
	default:
		c.Reason = fmt.Sprintf("bmc.rotate: user %s → slot %d (%s)", rp.User, s.Slot, how)
		if s.From.AtLeast(rotate.PhaseVerified) {
			c.Reason += ", verified by an earlier apply"
		}
	}
	if s.Note != "" {
		c.Notes = append(c.Notes, s.Note)
	}
	return c
}

// switchChange is the switch of the credential files, once every BMC of
// rp has the new account.
func switchChange(rp *rotate.Plan) Change {
	nodes := make([]string, len(rp.Steps))
	for i, s := range rp.Steps {
		nodes[i] = s.Node
	}
	old := "disable"
	if rp.DeleteOld {
		old = "delete"
	}
	return Change{
		Layer: LayerCredentials, Action: ActionSwitchCredentials, Address: CredentialsPrefix + "files",
		Reason: fmt.Sprintf("bmc.rotate: only once every BMC above has the new account: bmc.userFile and bmc.passwordFile switch from %q to %q (old content kept as <file>%s), then the old account is %sd on every BMC as %q",
			rp.OldUser, rp.User, rotate.BackupSuffix, old, rp.User),
		Detail: &Detail{Nodes: nodes, Rotation: &RotationDetail{User: rp.User, OldUser: rp.OldUser}},
	}
}

// CredentialsExecutor applies the credentials layer: the whole rotation
// (rotate.Apply, all or nothing by design) runs once, at the layer's first
// change; each change then reports its part of the outcome. Before that,
// the rotation is planned again and must take the slots reviewed.
type CredentialsExecutor struct {
	Rotator CredentialRotator
	Log     *slog.Logger

	changes []Change // the plan's credentials changes
	once    sync.Once
	rep     *rotate.Report
	err     error
}

var (
	_ Executor = (*CredentialsExecutor)(nil)
	_ Observer = (*CredentialsExecutor)(nil)
	_ Preparer = (*CredentialsExecutor)(nil)
)

func (e *CredentialsExecutor) Layer() Layer { return LayerCredentials }

// Prepare learns the plan's credentials changes (targets and slots).
func (e *CredentialsExecutor) Prepare(p *Plan) error {
	e.changes = nil
	e.once = sync.Once{}
	e.rep, e.err = nil, nil
	for _, c := range p.Changes {
		if c.Layer == LayerCredentials && c.Action != ActionNoop {
			e.changes = append(e.changes, c)
		}
	}
	return nil
}

// Observe reads the digest of a BMC's user list.
func (e *CredentialsExecutor) Observe(ctx context.Context, k ObsKey) (string, error) {
	if k.Aspect != AspectUsers {
		return "", fmt.Errorf("credentials: no such observation %s", k)
	}
	for _, c := range e.changes {
		if c.Node == k.Node && c.Detail != nil {
			users, err := e.Rotator.Users(ctx, c.Detail.BMCTarget(k.Node))
			if err != nil {
				return Unreachable, nil
			}
			return usersDigest(users), nil
		}
	}
	return "", fmt.Errorf("no BMC address for node %s in the plan's credentials changes", k.Node)
}

func (e *CredentialsExecutor) Apply(ctx context.Context, c Change) error {
	e.once.Do(func() { e.rep, e.err = e.run(ctx) })
	switch c.Action {
	case ActionRotateCredentials:
		if e.rep == nil {
			return e.err
		}
		for _, n := range e.rep.Nodes {
			if n.Node != c.Node {
				continue
			}
			switch n.Status {
			case rotate.StatusFailed:
				if n.RolledBack {
					return fmt.Errorf("credentials %s: %s; new user %d disabled again, nothing switched", c.Node, n.Error, n.Slot)
				}
				return fmt.Errorf("credentials %s: user %d, %s: %s", c.Node, n.Slot, n.Phase, n.Error)
			case rotate.StatusWaiting:
				return fmt.Errorf("credentials %s: new account ready in slot %d, but another BMC failed: %w", c.Node, n.Slot, rotate.ErrNotSwitched)
			}
			return nil
		}
		return e.err
	case ActionSwitchCredentials:
		if e.rep != nil && e.rep.Switched {
			return nil
		}
		if e.err != nil {
			return e.err
		}
		return fmt.Errorf("credentials: %w", rotate.ErrNotSwitched)
	}
	return fmt.Errorf("credentials: %s: unsupported action %q", c.Address, c.Action)
}

// run plans the rotation again for the plan's BMCs, checks it matches the
// one reviewed, and applies it.
func (e *CredentialsExecutor) run(ctx context.Context) (*rotate.Report, error) {
	if e.Rotator == nil {
		return nil, errors.New("credentials: no rotation driver")
	}
	var targets []bmc.Target
	reviewed := map[string]*RotationDetail{}
	wantSwitch := false
	var user string
	for _, c := range e.changes {
		if c.Detail == nil || c.Detail.Rotation == nil {
			return nil, fmt.Errorf("credentials: %s: no rotation in the change", c.Address)
		}
		user = c.Detail.Rotation.User
		switch c.Action {
		case ActionRotateCredentials:
			targets = append(targets, c.Detail.BMCTarget(c.Node))
			reviewed[c.Node] = c.Detail.Rotation
		case ActionSwitchCredentials:
			wantSwitch = true
		}
	}
	if len(targets) == 0 {
		return nil, errors.New("credentials: no BMC in the plan's credentials changes")
	}
	rp, err := e.Rotator.PlanRotation(ctx, targets)
	if err != nil {
		return nil, fmt.Errorf("credentials: plan the rotation again: %w", err)
	}
	if rp.User != user || rp.Switched == wantSwitch {
		return nil, fmt.Errorf("credentials: %w: the rotation to %q (switched %t) is now to %q (switched %t)", ErrStalePlan, user, !wantSwitch, rp.User, rp.Switched)
	}
	for _, s := range rp.Steps {
		r := reviewed[s.Node]
		if r == nil {
			continue
		}
		if s.Slot != r.Slot || s.Reuse != r.Reuse || s.OldSlot != r.OldSlot {
			return nil, fmt.Errorf("credentials: %w: %s: the new account now takes slot %d (reuse %t, old slot %d), the plan reviewed slot %d (reuse %t, old slot %d)",
				ErrStalePlan, s.Node, s.Slot, s.Reuse, s.OldSlot, r.Slot, r.Reuse, r.OldSlot)
		}
	}
	rep, err := e.Rotator.ApplyRotation(ctx, targets, rp)
	if err != nil {
		return rep, fmt.Errorf("credentials: %w", err)
	}
	discard(e.Log).Info("credentials rotated", "user", rep.User, "switched", rep.Switched, "complete", rep.Complete)
	return rep, nil
}
