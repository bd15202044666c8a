package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/schema"
)

func newIPMICmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "ipmi TARGET|--all [diag | power on|off|cycle|status | bootdev disk|pxe [--persistent] [--efi] | dhcp-renew | IPMITOOL-ARGS...]",
		Short: "Talk to a node's BMC (replaces Racker's ipmi helper)",
		Long: `ipmi runs a command on one BMC or, with --all, on every BMC in parallel,
prefixing each output line with the node name. TARGET is a node name, FQDN,
primary MAC or BMC MAC. Host, cipher suite and credentials are added; the
password never appears in a process's argv.

With no command it attaches the serial console (sol activate; refused with
--all), after deactivating any session another client left behind. Type ~.
at the start of a line to detach (~~. inside ssh); stdin's EOF detaches too,
both with exit status 0. On a terminal, ipmitool switches it to raw mode
(Ctrl-C goes to the console) and rackctl restores it afterwards.
  USE_TTY=0    never hand the terminal to ipmitool: stdin is fed through a
               pipe, the terminal stays in line mode with local echo, a line
               is sent when Enter is pressed and Ctrl-C ends rackctl (the
               session is deactivated)
  USE_STDIN=0  attach no input, only show the console (e.g. to log it);
               the session lasts until the BMC ends it or rackctl is
               interrupted
An interrupted console (SIGINT, SIGTERM) exits with status 130.

  diag                         BMC MAC and address, node MAC, IP and hostname,
                               chassis status and boot parameter 5
  power on|off|cycle|status    chassis power
  bootdev disk|pxe [--persistent] [--efi]
                               next boot device; disk+persistent+efi uses the
                               raw workaround for the ipmitool bug and is read back
  dhcp-renew                   lan set 1 ipsrc dhcp
  anything else                passed to ipmitool, e.g. 'user list', 'sel list'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runIPMI(cmd.Context(), args, all)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "run on every node's BMC in parallel")
	cmd.Flags().SetInterspersed(false) // everything after TARGET belongs to the command
	return cmd
}

func (g *globals) runIPMI(ctx context.Context, args []string, all bool) error {
	_, r, err := g.loadRack()
	if err != nil {
		return err
	}
	var nodes []*schema.Node
	if all {
		nodes = r.Nodes()
	} else {
		if len(args) == 0 {
			return errors.New("name a TARGET (node name, FQDN, MAC or BMC MAC) or use --all")
		}
		n := r.Spec.Node(args[0])
		if n == nil {
			return fmt.Errorf("%q: no node of that name, FQDN, MAC or BMC MAC in %s", args[0], g.specFile)
		}
		nodes, args = []*schema.Node{n}, args[1:]
	}
	client, err := r.BMC()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		if all {
			return errors.New("a serial console cannot be attached to --all; name one TARGET")
		}
		return g.sol(ctx, r, client, nodes[0])
	}
	op, err := ipmiOp(r, client, args)
	if err != nil {
		return err
	}
	return g.runOnBMCs(ctx, r, nodes, op, all)
}

type bmcOp func(ctx context.Context, n *schema.Node, t bmc.Target) (string, error)

// rawIPMI passes ipmitool arguments through: IPMI BMCs only.
type rawIPMI interface {
	Exec(ctx context.Context, t bmc.Target, args ...string) ([]byte, error)
}

// serialConsole attaches a BMC's serial console, where its protocol has
// one.
type serialConsole interface {
	SOL(ctx context.Context, t bmc.Target, stdin io.Reader, stdout io.Writer) error
}

func ipmiOp(r *engine.Rack, client engine.BMCClient, args []string) (bmcOp, error) {
	switch args[0] {
	case "diag":
		return func(ctx context.Context, n *schema.Node, t bmc.Target) (string, error) {
			return diag(ctx, r, client, n, t)
		}, nil
	case "power":
		if len(args) != 2 {
			return nil, errors.New("usage: power on|off|cycle|reset|status")
		}
		action := args[1]
		if action == "status" {
			return func(ctx context.Context, _ *schema.Node, t bmc.Target) (string, error) {
				s, err := client.PowerState(ctx, t)
				return "Chassis Power is " + s + "\n", err
			}, nil
		}
		switch action {
		case "on", "off", "cycle", "reset":
		default:
			return nil, fmt.Errorf("power %q: want on, off, cycle, reset or status", action)
		}
		return func(ctx context.Context, _ *schema.Node, t bmc.Target) (string, error) {
			return "Chassis Power Control: " + action + "\n", client.SetPower(ctx, t, action)
		}, nil
	case "bootdev":
		dev, persistent, efi, err := parseBootdev(args[1:])
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, _ *schema.Node, t bmc.Target) (string, error) {
			if err := client.SetBootDevice(ctx, t, dev, persistent, efi); err != nil {
				return "", err
			}
			p, err := client.BootDevice(ctx, t)
			return fmt.Sprintf("Boot device: %s (persistent %t, EFI %t)\n", p.Device, p.Persistent, p.EFI), err
		}, nil
	case "dhcp-renew":
		return func(ctx context.Context, _ *schema.Node, t bmc.Target) (string, error) {
			return "LAN channel 1 address source: dhcp\n", client.DHCPRenew(ctx, t)
		}, nil
	}
	raw, ok := client.(rawIPMI)
	if !ok {
		return nil, fmt.Errorf("%q: not a verb of this BMC protocol (want diag, power, bootdev or dhcp-renew)", args[0])
	}
	return func(ctx context.Context, _ *schema.Node, t bmc.Target) (string, error) {
		out, err := raw.Exec(ctx, t, args...)
		return string(out), err
	}, nil
}

func parseBootdev(args []string) (dev string, persistent, efi bool, err error) {
	for _, a := range args {
		switch a {
		case "disk", "pxe":
			if dev != "" {
				return "", false, false, errors.New("bootdev: name one device, disk or pxe")
			}
			dev = a
		case "--persistent", "persistent":
			persistent = true
		case "--efi", "efi", "options=efiboot":
			efi = true
		default:
			return "", false, false, fmt.Errorf("bootdev %q: want disk or pxe, --persistent, --efi", a)
		}
	}
	if dev == "" {
		return "", false, false, errors.New("usage: bootdev disk|pxe [--persistent] [--efi]")
	}
	return dev, persistent, efi, nil
}

func diag(ctx context.Context, r *engine.Rack, client engine.BMCClient, n *schema.Node, t bmc.Target) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "BMC MAC:      %s\nBMC address:  %s\nNode MAC:     %s\nNode IP:      %s\nHostname:     %s\n\n",
		n.BMCMAC, t.Address, n.MAC, r.Addrs(n.Name).Primary, r.Spec.FQDN(n))
	d := client.Diag(ctx, t)
	b.WriteString(d.Inventory.Lines())
	b.WriteString(d.ChassisStatus)
	if d.BootParam5 != "" {
		b.WriteString("\n")
		b.WriteString(d.BootParam5)
	}
	return b.String(), d.Err
}

// runOnBMCs runs op on every node in parallel; output keeps node order. With
// several nodes (or --all) each line is prefixed with the node name.
func (g *globals) runOnBMCs(ctx context.Context, r *engine.Rack, nodes []*schema.Node, op bmcOp, prefix bool) error {
	byName := make(map[string]*schema.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	res := bmc.ForEach(ctx, g.parallel, r.Targets(nodes), func(ctx context.Context, t bmc.Target) (string, error) {
		return op(ctx, byName[t.Node], t)
	})
	failed := 0
	for _, n := range nodes {
		r := res[n.Name]
		writePrefixed(g.stdout, n.Name, r.Value, prefix)
		if r.Err != nil {
			failed++
			writePrefixed(g.stderr, n.Name, "error: "+r.Err.Error()+"\n", prefix)
		}
	}
	if failed > 0 {
		if prefix {
			fmt.Fprintf(g.stderr, "%d of %d BMCs failed\n", failed, len(nodes))
		}
		return exitCodeError{exitError}
	}
	return nil
}

func writePrefixed(w io.Writer, node, text string, prefix bool) {
	if !prefix {
		io.WriteString(w, text)
		return
	}
	for _, line := range strings.SplitAfter(strings.TrimRight(text, "\n"), "\n") {
		if line == "" {
			continue
		}
		fmt.Fprintf(w, "%s: %s", node, strings.TrimRight(line, "\n")+"\n")
	}
}

// sol attaches the serial console of n. bmc.Client.SOL hands a terminal
// stdin (an *os.File) to ipmitool and feeds any other reader through a
// pipe; USE_TTY=0 hides the *os.File so a terminal is never put in raw
// mode, and USE_STDIN=0 attaches no input at all.
func (g *globals) sol(ctx context.Context, r *engine.Rack, client engine.BMCClient, n *schema.Node) error {
	console, ok := client.(serialConsole)
	if !ok {
		return fmt.Errorf("node %s: its BMC protocol offers no serial console", n.Name)
	}
	stdin := g.stdin
	hint := "detach with ~. (type ~~. when inside ssh)"
	switch {
	case os.Getenv("USE_STDIN") == "0":
		stdin = nil
		hint = "no input attached; stop with Ctrl-C"
	case os.Getenv("USE_TTY") == "0":
		stdin = struct{ io.Reader }{stdin}
		hint = "no terminal mode: lines are sent on Enter; detach with ~. on a line of its own or Ctrl-C"
	}
	fmt.Fprintf(g.stderr, "[serial console of %s; %s]\n", n.Name, hint)
	err := console.SOL(ctx, r.Target(n), stdin, g.stdout)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintf(g.stderr, "[serial console of %s: interrupted, session deactivated]\n", n.Name)
		return exitCodeError{exitInterrupted}
	}
	return err
}

// exitInterrupted is the status of a serial console ended by SIGINT or
// SIGTERM (128+SIGINT, as shells report an interrupted command).
const exitInterrupted = 130
