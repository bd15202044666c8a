package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/state"
)

// verifyLayer records every node being installed once the bmc phase is
// through: it writes the node's flag file (after the Verifier, if any,
// found the node up).
type verifyLayer struct{ persistNothing }

func (verifyLayer) Layer() Layer          { return LayerVerify }
func (verifyLayer) Policy() FailurePolicy { return PerNode }

func (verifyLayer) Plan(_ context.Context, pl *planner) error {
	if !pl.cfg.Enabled || !pl.cfg.Verify {
		return nil
	}
	installs := pl.installs()
	if pl.cfg.VerifyAssumed && len(installs) > 0 {
		pl.note("verify: installs are assumed, not observed (--verify flag): each flag file is written without seeing the node run its config")
	}
	for _, ni := range installs {
		pl.add(Change{
			Layer: LayerVerify, Action: ActionVerify, Address: "verify:" + ni.n.Name, Node: ni.n.Name,
			Reason: "record the install (" + ni.flag + ")", Detail: &Detail{FlagFile: ni.flag, MAC: ni.n.MAC, FQDN: pl.rack.FQDN(ni.n)},
		})
	}
	return nil
}

// VerifyExecutor applies the verify layer: it asks the Verifier, if any,
// then records the install by writing the node's flag file (Racker's
// convention: flag file = installed).
type VerifyExecutor struct {
	Root     string
	Verifier Verifier // nil records right away
	// Parallel is how many nodes are waited for at once (default 1): a
	// node that never comes back then costs one wait, not one per node.
	Parallel int
	Log      *slog.Logger
	// Outcomes, when set, keeps every node's verify outcome (installs.json
	// through a state.Dir), so that status can tell "install failed" from
	// "install pending" after the apply is gone. Mode is how the Verifier
	// looks (ssh, cluster; flag without a Verifier), recorded with it.
	Outcomes InstallRecorder
	Mode     string
	Now      func() time.Time

	commit string // the plan's, learnt in Prepare
}

// InstallRecorder keeps a node's last verify outcome; state.Dir is one.
// It is called from several nodes' verifies at once.
type InstallRecorder interface {
	RecordInstall(node string, r state.InstallRecord) error
}

var (
	_ Executor        = (*VerifyExecutor)(nil)
	_ Concurrent      = (*VerifyExecutor)(nil)
	_ Preparer        = (*VerifyExecutor)(nil)
	_ InstallRecorder = state.Dir{}
	_ InstallObserver = (*VerifyExecutor)(nil)
)

// Prepare learns the commit the plan was made from, recorded with each
// outcome.
func (e *VerifyExecutor) Prepare(p *Plan) error {
	e.commit = p.Commit
	return nil
}

// record keeps c's outcome (err nil: installed). An outcome that cannot be
// kept fails the node: status would otherwise show an older one.
func (e *VerifyExecutor) record(c Change, err error) error {
	if e.Outcomes == nil {
		return err
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	r := state.InstallRecord{Outcome: state.InstallInstalled, MAC: c.Detail.MAC, Verify: e.Mode, Time: now(), Commit: e.commit}
	if err != nil {
		r.Outcome, r.Reason = state.InstallFailed, err.Error()
	}
	if rerr := e.Outcomes.RecordInstall(c.Node, r); rerr != nil {
		return errors.Join(err, fmt.Errorf("verify %s: record the outcome: %w", c.Node, rerr))
	}
	return err
}

// Concurrency is how many nodes are verified at once.
func (e *VerifyExecutor) Concurrency() int { return max(e.Parallel, 1) }

func (e *VerifyExecutor) Layer() Layer { return LayerVerify }

// ObservesInstalls is true when a Verifier looks at each node (ssh,
// cluster) before its install is recorded.
func (e *VerifyExecutor) ObservesInstalls() bool { return e.Verifier != nil }

func (e *VerifyExecutor) Apply(ctx context.Context, c Change) error {
	if c.Action != ActionVerify || c.Detail == nil || c.Detail.FlagFile == "" {
		return fmt.Errorf("verify: %s: unsupported change", c.Address)
	}
	if err := checkPath(c.Detail.FlagFile); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if e.Verifier != nil {
		if err := e.Verifier.Verify(ctx, c.Node); err != nil {
			return e.record(c, fmt.Errorf("verify %s: %w", c.Node, err))
		}
	}
	// Recorded before the flag file: a flag file whose record failed to be
	// written would read as installed by someone else.
	if err := e.record(c, nil); err != nil {
		return err
	}
	root, err := rootfs.New(e.Root)
	if err != nil {
		return fmt.Errorf("verify %s: %w", c.Node, err)
	}
	switch there, err := root.Exists(c.Detail.FlagFile); {
	case err != nil:
		return fmt.Errorf("verify %s: flag file: %w", c.Node, err)
	case there:
		return nil
	}
	cleanTemp(root, c.Detail.FlagFile, discard(e.Log))
	var content []byte
	if c.Detail.FQDN != "" {
		content = []byte(c.Detail.FQDN + "\n") // as the module's `echo $domain > flag`
	}
	if err := root.WriteFile(c.Detail.FlagFile, content, 0o644); err != nil {
		return fmt.Errorf("verify %s: write flag file: %w", c.Node, err)
	}
	discard(e.Log).Info("install recorded", "node", c.Node, "flag", c.Detail.FlagFile)
	return nil
}
