package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	cjson "github.com/clarketm/json"
	"github.com/coreos/ign-converter/translate/v23tov30"
	ign23types "github.com/coreos/ignition/config/v2_3/types"
	ign30types "github.com/coreos/ignition/v2/config/v3_0/types"
	ct "github.com/flatcar/container-linux-config-transpiler/config"
	ign "github.com/flatcar/ignition/config/v2_3"
	igntypes "github.com/flatcar/ignition/config/v2_3/types"
	"github.com/flatcar/ignition/config/validate/report"
	"github.com/vincent-petithory/dataurl"

	"github.com/rackctl/rackctl/internal/inputlimit"
)

// Flatcar install settings the installer Ignition uses; they are the
// flatcar-baremetal module's defaults (flatcar_channel, flatcar_version).
const (
	FlatcarChannel = "stable"
	FlatcarVersion = "current"
)

// transpile turns one CLC into Ignition 2.3 with the ct library, failing
// on error-level report entries (warnings pass).
//
// clc may be a snippet on disk (reconcile compares those with the rendered
// ones), so it is bounded as SameMeaning bounds its inputs before ct's
// YAML parser sees it, and a panic of ct is an error.
func transpile(clc []byte) (cfg igntypes.Config, err error) {
	if len(clc) > inputlimit.MaxSpecSize {
		return igntypes.Config{}, fmt.Errorf("container linux config: %w: %d bytes", inputlimit.ErrTooLarge, len(clc))
	}
	if err := inputlimit.CheckText(clc); err != nil {
		return igntypes.Config{}, fmt.Errorf("container linux config: %w", err)
	}
	if err := inputlimit.CheckYAMLDepth(clc, inputlimit.MaxDepth); err != nil {
		return igntypes.Config{}, fmt.Errorf("container linux config: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			cfg, err = igntypes.Config{}, fmt.Errorf("container linux config: the parser failed: %v", p)
		}
	}()
	return transpileUnguarded(clc)
}

func transpileUnguarded(clc []byte) (igntypes.Config, error) {
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

// SnippetsIgnition is the Ignition (spec 2.3, JSON) a ct_config data
// source makes of CLC snippets merged in order: what lokoctl serves a node,
// and what it compares to decide whether to re-run the node's Ignition
// (with a reboot). Snippets that move content from one file to another
// give the same Ignition.
func SnippetsIgnition(snippets ...[]byte) ([]byte, error) {
	cfgs := make([]igntypes.Config, 0, len(snippets))
	for i, s := range snippets {
		cfg, err := transpile(s)
		if err != nil {
			return nil, fmt.Errorf("snippet %d: %w", i+1, err)
		}
		cfgs = append(cfgs, cfg)
	}
	return json.Marshal(merge(cfgs...))
}

// appendConfig merges b after a with Ignition's own Append, as a
// ct_config data source merges its snippets.
func appendConfig(a, b igntypes.Config) igntypes.Config { return ign.Append(a, b) }

// ignitionJSON is the spec 3.0 Ignition config as JSON (indented or
// compact) with a final line break. clarketm/json is encoding/json that
// also omits empty structs (as Butane and ign-converter write Ignition);
// it writes struct fields in order and map keys sorted, so the bytes are
// stable.
func ignitionJSON(cfg ign30types.Config, indent bool) ([]byte, error) {
	var b []byte
	var err error
	if indent {
		b, err = cjson.MarshalIndent(cfg, "", "  ")
	} else {
		b, err = cjson.Marshal(cfg)
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
//
// The final Ignition is embedded rather than fetched from the module's
// installed-OS URL (/ignition?mac=MAC&os=installed, which serves the same
// config): the installer then needs nothing from the network but the
// Flatcar image, and the install cannot pick up a config other than the
// one rendered with it. flatcar-install -i copies the file as is to the
// OEM partition, where the installed OS's Ignition reads it; that
// Ignition reads spec 3, so the embedded config is the spec 3.0 one.
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

// Ignition spec 3. matchbox v0.11 serves raw Ignition only in spec 3.x (a
// 2.x config is served empty; a 3.x one is served re-encoded as 3.4.0) and
// Flatcar reads spec 3 natively, while ct writes spec 2.3; so the merged
// 2.3 configs are translated to spec 3.0 with CoreOS's ign-converter.

// networkdDir is where Flatcar's Ignition wrote spec 2 networkd units; spec
// 3 has no networkd section, so they become files there.
const networkdDir = "/etc/systemd/network/"

// toSpec3 translates a 2.3 config, as ct and Append produce it, to spec
// 3.0. Networkd units become files under networkdDir; duplicate files,
// units and users (which 2.x allowed, the later entry winning) are
// collapsed the same way first. Only the root filesystem is supported:
// spec 3 needs a mount path for every other one, which a CLC does not say.
func toSpec3(cfg igntypes.Config) (ign30types.Config, error) {
	cfg.Storage.Files = append(networkdFiles(cfg.Networkd.Units), cfg.Storage.Files...)
	cfg.Networkd.Units = nil
	b, err := json.Marshal(cfg)
	if err != nil {
		return ign30types.Config{}, fmt.Errorf("marshal ignition 2.3: %w", err)
	}
	// The converter takes coreos/ignition's 2.3 types; flatcar/ignition's
	// are the same JSON.
	var old ign23types.Config
	if err := json.Unmarshal(b, &old); err != nil {
		return ign30types.Config{}, fmt.Errorf("unmarshal ignition 2.3: %w", err)
	}
	if err := rootOnly(old); err != nil {
		return ign30types.Config{}, err
	}
	if hasDuplicates(old) {
		if old, err = v23tov30.RemoveDuplicateFilesUnitsUsers(old); err != nil {
			return ign30types.Config{}, fmt.Errorf("ignition 2.3 to 3.0: %w", err)
		}
		// The converter keeps each last entry but lists them backwards.
		slices.Reverse(old.Storage.Files)
		slices.Reverse(old.Systemd.Units)
		slices.Reverse(old.Passwd.Users)
	}
	// Translate adds "root" to the map it is given, so every call gets its own.
	out, err := v23tov30.Translate(old, map[string]string{"root": "/"})
	if err != nil {
		return ign30types.Config{}, fmt.Errorf("ignition 2.3 to 3.0: %w", err)
	}
	return out, nil
}

// networkdFiles are the spec 2 networkd units as root filesystem files,
// their drop-ins in NAME.d/.
func networkdFiles(units []igntypes.Networkdunit) []igntypes.File {
	var out []igntypes.File
	file := func(p, contents string) {
		mode := 0o644
		out = append(out, igntypes.File{
			Node: igntypes.Node{Filesystem: "root", Path: p},
			FileEmbedded1: igntypes.FileEmbedded1{
				Mode:     &mode,
				Contents: igntypes.FileContents{Source: "data:," + dataurl.EscapeString(contents)},
			},
		})
	}
	for _, u := range units {
		if u.Contents != "" {
			file(networkdDir+u.Name, u.Contents)
		}
		for _, d := range u.Dropins {
			file(networkdDir+u.Name+".d/"+d.Name, d.Contents)
		}
	}
	return out
}

// rootOnly fails on a file, directory or link on another filesystem than
// root: spec 3 would need the path to mount it at.
func rootOnly(cfg ign23types.Config) error {
	var bad []string
	check := func(n ign23types.Node) {
		if n.Filesystem != "root" {
			bad = append(bad, fmt.Sprintf("%s (filesystem %q)", n.Path, n.Filesystem))
		}
	}
	for _, f := range cfg.Storage.Files {
		check(f.Node)
	}
	for _, d := range cfg.Storage.Directories {
		check(d.Node)
	}
	for _, l := range cfg.Storage.Links {
		check(l.Node)
	}
	if len(bad) > 0 {
		return fmt.Errorf("ignition 2.3 to 3.0: only the root filesystem is supported: %s", strings.Join(bad, ", "))
	}
	return nil
}

// hasDuplicates tells whether two files share a path, two units a name or
// two users a name.
func hasDuplicates(cfg ign23types.Config) bool {
	seen := map[string]bool{}
	dup := func(k string) bool {
		if seen[k] {
			return true
		}
		seen[k] = true
		return false
	}
	for _, f := range cfg.Storage.Files {
		if dup("f" + f.Path) {
			return true
		}
	}
	for _, u := range cfg.Systemd.Units {
		if dup("u" + u.Name) {
			return true
		}
	}
	for _, u := range cfg.Passwd.Users {
		if dup("p" + u.Name) {
			return true
		}
	}
	return false
}
