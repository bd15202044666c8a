package render

import (
	"fmt"

	igntypes "github.com/flatcar/ignition/config/v2_3/types"

	"github.com/rackctl/rackctl/schema"
)

// What lokoctl serves a node. rackctl never serves a Lokomotive node itself
// (lokoctl owns the final Ignition); the lokoctl stand-in does, so that the
// simulated servers of a Lokomotive rack boot what lokoctl's bare-metal
// module would give them, from the files rackctl rendered.

// LokoctlNode is one node as lokoctl's bare-metal module sees it.
type LokoctlNode struct {
	// Domain is the node's name in lokocfg.vars (its FQDN): its hostname.
	Domain  string
	SSHKeys []string
	// Snippets are the contents of the node's clc_snippets, in order;
	// InstallerSnippets those of its installer_clc_snippets.
	Snippets, InstallerSnippets [][]byte
}

// LokoctlIgnition is the node's final Ignition (the module's part —
// hostname, core's SSH keys and /ignition_ran, the file its pxe-helper
// waits for — merged with the node's snippets in order) and its installer
// Ignition (flatcar-install -i with that final config, as a Flatcar rack's
// installer), both spec 3.0 JSON as matchbox v0.11 serves them.
func LokoctlIgnition(n LokoctlNode, inst schema.Install, mbx schema.Matchbox) (final, installer []byte, err error) {
	base := clc{
		files: []clcFile{
			{path: "/etc/hostname", mode: "0644", contents: n.Domain + "\n"},
			{path: IgnitionRanPath, mode: "0644", contents: ""},
		},
		sshKeys: n.SSHKeys,
	}
	cfgs, err := transpileAll(append([][]byte{base.bytes()}, n.Snippets...))
	if err != nil {
		return nil, nil, fmt.Errorf("lokoctl: %s: %w", n.Domain, err)
	}
	f3, err := toSpec3(merge(cfgs...))
	if err != nil {
		return nil, nil, fmt.Errorf("lokoctl: %s: %w", n.Domain, err)
	}
	if final, err = ignitionJSON(f3, false); err != nil {
		return nil, nil, err
	}
	r := &rack{Rack: &schema.Rack{Install: inst, Matchbox: mbx, Cluster: schema.Cluster{SSHPubKeys: n.SSHKeys}}}
	icfgs, err := transpileAll(append([][]byte{installerCLC(r, final)}, n.InstallerSnippets...))
	if err != nil {
		return nil, nil, fmt.Errorf("lokoctl: %s: installer: %w", n.Domain, err)
	}
	i3, err := toSpec3(merge(icfgs...))
	if err != nil {
		return nil, nil, fmt.Errorf("lokoctl: %s: installer: %w", n.Domain, err)
	}
	installer, err = ignitionJSON(i3, false)
	return final, installer, err
}

func transpileAll(clcs [][]byte) ([]igntypes.Config, error) {
	out := make([]igntypes.Config, 0, len(clcs))
	for i, c := range clcs {
		cfg, err := transpile(c)
		if err != nil {
			return nil, fmt.Errorf("snippet %d: %w", i, err)
		}
		out = append(out, cfg)
	}
	return out, nil
}
