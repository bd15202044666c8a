package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rackctl/rackctl/internal/fanout"
	"github.com/rackctl/rackctl/nodessh"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// configReadTimeout bounds reading one node's config hash when no
// --timeout is set: a dead node costs one of these, in parallel.
const configReadTimeout = 15 * time.Second

// sshNodes is the one SSH client of a plan and its apply (verify and
// reignite share it: both pin host keys in the same known_hosts file,
// which two clients would overwrite each other's pins in).
type sshNodes struct {
	e    *Engine
	rack *schema.Rack
	log  *slog.Logger

	once   sync.Once
	client *nodessh.Client
	err    error
	addrs  map[string]string
}

// open makes the SSH client on first use: a plan of a rack with nothing
// installed needs no key.
func (s *sshNodes) open() (*nodessh.Client, error) {
	s.once.Do(func() {
		r, err := s.e.Rack(s.rack)
		if err != nil {
			s.err = err
			return
		}
		s.addrs = map[string]string{}
		for i := range s.rack.Nodes {
			n := &s.rack.Nodes[i]
			s.addrs[n.Name] = r.Addrs(n.Name).Primary.String()
		}
		s.client, s.err = nodessh.New(s.e.sshOptions(s.log))
	})
	return s.client, s.err
}

func (s *sshNodes) target(node string) nodessh.Target {
	return nodessh.Target{Node: node, Host: s.addrs[node]}
}

// nodeConfigs observes and re-runs the configs of installed nodes over
// SSH: the reignite layer's NodeConfigObserver and Reigniter.
type nodeConfigs struct {
	ssh      *sshNodes
	parallel int
	// read bounds one hash read, wait one re-Ignition (--verify-timeout).
	read, wait time.Duration
	human      io.Writer
}

var (
	_ reconcile.NodeConfigObserver = (*nodeConfigs)(nil)
	_ reconcile.Reigniter          = (*nodeConfigs)(nil)
)

// RunningConfigs reads each node's config hash, --parallel at a time, each
// read bounded: what a node did not answer is unknown, with the reason.
func (o *nodeConfigs) RunningConfigs(ctx context.Context, nodes []string) map[string]reconcile.RunningConfig {
	out := make(map[string]reconcile.RunningConfig, len(nodes))
	c, err := o.ssh.open()
	if err != nil {
		for _, n := range nodes {
			out[n] = reconcile.RunningConfig{Unknown: "not read: " + err.Error()}
		}
		return out
	}
	res := make([]reconcile.RunningConfig, len(nodes))
	errs := fanout.Each(ctx, o.parallel, nodes, func(ctx context.Context, i int, node string) error {
		res[i] = o.read1(ctx, c, node)
		return nil
	})
	for i, n := range nodes {
		if errs[i] != nil { // not started: the plan was cancelled
			res[i] = reconcile.RunningConfig{Unknown: "not read: " + errs[i].Error()}
		}
		out[n] = res[i]
	}
	return out
}

func (o *nodeConfigs) read1(ctx context.Context, c *nodessh.Client, node string) reconcile.RunningConfig {
	ctx, cancel := context.WithTimeout(ctx, o.read)
	defer cancel()
	h, err := c.ConfigHash(ctx, o.ssh.target(node))
	switch {
	case err != nil:
		return reconcile.RunningConfig{Unknown: "unreachable: " + err.Error()}
	case h == "":
		return reconcile.RunningConfig{Unknown: "no hash file " + nodessh.ConfigHashPath + ": installed before rackctl wrote it"}
	}
	return reconcile.RunningConfig{Hash: h}
}

// Reignite re-runs Ignition on node from url and succeeds only once the
// node, rebooted with the host key it had, runs the config want. A node
// already running want is left alone: the apply may be a retry.
func (o *nodeConfigs) Reignite(ctx context.Context, node, url, want string) error {
	c, err := o.ssh.open()
	if err != nil {
		return fmt.Errorf("re-run Ignition over SSH: %w", err)
	}
	t := o.ssh.target(node)
	before, err := o.hash(ctx, c, t)
	if err != nil {
		return unreachable(err)
	}
	if before == want {
		fmt.Fprintf(o.human, "reignite: %s: runs config %s already\n", node, reconcile.ShortHash(want))
		return nil
	}
	fmt.Fprintf(o.human, "reignite: %s: re-running Ignition from %s (config %s → %s), waiting up to %s\n",
		node, url, reconcile.ShortHash(before), reconcile.ShortHash(want), o.wait)
	if err := c.Reignite(ctx, t, url); err != nil {
		return unreachable(err)
	}
	wctx, cancel := context.WithTimeout(ctx, o.wait)
	defer cancel()
	if err := c.WaitReignited(wctx, t); err != nil {
		var notYet *nodessh.NotYetError
		if errors.As(err, &notYet) {
			return fmt.Errorf("%w: it may still be rebooting; the next plan compares its config again, or %s", err, reconcile.ReprovisionHint)
		}
		return err
	}
	after, err := o.hash(ctx, c, t)
	switch {
	case err != nil:
		return fmt.Errorf("re-ran Ignition, then: %w", err)
	case after != want:
		return fmt.Errorf("re-ran Ignition but runs config %s, not the rendered %s: matchbox served another config at %s (did the provisioner run?)",
			orNone(reconcile.ShortHash(after)), reconcile.ShortHash(want), url)
	}
	fmt.Fprintf(o.human, "reignite: %s: runs config %s\n", node, reconcile.ShortHash(want))
	return nil
}

func (o *nodeConfigs) hash(ctx context.Context, c *nodessh.Client, t nodessh.Target) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.read)
	defer cancel()
	return c.ConfigHash(ctx, t)
}

// unreachable is a node the re-Ignition could not be started on, with the
// module's hint. A changed host key is reported as it is.
func unreachable(err error) error {
	var changed *nodessh.HostKeyChangedError
	if errors.As(err, &changed) {
		return err
	}
	return fmt.Errorf("%w: Ignition not re-run; %s", err, reconcile.ReprovisionHint)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// NodeConfig is what `status` shows of one node's config.
type NodeConfig struct {
	Rendered string // "" for a node whose config carries no hash
	Running  string
	Unknown  string // why Running is not known
}

// String is the CONFIG cell: "current", "stale (running A, rendered B)",
// "unknown (why)", or "n/a" for a node without a config hash
// (Lokomotive's, excluded ones).
func (c NodeConfig) String() string {
	switch {
	case c.Rendered == "":
		return "n/a"
	case c.Running == "":
		return "unknown (" + c.Unknown + ")"
	case c.Running == c.Rendered:
		return "current"
	}
	return fmt.Sprintf("stale (running %s, rendered %s)", reconcile.ShortHash(c.Running), reconcile.ShortHash(c.Rendered))
}

// nodeConfigsOf renders r and observes the config of every installed node
// with a rendered hash, as the engine's verify mode allows: only with
// --verify ssh are the nodes read.
func (e *Engine) nodeConfigsOf(ctx context.Context, r *Rack) (map[string]NodeConfig, error) {
	files, err := render.Render(render.Input{Rack: r.Spec, Addrs: r.addrs, Layout: e.Layout()})
	if err != nil {
		return nil, err
	}
	out := map[string]NodeConfig{}
	for _, f := range files {
		if f.ConfigHash != "" {
			out[f.Node] = NodeConfig{Rendered: f.ConfigHash, Unknown: "not installed"}
		}
	}
	var installed []string
	for _, n := range r.Nodes() {
		if _, ok := out[n.Name]; ok && r.Provisioned(n) {
			installed = append(installed, n.Name)
		}
	}
	if len(installed) == 0 {
		return out, nil
	}
	obs, off := e.nodeConfigDriver(&sshNodes{e: e, rack: r.Spec, log: e.log})
	var seen map[string]reconcile.RunningConfig
	if obs != nil {
		seen = obs.RunningConfigs(ctx, installed)
	}
	for _, n := range installed {
		nc := out[n]
		nc.Unknown = off
		if rc, ok := seen[n]; ok {
			nc.Running, nc.Unknown = rc.Hash, rc.Unknown
		}
		out[n] = nc
	}
	return out, nil
}

// nodeConfigDriver is the observer of node configs the verify mode
// allows, or why there is none.
func (e *Engine) nodeConfigDriver(ssh *sshNodes) (*nodeConfigs, string) {
	d := e.cfg.Drivers
	if d.Verify != "ssh" {
		mode := d.Verify
		if mode == "" {
			mode = "unset"
		}
		return nil, "verify " + mode + ": nodes not observed"
	}
	read := configReadTimeout
	if e.cfg.Timeout > 0 {
		read = e.cfg.Timeout
	}
	return &nodeConfigs{ssh: ssh, parallel: e.cfg.Parallel, read: read, wait: d.VerifyTimeout, human: e.cfg.Human}, ""
}
