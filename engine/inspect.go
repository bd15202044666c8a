package engine

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rackctl/rackctl/config"
	"github.com/rackctl/rackctl/internal/rootfs"
)

// Finding is a setting `rackctl init` chose from what the host has, and
// why.
type Finding struct {
	Values []string
	Why    string
}

// dnsmasqUnits are where a dnsmasq unit may be installed, beneath Root.
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

// InspectHost says, by flag name, which settings the host beneath Root
// calls for, with notes for the operator. It reads without following
// links and writes nothing.
func (e *Engine) InspectHost() (map[string]Finding, []string, error) {
	root, err := rootfs.New(e.cfg.Root)
	if err != nil {
		return nil, nil, err
	}
	found := map[string]Finding{}
	notes := []string{e.inspectLayout(root, found)}
	notes = append(notes, inspectDnsmasqUnit(root, found))
	for _, tool := range []string{"terraform", "lokoctl"} {
		if p, err := exec.LookPath(tool); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			found[tool] = Finding{[]string{p}, "found on PATH"}
			notes = append(notes, tool+": "+p+".")
		} else {
			notes = append(notes, tool+" not on PATH: set driver."+tool+" to its path if this rack needs it.")
		}
	}
	return found, notes, nil
}

// inspectLayout looks for Racker's layout and dnsmasq's interface.
func (e *Engine) inspectLayout(root *rootfs.Root, found map[string]Finding) string {
	layout := e.Layout()
	if conf, _, err := root.ReadFile(layout.DnsmasqConf, config.MaxSize); err == nil {
		if m := ifaceLine.FindSubmatch(conf); m != nil {
			found["dnsmasq-interface"] = Finding{[]string{string(m[1])}, "interface= of " + layout.DnsmasqConf}
		}
	}
	for _, d := range []string{layout.DnsmasqConf, layout.LokomotiveDir, layout.FlatcarDir} {
		if ok, _ := root.Exists(d); ok {
			return "Racker layout found beneath " + root.Dir() + ": rackctl can take this rack over ('rackctl import racker')."
		}
	}
	return "no Racker layout beneath " + root.Dir() + " (no " + layout.DnsmasqConf + "): for a dry run in a temp dir use 'rackctl init --scratch'."
}

// inspectDnsmasqUnit finds how dnsmasq runs: a systemd unit on the host,
// or a container one starts.
func inspectDnsmasqUnit(root *rootfs.Root, found map[string]Finding) string {
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
		return "no dnsmasq.service unit found: set driver.dnsmasqReloadCmd to how dnsmasq is restarted here, or driver.dhcp: none."
	case containerRun.Match(unitSrc):
		m := containerRun.FindSubmatch(unitSrc)
		engine, name := string(m[1]), "dnsmasq"
		if n := containerName.FindSubmatch(m[2]); n != nil {
			name = strings.Trim(string(n[1]), `"'`)
		}
		why := fmt.Sprintf("/%s runs dnsmasq in the %s container %q", unit, engine, name)
		found["dnsmasq-reload-cmd"] = Finding{[]string{"systemctl restart dnsmasq.service"}, why}
		found["dhcp-release-prefix"] = Finding{[]string{engine + " exec " + name}, why + ": dhcp_release runs inside it"}
		return fmt.Sprintf("dnsmasq runs in the %s container %q (unit /%s).", engine, name, unit)
	default:
		found["dnsmasq-reload-cmd"] = Finding{[]string{"systemctl restart dnsmasq.service"}, "/" + unit + " runs dnsmasq on the host"}
		return "dnsmasq runs as the systemd unit /" + unit + "."
	}
}
