package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	ct "github.com/flatcar/container-linux-config-transpiler/config"
	ign "github.com/flatcar/ignition/config/v2_3"
	igntypes "github.com/flatcar/ignition/config/v2_3/types"
	"github.com/flatcar/ignition/config/validate/report"
)

// Flatcar install settings the installer Ignition uses; they are the
// flatcar-baremetal module's defaults (flatcar_channel, flatcar_version).
const (
	FlatcarChannel = "stable"
	FlatcarVersion = "current"
)

// transpile turns one CLC into Ignition 2.3 with the ct library, failing
// on error-level report entries (warnings pass).
func transpile(clc []byte) (igntypes.Config, error) {
	cfg, ast, rep := ct.Parse(clc)
	if err := reportErr(rep); err != nil {
		return igntypes.Config{}, fmt.Errorf("parse container linux config: %w", err)
	}
	out, rep := ct.Convert(cfg, "", ast)
	if err := reportErr(rep); err != nil {
		return igntypes.Config{}, fmt.Errorf("convert container linux config: %w", err)
	}
	return out, nil
}

func reportErr(rep report.Report) error {
	var msgs []string
	for _, e := range rep.Entries {
		if e.Kind == report.EntryError {
			msgs = append(msgs, e.String())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

// appendConfig merges b after a with Ignition's own Append, as a
// ct_config data source merges its snippets.
func appendConfig(a, b igntypes.Config) igntypes.Config { return ign.Append(a, b) }

// ignitionJSON is the Ignition config as indented JSON with a final line
// break; encoding/json writes struct fields in order and map keys sorted,
// so the bytes are stable.
func ignitionJSON(cfg igntypes.Config, indent bool) ([]byte, error) {
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(cfg, "", "  ")
	} else {
		b, err = json.Marshal(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("marshal ignition: %w", err)
	}
	return append(b, '\n'), nil
}

// installerCLC is the CLC of the PXE-booted installer: it writes the
// node's final Ignition to /opt/ignition.json and runs flatcar-install
// with it, then the spec's pre-reboot commands, then reboots. It stands in
// for the install.yaml.tmpl Racker's Terraform module used.
func installerCLC(r *rack, final []byte) []byte {
	disk := "-d /dev/sda"
	if r.Install.InstallToSmallestDisk {
		disk = "-s"
	}
	cmd := fmt.Sprintf("flatcar-install %s -C %s -V %s", disk, FlatcarChannel, FlatcarVersion)
	if r.Install.CachedInstall {
		cmd += " -b " + strings.TrimSuffix(r.Matchbox.HTTPEndpoint, "/") + "/assets/flatcar"
	}
	cmd += " -i /opt/ignition.json"
	script := "#!/bin/bash -ex\n" + cmd + "\n"
	if c := strings.TrimSpace(r.Install.InstallPreRebootCmds); c != "" {
		script += c + "\n"
	}
	script += "udevadm settle\nsystemctl reboot\n"
	c := clc{
		systemd: []unit{{
			name:    "installer.service",
			enabled: true,
			contents: "[Unit]\n" +
				"Description=Install Flatcar Container Linux to disk\n" +
				"Requires=network-online.target\n" +
				"After=network-online.target\n" +
				"[Service]\n" +
				"Type=oneshot\n" +
				"ExecStart=/opt/installer\n" +
				"[Install]\n" +
				"WantedBy=multi-user.target\n",
		}},
		files: []clcFile{
			{path: "/opt/ignition.json", mode: "0600", contents: strings.TrimSuffix(string(final), "\n"), quoted: true},
			{path: "/opt/installer", mode: "0500", contents: script},
		},
		sshKeys: r.Cluster.SSHPubKeys,
	}
	return c.bytes()
}
