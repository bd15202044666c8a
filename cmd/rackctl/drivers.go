package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/internal/childenv"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/rotate"
	"github.com/rackctl/rackctl/schema"
)

// driverFlags select and configure the layers after files.
type driverFlags struct {
	dhcp           string
	dnsmasq        string
	reloadCmd      string
	leases         string
	dhcpInterface  string
	releasePrefix  string
	driftFix       string
	bmc            string
	provisionerRun string
	terraform      string
	terraformrc    string
	parallelism    int
	lokoctl        string
	verify         string
	verifyTimeout  time.Duration
	passEnv        []string
}

func (d *driverFlags) register(f *pflag.FlagSet) {
	f.StringVar(&d.dhcp, "dhcp", "dnsmasq", "DHCP layer: dnsmasq (check with dnsmasq --test, reload, release stale leases) or none")
	f.StringVar(&d.dnsmasq, "dnsmasq", "dnsmasq", "dnsmasq binary for the config check")
	f.StringVar(&d.reloadCmd, "dnsmasq-reload-cmd", strings.Join(dhcp.DefaultReloadCmd(), " "), "command that makes dnsmasq load a changed config (split on spaces, run without a shell)")
	f.StringVar(&d.leases, "dnsmasq-leases", dhcp.DefaultLeasePath, "dnsmasq's lease file (under --root); drift is checked when it exists")
	f.StringVar(&d.dhcpInterface, "dnsmasq-interface", "", "interface dnsmasq serves DHCP on (for dhcp_release)")
	f.StringVar(&d.releasePrefix, "dhcp-release-prefix", "", "command prefix to run dhcp_release where dnsmasq runs, e.g. 'docker exec dnsmasq'")
	f.StringVar(&d.driftFix, "drift-fix", string(reconcile.DriftRelease), "DHCP drift policy: release, renew (also BMC DHCP renew), power-cycle (also nodes), none (list only)")
	f.StringVar(&d.bmc, "bmc", "auto", "BMC layer: auto (on when the BMC credentials are readable) or none")
	f.StringVar(&d.provisionerRun, "provisioner-run", string(reconcile.ProvisionerAuto), "run terraform/lokoctl: auto or never")
	f.StringVar(&d.terraform, "terraform", "terraform", "terraform binary")
	f.StringVar(&d.terraformrc, "terraformrc", os.Getenv("TF_CLI_CONFIG_FILE"), "terraform CLI config (TF_CLI_CONFIG_FILE), e.g. a provider mirror")
	f.IntVar(&d.parallelism, "parallelism", provision.DefaultParallelism, "terraform apply -parallelism")
	f.StringVar(&d.lokoctl, "lokoctl", "lokoctl", "lokoctl binary")
	f.StringVar(&d.verify, "verify", "flag", "verify layer: flag (record each install in its flag file), cluster (record it once the node joined the cluster and is Ready) or none")
	f.StringSliceVar(&d.passEnv, "pass-env", nil, "pass these variables of rackctl's environment on to terraform, lokoctl and the dnsmasq commands, which otherwise get only PATH, HOME, locale, proxies and their own settings (TF_*, KUBECONFIG, ...); never RACKCTL_BMC_* or other secrets; repeatable")
	f.DurationVar(&d.verifyTimeout, "verify-timeout", cluster.DefaultWaitTimeout, "with --verify cluster: how long to wait for each installed node to become Ready")
}

// drivers are the constructed drivers of one plan or apply.
type drivers struct {
	layers    reconcile.LayerConfig
	executors []reconcile.Executor
	validate  map[string]func(context.Context, []byte) error
}

func (g *globals) drivers(rack *schema.Rack, d *driverFlags) (*drivers, error) {
	out := &drivers{layers: reconcile.LayerConfig{Enabled: true}}
	layout := g.layout()
	if err := childenv.CheckPass(d.passEnv); err != nil {
		return nil, err
	}
	switch d.driftFix {
	case "release", "renew", "power-cycle", "none":
		out.layers.DriftFix = reconcile.DriftFix(d.driftFix)
	default:
		return nil, fmt.Errorf("--drift-fix %q: want release, renew, power-cycle or none", d.driftFix)
	}

	// BMC first: the dhcp layer's drift fixes use it too.
	var client *bmc.Client
	switch d.bmc {
	case "none":
		out.layers.BMCOff = "bmc layer off (--bmc=none): no PXE boots, power cycles or boot device fixes"
	case "auto":
		env := &rackEnv{g: g, rack: rack}
		creds, err := env.credentials()
		if err != nil {
			out.layers.BMCOff = "bmc layer skipped (--bmc=auto): credentials not readable: " + err.Error()
			break
		}
		client, err = bmc.New(bmc.Config{Credentials: creds, Timeout: g.timeout, Parallel: g.parallel, Logger: g.log})
		if err != nil {
			return nil, fmt.Errorf("bmc layer: %w (or pass --bmc=none)", err)
		}
		out.layers.BMC, out.layers.BMCParallel, out.layers.Addressing = client, g.parallel, client
		out.executors = append(out.executors, &reconcile.BMCExecutor{BMC: client, Addressing: client, Parallel: g.parallel, Log: g.log})
		if rot := rack.BMC.Rotate; rot != nil {
			r, err := g.rotation(rack, client, creds)
			if err != nil {
				return nil, err
			}
			out.layers.Rotation = r
			out.executors = append(out.executors, &reconcile.CredentialsExecutor{Rotator: r, Log: g.log})
		}
	default:
		return nil, fmt.Errorf("--bmc %q: want auto or none", d.bmc)
	}

	switch d.dhcp {
	case "none":
		out.layers.DHCPOff = "dhcp layer off (--dhcp=none): dnsmasq.conf is neither checked nor reloaded"
	case "dnsmasq":
		bin, err := exec.LookPath(d.dnsmasq)
		if err != nil {
			return nil, fmt.Errorf("dhcp layer: dnsmasq binary %q not found: install dnsmasq, point --dnsmasq at it, or pass --dhcp=none", d.dnsmasq)
		}
		reload := strings.Fields(d.reloadCmd)
		if len(reload) == 0 {
			return nil, fmt.Errorf("--dnsmasq-reload-cmd is empty")
		}
		srv := dhcp.New(dhcp.Config{
			ConfPath:   filepath.Join(g.root, filepath.FromSlash(layout.DnsmasqConf)),
			LeasePath:  g.hostPath(d.leases),
			Interface:  d.dhcpInterface,
			ReloadCmd:  reload,
			DnsmasqCmd: []string{bin},
			ExecPrefix: strings.Fields(d.releasePrefix),
			PassEnv:    d.passEnv,
			Timeout:    max(g.timeout, 10*time.Second),
			Log:        g.log,
		})
		out.layers.DHCP = srv
		ex := &reconcile.DHCPExecutor{Server: srv, Log: g.log}
		if client != nil {
			ex.BMC, ex.Renew = client, client
		}
		out.executors = append(out.executors, ex)
		out.validate = map[string]func(context.Context, []byte) error{layout.DnsmasqConf: srv.Check}
	default:
		return nil, fmt.Errorf("--dhcp %q: want dnsmasq or none", d.dhcp)
	}

	out.executors = append(out.executors, &reconcile.FlagExecutor{Root: g.root, Log: g.log})

	switch d.provisionerRun {
	case "auto":
		out.layers.Provisioner = reconcile.ProvisionerAuto
		px := &reconcile.ProvisionerExecutor{Log: g.log}
		if rack.Provisioner == schema.Flatcar {
			tf := &lazyTerraform{cfg: provision.TerraformConfig{
				WorkDir:       filepath.Join(g.root, filepath.FromSlash(layout.FlatcarDir)),
				ExecPath:      d.terraform,
				CLIConfigFile: d.terraformrc,
				Parallelism:   d.parallelism,
				PassEnv:       d.passEnv,
				Stdout:        prefixWriter{g: g, prefix: "terraform: "},
				Stderr:        prefixWriter{g: g, prefix: "terraform: "},
				Log:           g.log,
			}}
			out.layers.Terraform, px.Terraform = tf, tf
		} else {
			px.Lokoctl = &lazyLokoctl{cfg: provision.LokoctlConfig{
				Dir:      filepath.Join(g.root, filepath.FromSlash(layout.LokomotiveDir)),
				ExecPath: d.lokoctl,
				PassEnv:  d.passEnv,
				Output:   prefixWriter{g: g},
				Log:      g.log,
			}}
		}
		out.executors = append(out.executors, px)
	case "never":
		out.layers.Provisioner = reconcile.ProvisionerNever
	default:
		return nil, fmt.Errorf("--provisioner-run %q: want auto or never", d.provisionerRun)
	}

	switch d.verify {
	case "flag":
		// Only installs rackctl drove itself are recorded.
		out.layers.Verify = d.provisionerRun == "auto"
		out.executors = append(out.executors, &reconcile.VerifyExecutor{Root: g.root, Log: g.log})
	case "cluster":
		client, err := g.clusterClient()
		if err != nil {
			return nil, fmt.Errorf("--verify cluster: %w", err)
		}
		out.layers.Verify = d.provisionerRun == "auto"
		out.executors = append(out.executors, &reconcile.VerifyExecutor{Root: g.root, Log: g.log,
			Verifier: &clusterVerifier{g: g, client: client, timeout: d.verifyTimeout}})
	case "none":
	default:
		return nil, fmt.Errorf("--verify %q: want flag, cluster or none", d.verify)
	}
	return out, nil
}

// rotation is the credentials layer's driver for the spec's bmc.rotate;
// creds are the credentials in force.
func (g *globals) rotation(rack *schema.Rack, client *bmc.Client, creds bmc.Credentials) (*reconcile.Rotation, error) {
	rot := rack.BMC.Rotate
	pw, err := rotate.ReadPassword(g.root, g.hostPath(rot.PasswordFile))
	if err != nil {
		return nil, fmt.Errorf("bmc.rotate.passwordFile: %w (once a rotation is complete, drop bmc.rotate from %s)", err, g.specFile)
	}
	return &reconcile.Rotation{
		Client: client, Old: creds, New: bmc.Credentials{User: rot.User, Password: pw}, DeleteOld: rot.DeleteOld,
		Files:    rotate.CredentialFiles{UserFile: g.hostPath(rack.BMC.UserFile), PasswordFile: g.hostPath(rack.BMC.PasswordFile), Root: g.root},
		StateDir: g.stateDir,
		Log:      g.log,
		Progress: func(node, msg string) {
			w := prefixWriter{g: g, prefix: "credentials: "}
			if node != "" {
				msg = node + ": " + msg
			}
			fmt.Fprintln(w, msg)
		},
	}, nil
}

// prefixWriter copies a provisioner's output to stdout (stderr under -o
// json, which keeps stdout for the result).
type prefixWriter struct {
	g      *globals
	prefix string
}

func (w prefixWriter) Write(p []byte) (int, error) {
	dst := w.g.stdout
	if w.g.output == "json" {
		dst = w.g.stderr
	}
	if w.prefix == "" {
		return dst.Write(p)
	}
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line != "" {
			fmt.Fprint(dst, w.prefix+line)
		}
	}
	return len(p), nil
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
