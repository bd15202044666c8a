package main

import (
	"fmt"
	"os"

	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/testenv"
)

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
