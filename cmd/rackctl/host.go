package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// rackEnv is a loaded spec with what the BMC and status commands need
// around it: addresses (read from the state dir, never written here) and
// host paths.
type rackEnv struct {
	g     *globals
	rack  *schema.Rack
	addrs map[string]ipam.Addrs
}

func (g *globals) loadEnv() (*rackEnv, error) {
	rack, err := g.loadSpec()
	if err != nil {
		return nil, err
	}
	prev, err := state.New(g.stateDir).LoadAllocation()
	if err != nil {
		return nil, err
	}
	_, addrs, _, err := ipam.Allocate(rack, prev)
	if err != nil {
		return nil, err
	}
	return &rackEnv{g: g, rack: rack, addrs: addrs}, nil
}

// hostPath maps a path from the spec to the host: absolute paths live under
// --root, relative ones next to the spec file. An absolute path is cleaned
// as if --root were "/" (a chroot), so "/../x" is <root>/x, never outside.
func (g *globals) hostPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Join(g.root, filepath.Clean("/"+p))
	}
	return filepath.Join(filepath.Dir(g.specFile), p)
}

// secretFile places a credential file the spec names in field: an absolute
// path beneath --root, a relative one beneath the spec file's directory.
// A path that climbs out of that directory is refused, and the file is
// read without following links (bmc.SecretFile), so no spec can make
// rackctl read — and then quote — a file outside it.
func (g *globals) secretFile(field, p string) (bmc.SecretFile, error) {
	base, rel, where := filepath.Dir(g.specFile), p, "the spec file's directory"
	if filepath.IsAbs(p) {
		base, rel, where = g.root, strings.TrimLeft(p, "/"), "--root"
	}
	rel = path.Clean(filepath.ToSlash(rel))
	if p == "" || !filepath.IsLocal(filepath.FromSlash(rel)) {
		return bmc.SecretFile{}, fmt.Errorf("%s %q in %s: leaves %s; credential files are read beneath it only (name the file without \"..\")", field, p, g.specFile, where)
	}
	root, err := rootfs.New(base)
	if err != nil {
		return bmc.SecretFile{}, fmt.Errorf("%s: %w", field, err)
	}
	return bmc.SecretFile{Root: root, Rel: rel, Field: field, Name: p}, nil
}

func (e *rackEnv) credentials() (bmc.Credentials, error) {
	if os.Getenv(bmc.EnvPassword) != "" {
		return bmc.CredentialsFromEnv()
	}
	hint := fmt.Sprintf("(bmc.userFile/bmc.passwordFile in %s, or set %s and %s)", e.g.specFile, bmc.EnvUser, bmc.EnvPassword)
	user, err := e.g.secretFile("bmc.userFile", e.rack.BMC.UserFile)
	if err != nil {
		return bmc.Credentials{}, fmt.Errorf("%w %s", err, hint)
	}
	pass, err := e.g.secretFile("bmc.passwordFile", e.rack.BMC.PasswordFile)
	if err != nil {
		return bmc.Credentials{}, fmt.Errorf("%w %s", err, hint)
	}
	c, err := bmc.ReadCredentialsFrom(user, pass)
	if err != nil {
		return bmc.Credentials{}, fmt.Errorf("%w %s", err, hint)
	}
	return c, nil
}

func (e *rackEnv) bmcClient() (*bmc.Client, error) {
	creds, err := e.credentials()
	if err != nil {
		return nil, err
	}
	return bmc.New(bmc.Config{Credentials: creds, Timeout: e.g.timeout, Parallel: e.g.parallel, Logger: e.g.log})
}

// bmcDrivers drives the rack's BMCs whatever their protocol (the node's
// Target carries it).
func (e *rackEnv) bmcDrivers() (*bmc.Drivers, error) {
	creds, err := e.credentials()
	if err != nil {
		return nil, err
	}
	var ca bmc.SecretFile
	if t := e.rack.BMC.Redfish; t != nil && t.CAFile != "" {
		if ca, err = e.g.secretFile("bmc.redfish.caFile", t.CAFile); err != nil {
			return nil, err
		}
	}
	rf, err := bmc.RedfishOptionsFor(e.rack.BMC.Redfish, ca)
	if err != nil {
		return nil, err
	}
	return bmc.NewDrivers(bmc.Config{Credentials: creds, Timeout: e.g.timeout, Parallel: e.g.parallel, Logger: e.g.log, Redfish: rf}), nil
}

// bmcAddress is where rackctl reaches a node's BMC: the spec's override, or
// the BMC's allocated internal IP on the IPMI port.
func (e *rackEnv) bmcAddress(n *schema.Node) string {
	if n.BMCAddress != "" {
		return n.BMCAddress
	}
	return bmc.EndpointFor(e.rack, n, e.addrs[n.Name].BMC).Address()
}

func (e *rackEnv) target(n *schema.Node) bmc.Target {
	return bmc.EndpointFor(e.rack, n, e.addrs[n.Name].BMC).Target(n.Name)
}

func (e *rackEnv) targets(nodes []*schema.Node) []bmc.Target {
	out := make([]bmc.Target, len(nodes))
	for i, n := range nodes {
		out[i] = e.target(n)
	}
	return out
}

func (e *rackEnv) allNodes() []*schema.Node {
	out := make([]*schema.Node, len(e.rack.Nodes))
	for i := range e.rack.Nodes {
		out[i] = &e.rack.Nodes[i]
	}
	return out
}

// flagFile is the file whose presence marks a node as installed, as
// Racker's provisioners left it: a slash path relative to --root.
func (e *rackEnv) flagFile(n *schema.Node) string {
	return render.FlagFilePath(e.g.layout(), e.rack.Provisioner, n.MAC)
}

// provisioned tells whether n's flag file exists beneath --root. A link on
// its path is not followed: the node counts as not provisioned, with a
// warning naming the link.
func (e *rackEnv) provisioned(n *schema.Node) bool {
	root, err := rootfs.New(e.g.root)
	if err != nil {
		return false
	}
	there, err := root.Exists(e.flagFile(n))
	if err != nil {
		e.g.log.Warn("flag file not read", "node", n.Name, "err", err)
		return false
	}
	return there
}
