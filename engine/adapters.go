package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
)

func (e *Engine) provisionerDriver(rack *schema.Rack, _ BMCClient, out *drivers) error {
	d := e.cfg.Drivers
	switch d.ProvisionerRun {
	case "never":
		out.layers.Provisioner = reconcile.ProvisionerNever
		return nil
	case "auto":
	default:
		return fmt.Errorf("--provisioner-run %q: want auto or never", d.ProvisionerRun)
	}
	out.layers.Provisioner = reconcile.ProvisionerAuto
	px := &reconcile.ProvisionerExecutor{Log: e.log}
	layout := e.Layout()
	if rack.Provisioner == schema.Flatcar {
		tf := &lazyTerraform{cfg: provision.TerraformConfig{
			WorkDir:       filepath.Join(e.cfg.Root, filepath.FromSlash(layout.FlatcarDir)),
			ExecPath:      d.Terraform,
			CLIConfigFile: d.Terraformrc,
			Parallelism:   d.Parallelism,
			PassEnv:       d.PassEnv,
			Stdout:        prefixWriter{w: e.cfg.Output, prefix: "terraform: "},
			Stderr:        prefixWriter{w: e.cfg.Output, prefix: "terraform: "},
			Log:           e.log,
		}}
		out.layers.Terraform, px.Terraform = tf, tf
	} else {
		px.Lokoctl = &lazyLokoctl{cfg: provision.LokoctlConfig{
			Dir:      filepath.Join(e.cfg.Root, filepath.FromSlash(layout.LokomotiveDir)),
			ExecPath: d.Lokoctl,
			PassEnv:  d.PassEnv,
			Output:   prefixWriter{w: e.cfg.Output},
			Log:      e.log,
		}}
	}
	out.executors = append(out.executors, px)
	return nil
}

// prefixWriter copies a tool's output to w, each line prefixed.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if p.prefix == "" {
		return p.w.Write(b)
	}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			fmt.Fprint(p.w, p.prefix+line)
		}
	}
	return len(b), nil
}

// lazyTerraform builds the terraform executor on first use: the flatcar
// dir exists only once the files phase has written it.
type lazyTerraform struct {
	cfg  provision.TerraformConfig
	once sync.Once
	tf   *provision.Terraform
	err  error
}

func (l *lazyTerraform) get() (*provision.Terraform, error) {
	l.once.Do(func() { l.tf, l.err = provision.NewTerraform(l.cfg) })
	return l.tf, l.err
}

func (l *lazyTerraform) Init(ctx context.Context) error {
	tf, err := l.get()
	if err != nil {
		return err
	}
	return tf.Init(ctx)
}

func (l *lazyTerraform) Plan(ctx context.Context) (*provision.TerraformPlan, error) {
	tf, err := l.get()
	if err != nil {
		return nil, err
	}
	return tf.Plan(ctx)
}

func (l *lazyTerraform) Apply(ctx context.Context, planFile string) error {
	tf, err := l.get()
	if err != nil {
		return err
	}
	return tf.Apply(ctx, planFile)
}

// lazyLokoctl builds the lokoctl executor on first use, for the same
// reason as lazyTerraform.
type lazyLokoctl struct {
	cfg  provision.LokoctlConfig
	once sync.Once
	lk   *provision.Lokoctl
	err  error
}

func (l *lazyLokoctl) Apply(ctx context.Context) error {
	l.once.Do(func() { l.lk, l.err = provision.NewLokoctl(l.cfg) })
	if l.err != nil {
		return l.err
	}
	return l.lk.Apply(ctx)
}

// clusterVerifier waits until a freshly installed node joined the cluster
// and is Ready anew, reporting its progress. Its baseline (the nodes as
// listed when the drivers were built, before any phase of the apply ran)
// is what "anew" is judged against (cluster.Baseline): a Node left Ready
// from before the install does not count.
type clusterVerifier struct {
	client  *cluster.Client
	timeout time.Duration
	human   io.Writer
	log     *slog.Logger
	since   *cluster.Baseline
}

func newClusterVerifier(client *cluster.Client, timeout time.Duration, human io.Writer, log *slog.Logger) *clusterVerifier {
	since, err := client.Baseline(context.Background())
	if err != nil {
		log.Warn("verify cluster: no baseline: no install can be recorded by this apply", "err", err)
	}
	return &clusterVerifier{client: client, timeout: timeout, human: human, log: log, since: since}
}

func (v *clusterVerifier) Verify(ctx context.Context, node string) error {
	notReady, err := v.client.WaitReady(ctx, []string{node}, cluster.WaitOptions{
		Timeout: v.timeout,
		Since:   v.since,
		Progress: func(name string, st cluster.NodeStatus) {
			state := "not joined"
			switch {
			case st.Ready:
				state = "Ready"
			case st.Joined:
				state = "joined, not Ready (" + st.Reason + ")"
			}
			v.log.Info("waiting for node", "node", name, "state", state)
			fmt.Fprintf(v.human, "verify: %s: %s\n", name, state)
		},
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready after %s: %w; the install is not recorded: the next apply boots it again", node, v.timeout, err)
	}
	if len(notReady) > 0 {
		return fmt.Errorf("node %s not Ready after %s; the install is not recorded: the next apply boots it again", node, v.timeout)
	}
	return nil
}
