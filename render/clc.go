package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/rackctl/rackctl/schema"
)

// This file renders the Container Linux Configs (CLC) of the nodes, the
// files Racker kept under cl/: NAME.yaml (rackctl's part) and
// NAME-custom.yaml (the public NIC), plus NAME-extra.yaml for the spec's
// extraCLC. They are YAML written from fixed text; every value put in is a
// parsed address, a MAC, or a JSON-quoted (hence valid YAML) string.

// IPMIToolImage runs ipmitool on the nodes for the boot workaround, as in
// Racker's CLC (which pinned the management node's Racker version); the
// spec's install.ipmitoolImage replaces it.
const IPMIToolImage = schema.DefaultIPMIToolImage

// ResolveAddr is where lokomotive nodes' systemd-resolved listens, on a
// dummy link named resolve, so that pods and the kubelet resolve the API
// server name to every controller in /etc/hosts.
const ResolveAddr = "192.0.2.254"

// bootWorkaroundDescription is Racker's Description= of the boot
// workaround unit, the line its guide said to edit for a no-op change.
const bootWorkaroundDescription = "Workaround to really persist the boot settings because they get lost when the 60 secs timeout is not disabled. The last raw command can be replaced with ipmitool chassis bootdev disk options=persistent,efiboot once a new ipmitool version is released that fixes the bootdev command (only one flag out of efiboot and persistent works in 1.8.18)."

func clcPath(n *node) string       { return "cl/" + n.fqdn + ".yaml" }
func clcCustomPath(n *node) string { return "cl/" + n.fqdn + "-custom.yaml" }
func clcExtraPath(n *node) string  { return "cl/" + n.fqdn + "-extra.yaml" }

// snippetPaths are a node's clc_snippets, relative to the cluster
// directory, in the order the provisioner merges them.
func snippetPaths(fqdn string, extra bool) []string {
	n := &node{fqdn: fqdn}
	out := []string{clcPath(n), clcCustomPath(n)}
	if extra {
		out = append(out, clcExtraPath(n))
	}
	return out
}

// NodeSnippets are node n's clc_snippets as root-relative paths, in the
// order the provisioner merges them into its Ignition.
func NodeSnippets(l Layout, rack *schema.Rack, n *schema.Node) []string {
	l = l.WithDefaults()
	dir := l.LokomotiveDir
	if rack.Provisioner == schema.Flatcar {
		dir = l.FlatcarDir
	}
	out := snippetPaths(rack.FQDN(n), n.ExtraCLC != "")
	for i, p := range out {
		out[i] = path.Join(dir, p)
	}
	return out
}

// yamlString quotes s as a YAML double-quoted scalar (JSON's syntax is a
// subset of it).
func yamlString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// unitValue makes s safe as a systemd unit setting value on one line:
// no line breaks, and % (a specifier) doubled.
func unitValue(s string) string {
	s = lineBreaks.Replace(s)
	return strings.ReplaceAll(s, "%", "%%")
}

// lineBreaks turns each line break into a space (a Replacer is safe for
// concurrent use: one for every node's units).
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// yw writes YAML lines; indent 0 is the document level.
type yw struct{ bytes.Buffer }

func (w *yw) line(indent int, format string, args ...any) {
	w.indent(indent)
	fmt.Fprintf(w, format, args...)
	w.WriteByte('\n')
}

// literal writes text as the lines of a literal block scalar at indent.
// Each node's CLC is mostly such lines: written as they are, not through
// fmt.
func (w *yw) literal(indent int, text string) {
	for l := range strings.SplitSeq(strings.TrimSuffix(text, "\n"), "\n") {
		if l != "" {
			w.indent(indent)
			w.WriteString(l)
		}
		w.WriteByte('\n')
	}
}

const spaces = "                                "

func (w *yw) indent(n int) {
	for ; n > len(spaces); n -= len(spaces) {
		w.WriteString(spaces)
	}
	w.WriteString(spaces[:n])
}

// unit is a networkd or systemd unit of a CLC.
type unit struct {
	name     string
	enabled  bool
	mask     bool
	contents string
}

// file is a storage file of a CLC.
type clcFile struct {
	path     string
	mode     string // octal, e.g. 0644
	contents string
	quoted   bool // write contents as one quoted scalar instead of a literal block
}

// clc is the subset of a Container Linux Config rackctl writes.
type clc struct {
	networkd []unit
	systemd  []unit
	files    []clcFile
	sshKeys  []string
}

func (c *clc) bytes() []byte {
	var w yw
	if len(c.networkd) > 0 {
		w.line(0, "networkd:")
		w.line(2, "units:")
		for _, u := range c.networkd {
			w.line(4, "- name: %s", u.name)
			w.line(6, "contents: |")
			w.literal(8, u.contents)
		}
	}
	if len(c.systemd) > 0 {
		w.line(0, "systemd:")
		w.line(2, "units:")
		for _, u := range c.systemd {
			w.line(4, "- name: %s", u.name)
			if u.enabled {
				w.line(6, "enabled: true")
			}
			if u.mask {
				w.line(6, "mask: true")
			}
			if u.contents != "" {
				w.line(6, "contents: |")
				w.literal(8, u.contents)
			}
		}
	}
	if len(c.files) > 0 {
		w.line(0, "storage:")
		w.line(2, "files:")
		for _, f := range c.files {
			w.line(4, "- path: %s", f.path)
			w.line(6, "filesystem: root")
			w.line(6, "mode: %s", f.mode)
			w.line(6, "contents:")
			if f.quoted {
				w.line(8, "inline: %s", yamlString(f.contents))
			} else {
				w.line(8, "inline: |")
				w.literal(10, f.contents)
			}
		}
	}
	if len(c.sshKeys) > 0 {
		w.line(0, "passwd:")
		w.line(2, "users:")
		w.line(4, "- name: core")
		w.line(6, "ssh_authorized_keys:")
		for _, k := range c.sshKeys {
			w.line(8, "- %s", yamlString(k))
		}
	}
	if w.Len() == 0 {
		return []byte("{}\n")
	}
	return w.Bytes()
}

// IgnitionRanPath is the flag file every node's config writes: Ignition
// creates it when it applies the config, and the verify step waits for it
// over SSH and removes it (the contract of Lokomotive's pxe-helper.sh and
// Racker's base template), so an install is recorded only once the node
// ran the config it was given.
const IgnitionRanPath = "/ignition_ran"

// ConfigHashPath is where a node's config records its own hash, so rackctl
// can read over SSH which config a node runs.
const ConfigHashPath = "/etc/rackctl/config-hash"

const ignitionRanContents = "Flag file indicating that Ignition ran.\nShould be deleted by the SSH step that checks it.\n"

// configHash is the hash of a node's config as rendered, before the two
// marker files are added (a config cannot contain its own hash): the
// node's CLC and the snippets merged after it, in merge order.
func configHash(base []byte, later ...[]byte) string {
	h := sha256.New()
	h.Write(base)
	for _, b := range later {
		h.Write([]byte{0})
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// withMarkers adds the Ignition-ran flag file and the config hash to c.
func (c *clc) withMarkers(hash string) {
	c.files = append(c.files,
		clcFile{path: IgnitionRanPath, mode: "0644", contents: ignitionRanContents},
		clcFile{path: ConfigHashPath, mode: "0644", contents: hash + "\n"},
	)
}

// nodeCLC is cl/FQDN.yaml: the internal NIC, the boot workaround, and per
// provisioner the resolver and /etc/hosts (lokomotive) or the SSH keys and
// update strategy (flatcar; lokomotive sets both itself); then the marker
// files, the hash taken over the config without them and the snippets
// merged after it (later).
func nodeCLC(r *rack, n *node, later ...[]byte) (content []byte, hash string) {
	var c clc
	var priv strings.Builder
	fmt.Fprintf(&priv, "[Match]\nMACAddress=%s\n", n.MAC)
	fmt.Fprintf(&priv, "[Link]\nRequiredForOnline=no\n")
	fmt.Fprintf(&priv, "[Address]\nAddress=%s/%d\n", n.ip, r.subnet.Bits())
	// Without a public NIC the internal gateway is the way out, unless the
	// spec keeps Racker's unit (network.internal.defaultRoute: false).
	route := n.PublicIP == "" && r.Network.Internal.RoutesByDefault()
	if !route {
		// As Racker: the internal address is link-local in scope, the
		// public NIC (if any) has the default route.
		priv.WriteString("Scope=link\n")
	}
	priv.WriteString("[Network]\nDHCP=no\nLinkLocalAddressing=no\n")
	if route {
		// No public NIC configured: the internal gateway is the way out, with
		// a metric above networkd's DHCP default (1024) so that a DHCP-given
		// default route on another NIC still wins. The address keeps global
		// scope, else the kernel has no source address for that route.
		for _, d := range r.Network.Internal.DNS {
			fmt.Fprintf(&priv, "DNS=%s\n", d)
		}
		fmt.Fprintf(&priv, "[Route]\nDestination=0.0.0.0/0\nGateway=%s\nMetric=2048\n", r.gateway)
	}
	c.networkd = append(c.networkd, unit{name: "10-priv-stable.network", contents: priv.String()})

	desc := bootWorkaroundDescription
	if n.Reprovision != "" {
		desc += " (reprovision: " + n.Reprovision + ")"
	}
	c.systemd = append(c.systemd, unit{
		name:    "boot-workaround-efi-disk-persist.service",
		enabled: true,
		contents: "[Unit]\n" +
			"Description=" + unitValue(desc) + "\n" +
			"Requires=network-online.target\n" +
			"After=network-online.target\n" +
			"[Service]\n" +
			"Type=oneshot\n" +
			"RemainAfterExit=yes\n" +
			"Restart=on-failure\n" +
			"RestartSec=5s\n" +
			"ExecStart=docker run --privileged --net host --rm " + r.Install.Image() + " sh -c 'ipmitool raw 0x0 0x8 0x3 0x1f && ipmitool raw 0x00 0x08 0x05 0xe0 0x08 0x00 0x00 0x00'\n" +
			"[Install]\n" +
			"WantedBy=multi-user.target\n",
	})

	switch r.Provisioner {
	case schema.Lokomotive:
		c.networkd = append(c.networkd,
			unit{name: "10-resolve.netdev", contents: "[NetDev]\nName=resolve\nKind=dummy\n"},
			unit{name: "10-resolve.network", contents: "[Match]\nName=resolve\n[Link]\nRequiredForOnline=no\n[Network]\nAddress=" + ResolveAddr + "/32\nLinkLocalAddressing=no\n"},
		)
		hosts := "127.0.0.1 localhost\n::1 localhost\n" +
			"# Requires systemd-resolved used for kubectl/kubelet for returning all IP addresses in order to gain HA for the API server\n"
		for _, l := range controllerHostLines(r) {
			hosts += l + "\n"
		}
		c.files = append(c.files,
			clcFile{path: "/etc/hosts", mode: "0644", contents: hosts},
			clcFile{path: "/etc/systemd/resolved.conf.d/10-resolve-listener.conf", mode: "0644", contents: "[Resolve]\nDNSStubListenerExtra=" + ResolveAddr + "\n"},
		)
	case schema.Flatcar:
		strategy := r.Cluster.Updates.Strategy
		c.files = append(c.files, clcFile{path: "/etc/flatcar/update.conf", mode: "0644", contents: "REBOOT_STRATEGY=" + strategy + "\n"})
		if strategy == "off" {
			c.systemd = append(c.systemd, unit{name: "locksmithd.service", mask: true})
		}
		c.sshKeys = r.Cluster.SSHPubKeys
		// Lokomotive's bare-metal module adds /ignition_ran itself, and
		// lokoctl owns the final Ignition: a marker added there would make
		// lokoctl re-run Ignition, with a reboot, on every installed node.
		hash = configHash(c.bytes(), later...)
		c.withMarkers(hash)
	}
	return c.bytes(), hash
}

// customCLC is cl/FQDN-custom.yaml: the public NIC when the node has a
// public IP (as Racker wrote it), else an empty config.
func customCLC(r *rack, n *node) []byte {
	if n.PublicIP == "" {
		return []byte("{}\n")
	}
	var pub strings.Builder
	fmt.Fprintf(&pub, "[Match]\nMACAddress=%s\n", n.SecondaryMAC)
	fmt.Fprintf(&pub, "[Address]\nAddress=%s\n", n.public)
	pub.WriteString("[Network]\nDHCP=no\nLinkLocalAddressing=no\n")
	for _, d := range r.Network.Public.DNS {
		fmt.Fprintf(&pub, "DNS=%s\n", d)
	}
	fmt.Fprintf(&pub, "[Route]\nDestination=0.0.0.0/0\nGateway=%s\n", r.Network.Public.Gateway)
	c := clc{networkd: []unit{{name: "10-public-stable.network", contents: pub.String()}}}
	return c.bytes()
}

// extraCLC is cl/FQDN-extra.yaml, the spec's extraCLC verbatim. It is a
// file of its own, listed last in the node's clc_snippets, because a CLC
// cannot be appended to another as text: lokomotive and rackctl merge the
// snippets as separate configs.
func extraCLC(n *node) []byte {
	s := n.ExtraCLC
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return []byte(s)
}

// clcFiles are the cl/ files of every active node.
func clcFiles(r *rack) []File {
	var out []File
	for _, n := range r.active {
		later := [][]byte{customCLC(r, n)}
		if n.ExtraCLC != "" {
			later = append(later, extraCLC(n))
		}
		content, hash := nodeCLC(r, n, later...)
		out = append(out,
			File{Path: clcPath(n), Content: content, Mode: modeFile, Kind: Whole, Node: n.Name, ConfigHash: hash},
			File{Path: clcCustomPath(n), Content: later[0], Mode: modeFile, Kind: Whole, Node: n.Name},
		)
		if n.ExtraCLC != "" {
			out = append(out, File{Path: clcExtraPath(n), Content: later[1], Mode: modeFile, Kind: Whole, Node: n.Name})
		}
	}
	return out
}
