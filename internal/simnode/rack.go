package simnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
)

// RackOptions configure StartRack.
type RackOptions struct {
	// Dir holds each node's disk, Dir/<BMC name>, and its log file there
	// ("log") (required).
	Dir string
	// MAC is the primary MAC of the node behind BMC i (required): the one
	// the rack's spec gives that node.
	MAC func(i int) string
	// Rewrite, Kube, KubeGrace and Knobs are given to every node.
	Rewrite   map[string]string
	Kube      kubernetes.Interface
	KubeGrace time.Duration
	Knobs     Knobs
	// Log receives every node's lines (besides its own log file); may be nil.
	Log io.Writer
	// Timeout bounds each network step of every node (Config.Timeout).
	Timeout time.Duration
}

// Rack is a node behind every BMC of a simulated rack.
type Rack struct {
	Nodes []*Node

	ms       []Machine
	dhcp     *testenv.DHCP
	opts     RackOptions
	out      io.Writer // opts.Log, one line at a time; nil without
	replaced []int     // how many times each machine's server was swapped
	nets     []*testenv.NodeNet
	logs     []*os.File
}

// lockedWriter keeps lines from concurrent nodes whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// Machine is what a node needs from the BMC in front of it, whatever its
// protocol: the chassis directory its power is kept in, and the firmware
// that asks the BMC for the boot device.
type Machine struct {
	Name       string
	ChassisDir string
	Firmware   Firmware
}

// IPMIMachines are the machines behind a simulated IPMI rack's BMCs.
func IPMIMachines(rack *simrack.Rack) ([]Machine, error) {
	var out []Machine
	for _, b := range rack.BMCs {
		client, err := bmc.New(bmc.Config{Credentials: bmc.Credentials{User: b.User, Password: b.Password}})
		if err != nil {
			return nil, err
		}
		out = append(out, Machine{Name: b.Name, ChassisDir: filepath.Join(b.StateDir, "chassis"),
			Firmware: IPMIFirmware{Client: client, Target: bmc.Target{Node: b.Name, Address: b.Addr}}})
	}
	return out, nil
}

// StartRack starts a node behind every BMC of an IPMI rack (StartMachines).
func StartRack(rack *simrack.Rack, d *testenv.DHCP, opts RackOptions) (*Rack, error) {
	ms, err := IPMIMachines(rack)
	if err != nil {
		return nil, err
	}
	return StartMachines(ms, d, opts)
}

// StartMachines starts a node behind every machine's BMC, each in its own
// network namespace on d's segment, its firmware reading its BMC's boot
// flags. Close stops them and deletes their namespaces; on error nothing
// is left running.
func StartMachines(ms []Machine, d *testenv.DHCP, opts RackOptions) (*Rack, error) {
	if opts.Dir == "" || opts.MAC == nil {
		return nil, errors.New("simnode: rack without Dir or MAC")
	}
	if len(ms) == 0 {
		return nil, errors.New("simnode: no BMCs to put nodes behind")
	}
	r := &Rack{ms: ms, dhcp: d, opts: opts, replaced: make([]int, len(ms))}
	if opts.Log != nil {
		r.out = &lockedWriter{w: opts.Log}
	}
	for i, m := range ms {
		n, nn, lf, err := r.start(m, opts.MAC(i), filepath.Join(opts.Dir, m.Name))
		if err != nil {
			r.Close()
			return nil, err
		}
		r.Nodes, r.nets, r.logs = append(r.Nodes, n), append(r.nets, nn), append(r.logs, lf)
	}
	return r, nil
}

// start starts a server with primary MAC mac and its disk in disk behind
// machine m; on error nothing of it is left.
func (r *Rack) start(m Machine, mac, disk string) (*Node, *testenv.NodeNet, *os.File, error) {
	nn, err := r.dhcp.AddNode(context.Background(), mac)
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error, lf *os.File) (*Node, *testenv.NodeNet, *os.File, error) {
		if lf != nil {
			lf.Close()
		}
		nn.Close()
		return nil, nil, nil, err
	}
	if err := os.MkdirAll(disk, 0o755); err != nil {
		return fail(fmt.Errorf("simnode: %w", err), nil)
	}
	lf, err := os.OpenFile(filepath.Join(disk, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(fmt.Errorf("simnode: %w", err), nil)
	}
	var w io.Writer = lf
	if r.out != nil {
		w = io.MultiWriter(r.out, lf)
	}
	n, err := New(Config{
		Name: m.Name, DiskDir: disk, ChassisDir: m.ChassisDir, Firmware: m.Firmware,
		Net: nn, Rewrite: r.opts.Rewrite, Log: w, Knobs: r.opts.Knobs,
		Kube: r.opts.Kube, KubeGrace: r.opts.KubeGrace, Timeout: r.opts.Timeout,
	})
	if err == nil {
		err = n.Start()
	}
	if err != nil {
		return fail(err, lf)
	}
	return n, nn, lf, nil
}

// Replace swaps the server behind machine i for a new one with primary
// MAC mac and an empty disk (Dir/<name>.<k> for the k-th replacement), as
// a technician does who puts a new server in the slot: the old server
// stops (its disk is kept) and its network namespace goes away; the new
// one follows the same BMC from its current power state, so with the
// chassis on it boots at once (from an empty disk, nothing) and installs
// only once something PXE-boots it. It returns the new node, which also
// takes the old one's place in Nodes; on error the place is empty (nil).
func (r *Rack) Replace(i int, mac string) (*Node, error) {
	if i < 0 || i >= len(r.Nodes) || r.Nodes[i] == nil {
		return nil, fmt.Errorf("simnode: replace server %d: the rack has servers 0 to %d", i, len(r.Nodes)-1)
	}
	if strings.EqualFold(mac, r.nets[i].MAC) {
		return nil, fmt.Errorf("simnode: replace server %d: the new server needs a MAC of its own, not %s", i, mac)
	}
	m := r.ms[i]
	r.Nodes[i].Close()
	err := r.nets[i].Close()
	r.logs[i].Close()
	r.Nodes[i], r.nets[i], r.logs[i] = nil, nil, nil
	if err != nil {
		return nil, fmt.Errorf("simnode: replace server %d: remove the old server's network: %w", i, err)
	}
	r.replaced[i]++
	n, nn, lf, err := r.start(m, mac, filepath.Join(r.opts.Dir, fmt.Sprintf("%s.%d", m.Name, r.replaced[i])))
	if err != nil {
		return nil, fmt.Errorf("simnode: replace server %d: %w", i, err)
	}
	r.Nodes[i], r.nets[i], r.logs[i] = n, nn, lf
	return n, nil
}

// Close stops every node and deletes their namespaces; disks are kept.
func (r *Rack) Close() error {
	for _, n := range r.Nodes {
		if n != nil {
			n.Close()
		}
	}
	var errs []error
	for _, nn := range r.nets {
		if nn != nil {
			errs = append(errs, nn.Close())
		}
	}
	for _, f := range r.logs {
		if f != nil {
			f.Close()
		}
	}
	return errors.Join(errs...)
}
