package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rackctl/rackctl/config"
	"github.com/rackctl/rackctl/engine"
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

func (g *globals) runInit(cmd *cobra.Command, force, scratch bool) error {
	eng, err := g.engine(nil)
	if err != nil {
		return err
	}
	found, notes := map[string]engine.Finding{}, []string{}
	if scratch {
		why := "scratch root: nothing real to drive"
		found["dhcp"] = engine.Finding{Values: []string{"none"}, Why: why}
		found["bmc"] = engine.Finding{Values: []string{"none"}, Why: why}
		found["provisioner-run"] = engine.Finding{Values: []string{"never"}, Why: why}
		notes = append(notes, "A scratch root: plan and apply write files only (dhcp and bmc off, no provisioner run).")
	} else if found, notes, err = eng.InspectHost(); err != nil {
		return err
	}
	src, err := initConfig(cmd, found, notes, scratch)
	if err != nil {
		return err
	}
	target, err := eng.WriteConfig(g.configFile, src, force)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "wrote %s\n", target)
	for _, n := range notes {
		fmt.Fprintf(g.stdout, "  %s\n", n)
	}
	fmt.Fprintln(g.stdout, "check it with: rackctl config view")
	return nil
}

// initConfig renders the config init writes: every setting, those found
// set with why, the others commented at their default.
func initConfig(cmd *cobra.Command, found map[string]engine.Finding, notes []string, scratch bool) ([]byte, error) {
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
			e.Set, e.Values, e.Why = true, fd.Values, fd.Why
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
		return nil, fmt.Errorf("init wrote a config it cannot read (a bug; please report it): %w", err)
	}
	return src, nil
}
