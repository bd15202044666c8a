// Command rackctl-sim runs a simulated rack for the demo and for trying
// rackctl by hand: N OpenIPMI ipmi_sim BMCs on loopback, the BMC credential
// files a Racker management node holds, and a rack.yaml pointing at them.
// It runs until interrupted, then stops every simulator.
//
//	rackctl-sim -n 8 -dir .demo/bmcs -root .demo/root -spec .demo/repo/rack.yaml
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
	"strings"
	"syscall"
	"time"

	"github.com/rackctl/rackctl/internal/simrack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rackctl-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 8, "number of simulated BMCs (nodes)")
	dir := flag.String("dir", ".demo/bmcs", "directory for the simulators' config and state")
	root := flag.String("root", ".demo/root", "host root: credentials go to <root>/usr/share/oem/ipmi_{user,password}")
	spec := flag.String("spec", "", "write a rack.yaml for the simulated rack here (not overwritten if it exists)")
	provisioner := flag.String("provisioner", "flatcar", "provisioner of the written rack.yaml: flatcar or lokomotive")
	delay := flag.Duration("delay", 0, "delay every BMC datagram by this much (a slow network)")
	flag.Parse()
	if *provisioner != "flatcar" && *provisioner != "lokomotive" {
		return fmt.Errorf("-provisioner %q: want flatcar or lokomotive", *provisioner)
	}

	password, err := randomPassword()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rack, err := simrack.Start(ctx, simrack.Options{N: *n, Dir: *dir, Delay: *delay, Password: password})
	if err != nil {
		return err
	}
	defer rack.Close()
	if err := writeCredentials(*root, rack.BMCs[0].User, password); err != nil {
		return err
	}
	if *spec != "" {
		if err := writeSpec(*spec, *provisioner, rack.BMCs); err != nil {
			return err
		}
	}
	if err := writeInventory(filepath.Join(*dir, "inventory.json"), rack.BMCs); err != nil {
		return err
	}
	fmt.Printf("rackctl-sim: %d BMCs up (ipmi_sim on 127.0.0.1), credentials in %s/usr/share/oem\n", len(rack.BMCs), *root)
	for _, b := range rack.BMCs {
		fmt.Printf("  %-10s %s  BMC MAC %s\n", b.Name, b.Addr, b.MAC)
	}
	<-ctx.Done()
	fmt.Println("rackctl-sim: stopping simulators")
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

func writeInventory(path string, bmcs []simrack.BMC) error {
	type entry struct{ Name, Addr, MAC string }
	var inv []entry
	for _, b := range bmcs {
		inv = append(inv, entry{b.Name, b.Addr, b.MAC})
	}
	data, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// writeSpec writes a rack.yaml whose nodes reach their BMCs on the
// simulators (bmcAddress). An existing spec is kept: the demo's git repo
// owns it after the first start.
func writeSpec(path, provisioner string, bmcs []simrack.BMC) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# A simulated rack written by rackctl-sim on %s.
# Every BMC is an ipmi_sim instance on loopback (bmcAddress).
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
bmc:
  userFile: /usr/share/oem/ipmi_user
  passwordFile: /usr/share/oem/ipmi_password
cluster:
  sshPubKeys:
    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRlbW8tcmFjay1leGFtcGxlLWtleQ ops@demo
nodes:
`, time.Now().UTC().Format(time.RFC3339), provisioner)
	controllers := 1
	if len(bmcs) >= 4 {
		controllers = 3
	}
	for i, bm := range bmcs {
		role, name := "node", fmt.Sprintf("node-%d", i)
		if provisioner == "lokomotive" {
			role, name = "controller", fmt.Sprintf("controller-%d", i)
			if i >= controllers {
				role, name = "worker", fmt.Sprintf("worker-%d", i-controllers)
			}
		}
		fmt.Fprintf(&b, "  - name: %s\n    role: %s\n    mac: 02:00:00:00:%02x:01\n    bmcMac: %s\n    bmcAddress: %s\n",
			name, role, i, bm.MAC, bm.Addr)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
