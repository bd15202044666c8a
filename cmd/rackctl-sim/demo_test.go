package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDemoNotUp: scripts/demo.sh fails when a node never answered SSH,
// reading what this command's -boot-lines prints. The name column is
// padded to the longest name (a Lokomotive rack's controller-N and
// worker-N), so a node that came up must be found whatever its padding,
// and one that did not must be named, whatever names its neighbours have.
func TestDemoNotUp(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	// In testdata/boot, bmc-0's server comes up and bmc-1's hangs installing.
	tests := map[string]struct {
		names [2]string // spec names of the nodes behind bmc-0, bmc-1
		ask   []string
		want  []string
	}{
		"same length":      {[2]string{"node-0", "node-1"}, []string{"node-0", "node-1"}, []string{"node-1"}},
		"up node padded":   {[2]string{"w-0", "controller-0"}, []string{"w-0", "controller-0"}, []string{"controller-0"}},
		"down node padded": {[2]string{"controller-0", "w-0"}, []string{"controller-0", "w-0"}, []string{"w-0"}},
		"unknown node":     {[2]string{"node-0", "node-1"}, []string{"node-0", "node-9"}, []string{"node-9"}},
		"prefix of an up":  {[2]string{"worker-10", "worker-2"}, []string{"worker-1", "worker-10"}, []string{"worker-1"}},
		"every node is up": {[2]string{"a", "b"}, []string{"a"}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			spec := filepath.Join(dir, "rack.yaml")
			src, err := os.ReadFile("testdata/boot/rack.yaml")
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(src), "name: node-0", "name: "+tc.names[0], 1)
			s = strings.Replace(s, "name: node-1", "name: "+tc.names[1], 1)
			if err := os.WriteFile(spec, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			var lines bytes.Buffer
			if err := writeBootLines(&lines, "testdata/boot/nodes", "testdata/boot/bmcs", spec); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "boot-lines.txt")
			if err := os.WriteFile(file, lines.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("bash", append([]string{"../../scripts/demo.sh", "not-up", file}, tc.ask...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("demo.sh not-up: %v\n%s", err, out)
			}
			got := strings.Fields(string(out))
			if !slices.Equal(got, tc.want) {
				t.Errorf("not up: %q, want %q; boot lines:\n%s", got, tc.want, lines.String())
			}
		})
	}
}
