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

// registerDriverFlags binds the driver flags of plan, apply and watch to d.
func registerDriverFlags(f *pflag.FlagSet, d *engine.DriverConfig) {
	f.StringVar(&d.DHCP, "dhcp", "dnsmasq", "DHCP layer: dnsmasq (check with dnsmasq --test, reload, release stale leases) or none")
	f.StringVar(&d.Dnsmasq, "dnsmasq", "dnsmasq", "dnsmasq binary for the config check")
	f.StringVar(&d.ReloadCmd, "dnsmasq-reload-cmd", strings.Join(dhcp.DefaultReloadCmd(), " "), "command that makes dnsmasq load a changed config (split on spaces, run without a shell)")
	f.StringVar(&d.Leases, "dnsmasq-leases", dhcp.DefaultLeasePath, "dnsmasq's lease file (under --root); drift is checked when it exists")
	f.StringVar(&d.DHCPInterface, "dnsmasq-interface", "", "interface dnsmasq serves DHCP on (for dhcp_release)")
	f.StringVar(&d.ReleasePrefix, "dhcp-release-prefix", "", "command prefix to run dhcp_release where dnsmasq runs, e.g. 'docker exec dnsmasq'")
	f.StringVar(&d.DriftFix, "drift-fix", string(reconcile.DriftRelease), "DHCP drift policy: release, renew (also BMC DHCP renew), power-cycle (also nodes), none (list only)")
	f.StringVar(&d.BMC, "bmc", "auto", "BMC layer: auto (on when the BMC credentials are readable) or none")
	f.StringVar(&d.ProvisionerRun, "provisioner-run", string(reconcile.ProvisionerAuto), "run terraform/lokoctl: auto or never")
	f.StringVar(&d.Terraform, "terraform", "terraform", "terraform binary")
	f.StringVar(&d.Terraformrc, "terraformrc", os.Getenv("TF_CLI_CONFIG_FILE"), "terraform CLI config (TF_CLI_CONFIG_FILE), e.g. a provider mirror")
	f.IntVar(&d.Parallelism, "parallelism", provision.DefaultParallelism, "terraform apply -parallelism")
	f.StringVar(&d.Lokoctl, "lokoctl", "lokoctl", "lokoctl binary")
	f.StringVar(&d.Verify, "verify", "flag", "verify layer: flag (record each install in its flag file), cluster (record it once the node joined the cluster and is Ready) or none")
	f.StringSliceVar(&d.PassEnv, "pass-env", nil, "pass these variables of rackctl's environment on to terraform, lokoctl and the dnsmasq commands, which otherwise get only PATH, HOME, locale, proxies and their own settings (TF_*, KUBECONFIG, ...); never RACKCTL_BMC_* or other secrets; repeatable")
	f.DurationVar(&d.VerifyTimeout, "verify-timeout", cluster.DefaultWaitTimeout, "with --verify cluster: how long to wait for each installed node to become Ready")
}
