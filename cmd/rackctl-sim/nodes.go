package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
)

// firmwareTimeout bounds each BMC call of a simulated server's firmware
// (reading and clearing its boot flags). A server whose firmware gives up
// sits there until its power is cycled, as a real one stuck in firmware
// does; on a loaded machine ipmi_sim can take seconds to answer, and a
// demo whose servers give up after bmc's default 5s shows no boot at all.
const firmwareTimeout = 30 * time.Second

// ipmiMachines is simnode.IPMIMachines with firmwareTimeout.
func ipmiMachines(rack *simrack.Rack) ([]simnode.Machine, error) {
	var out []simnode.Machine
	for _, b := range rack.BMCs {
		client, err := bmc.New(bmc.Config{Credentials: bmc.Credentials{User: b.User, Password: b.Password}, Timeout: firmwareTimeout})
		if err != nil {
			return nil, err
		}
		out = append(out, simnode.Machine{Name: b.Name, ChassisDir: filepath.Join(b.StateDir, "chassis"),
			Firmware: simnode.IPMIFirmware{Client: client, Target: bmc.Target{Node: b.Name, Address: b.Addr}}})
	}
	return out, nil
}

// nodeMAC is the primary MAC of the server behind BMC i, as written to the
// spec.
func nodeMAC(i int) string { return fmt.Sprintf("02:00:00:00:%02x:01", i) }

// startNodes starts a simulated server behind every BMC on dnsmasq's
// segment, its disk under dir and its log on stdout and in <dir>/<bmc>/log.
// stop powers them off (for this process) and deletes their namespaces;
// the disks are kept.
func startNodes(machines []simnode.Machine, d *testenv.DHCP, dir string) (stop func(), err error) {
	r, err := simnode.StartMachines(machines, d, simnode.RackOptions{Dir: dir, MAC: nodeMAC, Log: os.Stdout})
	if err != nil {
		return nil, err
	}
	fmt.Printf("rackctl-sim: %d simulated servers follow their BMCs' power (disks and logs in %s); reach one with\n"+
		"  ip netns exec %s busybox nc <node IP> 22\n", len(r.Nodes), dir, d.ServerNS)
	return func() {
		if err := r.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "rackctl-sim:", err)
		}
	}, nil
}
