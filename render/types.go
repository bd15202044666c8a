package render

import (
	"io/fs"

	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/schema"
)

// Input is everything a render needs; render does no I/O of its own.
type Input struct {
	Rack   *schema.Rack
	Addrs  map[string]ipam.Addrs // by node name; every node (excluded too) has one
	Layout Layout
}

// Layout says where each rendered file lives, relative to the host root.
// Defaults match a Racker management node.
type Layout struct {
	DnsmasqConf   string // opt/racker-state/dnsmasq/dnsmasq.conf
	Hosts         string // etc/hosts
	LokomotiveDir string // home/core/lokomotive
	FlatcarDir    string // home/core/flatcar-container-linux
}

// Kind tells how a rendered file is installed.
type Kind int

const (
	// Whole files are owned by rackctl entirely.
	Whole Kind = iota
	// Block files have only a marked block managed; Content is the block,
	// merged into the existing file with MergeBlock.
	Block
)

// File is one desired file.
type File struct {
	Path    string // slash-separated, relative to the host root
	Content []byte
	Mode    fs.FileMode
	Kind    Kind
	Node    string // the node the file belongs to, if any
	// ConfigHash, on a node's own CLC (cl/FQDN.yaml), is the hash its
	// config writes to ConfigHashPath: what the node runs once it applied it.
	ConfigHash string `json:",omitempty"`
}
