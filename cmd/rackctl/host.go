package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
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
	prev, err := ipam.LoadState(filepath.Join(g.stateDir, "allocation.json"))
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
// --root, relative ones next to the spec file.
func (g *globals) hostPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Join(g.root, p)
	}
	return filepath.Join(filepath.Dir(g.specFile), p)
}

func (e *rackEnv) credentials() (bmc.Credentials, error) {
	if os.Getenv(bmc.EnvPassword) != "" {
		return bmc.CredentialsFromEnv()
	}
	c, err := bmc.ReadCredentials(e.g.hostPath(e.rack.BMC.UserFile), e.g.hostPath(e.rack.BMC.PasswordFile))
	if err != nil {
		return bmc.Credentials{}, fmt.Errorf("%w (bmc.userFile/bmc.passwordFile in %s, or set %s and %s)", err, e.g.specFile, bmc.EnvUser, bmc.EnvPassword)
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

// bmcAddress is where rackctl reaches a node's BMC: the spec's override, or
// the BMC's allocated internal IP on the IPMI port.
func (e *rackEnv) bmcAddress(n *schema.Node) string {
	if n.BMCAddress != "" {
		return n.BMCAddress
	}
	return net.JoinHostPort(e.addrs[n.Name].BMC.String(), "623")
}

func (e *rackEnv) target(n *schema.Node) bmc.Target {
	return bmc.Target{Node: n.Name, Address: e.bmcAddress(n)}
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
// Racker's provisioners left it.
func (e *rackEnv) flagFile(n *schema.Node) string {
	return filepath.Join(e.g.root, filepath.FromSlash(render.FlagFilePath(e.g.layout(), e.rack.Provisioner, n.MAC)))
}

func (e *rackEnv) provisioned(n *schema.Node) bool {
	_, err := os.Stat(e.flagFile(n))
	return err == nil
}
