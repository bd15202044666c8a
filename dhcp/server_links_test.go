package dhcp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/internal/testenv"
)

// TestInstallRefusesLinks: a link at the live config or on its directory
// is refused, named; its target is neither read nor replaced, and dnsmasq
// is not reloaded.
func TestInstallRefusesLinks(t *testing.T) {
	const marker = "TARGET-CONTENT-dhcp\n"
	tests := map[string]struct {
		plant func(t *testing.T, root, target string)
		link  string
	}{
		"link at the file": {
			plant: func(t *testing.T, root, target string) {
				must(t, os.MkdirAll(filepath.Join(root, "opt/racker-state/dnsmasq"), 0o755))
				testenv.PlantLink(t, filepath.Join(target, "dnsmasq.conf"), filepath.Join(root, "opt/racker-state/dnsmasq/dnsmasq.conf"))
			},
			link: "opt/racker-state/dnsmasq/dnsmasq.conf",
		},
		"linked directory": {
			plant: func(t *testing.T, root, target string) {
				must(t, os.MkdirAll(filepath.Join(root, "opt/racker-state"), 0o755))
				testenv.PlantLink(t, target, filepath.Join(root, "opt/racker-state/dnsmasq"))
			},
			link: "opt/racker-state/dnsmasq",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			root, target := filepath.Join(base, "root"), filepath.Join(base, "target")
			must(t, os.MkdirAll(target, 0o755))
			must(t, os.WriteFile(filepath.Join(target, "dnsmasq.conf"), []byte(marker), 0o600))
			tc.plant(t, root, target)
			reload, reloads := reloadMarker(t)
			s := New(Config{Root: root, ConfPath: filepath.Join(root, "opt/racker-state/dnsmasq/dnsmasq.conf"),
				ReloadCmd: reload, DnsmasqCmd: []string{"true"}})
			changed, err := s.Install(t.Context(), []byte(goodConf))
			if changed || !errors.Is(err, rootfs.ErrLink) || !strings.Contains(err.Error(), filepath.Join(root, tc.link)) {
				t.Fatalf("Install = %v, %v; want a refusal naming %s", changed, err, tc.link)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(marker)) {
				t.Errorf("error shows the target's content: %v", err)
			}
			b, _ := os.ReadFile(filepath.Join(target, "dnsmasq.conf"))
			fi, _ := os.Stat(filepath.Join(target, "dnsmasq.conf"))
			if string(b) != marker || fi.Mode().Perm() != 0o600 {
				t.Errorf("target changed: %q %v", b, fi.Mode())
			}
			if n := reloads(); n != 0 {
				t.Errorf("%d reloads", n)
			}
		})
	}
}

func TestInstallRefusesConfOutsideRoot(t *testing.T) {
	s := New(Config{Root: t.TempDir(), ConfPath: filepath.Join(t.TempDir(), "dnsmasq.conf"), ReloadCmd: []string{"true"}, DnsmasqCmd: []string{"true"}})
	if changed, err := s.Install(t.Context(), []byte(goodConf)); changed || err == nil || !strings.Contains(err.Error(), "not beneath the root") {
		t.Fatalf("Install = %v, %v", changed, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
