package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
)

// nodeMAC is the primary MAC of the server behind BMC i, as written to the
// spec.
func nodeMAC(i int) string { return fmt.Sprintf("02:00:00:00:%02x:01", i) }

// lockedWriter serializes the nodes' log lines on one output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// startNodes starts a simulated server behind every BMC, each in its own
// network namespace on dnsmasq's segment, its disk under dir and its log
// on stdout and in <dir>/<bmc>/log. stop powers them off (for this
// process) and deletes their namespaces; the disks are kept.
func startNodes(rack *simrack.Rack, d *testenv.DHCP, dir string) (stop func(), err error) {
	var (
		nodes []*simnode.Node
		nets  []*testenv.NodeNet
		logs  []*os.File
	)
	stop = func() {
		for _, n := range nodes {
			n.Close()
		}
		for _, nn := range nets {
			if err := nn.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "rackctl-sim:", err)
			}
		}
		for _, f := range logs {
			f.Close()
		}
	}
	fail := func(err error) (func(), error) {
		stop()
		return nil, err
	}
	out := &lockedWriter{w: os.Stdout}
	for i, b := range rack.BMCs {
		client, err := bmc.New(bmc.Config{Credentials: bmc.Credentials{User: b.User, Password: b.Password}})
		if err != nil {
			return fail(err)
		}
		nn, err := d.AddNode(context.Background(), nodeMAC(i))
		if err != nil {
			return fail(err)
		}
		nets = append(nets, nn)
		disk := filepath.Join(dir, b.Name)
		if err := os.MkdirAll(disk, 0o755); err != nil {
			return fail(err)
		}
		lf, err := os.OpenFile(filepath.Join(disk, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fail(err)
		}
		logs = append(logs, lf)
		n, err := simnode.New(simnode.Config{
			Name: b.Name, DiskDir: disk, ChassisDir: filepath.Join(b.StateDir, "chassis"),
			Firmware: simnode.IPMIFirmware{Client: client, Target: bmc.Target{Node: b.Name, Address: b.Addr}},
			Net:      nn, Log: io.MultiWriter(out, lf),
		})
		if err != nil {
			return fail(err)
		}
		if err := n.Start(); err != nil {
			return fail(err)
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 0 {
		return fail(errors.New("no BMCs to put nodes behind"))
	}
	fmt.Printf("rackctl-sim: %d simulated servers follow their BMCs' power (disks and logs in %s); reach one with\n"+
		"  ip netns exec %s busybox nc <node IP> 22\n", len(nodes), dir, d.ServerNS)
	return stop, nil
}
