package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rackctl/rackctl/config"
	"github.com/rackctl/rackctl/internal/rootfs"
)

func newInitCmd(g *globals) *cobra.Command {
	var force, scratch bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write the management node config from what this host has",
		Long: `init inspects the host beneath --root and writes a commented config to
<root>/` + config.DefaultPath + ` (or --config): whether Racker's layout is there, how
dnsmasq runs (a systemd unit, or a container started by one: the reload
command and dhcp_release prefix follow), dnsmasq's interface, and where
terraform and lokoctl are on PATH. Every other setting is written as a
comment at its default. An existing file is kept unless --force is given.

--scratch writes the config of a scratch root (the quick tour, a dry run in
a temp directory): the dhcp and bmc layers off and the provisioner never
run, so plan and apply need no other flags.`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{noConfigAnnotation: "1"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.runInit(cmd, force, scratch)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing config")
	cmd.Flags().BoolVar(&scratch, "scratch", false, "config for a scratch root: dhcp none, bmc none, provisioner-run never")
	return cmd
}

// finding is a setting init chose, and why.
type finding struct {
	values []string
	why    string
}

func (g *globals) runInit(cmd *cobra.Command, force, scratch bool) error {
	root, err := rootfs.New(g.root)
	if err != nil {
		return err
	}
	found, notes := map[string]finding{}, []string{}
	if scratch {
		why := "scratch root: nothing real to drive"
		found["dhcp"] = finding{[]string{"none"}, why}
		found["bmc"] = finding{[]string{"none"}, why}
		found["provisioner-run"] = finding{[]string{"never"}, why}
		notes = append(notes, "A scratch root: plan and apply write files only (dhcp and bmc off, no provisioner run).")
	} else {
		notes = g.inspectHost(root, found)
	}

	// Help and defaults come from the flags themselves.
	flags := pflag.NewFlagSet("init", pflag.ContinueOnError)
	flags.AddFlagSet(cmd.Root().PersistentFlags())
	settingFlags(flags, newWatchCmd(&globals{}).Flags())
	var entries []config.Entry
	for _, s := range config.Settings {
		f := flags.Lookup(s.Flag)
		if f == nil {
			continue
		}
		e := config.Entry{Setting: s, Help: f.Usage, Default: f.DefValue}
		if s.Flag == "terraformrc" || s.Flag == "state-dir" || s.Flag == "kubeconfig" {
			e.Default = "" // computed at run time; not this environment's value
		}
		if fd, ok := found[s.Flag]; ok {
			e.Set, e.Values, e.Why = true, fd.values, fd.why
		}
		entries = append(entries, e)
	}
	header := []string{
		"rackctl management node config, written by 'rackctl init'" + map[bool]string{true: " --scratch", false: ""}[scratch] + ".",
		"Precedence: flag > RACKCTL_* environment variable > this file > built-in default;",
		"'rackctl config view' shows the effective value of every setting and where it came from.",
		"Secrets never go here: name the files that hold them. See docs/config.md.",
	}
	for _, n := range notes {
		header = append(header, "init: "+n)
	}
	src := config.Render(header, entries)
	// What init writes must be what rackctl reads.
	if _, err := config.Parse("generated config", src); err != nil {
		return fmt.Errorf("init wrote a config it cannot read (a bug; please report it): %w", err)
	}

	var target string
	if g.configFile != "" {
		target = g.configFile
		if _, err := os.Lstat(target); err == nil && !force {
			return fmt.Errorf("%s exists: keep it, or pass --force to overwrite it", target)
		}
		if err := os.WriteFile(target, src, 0o644); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
	} else {
		target = root.HostPath(config.DefaultPath)
		if _, err := root.Stat(config.DefaultPath); err == nil && !force {
			return fmt.Errorf("%s exists: keep it, or pass --force to overwrite it", target)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("config %s: %w", target, err)
		}
		if err := root.MkdirAll(filepath.ToSlash(filepath.Dir(config.DefaultPath)), 0o755); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
		if err := root.WriteFile(config.DefaultPath, src, 0o644); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
	}
	fmt.Fprintf(g.stdout, "wrote %s\n", target)
	for _, n := range notes {
		fmt.Fprintf(g.stdout, "  %s\n", n)
	}
	fmt.Fprintln(g.stdout, "check it with: rackctl config view")
	return nil
}

// dnsmasqUnits are where a dnsmasq unit may be installed, beneath --root.
var dnsmasqUnits = []string{
	"etc/systemd/system/dnsmasq.service",
	"usr/lib/systemd/system/dnsmasq.service",
	"lib/systemd/system/dnsmasq.service",
}

// containerRun finds a container engine's run command in a unit's
// ExecStart and the container's --name.
var (
	containerRun  = regexp.MustCompile(`(?m)^\s*ExecStart=\S*?(docker|podman)\s+run\b(.*)$`)
	containerName = regexp.MustCompile(`--name[= ](\S+)`)
	ifaceLine     = regexp.MustCompile(`(?m)^\s*interface=([A-Za-z0-9_.-]{1,15})\s*$`)
)

// inspectHost fills found with what the host beneath root says and
// returns notes for the operator.
func (g *globals) inspectHost(root *rootfs.Root, found map[string]finding) []string {
	var notes []string
	layout := g.layout()
	racker := false
	for _, d := range []string{layout.DnsmasqConf, layout.LokomotiveDir, layout.FlatcarDir} {
		if ok, _ := root.Exists(d); ok {
			racker = true
		}
	}
	if racker {
		notes = append(notes, "Racker layout found beneath "+root.Dir()+": rackctl can take this rack over ('rackctl import racker').")
	} else {
		notes = append(notes, "no Racker layout beneath "+root.Dir()+" (no "+layout.DnsmasqConf+"): for a dry run in a temp dir use 'rackctl init --scratch'.")
	}

	if conf, _, err := root.ReadFile(layout.DnsmasqConf, config.MaxSize); err == nil {
		if m := ifaceLine.FindSubmatch(conf); m != nil {
			found["dnsmasq-interface"] = finding{[]string{string(m[1])}, "interface= of " + layout.DnsmasqConf}
		}
	}

	unit := ""
	var unitSrc []byte
	for _, u := range dnsmasqUnits {
		if b, _, err := root.ReadFile(u, config.MaxSize); err == nil {
			unit, unitSrc = u, b
			break
		}
	}
	switch {
	case unit == "":
		notes = append(notes, "no dnsmasq.service unit found: set driver.dnsmasqReloadCmd to how dnsmasq is restarted here, or driver.dhcp: none.")
	case containerRun.Match(unitSrc):
		m := containerRun.FindSubmatch(unitSrc)
		engine, name := string(m[1]), "dnsmasq"
		if n := containerName.FindSubmatch(m[2]); n != nil {
			name = strings.Trim(string(n[1]), `"'`)
		}
		why := fmt.Sprintf("/%s runs dnsmasq in the %s container %q", unit, engine, name)
		found["dnsmasq-reload-cmd"] = finding{[]string{"systemctl restart dnsmasq.service"}, why}
		found["dhcp-release-prefix"] = finding{[]string{engine + " exec " + name}, why + ": dhcp_release runs inside it"}
		notes = append(notes, fmt.Sprintf("dnsmasq runs in the %s container %q (unit /%s).", engine, name, unit))
	default:
		found["dnsmasq-reload-cmd"] = finding{[]string{"systemctl restart dnsmasq.service"}, "/" + unit + " runs dnsmasq on the host"}
		notes = append(notes, "dnsmasq runs as the systemd unit /"+unit+".")
	}

	for _, tool := range []string{"terraform", "lokoctl"} {
		if p, err := exec.LookPath(tool); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			found[tool] = finding{[]string{p}, "found on PATH"}
			notes = append(notes, tool+": "+p+".")
		} else {
			notes = append(notes, tool+" not on PATH: set driver."+tool+" to its path if this rack needs it.")
		}
	}
	return notes
}
