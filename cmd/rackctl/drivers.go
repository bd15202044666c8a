package main

import (
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rackctl/rackctl/cluster"
	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/reconcile"
)

// registerLeaseFlags binds the DHCP layer and its lease file: the driver
// flags status reads the nodes' leases with too.
func registerLeaseFlags(f *pflag.FlagSet, d *engine.DriverConfig) {
	f.StringVar(&d.DHCP, "dhcp", "dnsmasq", "DHCP layer: dnsmasq (check with dnsmasq --test, reload, release stale leases) or none")
	f.StringVar(&d.Leases, "dnsmasq-leases", dhcp.DefaultLeasePath, "dnsmasq's lease file (under --root); drift is checked when it exists")
}

// registerDriverFlags binds the driver flags of plan, apply and watch to d.
func registerDriverFlags(f *pflag.FlagSet, d *engine.DriverConfig) {
	registerLeaseFlags(f, d)
	f.StringVar(&d.Dnsmasq, "dnsmasq", "dnsmasq", "dnsmasq binary for the config check")
	f.StringVar(&d.ReloadCmd, "dnsmasq-reload-cmd", strings.Join(dhcp.DefaultReloadCmd(), " "), "command that makes dnsmasq load a changed config (split on spaces, run without a shell)")
	f.StringVar(&d.DHCPInterface, "dnsmasq-interface", "", "interface dnsmasq serves DHCP on (for dhcp_release)")
	f.StringVar(&d.ReleasePrefix, "dhcp-release-prefix", "", "command prefix to run dhcp_release where dnsmasq runs, e.g. 'docker exec dnsmasq'")
	f.StringVar(&d.DriftFix, "drift-fix", string(reconcile.DriftRelease), "DHCP drift policy: release, renew (also BMC DHCP renew), power-cycle (also nodes), none (list only)")
	f.StringVar(&d.BMC, "bmc", "auto", "BMC layer: auto (on when the BMC credentials are readable) or none")
	f.StringVar(&d.ProvisionerRun, "provisioner-run", string(reconcile.ProvisionerAuto), "run terraform/lokoctl: auto or never")
	f.StringVar(&d.Terraform, "terraform", "terraform", "terraform binary")
	f.StringVar(&d.Terraformrc, "terraformrc", os.Getenv("TF_CLI_CONFIG_FILE"), "terraform CLI config (TF_CLI_CONFIG_FILE), e.g. a provider mirror")
	f.IntVar(&d.Parallelism, "parallelism", provision.DefaultParallelism, "terraform apply -parallelism")
	f.StringVar(&d.Lokoctl, "lokoctl", "lokoctl", "lokoctl binary")
	f.StringVar(&d.Verify, "verify", "ssh", "verify layer: ssh (record each install once the node answers SSH as core and ran its config: /ignition_ran seen and removed), cluster (once the node joined the cluster and is Ready), flag (record it without looking: the opt-out for nodes rackctl cannot reach) or none")
	f.StringVar(&d.SSHKey, "ssh-key", "", "with --verify ssh: the private key to log in to the nodes as core (default: the SSH agent, else "+engine.DefaultSSHKey+" beneath --root)")
	f.StringVar(&d.SSHProxyCommand, "ssh-proxy-command", "", "with --verify ssh: reach the nodes through this command's stdin/stdout, %h and %p replaced (OpenSSH's ProxyCommand; split on spaces, no shell), e.g. 'ip netns exec rack nc %h %p'")
	f.StringSliceVar(&d.PassEnv, "pass-env", nil, "pass these variables of rackctl's environment on to terraform, lokoctl and the dnsmasq commands, which otherwise get only PATH, HOME, locale, proxies and their own settings (TF_*, KUBECONFIG, ...); never RACKCTL_BMC_* or other secrets; repeatable")
	// The blast-radius limits are the default rollout's wave sizes for
	// plan and apply and watch's limits: one setting, so they agree.
	f.IntVar(&d.Rollout.MaxWorkersPercent, "max-disruptive-workers-percent", 25, "percent of the workers one wave may disrupt when rack.yaml's rollout leaves maxUnavailable out, and one commit may disrupt in watch without approval; at least 1 (-1: no limit)")
	f.IntVar(&d.Rollout.MaxNodesPercent, "max-disruptive-nodes-percent", 25, "flatcar: the same for the nodes")
	f.DurationVar(&d.VerifyTimeout, "verify-timeout", cluster.DefaultWaitTimeout, "with --verify ssh or cluster: how long to wait for each installed node (nodes are waited for in parallel, --parallel at once)")
}
