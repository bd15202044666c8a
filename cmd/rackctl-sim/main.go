// Command rackctl-sim runs a simulated rack for the demo and for trying
// rackctl by hand: N OpenIPMI ipmi_sim BMCs on loopback, the BMC credential
// files a Racker management node holds, and a rack.yaml pointing at them.
// With -redfish N the last N BMCs are simulated Redfish BMCs instead
// (internal/simredfish, HTTPS on loopback, one CA for all of them whose
// certificate goes to <root>/usr/share/oem/redfish-ca.pem); the spec marks
// their nodes bmcProtocol: redfish.
//
// With -matchbox it also runs matchbox (tools/bin/matchbox, TLS with
// generated certificates, on free loopback ports), puts the client
// certificates in <root>/opt/racker-state/matchbox-client and points the
// spec's matchbox endpoints at it. With -dhcp it runs dnsmasq in a network
// namespace (joined by a veth pair to a client namespace) serving
// <root>/opt/racker-state/dnsmasq/dnsmasq.conf with its leases in
// <root>/var/lib/misc/dnsmasq.leases, rackctl's defaults under --root;
// <dhcp-dir>/reload-dnsmasq restarts it (rackctl --dnsmasq-reload-cmd) and
// <dhcp-dir>/dhcp-request MAC asks it for a lease as that MAC.
//
// It runs until SIGINT or SIGTERM, then stops every process it started and
// deletes its namespaces.
//
//	rackctl-sim -n 8 -dir .demo/bmcs -root .demo/root -spec .demo/repo/rack.yaml -matchbox -dhcp
//
// With -boot-lines it prints what the simulated servers did, one line per
// node per boot step, from their logs, and exits:
//
//	rackctl-sim -boot-lines -node-dir .demo/nodes -dir .demo/bmcs -spec .demo/repo/rack.yaml
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/simredfish"
	"github.com/rackctl/rackctl/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rackctl-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 8, "number of simulated BMCs (nodes)")
	redfish := flag.Int("redfish", 0, "the last N of the BMCs are simulated Redfish BMCs (HTTPS on loopback)")
	dir := flag.String("dir", ".demo/bmcs", "directory for the simulators' config and state")
	root := flag.String("root", ".demo/root", "host root: credentials go to <root>/usr/share/oem/ipmi_{user,password}")
	spec := flag.String("spec", "", "write a rack.yaml for the simulated rack here (not overwritten if it exists)")
	provisioner := flag.String("provisioner", "flatcar", "provisioner of the written rack.yaml: flatcar or lokomotive")
	delay := flag.Duration("delay", 0, "delay every BMC datagram by this much (a slow network)")
	withMatchbox := flag.Bool("matchbox", false, "also run matchbox on loopback and point the spec at it")
	matchboxDir := flag.String("matchbox-dir", ".demo/matchbox", "matchbox's data, certificates and log")
	withDHCP := flag.Bool("dhcp", false, "also run dnsmasq in a network namespace serving <root>/opt/racker-state/dnsmasq/dnsmasq.conf (needs root)")
	dhcpDir := flag.String("dhcp-dir", ".demo/dhcp", "dnsmasq's runtime files, reload-dnsmasq and dhcp-request scripts")
	withNodes := flag.Bool("nodes", true, "with -dhcp, start a simulated server behind every BMC (see internal/simnode)")
	nodeDir := flag.String("node-dir", ".demo/nodes", "the simulated servers' disks and logs")
	envFile := flag.String("env", "", "write what runs here as shell variables (RACKCTL_SIM_*) to this file")
	bootLines := flag.Bool("boot-lines", false, "print the simulated servers' boot steps (DHCP, iPXE, Ignition, install, SSH) from their logs in -node-dir, named as -spec names the node behind each BMC of -dir, and exit")
	flag.Parse()
	if *bootLines {
		return writeBootLines(os.Stdout, *nodeDir, *dir, *spec)
	}
	if *provisioner != "flatcar" && *provisioner != "lokomotive" {
		return fmt.Errorf("-provisioner %q: want flatcar or lokomotive", *provisioner)
	}
	if *redfish < 0 || *redfish > *n {
		return fmt.Errorf("-redfish %d: want 0 to -n (%d)", *redfish, *n)
	}

	password, err := randomPassword()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bmcs, machines, stopBMCs, err := startBMCs(ctx, *dir, *root, *n, *redfish, *delay, password)
	if err != nil {
		return err
	}
	defer stopBMCs()
	if err := writeCredentials(*root, simUser, password); err != nil {
		return err
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	env := map[string]string{"RACKCTL_SIM_ROOT": absRoot}
	if *redfish > 0 {
		env["RACKCTL_SIM_REDFISH_CA"] = filepath.Join(absRoot, redfishCAFile)
	}
	sp := specParams{provisioner: *provisioner, bmcs: bmcs}
	if sp.sshPub, err = ensureCoreKey(absRoot); err != nil {
		return err
	}

	if *withMatchbox {
		stopMatchbox, err := startMatchbox(ctx, *matchboxDir, absRoot, &sp, env)
		if err != nil {
			return err
		}
		defer stopMatchbox()
	}
	if *withDHCP {
		stopDHCP, err := startDHCP(ctx, *dhcpDir, absRoot, *withNodes, *nodeDir, machines, &sp, env)
		if err != nil {
			return err
		}
		defer stopDHCP()
	}
	if err := writeOutputs(*spec, *envFile, *dir, *root, sp, env, bmcs, *withMatchbox || *withDHCP); err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Println("rackctl-sim: stopping")
	return nil
}

// startMatchbox runs matchbox on loopback with the client certificates
// under absRoot, and points the spec and the environment at it.
func startMatchbox(ctx context.Context, dir, absRoot string, sp *specParams, env map[string]string) (stop func(), err error) {
	mb, err := testenv.StartMatchbox(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			mb.Close()
		}
	}()
	certs := filepath.Join(absRoot, "opt/racker-state/matchbox-client")
	if err := mb.TLS.CopyClientCerts(certs); err != nil {
		return nil, err
	}
	tools, err := testenv.FindTools(ctx)
	if err != nil {
		return nil, err
	}
	sp.matchbox = &matchboxParams{http: mb.HTTPEndpoint(), rpc: mb.RPC, certDir: certs}
	env["RACKCTL_SIM_MATCHBOX_HTTP"] = mb.HTTPEndpoint()
	env["RACKCTL_SIM_MATCHBOX_RPC"] = mb.RPC
	env["RACKCTL_SIM_MATCHBOX_LOG"] = mb.LogFile
	env["RACKCTL_SIM_TERRAFORM"] = tools.Terraform
	env["RACKCTL_SIM_TERRAFORMRC"] = tools.Terraformrc
	env["RACKCTL_SIM_LOKOCTL_STANDIN"] = tools.LokoctlStandin
	fmt.Printf("rackctl-sim: matchbox up: HTTP %s, gRPC %s (client certificates in %s)\n", mb.HTTP, mb.RPC, certs)
	return func() { mb.Close() }, nil
}

// startDHCP runs dnsmasq in a network namespace serving the rack's
// dnsmasq.conf under absRoot and, with withNodes, a simulated server behind
// every machine; stop stops the servers, then dnsmasq.
func startDHCP(ctx context.Context, dir, absRoot string, withNodes bool, nodeDir string, machines []simnode.Machine, sp *specParams, env map[string]string) (stop func(), err error) {
	d, err := testenv.StartDHCP(ctx, testenv.DHCPOptions{
		Dir:       dir,
		Purpose:   "demo",
		ConfPath:  filepath.Join(absRoot, "opt/racker-state/dnsmasq/dnsmasq.conf"),
		LeaseFile: filepath.Join(absRoot, "var/lib/misc/dnsmasq.leases"),
	})
	if err != nil {
		return nil, err
	}
	closeDHCP := func() {
		if err := d.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "rackctl-sim:", err)
		}
	}
	sp.dhcpIface = d.ServerIface
	env["RACKCTL_SIM_DNSMASQ_RELOAD"] = strings.Join(d.ReloadCmd, " ")
	env["RACKCTL_SIM_DHCP_REQUEST"] = strings.Join(d.RequestCmd, " ")
	env["RACKCTL_SIM_DHCP_SERVER_NS"] = d.ServerNS
	env["RACKCTL_SIM_DHCP_CLIENT_NS"] = d.ClientNS
	env["RACKCTL_SIM_DHCP_IFACE"] = d.ServerIface
	env["RACKCTL_SIM_DNSMASQ_LOG"] = d.LogFile
	fmt.Printf("rackctl-sim: dnsmasq supervised in network namespace %s (%s on %s; client namespace %s);\n"+
		"  it starts once rackctl writes %s, %s restarts it\n",
		d.ServerNS, d.ServerIface, d.ServerIP, d.ClientNS, d.ConfPath, d.ReloadCmd[0])
	if !withNodes {
		return closeDHCP, nil
	}
	stopNodes, err := startNodes(machines, d, nodeDir)
	if err != nil {
		closeDHCP()
		return nil, err
	}
	return func() {
		stopNodes()
		closeDHCP()
	}, nil
}

// writeOutputs writes the spec (kept if it exists), the environment file
// and, last, the inventory, whose presence says everything is up; then
// lists the BMCs.
func writeOutputs(spec, envFile, dir, root string, sp specParams, env map[string]string, bmcs []simBMC, servers bool) error {
	if spec != "" {
		written, err := writeSpec(spec, sp)
		if err != nil {
			return err
		}
		if !written && servers {
			fmt.Printf("rackctl-sim: warning: %s exists and is kept: check its matchbox endpoints (%s) and network.internal.interface\n", spec, env["RACKCTL_SIM_MATCHBOX_HTTP"])
		}
	}
	if envFile != "" {
		if err := writeEnv(envFile, env); err != nil {
			return err
		}
	}
	// Written last: its presence says everything is up.
	if err := writeInventory(filepath.Join(dir, "inventory.json"), bmcs); err != nil {
		return err
	}
	fmt.Printf("rackctl-sim: %d BMCs up (ipmi_sim, and simulated Redfish BMCs, on 127.0.0.1), credentials in %s/usr/share/oem\n", len(bmcs), root)
	for _, b := range bmcs {
		fmt.Printf("  %-10s %-7s %s  BMC MAC %s\n", b.Name, b.Protocol, b.Addr, b.MAC)
	}
	return nil
}

func randomPassword() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func writeCredentials(root, user, password string) error {
	dir := filepath.Join(root, "usr/share/oem")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ipmi_user"), []byte(user+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ipmi_password"), []byte(password+"\n"), 0o600)
}

const (
	simUser = "admin"
	// redfishCAFile is where, under --root, the CA of the simulated Redfish
	// BMCs goes (rack.yaml's bmc.redfish.caFile).
	redfishCAFile = "usr/share/oem/redfish-ca.pem"
)

// simBMC is one simulated BMC of either protocol.
type simBMC struct{ Name, Addr, MAC, Protocol string }

// bmcMAC is simrack's BMC MAC scheme, continued for the Redfish BMCs.
func bmcMAC(i int) string { return fmt.Sprintf("02:00:5e:00:%02x:%02x", (i>>8)&0xff, i&0xff) }

// startBMCs starts n simulated BMCs, the last redfish of them Redfish
// ones; stop stops them all.
func startBMCs(ctx context.Context, dir, root string, n, redfish int, delay time.Duration, password string) (bmcs []simBMC, machines []simnode.Machine, stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
	}
	if ipmi := n - redfish; ipmi > 0 {
		rack, err := simrack.Start(ctx, simrack.Options{N: ipmi, Dir: dir, Delay: delay, User: simUser, Password: password})
		if err != nil {
			return nil, nil, nil, err
		}
		stops = append(stops, func() { rack.Close() })
		if machines, err = ipmiMachines(rack); err != nil {
			stop()
			return nil, nil, nil, err
		}
		for _, b := range rack.BMCs {
			bmcs = append(bmcs, simBMC{Name: b.Name, Addr: b.Addr, MAC: b.MAC, Protocol: "ipmi"})
		}
	}
	if redfish > 0 {
		rf, err := startRedfish(ctx, dir, root, n-redfish, redfish, password)
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		for i, b := range rf {
			stops = append(stops, func() { b.Close() })
			i += n - redfish
			name := fmt.Sprintf("bmc-%d", i)
			bmcs = append(bmcs, simBMC{Name: name, Addr: b.Addr, MAC: bmcMAC(i), Protocol: "redfish"})
			machines = append(machines, simnode.Machine{Name: name, ChassisDir: b.ChassisDir, Firmware: simnode.RedfishFirmware{BMC: b}})
		}
	}
	return bmcs, machines, stop, nil
}

// startRedfish starts count Redfish BMCs, numbered from first, and puts
// their one CA where rack.yaml's bmc.redfish.caFile names it.
func startRedfish(ctx context.Context, dir, root string, first, count int, password string) ([]*simredfish.BMC, error) {
	ca, bmcs, err := simredfish.StartMany(ctx, dir, first, count, simUser, password)
	if err != nil {
		return nil, err
	}
	caPath := filepath.Join(root, redfishCAFile)
	err = os.MkdirAll(filepath.Dir(caPath), 0o755)
	if err == nil {
		err = os.WriteFile(caPath, ca.PEM, 0o644)
	}
	if err != nil {
		for _, b := range bmcs {
			b.Close()
		}
		return nil, err
	}
	return bmcs, nil
}

func writeInventory(path string, bmcs []simBMC) error {
	data, err := json.MarshalIndent(bmcs, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// writeEnv writes vars as sorted shell assignments.
func writeEnv(path string, vars map[string]string) error {
	var keys []string
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("# written by rackctl-sim: what it runs\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s='%s'\n", k, strings.ReplaceAll(vars[k], "'", `'\''`))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

type matchboxParams struct{ http, rpc, certDir string }

type specParams struct {
	provisioner string
	bmcs        []simBMC
	matchbox    *matchboxParams // nil: the spec's defaults
	dhcpIface   string          // network.internal.interface, when set
	sshPub      string          // the core key's public half
}

// writeSpec writes a rack.yaml whose nodes reach their BMCs on the
// simulators (bmcAddress). An existing spec is kept (written is false):
// the demo's git repo owns it after the first start.
func writeSpec(path string, p specParams) (written bool, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# A simulated rack written by rackctl-sim on %s.
# Every BMC is an ipmi_sim instance or a simulated Redfish BMC on loopback (bmcAddress).
apiVersion: rackctl/v1alpha1
kind: Rack
name: demo
provisioner: %s
domain: demo.localdomain
network:
  internal:
    subnet: 172.24.213.0/24
    gateway: 172.24.213.1
    dns: [172.24.213.1]
`, time.Now().UTC().Format(time.RFC3339), p.provisioner)
	if p.dhcpIface != "" {
		fmt.Fprintf(&b, "    # dnsmasq's end of the veth pair, in rackctl-sim's network namespace\n    interface: %s\n", p.dhcpIface)
	}
	if m := p.matchbox; m != nil {
		fmt.Fprintf(&b, `matchbox:
  # rackctl-sim's matchbox on loopback. terraform reads the certificates at
  # this absolute path as written (not under --root).
  httpEndpoint: %s
  rpcEndpoint: %s
  clientCertDir: %s
install:
  # PXE from matchbox's assets: no download from the Flatcar release server.
  cachedInstall: true
`, m.http, m.rpc, m.certDir)
	}
	b.WriteString(`bmc:
  userFile: /usr/share/oem/ipmi_user
  passwordFile: /usr/share/oem/ipmi_password
`)
	if slices.ContainsFunc(p.bmcs, func(b simBMC) bool { return b.Protocol == "redfish" }) {
		fmt.Fprintf(&b, "  redfish:\n    # the simulated Redfish BMCs' CA, beneath --root\n    caFile: /%s\n", redfishCAFile)
	}
	fmt.Fprintf(&b, `cluster:
  sshPubKeys:
    # the management node's core key (%s beneath --root): rackctl verifies
    # installs over SSH with it
    - %s
nodes:
`, coreKeyFile, p.sshPub)
	controllers := 1
	if len(p.bmcs) >= 4 {
		controllers = 3
	}
	for i, bm := range p.bmcs {
		role, name := "node", fmt.Sprintf("node-%d", i)
		if p.provisioner == "lokomotive" {
			role, name = "controller", fmt.Sprintf("controller-%d", i)
			if i >= controllers {
				role, name = "worker", fmt.Sprintf("worker-%d", i-controllers)
			}
		}
		fmt.Fprintf(&b, "  - name: %s\n    role: %s\n    mac: %s\n    bmcMac: %s\n    bmcAddress: %s\n",
			name, role, nodeMAC(i), bm.MAC, bm.Addr)
		if bm.Protocol == "redfish" {
			b.WriteString("    bmcProtocol: redfish\n")
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	return true, os.WriteFile(path, []byte(b.String()), 0o644)
}
