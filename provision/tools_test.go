package provision

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// tools are the programs built by scripts/build-tools.sh.
type tools struct {
	matchbox    string // tools/bin/matchbox
	terraform   string // terraform on PATH, else tools/bin/terraform
	terraformrc string // tools/bin/terraformrc (filesystem mirror)
}

var (
	toolsOnce sync.Once
	toolsVal  tools
	toolsErr  string
)

// needTools returns the pinned tools, running scripts/build-tools.sh once
// when any is missing. A tool that cannot be had fails the test.
func needTools(t *testing.T) tools {
	t.Helper()
	toolsOnce.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			toolsErr = err.Error()
			return
		}
		bin := filepath.Join(root, "tools", "bin")
		want := []string{
			filepath.Join(bin, "matchbox"),
			filepath.Join(bin, "terraform-provider-matchbox"),
			filepath.Join(bin, "terraformrc"),
			filepath.Join(bin, "tf-mirror", "registry.terraform.io", "poseidon", "matchbox", "0.5.4", "linux_amd64", "terraform-provider-matchbox_v0.5.4"),
		}
		if missing(want) {
			cmd := exec.Command(filepath.Join(root, "scripts", "build-tools.sh"))
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				toolsErr = "scripts/build-tools.sh failed: " + err.Error() + "\n" + string(out)
				return
			}
			if missing(want) {
				toolsErr = "scripts/build-tools.sh did not produce the tools:\n" + string(out)
				return
			}
		}
		tf, err := exec.LookPath("terraform")
		if err != nil {
			tf = filepath.Join(bin, "terraform")
			if missing([]string{tf}) {
				toolsErr = "terraform is neither on PATH nor in tools/bin (run scripts/build-tools.sh with RACKCTL_BUILD_TERRAFORM=1)"
				return
			}
		}
		toolsVal = tools{matchbox: want[0], terraform: tf, terraformrc: want[2]}
	})
	if toolsErr != "" {
		t.Fatal(toolsErr)
	}
	return toolsVal
}

func missing(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return true
		}
	}
	return false
}
