package simnode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/coreos/ignition/v2/config/v3_4/types"

	"github.com/rackctl/rackctl/internal/testenv"
)

// Kernel arguments naming the Ignition config: Flatcar reads both.
var configURLArgs = []string{"flatcar.config.url", "ignition.config.url"}

// pxeBoot is the network path: DHCP as iPXE, the iPXE script from the boot
// file URL, the Ignition config from the kernel arguments; an installer
// config installs and reboots, any other boots live from RAM.
func (n *Node) pxeBoot(ctx context.Context) error {
	lease, err := n.dhcp(ctx, "PXE")
	if err != nil {
		return err
	}
	if lease.BootFile == "" {
		return errors.New("PXE: DHCP offered no boot file: nothing to boot")
	}
	return n.scriptBoot(ctx, "PXE", lease, lease.BootFile)
}

// cdBoot boots the image in the virtual CD. The image stands in for an
// iPXE ISO with an embedded script (the usual way to reach matchbox
// without PXE): it is fetched from its URL, as the BMC would, and run as
// an iPXE script. Like that script's `dhcp`, the node first takes an
// address from DHCP, but needs no boot file name from it.
func (n *Node) cdBoot(ctx context.Context, image string) error {
	n.logf("CD: virtual media %s", image)
	lease, err := n.dhcp(ctx, "CD")
	if err != nil {
		return err
	}
	return n.scriptBoot(ctx, "CD", lease, image)
}

func (n *Node) dhcp(ctx context.Context, path string) (testenv.Lease, error) {
	dctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	lease, err := n.cfg.Net.Request(dctx)
	cancel()
	if err != nil {
		return lease, fmt.Errorf("%s: DHCP: %w", path, err)
	}
	n.logf("DHCP: %s (router %s, boot file %q)", lease.Addr, lease.Router, lease.BootFile)
	return lease, nil
}

// scriptBoot runs the iPXE script at script, then what it boots.
func (n *Node) scriptBoot(ctx context.Context, path string, lease testenv.Lease, script string) error {
	k, err := n.ipxe(ctx, script)
	if err != nil {
		return err
	}
	n.logf("iPXE: kernel %s %s", k.Kernel, strings.Join(k.Args, " "))
	var cfgURL string
	for _, a := range configURLArgs {
		if v, ok := k.Arg(a); ok {
			cfgURL = v
			break
		}
	}
	if cfgURL == "" {
		return fmt.Errorf("%s: the kernel arguments name no Ignition config (%s)", path, strings.Join(configURLArgs, " or "))
	}
	cfg, _, err := n.ignition(ctx, cfgURL)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	final, ok, err := n.installerTarget(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: installer: %w", path, err)
	}
	if !ok {
		n.logf("live boot (nothing installed to disk)")
		ram, err := n.ramDisk()
		if err != nil {
			return err
		}
		return n.runOS(ctx, ram, &cfg, lease)
	}
	if err := n.install(ctx, final); err != nil {
		return err
	}
	// The installer's script ends in systemctl reboot.
	return errReboot
}

// install runs the installer: validates the config it installs, takes
// InstallDuration (or forever with InstallHangs), writes the disk.
func (n *Node) install(ctx context.Context, final []byte) error {
	if _, err := parseIgnition(final); err != nil {
		n.logf("install: the config to install is invalid: %v", err)
		return fmt.Errorf("install: %w", err)
	}
	k := n.Knobs()
	n.logf("installing to disk")
	if k.InstallHangs {
		n.logf("install: hangs (knob)")
		<-ctx.Done()
		return ctx.Err()
	}
	select {
	case <-time.After(k.InstallDuration):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := n.disk.install(final); err != nil {
		return err
	}
	n.logf("%s", LogInstalled)
	return nil
}

// installerTarget finds the flatcar-install call of an installer config
// (an enabled unit running it directly or through a script the config
// writes) and returns the config it installs: the file named by -i, or
// the URL named by -I. ok is false for a config that installs nothing.
func (n *Node) installerTarget(ctx context.Context, cfg types.Config) (final []byte, ok bool, err error) {
	files := map[string]types.File{}
	for _, f := range cfg.Storage.Files {
		files[path.Clean(f.Path)] = f
	}
	get := func(u string) ([]byte, error) { return n.fetch(ctx, u) }
	for _, u := range cfg.Systemd.Units {
		if u.Enabled == nil || !*u.Enabled || u.Contents == nil {
			continue
		}
		for _, cmd := range execStarts(*u.Contents) {
			lines := []string{cmd}
			if f, found := files[path.Clean(strings.Fields(cmd + " x")[0])]; found {
				script, err := readResource(f.Contents, get)
				if err != nil {
					return nil, false, fmt.Errorf("unit %s: script %s: %w", u.Name, f.Path, err)
				}
				lines = strings.Split(string(script), "\n")
			}
			for _, line := range lines {
				args := strings.Fields(line)
				if len(args) == 0 || path.Base(args[0]) != "flatcar-install" {
					continue
				}
				for i := 1; i+1 < len(args); i++ {
					switch args[i] {
					case "-i":
						f, found := files[path.Clean(args[i+1])]
						if !found {
							return nil, false, fmt.Errorf("flatcar-install -i %s: the installer config writes no such file", args[i+1])
						}
						b, err := readResource(f.Contents, get)
						return b, err == nil, err
					case "-I":
						b, err := n.fetch(ctx, args[i+1])
						return b, err == nil, err
					}
				}
				return nil, false, errors.New("flatcar-install without -i or -I: the installed system would have no config")
			}
		}
	}
	return nil, false, nil
}

// execStarts are the ExecStart= commands of a unit, without prefixes.
func execStarts(unit string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ExecStart="); ok {
			out = append(out, strings.TrimLeft(v, "-@:+!"))
		}
	}
	return out
}

// diskBoot boots the installed system: on first boot (the flag set at
// install or by hand) Ignition runs — the config grub.cfg in the OEM
// partition names, else the one installed — then the OS comes up.
func (n *Node) diskBoot(ctx context.Context) error {
	if n.Knobs().DiskDead {
		return fmt.Errorf("no bootable disk: %w", ErrDiskDead)
	}
	if !n.disk.installed() {
		return errors.New("no bootable disk: nothing is installed")
	}
	n.logf("booting from disk")
	if n.disk.exists(FirstBootPath) {
		cfg, err := n.firstBootConfig(ctx)
		if err != nil {
			return fmt.Errorf("first boot: %w", err)
		}
		return n.runOS(ctx, n.disk, &cfg, testenv.Lease{})
	}
	return n.runOS(ctx, n.disk, nil, testenv.Lease{})
}

// firstBootConfig is the config Ignition runs with on a disk boot: the
// URL /usr/share/oem/grub.cfg sets as a kernel argument (re-Ignition
// without PXE), else the installed config.ign.
func (n *Node) firstBootConfig(ctx context.Context) (types.Config, error) {
	if g, err := n.disk.readFile(OEMGrubPath); err == nil {
		for _, a := range configURLArgs {
			if u := grubArg(string(g), a); u != "" {
				cfg, _, err := n.ignition(ctx, u)
				return cfg, err
			}
		}
	}
	raw, err := n.disk.readFile(OEMConfigPath)
	if err != nil {
		return types.Config{}, fmt.Errorf("read installed config: %w", err)
	}
	cfg, err := parseIgnition(raw)
	if err != nil {
		n.logf("Ignition invalid: installed config: %v", err)
		return types.Config{}, err
	}
	n.logf("Ignition ok: installed config %s", OEMConfigPath)
	return cfg, nil
}

// grubArg finds key=value among the words of a grub.cfg (Flatcar's OEM
// grub.cfg sets `set linux_append="flatcar.config.url=URL ..."`).
func grubArg(cfg, key string) string {
	for w := range strings.FieldsSeq(cfg) {
		i := strings.Index(w, key+"=")
		if i < 0 || (i > 0 && w[i-1] != '"' && w[i-1] != '\'' && w[i-1] != '=') {
			continue
		}
		return strings.Trim(w[i+len(key)+1:], `"'`)
	}
	return ""
}

// primaryAddr is the address the installed networkd units give the node's
// interface: the first Address= of a .network file matching its MAC (or
// matching everything); DHCP when none does.
func primaryAddr(units map[string]string, mac string) (netip.Prefix, bool) {
	for _, name := range sortedKeys(units) {
		if !strings.HasSuffix(name, ".network") {
			continue
		}
		match, addr := true, netip.Prefix{}
		section := ""
		for line := range strings.Lines(units[name]) {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "[") {
				section = strings.Trim(line, "[]")
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case section == "Match" && k == "MACAddress":
				match = false
				for m := range strings.FieldsSeq(v) {
					if strings.EqualFold(m, mac) {
						match = true
					}
				}
			case section == "Match" && k == "Name":
				match = match && (v == "*" || strings.HasPrefix(v, "e"))
			case (section == "Address" && k == "Address") || (section == "Network" && k == "Address"):
				if p, err := netip.ParsePrefix(v); err == nil && !addr.IsValid() {
					addr = p
				}
			}
		}
		if match && addr.IsValid() {
			return addr, true
		}
	}
	return netip.Prefix{}, false
}
