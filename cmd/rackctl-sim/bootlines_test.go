package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/boot/lines.golden")

// TestBootLines: the boot steps of two servers' logs (one installs and
// comes up, one hangs installing), in time order, named as the spec names
// the node behind each BMC; other log lines are left out, control
// characters escaped. go test ./cmd/rackctl-sim -update rewrites the golden.
func TestBootLines(t *testing.T) {
	dir := "testdata/boot"
	var out bytes.Buffer
	if err := writeBootLines(&out, filepath.Join(dir, "nodes"), filepath.Join(dir, "bmcs"), filepath.Join(dir, "rack.yaml")); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join(dir, "lines.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("boot lines differ from %s (-update rewrites it):\n%s", golden, out.String())
	}
	if bytes.ContainsRune(out.Bytes(), 0x1b) {
		t.Errorf("a raw ESC from a log reaches the terminal:\n%q", out.String())
	}
	for _, step := range []string{"DHCP lease", "iPXE script", "Ignition fetched", "installed to disk", "SSH up on"} {
		if !strings.Contains(out.String(), "node-0  "+step) {
			t.Errorf("node-0 lacks the step %q:\n%s", step, out.String())
		}
	}
}

// TestBootLinesNames: without the inventory or spec the BMC's own name
// is kept; a spec that does not parse is an error naming it.
func TestBootLinesNames(t *testing.T) {
	tests := map[string]struct {
		bmcDir, spec string
		want         string
	}{
		"no spec":  {"", "", "bmc-0  DHCP lease"},
		"bad spec": {"testdata/boot/bmcs", "testdata/boot/nodes/bmc-0/log", "boot lines: testdata/boot/nodes/bmc-0/log"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := writeBootLines(&out, "testdata/boot/nodes", tc.bmcDir, tc.spec)
			got := out.String()
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
