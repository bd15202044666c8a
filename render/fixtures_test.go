package render

import (
	"fmt"
	"net/netip"

	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/schema"
)

// Fixtures are racks as schema.Load returns them: defaults applied, MACs
// lowercase.

func baseRack(name string, p schema.Provisioner) *schema.Rack {
	return &schema.Rack{
		APIVersion:  schema.APIVersion,
		Kind:        schema.Kind,
		Name:        name,
		Provisioner: p,
		Domain:      "k8s.localdomain",
		Network: schema.Network{
			Internal: schema.InternalNetwork{
				Subnet:       "172.24.213.0/24",
				Gateway:      "172.24.213.1",
				DNS:          []string{"172.24.213.1"},
				Interface:    "eno1",
				DynamicRange: schema.IPRange{Start: "172.24.213.128", End: "172.24.213.254"},
			},
		},
		Matchbox: schema.Matchbox{
			HTTPEndpoint:  "http://172.24.213.1:8080",
			RPCEndpoint:   "172.24.213.1:8081",
			ClientCertDir: "/opt/racker-state/matchbox-client",
		},
		BMC: schema.BMC{
			UserFile:     "/usr/share/oem/ipmi_user",
			PasswordFile: "/usr/share/oem/ipmi_password",
			CipherSuite:  3,
		},
		Install: schema.Install{
			KernelConsole:         []string{"console=ttyS1,57600n8", "earlyprintk=serial,ttyS1,57600n8"},
			InstallToSmallestDisk: true,
			CachedInstall:         true,
			InstallPreRebootCmds:  "docker run --privileged --net host --rm quay.io/kinvolk/racker:latest sh -c 'ipmitool raw 0x0 0x8 0x3 0x1f && ipmitool raw 0x00 0x08 0x05 0xe0 0x08 0x00 0x00 0x00'",
			PXECommands:           "rackctl pxe-boot $mac $domain",
		},
		Cluster: schema.Cluster{
			SSHPubKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc1Ipu0vTYCbDfcg1pNb7s0R7Kd4MFJvq1dZs0Z2rk4 ops@example"},
			Updates:    schema.Updates{Strategy: "reboot"},
		},
	}
}

func mac(prefix byte, i int) string {
	return fmt.Sprintf("aa:bb:%02x:00:%02x:%02x", prefix, i/256, i%256)
}

// addrsFor allocates .10+ for primaries and .100+ (or further up for big
// racks) for BMCs, in node order, the way a fresh allocation would.
func addrsFor(r *schema.Rack) map[string]ipam.Addrs {
	base := netip.MustParseAddr("10.0.0.0")
	if len(r.Nodes) < 60 {
		base = netip.MustParseAddr("172.24.213.0")
	}
	out := map[string]ipam.Addrs{}
	for i, n := range r.Nodes {
		p := base.As4()
		b := base.As4()
		pi, bi := 10+i, 10+len(r.Nodes)+i
		if len(r.Nodes) < 60 {
			bi = 100 + i
		}
		p[2], p[3] = byte(pi/256), byte(pi%256)
		b[2], b[3] = byte(bi/256), byte(bi%256)
		if len(r.Nodes) < 60 {
			p[2], b[2] = 213, 213
		}
		out[n.Name] = ipam.Addrs{Primary: netip.AddrFrom4(p), BMC: netip.AddrFrom4(b)}
	}
	return out
}

// flatcarFixture: four plain Flatcar nodes, node-1 with a public IP, node-2
// with a reprovision value and an extra CLC.
func flatcarFixture() Input {
	r := baseRack("rack-f", schema.Flatcar)
	r.Cluster.Name = "flatcar"
	r.Network.Public = &schema.PublicNetwork{Gateway: "203.0.113.1", DNS: []string{"1.1.1.1", "9.9.9.9"}}
	for i := range 4 {
		r.Nodes = append(r.Nodes, schema.Node{
			Name:   fmt.Sprintf("node-%d", i),
			Role:   schema.RoleNode,
			MAC:    mac(1, i),
			BMCMAC: mac(2, i),
		})
	}
	r.Nodes[1].SecondaryMAC = mac(3, 1)
	r.Nodes[1].PublicIP = "203.0.113.11/24"
	r.Nodes[2].Reprovision = "2026-11-20 disk swap"
	r.Install.KernelArgs = []string{"flatcar.autologin"}
	r.Nodes[2].ExtraCLC = "storage:\n  files:\n    - path: /etc/motd.d/rack.conf\n      filesystem: root\n      mode: 0644\n      contents:\n        inline: |\n          rack-f node-2\n"
	return Input{Rack: r, Addrs: addrsFor(r), Layout: DefaultLayout()}
}

// lokomotiveFixture: three controllers and five workers, web-ui, worker-4
// excluded.
func lokomotiveFixture() Input {
	r := baseRack("rack-l", schema.Lokomotive)
	r.Cluster.Name = "lokomotive"
	r.Cluster.APIServerName = "lokomotive.k8s.localdomain"
	r.Install.KernelArgs = []string{"flatcar.autologin", "systemd.log_level=debug"}
	r.Cluster.Labels = map[string]string{"testing.io": "yes", "rack": "l"}
	r.Cluster.Components = map[string]schema.Component{
		"web-ui": {},
		"prometheus-operator": {
			"namespace":                      "monitoring",
			"grafana":                        map[string]any{"secret_env": map[string]any{"LOKOMOTIVE_VERY_SECRET_PASSWORD": "xyz"}},
			"watch_labeled_service_monitors": true,
			"prometheus":                     map[string]any{"retention": "14d", "storage_size": "50GiB", "replicas": float64(2)},
		},
	}
	r.Network.Public = &schema.PublicNetwork{Gateway: "203.0.113.1", DNS: []string{"1.1.1.1"}}
	for i := range 3 {
		r.Nodes = append(r.Nodes, schema.Node{
			Name:   fmt.Sprintf("lokomotive-controller-%d", i),
			Role:   schema.RoleController,
			MAC:    mac(1, i),
			BMCMAC: mac(2, i),
		})
	}
	for i := range 5 {
		r.Nodes = append(r.Nodes, schema.Node{
			Name:   fmt.Sprintf("lokomotive-worker-%d", i),
			Role:   schema.RoleWorker,
			MAC:    mac(1, 10+i),
			BMCMAC: mac(2, 10+i),
			Labels: map[string]string{"metadata.node-type": "storage"},
		})
	}
	r.Nodes[0].SecondaryMAC = mac(3, 0)
	r.Nodes[0].PublicIP = "203.0.113.10/24"
	r.Nodes[4].Reprovision = "1"
	r.Nodes[7].Exclude = true // lokomotive-worker-4
	return Input{Rack: r, Addrs: addrsFor(r), Layout: DefaultLayout()}
}

func ptr[T any](v T) *T { return &v }

// rackerCompat sets what `rackctl import racker` sets on a rack whose files
// Racker wrote: its file formats, 2m reservations without names, no router
// option, the primary reservation of excluded nodes, link-scope internal
// addresses without a route, and the pinned ipmitool image.
func rackerCompat(r *schema.Rack) {
	r.FileFormat = schema.FormatRacker
	r.Network.Internal.DNS = []string{}
	r.Network.Internal.DefaultRoute = ptr(false)
	r.Network.Internal.DHCP = schema.DHCP{
		ReservationLease:       "2m",
		HostNames:              ptr(false),
		AnnounceRouter:         ptr(false),
		ReserveExcludedPrimary: true,
	}
	r.Install.IPMIToolImage = "quay.io/kinvolk/racker:v0.5.0"
}

// rackerFlatcarFixture: Racker's flatcar rack, names without a domain,
// node-2 excluded, no public IPs.
func rackerFlatcarFixture() Input {
	in := flatcarFixture()
	r := in.Rack
	rackerCompat(r)
	r.Domain = ""
	r.Network.Public = nil
	r.Nodes[1].SecondaryMAC, r.Nodes[1].PublicIP = "", ""
	r.Nodes[2].Reprovision, r.Nodes[2].ExtraCLC = "", ""
	r.Nodes[2].Exclude = true
	return in
}

// rackerLokomotiveFixture: Racker's lokomotive rack, controller-0 with a
// public IP (so every node has an installer snippet), worker-4 excluded.
func rackerLokomotiveFixture() Input {
	in := lokomotiveFixture()
	rackerCompat(in.Rack)
	in.Rack.Cluster.Components = map[string]schema.Component{"web-ui": {}}
	return in
}

// bigFixture is a generated rack of n nodes.
func bigFixture(p schema.Provisioner, n int) Input {
	r := baseRack("big", p)
	r.Cluster.Name = "big"
	r.Cluster.APIServerName = "big.k8s.localdomain"
	r.Network.Internal.Subnet = "10.0.0.0/16"
	r.Network.Internal.Gateway = "10.0.0.1"
	r.Network.Internal.DynamicRange = schema.IPRange{Start: "10.0.200.0", End: "10.0.255.254"}
	r.Network.Public = &schema.PublicNetwork{Gateway: "203.0.113.1", DNS: []string{"1.1.1.1"}}
	for i := range n {
		role := schema.RoleNode
		if p == schema.Lokomotive {
			role = schema.RoleWorker
			if i < 3 {
				role = schema.RoleController
			}
		}
		nd := schema.Node{Name: fmt.Sprintf("n-%d", i), Role: role, MAC: mac(1, i), BMCMAC: mac(2, i)}
		if i%10 == 0 {
			nd.SecondaryMAC = mac(3, i)
			nd.PublicIP = fmt.Sprintf("203.0.113.%d/24", i%250+2)
		}
		if i%50 == 7 {
			nd.Exclude = true
		}
		r.Nodes = append(r.Nodes, nd)
	}
	return Input{Rack: r, Addrs: addrsFor(r), Layout: DefaultLayout()}
}
