package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// flatcarProvisioner is terraform in the flatcar dir with rackctl's
// matchbox module: it serves each node's install profile, and a node
// without its flag file PXE-installs Flatcar when the bmc layer boots it.
type flatcarProvisioner struct{}

func (flatcarProvisioner) Tool() string                    { return "terraform" }
func (flatcarProvisioner) Dir(l render.Layout) string      { return l.WithDefaults().FlatcarDir }
func (flatcarProvisioner) Roles() []string                 { return []string{schema.RoleNode} }
func (flatcarProvisioner) BootsInstalls(*schema.Rack) bool { return false }

func (flatcarProvisioner) FlagFile(l render.Layout, mac string) string {
	return path.Join(l.WithDefaults().FlatcarDir, render.FlatcarAssetDir, mac)
}

// PlanRun adds nothing: what an installed node does with a changed config
// (a new SSH key, a CLC edit) is the reignite layer's (it re-runs Ignition,
// or notes that the node keeps its old config).
func (flatcarProvisioner) PlanRun(*planner, *provisionerRun) error { return nil }

// terraformPlanKey is the observed digest of the terraform plan reviewed.
var terraformPlanKey = ObsKey{Layer: LayerProvisioner, Aspect: AspectProvisionerPlan}

// Review makes a real terraform plan when nothing else calls for a run (the
// flatcar dir matched the rendered one already): terraform may still have
// work, for example after a failed apply. A run observes the state file.
func (fp flatcarProvisioner) Review(ctx context.Context, pl *planner, run *provisionerRun) error {
	dir := fp.Dir(pl.layout)
	if len(run.reasons) == 0 && pl.cfg.Terraform != nil {
		if at, ok := inputsUnchanged(pl, dir); ok {
			pl.note(inputsNotReplanned(fp.Tool(), at))
			return nil
		}
		sum, err := terraformPlan(ctx, pl, dir)
		if err != nil {
			return err
		}
		switch {
		case sum == nil:
			run.reason("terraform not initialized in " + dir)
		case sum.Add+sum.Change+sum.Destroy > 0:
			run.reason(fmt.Sprintf("terraform plan: %d to add, %d to change, %d to destroy", sum.Add, sum.Change, sum.Destroy))
			for _, r := range sum.Resources {
				run.addNode(r.Node)
			}
			run.change.Detail.Terraform = sum
			run.change.Summary = sum.lines()
			pl.observe(terraformPlanKey, sum.Digest)
		}
	}
	if len(run.reasons) == 0 {
		return nil
	}
	_, err := pl.observeFile(path.Join(dir, "terraform.tfstate"))
	return err
}

// terraformPlan runs terraform plan in an initialized flatcar dir; nil
// when it is not initialized.
func terraformPlan(ctx context.Context, pl *planner, dir string) (*TerraformSummary, error) {
	if _, err := os.Stat(filepath.Join(pl.opts.Root, filepath.FromSlash(dir), ".terraform")); err != nil {
		return nil, nil
	}
	tp, err := pl.cfg.Terraform.Plan(ctx)
	if err != nil {
		return nil, fmt.Errorf("terraform plan in %s: %w", dir, err)
	}
	return SummarizeTerraform(tp), nil
}

// lines are the summary of the terraform plan under its change.
func (s *TerraformSummary) lines() []SummaryLine {
	const max = 20
	var out []SummaryLine
	for i, r := range s.Resources {
		if i == max {
			out = append(out, SummaryLine{Text: fmt.Sprintf("... %d more resources", len(s.Resources)-max)})
			break
		}
		out = append(out, SummaryLine{Mark: strings.Join(r.Actions, ","), Text: r.Address})
	}
	return append(out, SummaryLine{Text: fmt.Sprintf("terraform: %d to add, %d to change, %d to destroy", s.Add, s.Change, s.Destroy)})
}

// SummarizeTerraform turns a terraform plan into the data a plan keeps.
func SummarizeTerraform(tp *provision.TerraformPlan) *TerraformSummary {
	s := &TerraformSummary{Add: tp.Summary.Add, Change: tp.Summary.Change, Destroy: tp.Summary.Destroy, Resources: []TerraformResource{}}
	for _, rc := range tp.Changes {
		s.Resources = append(s.Resources, TerraformResource{Address: rc.Address, Actions: rc.Actions, Node: strings.SplitN(rc.Node, ".", 2)[0]})
	}
	s.Digest = TerraformDigest(s.Resources)
	return s
}

// TerraformDigest is the hash of what terraform would do: every resource
// address with its actions, in order. It leaves out the plan file's own
// bytes (terraform stamps each plan with its time) and the attribute
// values, which come from the files the plan observes already.
func TerraformDigest(rs []TerraformResource) string {
	b, _ := json.Marshal(rs)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Observe plans again and returns the plan's digest.
func (flatcarProvisioner) Observe(ctx context.Context, e *ProvisionerExecutor, k ObsKey) (string, error) {
	if k != terraformPlanKey {
		return "", fmt.Errorf("provisioner: no such observation %s", k)
	}
	if e.Terraform == nil {
		return "", errors.New("no terraform driver")
	}
	if err := e.initTerraform(ctx); err != nil {
		return "", err
	}
	tp, err := e.Terraform.Plan(ctx)
	if err != nil {
		return "", fmt.Errorf("terraform plan: %w", err)
	}
	return SummarizeTerraform(tp).Digest, nil
}

// Apply runs terraform init, plan, and apply of that plan, which must be
// the one reviewed.
func (flatcarProvisioner) Apply(ctx context.Context, e *ProvisionerExecutor, c Change) error {
	e.runs.started()
	tp, err := e.planTerraform(ctx)
	if err != nil {
		return fmt.Errorf("provisioner: %w", err)
	}
	if c.Detail.Terraform != nil {
		if got := SummarizeTerraform(tp).Digest; got != c.Detail.Terraform.Digest {
			return fmt.Errorf("provisioner: %w (reviewed %s, now %s)", provision.ErrPlanChanged, c.Detail.Terraform.Digest, got)
		}
	}
	if cmds := provision.RackerStateMoves(tp, render.FlatcarModule); len(cmds) > 0 {
		dir := "the flatcar directory"
		if c.Detail.Dir != "" {
			dir = c.Detail.Dir + " (under --root)"
		}
		return fmt.Errorf("provisioner: the terraform state still holds Racker's %s, whose matchbox objects share IDs with rackctl's: "+
			"destroying them in this run could delete the new ones. Run once in %s, then apply again:\n  %s",
			provision.RackerModule, dir, strings.Join(cmds, "\n  "))
	}
	if !tp.HasChanges() {
		discard(e.Log).Info("terraform plan has no changes")
		e.runs.converged(c.Detail.Dir)
		return nil
	}
	if err := e.Terraform.Apply(ctx, tp.PlanFile); err != nil {
		return fmt.Errorf("provisioner: terraform apply: %w", err)
	}
	e.runs.converged(c.Detail.Dir)
	return nil
}

// planTerraform makes a fresh terraform plan, after terraform init (once
// per executor).
func (e *ProvisionerExecutor) planTerraform(ctx context.Context) (*provision.TerraformPlan, error) {
	if e.Terraform == nil {
		return nil, errors.New("no terraform driver")
	}
	if err := e.initTerraform(ctx); err != nil {
		return nil, err
	}
	tp, err := e.Terraform.Plan(ctx)
	if err != nil {
		return nil, fmt.Errorf("terraform plan: %w", err)
	}
	return tp, nil
}

// initTerraform runs terraform init once per executor.
func (e *ProvisionerExecutor) initTerraform(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inited {
		return nil
	}
	if err := e.Terraform.Init(ctx); err != nil {
		return fmt.Errorf("terraform init: %w", err)
	}
	e.inited = true
	return nil
}
