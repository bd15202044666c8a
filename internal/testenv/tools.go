package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// module is the go.mod line that marks rackctl's repository root.
const module = "module github.com/rackctl/rackctl\n"

// RepoRoot finds rackctl's repository root: $RACKCTL_REPO when set, else
// the nearest directory at or above the working directory whose go.mod is
// rackctl's.
func RepoRoot() (string, error) {
	if r := os.Getenv("RACKCTL_REPO"); r != "" {
		return filepath.Abs(r)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testenv: repository root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte(module)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: not inside the rackctl repository (no go.mod of github.com/rackctl/rackctl above the working directory); set RACKCTL_REPO")
		}
		dir = parent
	}
}

// Tools are the programs scripts/build-tools.sh builds, plus terraform.
type Tools struct {
	Matchbox       string // tools/bin/matchbox
	Terraform      string // terraform on PATH, else tools/bin/terraform
	Terraformrc    string // tools/bin/terraformrc: the provider's filesystem mirror
	LokoctlStandin string // tools/bin/lokoctl-standin: records its calls, installs nothing
}

var (
	toolsMu  sync.Mutex
	toolsVal *Tools
)

// FindTools returns the tools, running scripts/build-tools.sh once when
// any is missing. The error says what is missing and why it was not built.
func FindTools(ctx context.Context) (Tools, error) {
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if toolsVal != nil {
		return *toolsVal, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return Tools{}, err
	}
	bin := filepath.Join(root, "tools", "bin")
	want := []string{
		filepath.Join(bin, "matchbox"),
		filepath.Join(bin, "terraformrc"),
		filepath.Join(bin, "lokoctl-standin"),
	}
	mirror := filepath.Join(bin, "tf-mirror", "registry.terraform.io", "poseidon", "matchbox")
	if m := missingTools(want, mirror); m != "" {
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "build-tools.sh"))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			return Tools{}, fmt.Errorf("testenv: %s missing and scripts/build-tools.sh failed: %w\n%s", m, err, out)
		}
		if m := missingTools(want, mirror); m != "" {
			return Tools{}, fmt.Errorf("testenv: scripts/build-tools.sh did not produce %s:\n%s", m, out)
		}
	}
	tf, err := exec.LookPath("terraform")
	if err != nil {
		tf = filepath.Join(bin, "terraform")
		if missing([]string{tf}) != "" {
			return Tools{}, errors.New("testenv: terraform is neither on PATH nor in tools/bin (run scripts/build-tools.sh with RACKCTL_BUILD_TERRAFORM=1)")
		}
	}
	toolsVal = &Tools{Matchbox: want[0], Terraform: tf, Terraformrc: want[1], LokoctlStandin: want[2]}
	return *toolsVal, nil
}

// missingTools names the first of want that is missing, or the provider
// binary when the mirror has none (an interrupted build-tools.sh can leave
// its directories empty); "" when nothing is missing.
func missingTools(want []string, mirror string) string {
	if m := missing(want); m != "" {
		return m
	}
	const provider = "*/*/terraform-provider-matchbox_v*" // VERSION/OS_ARCH/
	if m, _ := fs.Glob(os.DirFS(mirror), provider); len(m) == 0 {
		return filepath.Join(mirror, provider)
	}
	return ""
}

func missing(paths []string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return p
		}
	}
	return ""
}

// NeedPrograms fails with a message naming the Debian package when a
// program is not on PATH.
func NeedPrograms(names ...string) error {
	pkg := map[string]string{
		"ip": "iproute2", "dnsmasq": "dnsmasq-base", "dhcp_release": "dnsmasq-utils",
		"busybox": "busybox", "ipmi_sim": "openipmi", "ipmitool": "ipmitool", "promtool": "prometheus",
	}
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			p := pkg[n]
			if p == "" {
				p = n
			}
			return fmt.Errorf("testenv: %s not found on PATH (install the %s package, or run scripts/install-deps.sh)", n, p)
		}
	}
	return nil
}
