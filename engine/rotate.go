package engine

import (
	"context"
	"fmt"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/rotate"
)

// Rotation is one `rotate-credentials` run: every BMC of the rack to the
// account bmc.rotate names. Plan first, then Apply the plan.
type Rotation struct {
	e      *Engine
	rack   *Rack
	client rotate.Accounts
	req    rotate.Request
}

// Rotation prepares the rotation of r's BMCs: it reads the credentials in
// force and the new password, and opens the BMC driver.
func (e *Engine) Rotation(r *Rack) (*Rotation, error) {
	rot := r.Spec.BMC.Rotate
	if rot == nil {
		return nil, fmt.Errorf("%s has no bmc.rotate: name the new account there (user, passwordFile)", e.cfg.SpecFile)
	}
	old, err := r.Credentials()
	if err != nil {
		return nil, err
	}
	pw, err := rotate.ReadPassword(e.cfg.Root, e.HostPath(rot.PasswordFile))
	if err != nil {
		return nil, fmt.Errorf("bmc.rotate.passwordFile: %w", err)
	}
	open, err := e.openBMC(r.Spec, old)
	if err != nil {
		return nil, err
	}
	client, err := e.accounts(open)
	if err != nil {
		return nil, err
	}
	return &Rotation{e: e, rack: r, client: client, req: rotate.Request{
		Targets:   r.Targets(r.Nodes()),
		Old:       old,
		New:       bmc.Credentials{User: rot.User, Password: pw},
		DeleteOld: rot.DeleteOld,
	}}, nil
}

// Plan reads every BMC's user list and the saved progress and says, per
// BMC, what the rotation does; it changes nothing.
func (r *Rotation) Plan(ctx context.Context) (*rotate.Plan, error) {
	state, err := rotate.LoadState(r.e.cfg.StateDir)
	if err != nil {
		return nil, err
	}
	return rotate.MakePlan(ctx, r.client, r.req, state)
}

// Apply carries out p (from Plan), telling progress each step (never a
// secret; progress may be nil).
func (r *Rotation) Apply(ctx context.Context, p *rotate.Plan, progress func(node, msg string)) (*rotate.Report, error) {
	return rotate.Apply(ctx, r.client, p, r.req, rotate.Options{
		Files:    r.e.credentialFiles(r.rack.Spec),
		StateDir: r.e.cfg.StateDir,
		Logger:   r.e.log,
		Progress: progress,
	})
}
