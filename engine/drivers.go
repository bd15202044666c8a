package engine

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/internal/childenv"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/rotate"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// DriverConfig selects and configures the layers after files (the
// driver flags of plan, apply and watch).
type DriverConfig struct {
	// Rollout says how apply follows a plan's waves (--wave, --no-waves).
	Rollout        RolloutConfig
	DHCP           string // dnsmasq | none
	Dnsmasq        string // dnsmasq binary
	ReloadCmd      string // split on spaces, run without a shell
	Leases         string // dnsmasq's lease file, a spec-style path
	DHCPInterface  string
	ReleasePrefix  string // command prefix of dhcp_release
	DriftFix       string // release | renew | power-cycle | none
	BMC            string // auto | none
	ProvisionerRun string // auto | never
	Terraform      string
	Terraformrc    string
	Parallelism    int // terraform apply -parallelism
	Lokoctl        string
	Verify         string // ssh | cluster | flag | none
	VerifyTimeout  time.Duration
	// SSHKey and SSHProxyCommand reach the nodes for --verify ssh.
	SSHKey          string
	SSHProxyCommand string // OpenSSH's ProxyCommand tokens %h %p, split on spaces, no shell
	PassEnv         []string
}

// drivers are the constructed drivers of one plan and its apply.
type drivers struct {
	layers    reconcile.LayerConfig
	executors []reconcile.Executor
	validate  map[string]func(context.Context, []byte) error
	ssh       *sshNodes // the SSH client verify and reignite share
}

func (d *drivers) sshNodes(e *Engine, rack *schema.Rack) *sshNodes {
	if d.ssh == nil {
		d.ssh = &sshNodes{e: e, rack: rack, log: e.log}
	}
	return d.ssh
}

// reigniteDriver observes the configs installed nodes run and re-runs
// Ignition on those that run another than the rendered one; only with
// --verify ssh are the nodes reached.
func (e *Engine) reigniteDriver(rack *schema.Rack, client BMCClient, out *drivers) error {
	nc, off := e.nodeConfigDriver(out.sshNodes(e, rack))
	if nc != nil && e.cfg.Drivers.ProvisionerRun != string(reconcile.ProvisionerAuto) {
		// matchbox serves the rendered config only once the provisioner ran:
		// a node re-running Ignition now could fetch the old one.
		nc, off = nil, "--provisioner-run "+e.cfg.Drivers.ProvisionerRun+": matchbox may not serve the rendered configs"
	}
	ex := &reconcile.ReigniteExecutor{Parallel: e.cfg.Parallel, Log: e.log}
	if client != nil {
		ex.BMC = client
	}
	if nc != nil {
		out.layers.NodeConfigs, ex.Reigniter = nc, nc
	}
	out.layers.NodeConfigsOff = off
	out.executors = append(out.executors, ex)
	return nil
}

// drivers builds the drivers the config selects for rack. Each step may
// use what the steps before it built: the dhcp layer's drift fixes use the
// BMC client.
func (e *Engine) drivers(rack *schema.Rack) (*drivers, error) {
	d := e.cfg.Drivers
	out := &drivers{layers: reconcile.LayerConfig{Enabled: true}}
	if err := childenv.CheckPass(d.PassEnv); err != nil {
		return nil, err
	}
	switch d.DriftFix {
	case "release", "renew", "power-cycle", "none":
		out.layers.DriftFix = reconcile.DriftFix(d.DriftFix)
	default:
		return nil, fmt.Errorf("--drift-fix %q: want release, renew, power-cycle or none", d.DriftFix)
	}
	client, err := e.bmcDriver(rack, out)
	if err != nil {
		return nil, err
	}
	for _, step := range []func(*schema.Rack, BMCClient, *drivers) error{e.dhcpDriver, e.flagDriver, e.provisionerDriver, e.verifyDriver, e.settleDriver, e.reigniteDriver} {
		if err := step(rack, client, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// bmcDriver turns the bmc layer (and with bmc.rotate the credentials
// layer) on when the credentials are readable; it returns the client for
// the layers that follow, nil when the layer is off.
func (e *Engine) bmcDriver(rack *schema.Rack, out *drivers) (BMCClient, error) {
	switch e.cfg.Drivers.BMC {
	case "none":
		out.layers.BMCOff = "bmc layer off (--bmc=none): no PXE boots, power cycles or boot device fixes"
		return nil, nil
	case "auto":
	default:
		return nil, fmt.Errorf("--bmc %q: want auto or none", e.cfg.Drivers.BMC)
	}
	creds, err := e.credentials(rack.BMC.UserFile, rack.BMC.PasswordFile)
	if err != nil {
		out.layers.BMCOff = "bmc layer skipped (--bmc=auto): credentials not readable: " + err.Error()
		return nil, nil
	}
	client, err := e.openBMC(rack, creds)
	if err != nil {
		return nil, fmt.Errorf("bmc layer: %w (or pass --bmc=none)", err)
	}
	out.layers.BMC, out.layers.BMCParallel, out.layers.Addressing = client, e.cfg.Parallel, client
	out.executors = append(out.executors, &reconcile.BMCExecutor{BMC: client, Addressing: client, Parallel: e.cfg.Parallel, Log: e.log})
	if rack.BMC.Rotate == nil {
		return client, nil
	}
	r, err := e.rotation(rack, client, creds)
	if err != nil {
		return nil, err
	}
	out.layers.Rotation = r
	out.executors = append(out.executors, &reconcile.CredentialsExecutor{Rotator: r, Log: e.log})
	return client, nil
}

func (e *Engine) dhcpDriver(_ *schema.Rack, client BMCClient, out *drivers) error {
	d := e.cfg.Drivers
	switch d.DHCP {
	case "none":
		out.layers.DHCPOff = "dhcp layer off (--dhcp=none): dnsmasq.conf is neither checked nor reloaded"
		return nil
	case "dnsmasq":
	default:
		return fmt.Errorf("--dhcp %q: want dnsmasq or none", d.DHCP)
	}
	bin, err := exec.LookPath(d.Dnsmasq)
	if err != nil {
		return fmt.Errorf("dhcp layer: dnsmasq binary %q not found: install dnsmasq, point --dnsmasq at it, or pass --dhcp=none", d.Dnsmasq)
	}
	reload := strings.Fields(d.ReloadCmd)
	if len(reload) == 0 {
		return fmt.Errorf("--dnsmasq-reload-cmd is empty")
	}
	conf := e.Layout().DnsmasqConf
	srv := dhcp.New(dhcp.Config{
		ConfPath:   filepath.Join(e.cfg.Root, filepath.FromSlash(conf)),
		LeasePath:  e.HostPath(d.Leases),
		Interface:  d.DHCPInterface,
		ReloadCmd:  reload,
		DnsmasqCmd: []string{bin},
		ExecPrefix: strings.Fields(d.ReleasePrefix),
		PassEnv:    d.PassEnv,
		Timeout:    max(e.cfg.Timeout, 10*time.Second),
		Log:        e.log,
	})
	out.layers.DHCP = srv
	ex := &reconcile.DHCPExecutor{Server: srv, Log: e.log}
	if client != nil {
		ex.BMC, ex.Renew = client, client
	}
	out.executors = append(out.executors, ex)
	out.validate = map[string]func(context.Context, []byte) error{conf: srv.Check}
	return nil
}

func (e *Engine) flagDriver(_ *schema.Rack, _ BMCClient, out *drivers) error {
	out.executors = append(out.executors, &reconcile.FlagExecutor{Root: e.cfg.Root, Log: e.log})
	return nil
}

func (e *Engine) verifyDriver(rack *schema.Rack, _ BMCClient, out *drivers) error {
	d := e.cfg.Drivers
	// Only installs rackctl drove itself are recorded.
	drove := d.ProvisionerRun == "auto"
	switch d.Verify {
	case "ssh":
		out.layers.Verify = drove
		out.executors = append(out.executors, &reconcile.VerifyExecutor{Root: e.cfg.Root, Log: e.log, Parallel: e.cfg.Parallel,
			Verifier: &sshVerifier{ssh: out.sshNodes(e, rack), timeout: d.VerifyTimeout, human: e.cfg.Human},
			Outcomes: state.New(e.cfg.StateDir), Mode: d.Verify})
	case "flag":
		out.layers.Verify = drove
		out.layers.VerifyAssumed = drove
		out.executors = append(out.executors, &reconcile.VerifyExecutor{Root: e.cfg.Root, Log: e.log,
			Outcomes: state.New(e.cfg.StateDir), Mode: d.Verify})
	case "cluster":
		client, err := e.ClusterClient()
		if err != nil {
			return fmt.Errorf("--verify cluster: %w", err)
		}
		out.layers.Verify = drove
		out.executors = append(out.executors, &reconcile.VerifyExecutor{Root: e.cfg.Root, Log: e.log, Parallel: e.cfg.Parallel,
			Verifier: newClusterVerifier(client, d.VerifyTimeout, e.cfg.Human, e.log),
			Outcomes: state.New(e.cfg.StateDir), Mode: d.Verify})
	case "none":
	default:
		return fmt.Errorf("--verify %q: want ssh, cluster, flag or none", d.Verify)
	}
	return nil
}

// settleDriver turns the settle layer on for observed installs and gives
// it the provisioner's drivers (built by provisionerDriver) and the BMC
// client.
func (e *Engine) settleDriver(_ *schema.Rack, client BMCClient, out *drivers) error {
	// Only an observed install settles in the same apply: with installs
	// assumed (--verify flag) the node may still be booting the installer,
	// and switching its matchbox group now would take the install away.
	d := e.cfg.Drivers
	out.layers.Settle = d.Verify == "ssh" || d.Verify == "cluster"
	se := &reconcile.SettleExecutor{Root: e.cfg.Root, Log: e.log}
	if client != nil {
		se.BMC = client
	}
	for _, x := range out.executors {
		if px, ok := x.(*reconcile.ProvisionerExecutor); ok {
			se.Provisioner = px
		}
	}
	out.executors = append(out.executors, se)
	return nil
}

// rotation is the credentials layer's driver for the spec's bmc.rotate;
// creds are the credentials in force. Rotation works through the IPMI
// user commands today: another protocol's client has none.
func (e *Engine) rotation(rack *schema.Rack, client BMCClient, creds bmc.Credentials) (*reconcile.Rotation, error) {
	accounts, err := e.accounts(client)
	if err != nil {
		return nil, err
	}
	rot := rack.BMC.Rotate
	pw, err := rotate.ReadPassword(e.cfg.Root, e.HostPath(rot.PasswordFile))
	if err != nil {
		return nil, fmt.Errorf("bmc.rotate.passwordFile: %w (once a rotation is complete, drop bmc.rotate from %s)", err, e.cfg.SpecFile)
	}
	return &reconcile.Rotation{
		Client: accounts, Old: creds, New: bmc.Credentials{User: rot.User, Password: pw}, DeleteOld: rot.DeleteOld,
		Files:    e.credentialFiles(rack),
		StateDir: e.cfg.StateDir,
		Log:      e.log,
		Progress: e.outputLine("credentials: "),
	}, nil
}

// credentialFiles are rackctl's BMC credential files, which a completed
// rotation switches.
func (e *Engine) credentialFiles(rack *schema.Rack) rotate.CredentialFiles {
	return rotate.CredentialFiles{UserFile: e.HostPath(rack.BMC.UserFile), PasswordFile: e.HostPath(rack.BMC.PasswordFile), Root: e.cfg.Root}
}

// outputLine writes one progress line of a node (or of the run, node "")
// to Config.Output.
func (e *Engine) outputLine(prefix string) func(node, msg string) {
	w := prefixWriter{w: e.cfg.Output, prefix: prefix}
	return func(node, msg string) {
		if node != "" {
			msg = node + ": " + msg
		}
		fmt.Fprintln(w, msg)
	}
}
