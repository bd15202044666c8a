package reconcile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/render"
)

// linkMarker is the content of the files links point at; it must never
// show up in a diff, an error or a saved plan.
const linkMarker = "TARGET-CONTENT-7f3a\n"

// linkCase plants a link under root; target is the file the link reaches
// (outside the root or inside it), link the path the error must name.
type linkCase struct {
	plant  func(t *testing.T, root, outside string)
	target func(root, outside string) string
	link   string
}

// linkCases are the three classes: a link at the managed file, a linked
// managed directory, and a link to another file inside the root.
var linkCases = map[string]linkCase{
	"link at the file": {
		plant: func(t *testing.T, root, outside string) {
			mustOK(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
			testenv.PlantLink(t, filepath.Join(outside, "shadow"), filepath.Join(root, "etc/hosts"))
		},
		target: func(root, outside string) string { return filepath.Join(outside, "shadow") },
		link:   "etc/hosts",
	},
	"linked managed directory": {
		plant: func(t *testing.T, root, outside string) {
			mustOK(t, os.MkdirAll(filepath.Join(root, "home/core"), 0o755))
			testenv.PlantLink(t, outside, filepath.Join(root, "home/core/lokomotive"))
		},
		target: func(root, outside string) string { return filepath.Join(outside, "lokocfg.vars") },
		link:   "home/core/lokomotive",
	},
	"link inside the root to another root file": {
		plant: func(t *testing.T, root, outside string) {
			writeFile(t, root, "root/secret", linkMarker, 0o600)
			mustOK(t, os.MkdirAll(filepath.Join(root, "home/core/lokomotive"), 0o755))
			testenv.PlantLink(t, "../../../root/secret", filepath.Join(root, "home/core/lokomotive/lokocfg.vars"))
		},
		target: func(root, outside string) string { return filepath.Join(root, "root/secret") },
		link:   "home/core/lokomotive/lokocfg.vars",
	},
}

// linkDesired are the managed files the link cases reach.
func linkDesired() []render.File {
	return []render.File{
		block("etc/hosts", hostsBlock),
		whole("home/core/lokomotive/lokocfg.vars", "cluster_name = \"x\"\n"),
	}
}

// linkSetup makes a root and, beside it, the files links point at (0600,
// holding linkMarker).
func linkSetup(t *testing.T) (root, outside string) {
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	mustOK(t, os.MkdirAll(root, 0o755))
	writeFile(t, outside, "shadow", linkMarker, 0o600)
	writeFile(t, outside, "lokocfg.vars", linkMarker, 0o600)
	return root, outside
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// assertTargetUnchanged checks the link's target kept its content and mode.
func assertTargetUnchanged(t *testing.T, target string) {
	t.Helper()
	b, err := os.ReadFile(target)
	if err != nil || string(b) != linkMarker {
		t.Errorf("target %s changed: %q %v", target, b, err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("target %s mode changed: %v %v", target, fi.Mode(), err)
	}
}

func assertNamesLink(t *testing.T, err error, root, link string) {
	t.Helper()
	if !errors.Is(err, rootfs.ErrLink) {
		t.Fatalf("err = %v, want a refused link", err)
	}
	if want := filepath.Join(root, link); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the link %s", err, want)
	}
	if strings.Contains(err.Error(), strings.TrimSpace(linkMarker)) {
		t.Errorf("error shows the target's content: %q", err)
	}
}

// TestPlanRefusesLinks: a plan refuses a managed path with a link on it,
// naming the link, and shows nothing of the target.
func TestPlanRefusesLinks(t *testing.T) {
	for name, tc := range linkCases {
		t.Run(name, func(t *testing.T) {
			root, outside := linkSetup(t)
			tc.plant(t, root, outside)
			changes, _, err := PlanFiles(linkDesired(), root, Manifest{})
			assertNamesLink(t, err, root, tc.link)
			if changes != nil {
				t.Errorf("changes returned with the error: %v", addresses(changes))
			}
			assertTargetUnchanged(t, tc.target(root, outside))
		})
	}
}

// TestPlanRefusesLinkedManifestFile: a file of the manifest that is no
// longer desired is not deleted (nor its content diffed) through a link.
func TestPlanRefusesLinkedManifestFile(t *testing.T) {
	for name, tc := range linkCases {
		t.Run(name, func(t *testing.T) {
			root, outside := linkSetup(t)
			tc.plant(t, root, outside)
			m := Manifest{Version: 1, Files: []ManagedFile{{Path: "etc/hosts", Block: true}, {Path: "home/core/lokomotive/lokocfg.vars"}}}
			_, _, err := PlanFiles(nil, root, m)
			assertNamesLink(t, err, root, tc.link)
			assertTargetUnchanged(t, tc.target(root, outside))
		})
	}
}

// TestApplyRefusesLinks: a link planted after the plan was made fails the
// apply before anything is written, and its target is left as it was.
func TestApplyRefusesLinks(t *testing.T) {
	for name, tc := range linkCases {
		t.Run(name, func(t *testing.T) {
			root, outside := linkSetup(t)
			state := filepath.Join(t.TempDir(), "state")
			p := mustPlan(t, linkDesired(), root, state)
			tc.plant(t, root, outside)
			res, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state})
			assertNamesLink(t, err, root, tc.link)
			// Refused before the state dir or the lock is touched.
			if _, err := os.Stat(state); err == nil {
				t.Error("the refused apply left its state dir behind")
			}
			if len(res.Done) != 0 {
				t.Errorf("changes done: %v", addresses(res.Done))
			}
			assertTargetUnchanged(t, tc.target(root, outside))
			if exists(root, "etc/hosts") && tc.link != "etc/hosts" {
				t.Error("etc/hosts written although the apply was refused")
			}
		})
	}
}

// TestFileExecutorRefusesLinks: the executor itself refuses, for every
// action, whatever the plan said.
func TestFileExecutorRefusesLinks(t *testing.T) {
	for name, tc := range linkCases {
		for _, action := range []Action{ActionCreate, ActionUpdate, ActionDelete} {
			t.Run(name+"/"+string(action), func(t *testing.T) {
				root, outside := linkSetup(t)
				tc.plant(t, root, outside)
				e := NewFileExecutor(FileConfig{Root: root, BackupDir: filepath.Join(t.TempDir(), "backups")})
				p := "home/core/lokomotive/lokocfg.vars"
				if tc.link == "etc/hosts" {
					p = "etc/hosts"
				}
				err := e.Apply(context.Background(), Change{Layer: LayerFiles, Action: action, Address: FilePrefix + p, Content: []byte("new\n"), Mode: 0o644})
				assertNamesLink(t, err, root, tc.link)
				assertTargetUnchanged(t, tc.target(root, outside))
			})
		}
	}
}

// TestFlagAndVerifyRefuseLinkedDirectory: flag files are deleted and
// written beneath the root only.
func TestFlagAndVerifyRefuseLinkedDirectory(t *testing.T) {
	const mac = "aa:bb:cc:dd:ee:01"
	root, outside := linkSetup(t)
	writeFile(t, outside, mac, linkMarker, 0o600)
	mustOK(t, os.MkdirAll(filepath.Join(root, "home/core/lokomotive/lokoctl-assets"), 0o755))
	testenv.PlantLink(t, outside, filepath.Join(root, "home/core/lokomotive/lokoctl-assets/cluster-assets"))
	flag := "home/core/lokomotive/lokoctl-assets/cluster-assets/" + mac

	err := (&FlagExecutor{Root: root}).Apply(context.Background(), Change{Layer: LayerFlags, Action: ActionDelete, Address: FilePrefix + flag})
	assertNamesLink(t, err, root, "home/core/lokomotive/lokoctl-assets/cluster-assets")
	assertTargetUnchanged(t, filepath.Join(outside, mac))

	mustOK(t, os.Remove(filepath.Join(outside, mac)))
	err = (&VerifyExecutor{Root: root}).Apply(context.Background(), Change{Layer: LayerVerify, Action: ActionVerify, Node: "n",
		Address: "verify:n", Detail: &Detail{FlagFile: flag, FQDN: "n.example"}})
	assertNamesLink(t, err, root, "home/core/lokomotive/lokoctl-assets/cluster-assets")
	if _, err := os.Lstat(filepath.Join(outside, mac)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("flag file written through the link: %v", err)
	}
}

// TestBlockFileKeepsModeAndOwner: /etc/hosts is not rackctl's; writing its
// block keeps the file's mode and owner.
func TestBlockFileKeepsModeAndOwner(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/hosts", "127.0.0.1 localhost\n", 0o640)
	hosts := filepath.Join(root, "etc/hosts")
	chowned := os.Geteuid() == 0
	if chowned {
		mustOK(t, os.Chown(hosts, 1000, 1001))
	}
	state := t.TempDir()
	mustApply(t, mustPlan(t, []render.File{block("etc/hosts", hostsBlock)}, root, state), root, state)
	if got := readFile(t, root, "etc/hosts"); got != "127.0.0.1 localhost\n"+hostsBlock {
		t.Fatalf("hosts = %q", got)
	}
	fi, err := os.Stat(hosts)
	mustOK(t, err)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
	}
	if st := fi.Sys().(*syscall.Stat_t); chowned && (st.Uid != 1000 || st.Gid != 1001) {
		t.Errorf("owner %d:%d, want 1000:1001 kept", st.Uid, st.Gid)
	}

	// The executor keeps them too, whatever mode a change carries.
	e := NewFileExecutor(FileConfig{Root: root})
	other := "# BEGIN rackctl managed block\n10.0.0.3 node-1\n# END rackctl managed block\n"
	mustOK(t, e.Apply(context.Background(), Change{Layer: LayerFiles, Action: ActionUpdate, Address: FilePrefix + "etc/hosts", Block: true, Content: []byte(other), Mode: 0o644}))
	fi, err = os.Stat(hosts)
	mustOK(t, err)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("executor: mode %v, want 0640 kept", fi.Mode().Perm())
	}
	if st := fi.Sys().(*syscall.Stat_t); chowned && (st.Uid != 1000 || st.Gid != 1001) {
		t.Errorf("executor: owner %d:%d, want 1000:1001 kept", st.Uid, st.Gid)
	}
}
