package simnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

	nets []*testenv.NodeNet
	logs []*os.File
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
	var out io.Writer
	if opts.Log != nil {
		out = &lockedWriter{w: opts.Log}
	}
	r := &Rack{}
	fail := func(err error) (*Rack, error) {
		r.Close()
		return nil, err
	}
	for i, b := range ms {
		nn, err := d.AddNode(context.Background(), opts.MAC(i))
		if err != nil {
			return fail(err)
		}
		r.nets = append(r.nets, nn)
		disk := filepath.Join(opts.Dir, b.Name)
		if err := os.MkdirAll(disk, 0o755); err != nil {
			return fail(fmt.Errorf("simnode: %w", err))
		}
		lf, err := os.OpenFile(filepath.Join(disk, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fail(fmt.Errorf("simnode: %w", err))
		}
		r.logs = append(r.logs, lf)
		var w io.Writer = lf
		if out != nil {
			w = io.MultiWriter(out, lf)
		}
		n, err := New(Config{
			Name: b.Name, DiskDir: disk, ChassisDir: b.ChassisDir, Firmware: b.Firmware,
			Net: nn, Rewrite: opts.Rewrite, Log: w, Knobs: opts.Knobs,
			Kube: opts.Kube, KubeGrace: opts.KubeGrace, Timeout: opts.Timeout,
		})
		if err != nil {
			return fail(err)
		}
		if err := n.Start(); err != nil {
			return fail(err)
		}
		r.Nodes = append(r.Nodes, n)
	}
	return r, nil
}

// Close stops every node and deletes their namespaces; disks are kept.
func (r *Rack) Close() error {
	for _, n := range r.Nodes {
		n.Close()
	}
	var errs []error
	for _, nn := range r.nets {
		errs = append(errs, nn.Close())
	}
	for _, f := range r.logs {
		f.Close()
	}
	return errors.Join(errs...)
}
