package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/rackctl/rackctl/render"
)

// The reignite layer brings installed Flatcar nodes to the config rendered
// for them without a PXE install, as Lokomotive's matchbox-flatcar module
// does: a changed SSH key or CLC otherwise only changes what matchbox
// serves, and the node keeps its old keys until someone reboots it. It
// compares the hash each node's config wrote (read over SSH by a
// NodeConfigObserver) with the rendered one; a node whose hash is not
// known is named in a note, never re-run blindly and never PXE-wiped.
//
// The running hash is not one of the plan's observations: the executor
// reads it again right before acting (a node running the rendered config
// by then is left alone), so a node gone between plan and apply fails
// alone instead of making the whole saved plan stale.
//
// Lokomotive's node configs carry no hash (lokoctl owns them and re-runs
// Ignition itself, see lokoreboots.go): the layer leaves them alone.

const (
	LayerReignite Layer = "reignite"
	// ActionReignite re-runs Ignition on an installed node (a reboot).
	ActionReignite Action = "reignite"
)

// ReprovisionHint is what to do about a node whose config cannot be
// brought over SSH, as the module's pxe-helper.sh says it.
const ReprovisionHint = "remove its flag file or set nodes[].reprovision to force a PXE install"

// ConfigDetail is the config a re-Ignition brings a node to.
type ConfigDetail struct {
	// URL is the node's installed-profile Ignition URL in matchbox.
	URL string `json:"url"`
	// Running is the hash the node's config wrote when planned, Rendered
	// the hash of the config rendered for it now.
	Running  string `json:"running"`
	Rendered string `json:"rendered"`
}

type reigniteLayer struct{ persistNothing }

func (reigniteLayer) Layer() Layer          { return LayerReignite }
func (reigniteLayer) Policy() FailurePolicy { return PerNode }

// reigniteNode is an installed node whose rendered config has a hash.
type reigniteNode struct {
	ni       *nodeInfo
	clc      string // its CLC's path
	rendered string
}

func (reigniteLayer) Plan(ctx context.Context, pl *planner) error {
	if !pl.cfg.Enabled {
		return nil
	}
	nodes := installedConfigs(pl)
	if len(nodes) == 0 {
		return nil
	}
	if pl.cfg.NodeConfigs == nil {
		noteUnobserved(pl, nodes)
		return nil
	}
	names := make([]string, len(nodes))
	for i, rn := range nodes {
		names[i] = rn.ni.n.Name
	}
	seen := pl.cfg.NodeConfigs.RunningConfigs(ctx, names)
	// Nodes unknown for the same reason (no SSH key: all of them) share a
	// note: a large rack gets one line, not one per node.
	var reasons []string
	unknown := map[string][]string{}
	for _, rn := range nodes {
		n := rn.ni.n
		rc := seen[n.Name]
		switch {
		case rc.Hash == "":
			why := rc.Unknown
			if why == "" {
				why = "not observed"
			}
			if _, ok := unknown[why]; !ok {
				reasons = append(reasons, why)
			}
			unknown[why] = append(unknown[why], n.Name)
		case rc.Hash != rn.rendered:
			d := pl.bmcDetail(n, n.MAC)
			d.FQDN = pl.rack.FQDN(n)
			d.Config = &ConfigDetail{URL: render.InstalledIgnitionURL(pl.rack, n), Running: rc.Hash, Rendered: rn.rendered}
			pl.add(Change{
				Layer: LayerReignite, Action: ActionReignite, Address: "reignite:" + n.Name, Node: n.Name, Disruptive: true,
				Reason: fmt.Sprintf("re-run Ignition (config %s → %s)", ShortHash(rc.Hash), ShortHash(rn.rendered)),
				Phrase: "will reboot, no PXE install", Detail: d,
			})
		}
	}
	for _, why := range reasons {
		pl.note(fmt.Sprintf("reignite: %s: running config unknown (%s): Ignition is not re-run; once the config can be read the next plan compares it, or %s",
			summarize(unknown[why], 5), why, ReprovisionHint))
	}
	return nil
}

// installedConfigs are the targeted nodes that stay installed through this
// plan (flag file present, not excluded, not being reinstalled) and whose
// rendered config carries a hash.
func installedConfigs(pl *planner) []reigniteNode {
	hashed := map[string]*render.File{}
	for i := range pl.files {
		if f := &pl.files[i]; f.ConfigHash != "" {
			hashed[f.Node] = f
		}
	}
	var out []reigniteNode
	for _, ni := range pl.nodes {
		if ni.install != "" || ni.deleting || ni.n.Exclude {
			continue
		}
		if f := hashed[ni.n.Name]; f != nil {
			out = append(out, reigniteNode{ni: ni, clc: f.Path, rendered: f.ConfigHash})
		}
	}
	return out
}

// noteUnobserved says, when the nodes' configs are not observed, which
// installed nodes this plan gives a new config that does not reach them:
// without the note the plan would pretend the change is made.
func noteUnobserved(pl *planner, nodes []reigniteNode) {
	var changing []string
	for _, rn := range nodes {
		if c := pl.fileChange(rn.clc); c != nil && c.Action != ActionNoop {
			changing = append(changing, rn.ni.n.Name)
		}
	}
	if len(changing) == 0 {
		return
	}
	why := pl.cfg.NodeConfigsOff
	if why == "" {
		why = "nodes not observed"
	}
	pl.note(fmt.Sprintf("reignite: the config of %s changes, but only in what matchbox serves (%s): they keep running their old config until Ignition runs again on them; plan with --verify ssh to re-run it, or %s",
		summarize(changing, 5), why, strings.Replace(ReprovisionHint, "its flag file", "their flag files", 1)))
}

// ShortHash is a config hash as people read it: the first 12 hex digits.
func ShortHash(h string) string {
	h = strings.TrimPrefix(h, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// ReigniteExecutor applies the reignite layer through its Reigniter.
type ReigniteExecutor struct {
	Reigniter Reigniter
	// BMC, when set, sets the boot device back to disk once the node is
	// back: a reboot can drop the boot flags (why every node's CLC carries
	// Racker's boot-workaround unit), and the node was planned as booting
	// from disk.
	BMC BMC
	// Parallel is how many nodes re-run Ignition at once (default 1).
	Parallel int
	Log      *slog.Logger
}

var (
	_ Executor   = (*ReigniteExecutor)(nil)
	_ Concurrent = (*ReigniteExecutor)(nil)
)

func (e *ReigniteExecutor) Layer() Layer     { return LayerReignite }
func (e *ReigniteExecutor) Concurrency() int { return max(e.Parallel, 1) }

func (e *ReigniteExecutor) Apply(ctx context.Context, c Change) error {
	if c.Action != ActionReignite || c.Detail == nil || c.Detail.Config == nil || c.Detail.Config.URL == "" || c.Detail.Config.Rendered == "" {
		return fmt.Errorf("reignite: %s: unsupported change", c.Address)
	}
	if e.Reigniter == nil {
		return errors.New("reignite: no driver reaches the nodes (plan and apply with --verify ssh)")
	}
	if err := e.Reigniter.Reignite(ctx, c.Node, c.Detail.Config.URL, c.Detail.Config.Rendered); err != nil {
		return fmt.Errorf("reignite %s: %w", c.Node, err)
	}
	if e.BMC != nil && c.Detail.BMCAddress != "" {
		if err := setBootDisk(ctx, e.BMC, c.Detail.BMCTarget(c.Node), e.Log); err != nil {
			return fmt.Errorf("reignite %s: runs its config, but: %w", c.Node, err)
		}
	}
	discard(e.Log).Info("node runs its rendered config", "node", c.Node, "config", ShortHash(c.Detail.Config.Rendered))
	return nil
}
