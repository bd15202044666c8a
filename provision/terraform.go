package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/rackctl/rackctl/internal/childenv"
)

// DefaultParallelism is the -parallelism of terraform apply when
// TerraformConfig.Parallelism is zero: matchbox resources are cheap and a
// rack's nodes are independent.
const DefaultParallelism = 100

// DefaultPlanFile is the name of the saved plan inside the work dir when
// TerraformConfig.PlanFile is empty.
const DefaultPlanFile = "rackctl.tfplan"

// ErrPlanChanged is returned by TerraformPlan.Verify when the saved plan
// file is missing or differs from the one that was reviewed.
var ErrPlanChanged = errors.New("saved terraform plan changed since it was reviewed")

// TerraformConfig configures a Terraform executor.
type TerraformConfig struct {
	// WorkDir is the root module: the rendered flatcar-container-linux dir.
	WorkDir string
	// ExecPath is the terraform binary; empty means "terraform" from PATH.
	ExecPath string
	// CLIConfigFile becomes TF_CLI_CONFIG_FILE, e.g. tools/bin/terraformrc
	// (the filesystem mirror written by scripts/build-tools.sh). Empty keeps
	// the environment's setting.
	CLIConfigFile string
	// PlanFile is where Plan saves the plan; relative paths are inside
	// WorkDir. Empty means DefaultPlanFile.
	PlanFile string
	// Parallelism is apply's -parallelism; zero means DefaultParallelism.
	Parallelism int
	// Env is added to the environment of every terraform run. Variables
	// terraform-exec manages itself (TF_LOG, TF_VAR_*, ...) are refused.
	Env map[string]string
	// PassEnv names variables of rackctl's environment to pass on besides
	// childenv.Terraform's; rackctl's secrets never pass.
	PassEnv []string
	// Stdout and Stderr receive terraform's output; nil discards it.
	Stdout, Stderr io.Writer
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// Terraform runs terraform init, plan and apply in one root module.
type Terraform struct {
	tf          *tfexec.Terraform
	workDir     string
	planFile    string
	parallelism int
	stdout      io.Writer
	log         *slog.Logger
}

// TerraformPlan is a saved plan read back from `terraform show -json`.
type TerraformPlan struct {
	// PlanFile is the saved plan, to pass to Apply.
	PlanFile string `json:"planFile"`
	// Hash is the hex sha256 of the plan file when it was read.
	Hash string `json:"hash"`
	// TerraformVersion is the version that made the plan.
	TerraformVersion string `json:"terraformVersion"`
	// Changes lists every resource change that is not a no-op, in
	// terraform's order (sorted by address).
	Changes []ResourceChange `json:"changes"`
	// Summary counts changes the way terraform does (a replace counts as
	// one add and one destroy).
	Summary PlanSummary `json:"summary"`
}

// ResourceChange is one resource terraform will act on.
type ResourceChange struct {
	// Address is the full resource address, e.g.
	// module.flatcar.matchbox_profile.node["node-0.example.com"].
	Address string `json:"address"`
	// Actions are terraform's actions: ["create"], ["update"], ["delete"],
	// ["delete","create"] or ["create","delete"] (replace), ["read"].
	Actions []string `json:"actions"`
	// Node is the node the resource belongs to (its for_each key), or ""
	// when the resource is not per node.
	Node string `json:"node,omitempty"`
	// Reason is terraform's action reason, e.g. "replace_because_cannot_update".
	Reason string `json:"reason,omitempty"`
	// Name is the resource's name attribute before the change, when it had
	// one: a matchbox object's ID.
	Name string `json:"name,omitempty"`
}

// PlanSummary counts the changes of a plan.
type PlanSummary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

// HasChanges reports whether applying the plan would change anything.
func (p *TerraformPlan) HasChanges() bool {
	return p.Summary != PlanSummary{}
}

// Nodes returns the sorted names of the nodes the plan changes.
func (p *TerraformPlan) Nodes() []string {
	var nodes []string
	for _, c := range p.Changes {
		if c.Node != "" && !slices.Contains(nodes, c.Node) {
			nodes = append(nodes, c.Node)
		}
	}
	slices.Sort(nodes)
	return nodes
}

// Verify checks that the plan file still has the content that was read
// into p; it returns an error wrapping ErrPlanChanged when it does not.
func (p *TerraformPlan) Verify() error {
	h, err := hashFile(p.PlanFile)
	if err != nil {
		return fmt.Errorf("verify plan %s: %w: %w", p.PlanFile, ErrPlanChanged, err)
	}
	if h != p.Hash {
		return fmt.Errorf("verify plan %s: %w", p.PlanFile, ErrPlanChanged)
	}
	return nil
}

// NewTerraform returns an executor for the root module in cfg.WorkDir.
func NewTerraform(cfg TerraformConfig) (*Terraform, error) {
	workDir, execPath, err := resolve("terraform", "work dir", cfg.WorkDir, cfg.ExecPath)
	if err != nil {
		return nil, err
	}
	if cfg.Parallelism < 0 {
		return nil, fmt.Errorf("terraform: parallelism %d is negative", cfg.Parallelism)
	}
	parallelism := cfg.Parallelism
	if parallelism == 0 {
		parallelism = DefaultParallelism
	}
	planFile := cfg.PlanFile
	if planFile == "" {
		planFile = DefaultPlanFile
	}
	if !filepath.IsAbs(planFile) {
		planFile = filepath.Join(workDir, planFile)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	tf, err := tfexec.NewTerraform(workDir, execPath)
	if err != nil {
		return nil, fmt.Errorf("terraform: %w", err)
	}
	env := environ(cfg.Env, cfg.PassEnv)
	if cfg.CLIConfigFile != "" {
		p, err := filepath.Abs(cfg.CLIConfigFile)
		if err != nil {
			return nil, fmt.Errorf("terraform: cli config %s: %w", cfg.CLIConfigFile, err)
		}
		env["TF_CLI_CONFIG_FILE"] = p
	}
	env["CHECKPOINT_DISABLE"] = "1"
	if bad := tfexec.ProhibitedEnv(cfg.Env); len(bad) > 0 {
		slices.Sort(bad)
		return nil, fmt.Errorf("terraform: env %s is managed by terraform-exec and cannot be set", strings.Join(bad, ", "))
	}
	if err := tf.SetEnv(tfexec.CleanEnv(env)); err != nil {
		return nil, fmt.Errorf("terraform: %w", err)
	}
	tf.SetStdout(orDiscard(cfg.Stdout))
	tf.SetStderr(orDiscard(cfg.Stderr))
	tf.SetLogger(printfLogger{log})

	return &Terraform{
		tf:          tf,
		workDir:     workDir,
		planFile:    planFile,
		parallelism: parallelism,
		stdout:      orDiscard(cfg.Stdout),
		log:         log.With("provisioner", "terraform", "dir", workDir),
	}, nil
}

// Init runs terraform init (providers come from the CLI config's mirror).
func (t *Terraform) Init(ctx context.Context) error {
	start := time.Now()
	t.log.InfoContext(ctx, "terraform init")
	if err := t.tf.Init(ctx, tfexec.Upgrade(false)); err != nil {
		return fmt.Errorf("terraform init in %s: %w", t.workDir, err)
	}
	t.log.InfoContext(ctx, "terraform init done", "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// Plan runs terraform plan -out and reads the saved plan back as data.
func (t *Terraform) Plan(ctx context.Context) (*TerraformPlan, error) {
	start := time.Now()
	t.log.InfoContext(ctx, "terraform plan", "out", t.planFile)
	if _, err := t.tf.Plan(ctx, tfexec.Out(t.planFile)); err != nil {
		return nil, fmt.Errorf("terraform plan in %s: %w", t.workDir, err)
	}
	hash, err := hashFile(t.planFile)
	if err != nil {
		return nil, fmt.Errorf("terraform plan: %w", err)
	}
	// show -json is read here, not shown: it holds every rendered Ignition.
	t.tf.SetStdout(io.Discard)
	js, err := t.tf.ShowPlanFile(ctx, t.planFile)
	t.tf.SetStdout(t.stdout)
	if err != nil {
		return nil, fmt.Errorf("terraform show %s: %w", t.planFile, err)
	}
	p, err := planFromJSON(js)
	if err != nil {
		return nil, fmt.Errorf("terraform show %s: %w", t.planFile, err)
	}
	p.PlanFile = t.planFile
	p.Hash = hash
	t.log.InfoContext(ctx, "terraform plan done", "add", p.Summary.Add, "change", p.Summary.Change,
		"destroy", p.Summary.Destroy, "duration", time.Since(start).Round(time.Millisecond))
	return p, nil
}

// Apply applies the saved plan in planFile with -parallelism. Terraform
// itself refuses a plan made from a state that has changed since.
func (t *Terraform) Apply(ctx context.Context, planFile string) error {
	if planFile == "" {
		return errors.New("terraform apply: no plan file")
	}
	if !filepath.IsAbs(planFile) {
		planFile = filepath.Join(t.workDir, planFile)
	}
	if _, err := os.Stat(planFile); err != nil {
		return fmt.Errorf("terraform apply: %w", err)
	}
	start := time.Now()
	t.log.InfoContext(ctx, "terraform apply", "plan", planFile, "parallelism", t.parallelism)
	if err := t.tf.Apply(ctx, tfexec.DirOrPlan(planFile), tfexec.Parallelism(t.parallelism)); err != nil {
		return fmt.Errorf("terraform apply %s in %s: %w", planFile, t.workDir, err)
	}
	t.log.InfoContext(ctx, "terraform apply done", "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// planFromJSON turns terraform's JSON plan into a TerraformPlan.
func planFromJSON(js *tfjson.Plan) (*TerraformPlan, error) {
	if js == nil {
		return nil, errors.New("empty plan")
	}
	names := nodeNames(js)
	p := &TerraformPlan{TerraformVersion: js.TerraformVersion}
	for _, rc := range js.ResourceChanges {
		if rc == nil || rc.Change == nil {
			continue
		}
		acts := rc.Change.Actions
		if acts.NoOp() || len(acts) == 0 {
			continue
		}
		c := ResourceChange{
			Address: rc.Address,
			Node:    nodeOf(rc, names),
			Reason:  string(rc.ActionReason),
		}
		if before, ok := rc.Change.Before.(map[string]any); ok {
			c.Name, _ = before["name"].(string)
		}
		for _, a := range acts {
			c.Actions = append(c.Actions, string(a))
		}
		switch {
		case acts.Create():
			p.Summary.Add++
		case acts.Update():
			p.Summary.Change++
		case acts.Delete():
			p.Summary.Destroy++
		case acts.Replace():
			p.Summary.Add++
			p.Summary.Destroy++
		}
		p.Changes = append(p.Changes, c)
	}
	slices.SortStableFunc(p.Changes, func(a, b ResourceChange) int { return strings.Compare(a.Address, b.Address) })
	return p, nil
}

// nodeNames returns the root variable node_names, which a count-indexed
// (Racker-style) configuration uses to name index i.
func nodeNames(js *tfjson.Plan) []string {
	v, ok := js.Variables["node_names"]
	if !ok || v == nil {
		return nil
	}
	list, ok := v.Value.([]any)
	if !ok {
		return nil
	}
	var names []string
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil
		}
		names = append(names, s)
	}
	return names
}

// moduleKey matches the instance key of the last module in an address:
// module.a["key"] or module.a[3].
var moduleKey = regexp.MustCompile(`\[("(?:[^"\\]|\\.)*"|\d+)\]$`)

// nodeOf names the node a resource belongs to: its for_each key, or with
// count the node_names entry at its index; the resource's own key wins
// over its module's.
func nodeOf(rc *tfjson.ResourceChange, names []string) string {
	if n := keyName(rc.Index, names); n != "" {
		return n
	}
	if m := moduleKey.FindStringSubmatch(rc.ModuleAddress); m != nil {
		if s, err := strconv.Unquote(m[1]); err == nil {
			return s
		}
		if i, err := strconv.Atoi(m[1]); err == nil {
			return keyName(float64(i), names)
		}
	}
	return ""
}

func keyName(index any, names []string) string {
	switch k := index.(type) {
	case string:
		return k
	case float64:
		i := int(k)
		if float64(i) == k && i >= 0 && i < len(names) {
			return names[i]
		}
	}
	return ""
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash plan: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash plan %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// environ is terraform's environment: what childenv.Terraform and pass let
// through of rackctl's (not its secrets), with extra merged over it.
func environ(extra map[string]string, pass []string) map[string]string {
	env := childenv.Terraform.Map(os.Environ(), pass)
	for k, v := range extra {
		if !childenv.Secret(k) {
			env[k] = v
		}
	}
	return env
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// printfLogger adapts slog for terraform-exec's logger, at debug level.
type printfLogger struct{ log *slog.Logger }

func (l printfLogger) Printf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "terraform-exec")
}

// resolve checks that dir is an existing directory and finds the program
// (by name in PATH, or as a path); both come back absolute.
func resolve(program, dirName, dir, execPath string) (absDir, absExec string, err error) {
	if dir == "" {
		return "", "", fmt.Errorf("%s: %s not set", program, dirName)
	}
	absDir, err = filepath.Abs(dir)
	if err != nil {
		return "", "", fmt.Errorf("%s: %s %s: %w", program, dirName, dir, err)
	}
	if st, err := os.Stat(absDir); err != nil {
		return "", "", fmt.Errorf("%s: %s: %w", program, dirName, err)
	} else if !st.IsDir() {
		return "", "", fmt.Errorf("%s: %s %s is not a directory", program, dirName, absDir)
	}
	if execPath == "" {
		execPath = program
	}
	if !strings.ContainsRune(execPath, filepath.Separator) {
		p, err := exec.LookPath(execPath)
		if err != nil {
			return "", "", fmt.Errorf("%s: find %s: %w", program, execPath, err)
		}
		return absDir, p, nil
	}
	if absExec, err = filepath.Abs(execPath); err != nil {
		return "", "", fmt.Errorf("%s: exec path: %w", program, err)
	}
	return absDir, absExec, nil
}
