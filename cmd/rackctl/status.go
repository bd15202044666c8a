package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/internal/termtext"
)

func newStatusCmd(g *globals) *cobra.Command {
	var full bool
	var nodes engine.DriverConfig
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node's BMC, power, provisioning and cluster state",
		Long: `status replaces 'racker status': it queries every BMC in parallel (a dead
BMC costs one --timeout and shows × with the reason), checks the provisioner's
flag files and the cluster, and prints one row per node. --full adds each
node's inventory (manufacturer, model, serial, BIOS and BMC firmware
versions, system and chassis health: "n/a" where the BMC does not report
it), its chassis status and boot flags. With --verify ssh (the default) it
reads over SSH which config each installed node runs (CONFIG: current, stale,
or unknown and why). -o json adds each node's DHCP lease from dnsmasq's lease
file (--dnsmasq-leases), and with --full the boot device its BMC reports (one
more BMC call per node; without --full it is "unknown: not read").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, r, err := g.loadRackWith(&nodes)
			if err != nil {
				return err
			}
			st, err := eng.Status(cmd.Context(), r, full)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, newStatusView(st))
			}
			return writeStatus(g, st, full)
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "add each node's inventory, health, chassis status, boot parameters and (-o json) boot device")
	registerNodeSSHFlags(cmd, &nodes)
	registerLeaseFlags(cmd.Flags(), &nodes)
	return cmd
}

// registerNodeSSHFlags are the flags status reads the nodes' configs with:
// the SSH settings of plan and apply.
func registerNodeSSHFlags(cmd *cobra.Command, d *engine.DriverConfig) {
	f := cmd.Flags()
	f.StringVar(&d.Verify, "verify", "ssh", "ssh: read each installed node's config hash over SSH as core (CONFIG column); flag or none: do not reach the nodes")
	f.StringVar(&d.SSHKey, "ssh-key", "", "with --verify ssh: the private key to log in to the nodes as core (default: the SSH agent, else "+engine.DefaultSSHKey+" beneath --root)")
	f.StringVar(&d.SSHProxyCommand, "ssh-proxy-command", "", "with --verify ssh: reach the nodes through this command's stdin/stdout, %h and %p replaced (split on spaces, no shell)")
}

func writeStatus(g *globals, st *engine.Status, full bool) error {
	fmt.Fprintf(g.stdout, "Rack %s, provisioner %s\n", st.Rack, st.Provisioner)
	reached := st.APIReached
	if st.ServerVersion != "" {
		// The API server's own word, like the kubelet versions below.
		reached += ", control plane " + termtext.Cell(st.ServerVersion)
	}
	if st.APIReason != "" {
		reached += " (" + termtext.Escape(st.APIReason) + ")"
	}
	fmt.Fprintf(g.stdout, "Kubernetes API reached: %s\n", reached)
	if line := pinLine(st); line != "" {
		fmt.Fprintln(g.stdout, line)
	}
	for _, lm := range st.LocalMaintenance {
		// Drift from git: every override, applied or not, says what to do.
		fmt.Fprintln(g.stdout, termtext.Escape(lm.Note()))
	}
	fmt.Fprintln(g.stdout)
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	// FLAG FILE is whether the provisioner's flag file exists, not whether
	// rackctl saw the install: INSTALL (last, so the columns before it keep
	// their places for scripts) says that. CONFIG is which config the node runs.
	fmt.Fprintln(tw, "NODE\tPRIMARY MAC\tIP\tBMC\tPOWER\tFLAG FILE\tJOINED\tKUBELET\tCONFIG\tHOSTNAMES\tINSTALL")
	var problems []string
	for _, n := range st.Nodes {
		name := termtext.Cell(n.Name)
		if n.Excluded {
			name += " (excluded)"
		}
		switch {
		case n.Maintenance && n.MaintenanceLocal:
			name += " (maintenance, local)"
		case n.Maintenance:
			name += " (maintenance)"
		case n.MaintenanceLocal:
			name += " (out of maintenance, local)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, n.MAC, n.IP, mark(n.BMCReached), orDash(n.Power),
			mark(n.Provisioned), termtext.Cell(n.Joined), termtext.Cell(orDash(n.Kubelet)), configCell(n.Config),
			termtext.Cell(strings.Join(n.Hostnames, " ")), termtext.Cell(n.Install.Text()))
		if n.BMCError != "" {
			problems = append(problems, fmt.Sprintf("  %s: %s", n.Name, termtext.Escape(n.BMCError)))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		fmt.Fprintf(g.stdout, "\nBMCs not reached:\n%s\n", strings.Join(problems, "\n"))
	}
	writeInstallProblems(g.stdout, st)
	if full {
		for _, n := range st.Nodes {
			fmt.Fprintf(g.stdout, "\n=== %s (BMC %s at %s)\n", n.Name, n.BMCMAC, n.BMCAddress)
			if n.OSVersion != "" || n.Kubelet != "" {
				// The cluster API's answers are the nodes' own words.
				fmt.Fprintf(g.stdout, "OS: %s (Flatcar %s), kubelet %s\n", termtext.Escape(orDash(n.OSImage)), termtext.Escape(orDash(n.OSVersion)), termtext.Escape(orDash(n.Kubelet)))
			}
			if n.Diag.Error != "" {
				fmt.Fprintf(g.stdout, "error: %s\n", termtext.Escape(n.Diag.Error))
			}
			// A BMC's replies are untrusted text: no raw control codes.
			fmt.Fprint(g.stdout, termtext.Lines(n.Diag.Inventory.Lines()), termtext.Lines(n.Diag.ChassisStatus), termtext.Lines(n.Diag.BootParam5))
		}
	}
	return nil
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "×"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeInstallProblems lists every failed install with its whole reason
// (the INSTALL cell has only its gist), and unreadable install records.
func writeInstallProblems(w io.Writer, st *engine.Status) {
	var failed []string
	unreadable := ""
	for _, n := range st.Nodes {
		switch in := n.Install; in.State {
		case engine.InstallFailed:
			at := in.Since.UTC().Format("2006-01-02 15:04:05 UTC") + ", verify " + orDash(in.Verify)
			if in.Commit != "" {
				at += ", commit " + in.Commit
			}
			// The reason quotes a node or a cluster: untrusted text.
			failed = append(failed, fmt.Sprintf("  %s (%s): %s", termtext.Cell(n.Name), termtext.Cell(at), termtext.Escape(in.Reason)))
		case engine.InstallUnknown:
			unreadable = in.Reason
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nInstalls failed (the next apply boots them again):\n%s\n", strings.Join(failed, "\n"))
	}
	if unreadable != "" {
		fmt.Fprintf(w, "\nInstall records not read: %s\n", termtext.Escape(unreadable))
	}
}

// configCell is the CONFIG column: the state, with an unknown's reason
// (an SSH error, possibly long) cut to keep the table readable; -o json
// has it whole.
func configCell(c string) string {
	const max = 60
	if r := []rune(c); len(r) > max {
		c = string(r[:max-2]) + "…)"
	}
	return termtext.Cell(c)
}

// pinLine is status's header line for a rollback pin; empty when none.
func pinLine(st *engine.Status) string {
	switch p := st.Pin; {
	case st.PinError != "":
		return "Pinned: unknown (" + termtext.Escape(st.PinError) + ")"
	case p == nil:
		return ""
	default:
		line := fmt.Sprintf("Pinned to %s by %s at %s", shortCommit(p.Commit), termtext.Cell(p.By), p.At.Local().Format("2006-01-02 15:04"))
		if p.Reason != "" {
			line += ": " + termtext.Cell(p.Reason)
		}
		return line + " (watch applies it, not the branch head; rackctl unpin to follow the branch)"
	}
}
