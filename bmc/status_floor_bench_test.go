package bmc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

// rackctlBinary is the rackctl the whole-process figures run: $RACKCTL_BIN
// (make bench's bin/rackctl) or one built here.
func rackctlBinary(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("RACKCTL_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := os.Stat(abs); err != nil {
			b.Fatalf("RACKCTL_BIN: %v", err)
		}
		return abs
	}
	bin := filepath.Join(b.TempDir(), "rackctl")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/rackctl/rackctl/cmd/rackctl").CombinedOutput(); err != nil {
		b.Fatalf("build rackctl: %v: %s", err, out)
	}
	return bin
}

// statusSpec writes a rack.yaml whose nodes' BMCs are rack's simulators,
// and the credential files it names beneath a new root.
func statusSpec(b *testing.B, rack *simrack.Rack) (spec, root string) {
	b.Helper()
	root = b.TempDir()
	oem := filepath.Join(root, "usr/share/oem")
	m0 := rack.BMCs[0]
	if err := os.MkdirAll(oem, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, v := range map[string]string{"ipmi_user": m0.User, "ipmi_password": m0.Password} {
		if err := os.WriteFile(filepath.Join(oem, name), []byte(v+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	var s strings.Builder
	s.WriteString(`apiVersion: rackctl/v1alpha1
kind: Rack
name: bench
provisioner: flatcar
domain: bench.localdomain
network:
  internal: {subnet: 172.24.213.0/24, gateway: 172.24.213.1, dns: [172.24.213.1]}
bmc: {userFile: /usr/share/oem/ipmi_user, passwordFile: /usr/share/oem/ipmi_password}
cluster: {sshPubKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNpbS1yYWNrLWtleQ test@sim"]}
nodes:
`)
	for i, m := range rack.BMCs {
		fmt.Fprintf(&s, "  - {name: node-%d, role: node, mac: \"02:00:00:00:%02x:01\", bmcMac: %q, bmcAddress: %q}\n", i, i, m.MAC, m.Addr)
	}
	spec = filepath.Join(b.TempDir(), "rack.yaml")
	if err := os.WriteFile(spec, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return spec, root
}

// minimalRack reads every BMC's power with the minimal client, all at
// once: the floor.
func minimalRack(b *testing.B, rack *simrack.Rack) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	errs := make([]error, len(rack.BMCs))
	start := time.Now()
	var wg sync.WaitGroup
	for i, m := range rack.BMCs {
		wg.Go(func() { _, errs[i] = bmc.MinimalPowerQuery(ctx, m.Addr, m.User, m.Password) })
	}
	wg.Wait()
	took := time.Since(start)
	for i, err := range errs {
		if err != nil {
			b.Fatalf("minimal client, %s: %v", rack.BMCs[i].Name, err)
		}
	}
	return took
}

// wholeStatus runs `rackctl status -o json` as its own process and fails
// unless every BMC was reached.
func wholeStatus(b *testing.B, bin, spec, root string, n int) time.Duration {
	b.Helper()
	cmd := exec.Command(bin, "status", "-f", spec, "--root", root, "--timeout", benchTimeout.String(), "-o", "json")
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("rackctl status: %v: %s", err, out)
	}
	var st struct {
		Nodes []struct {
			Name       string `json:"name"`
			BMCReached bool   `json:"bmc_reached"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		b.Fatalf("rackctl status -o json: %v: %s", err, out)
	}
	reached := 0
	for _, row := range st.Nodes {
		if row.BMCReached {
			reached++
		}
	}
	if reached != n {
		b.Fatalf("rackctl status reached %d of %d BMCs: %s", reached, n, out)
	}
	return took
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkStatusFloor is issue 17's target 4: `rackctl status` of 32
// ipmi_sim BMCs as a whole process (spec load included) against the
// protocol's floor, the minimal client reading the same 32 BMCs at once,
// measured in the same loop. delay20ms puts each BMC behind a relay that
// delays every datagram by 20 ms each way (the kernel here has no netem);
// the floor crosses the same relay, so its cost is on both sides. On
// plain loopback the baseline is a sequential ipmitool loop instead.
func BenchmarkStatusFloor(b *testing.B) {
	needTools(b)
	bin := rackctlBinary(b)
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{{"delay20ms", 20 * time.Millisecond}, {"loopback", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			rack := simrack.StartT(b, simrack.Options{N: benchRack, Delay: tc.delay, Password: "bench-status-pw"})
			spec, root := statusSpec(b, rack)
			var floor, whole time.Duration
			n := 0
			for b.Loop() {
				floor += minimalRack(b, rack)
				whole += wholeStatus(b, bin, spec, root, len(rack.BMCs))
				n++
			}
			floorMS, wholeMS := ms(floor)/float64(n), ms(whole)/float64(n)
			b.ReportMetric(floorMS, "floor-ms/rack")
			b.ReportMetric(wholeMS, "status-ms/rack")
			b.ReportMetric(wholeMS/floorMS, "x-floor")
			if tc.delay > 0 {
				// Round trips × round-trip time, for the reader.
				b.ReportMetric(ms(bmc.MinimalPowerRoundTrips*2*tc.delay), "protocol-ms")
			} else {
				seq := sequentialIpmitool(b, rack)
				b.ReportMetric(ms(seq), "ipmitool-seq-ms/rack")
				b.ReportMetric(ms(seq)/wholeMS, "speedup")
			}
			b.ReportMetric(0, "ns/op") // the per-rack metrics above are the result
		})
	}
}
