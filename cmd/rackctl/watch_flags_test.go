package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// watchOnce runs `rackctl watch --once` on repo with the file layer only.
func watchOnce(t *testing.T, repo *testenv.GitRepo, root string, extra ...string) cliResult {
	t.Helper()
	args := append([]string{"watch", "--once", "--repo", repo.Dir, "--root", root, "--listen", ""}, filesOnly...)
	return cli(t, append(args, extra...)...)
}

// --verify-keyring and --allowed-signers turn verification on: an
// unsigned commit is skipped (exit 1) and nothing is written; without
// them the same commit is applied.
func TestWatchVerifyFlags(t *testing.T) {
	spec, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen is required for this test: install openssh-client")
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f", filepath.Join(keys, "ops")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(keys, "ops.pub"))
	if err != nil {
		t.Fatal(err)
	}
	signers := filepath.Join(keys, "allowed_signers")
	if err := os.WriteFile(signers, append([]byte("ops@example.com "), pub...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ring := testenv.PGPKey(t, "Ops")
	keyring := filepath.Join(keys, "keys.asc")
	if err := os.WriteFile(keyring, ring, 0o644); err != nil {
		t.Fatal(err)
	}

	repo := testenv.NewGitRepo(t)
	c := repo.Commit(string(spec), "unsigned")
	tests := map[string]struct {
		flags []string
		code  int
		out   string
	}{
		"--allowed-signers": {flags: []string{"--allowed-signers", signers}, code: 1, out: "skipped"},
		"--verify-keyring":  {flags: []string{"--verify-keyring", keyring}, code: 1, out: "skipped"},
		"no verification":   {code: 0, out: "applied"},
		"both":              {flags: []string{"--allowed-signers", signers, "--verify-keyring", keyring}, code: 1, out: "skipped"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			r := watchOnce(t, repo, root, tc.flags...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.out) {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", r.code, tc.code, tc.out, r.stdout, r.stderr)
			}
			applied := historyHas(t, filepath.Join(root, "var/lib/rackctl"), c)
			_, hostsErr := os.Stat(filepath.Join(root, "etc/hosts"))
			if wantApplied := tc.code == 0; applied != wantApplied || (hostsErr == nil) != wantApplied {
				t.Errorf("applied %v, etc/hosts written %v; want %v", applied, hostsErr == nil, wantApplied)
			}
		})
	}

	// Signed with the allowed key, a commit goes through.
	repo.Env = append(repo.Env, "GIT_CONFIG_COUNT=2", "GIT_CONFIG_KEY_0=gpg.format", "GIT_CONFIG_VALUE_0=ssh",
		"GIT_CONFIG_KEY_1=user.signingkey", "GIT_CONFIG_VALUE_1="+filepath.Join(keys, "ops"))
	signed := repo.Commit(string(spec)+"# signed\n", "signed", "-S")
	root := t.TempDir()
	if r := watchOnce(t, repo, root, "--allowed-signers", signers); r.code != 0 || !historyHas(t, filepath.Join(root, "var/lib/rackctl"), signed) {
		t.Fatalf("signed commit: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// installed writes the flag file of every active node, as the provisioner
// does once a node is installed.
func installed(t *testing.T, root, specPath string) {
	t.Helper()
	rack, err := schema.Load(specPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range rack.ActiveNodes() {
		p := filepath.Join(root, render.FlagFilePath(render.DefaultLayout(), rack.Provisioner, n.MAC))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(rack.FQDN(n)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// reprovisioned sets reprovision: value on the named nodes of spec.
func reprovisioned(t *testing.T, spec, value string, nodes ...string) string {
	t.Helper()
	for _, n := range nodes {
		old := "  - name: " + n + "\n"
		if !strings.Contains(spec, old) {
			t.Fatalf("spec has no node %s", n)
		}
		spec = strings.Replace(spec, old, old+"    reprovision: "+value+"\n", 1)
	}
	return spec
}

// clock is "HH:MM" of now shifted by d, in local time (the windows' zone).
func clock(d time.Duration) string { return time.Now().Add(d).Format("15:04") }

// The policy flags reach the loop: a commit reinstalling two controllers
// is held under --max-disruptive-controllers 1 and goes under 2; workers
// and flatcar nodes are limited by their own percentage, rounded down,
// at least one; --disruptive-window holds a disruptive commit outside the
// window and lets it go inside. Held = exit 2 with nothing disrupted.
func TestWatchPolicyFlags(t *testing.T) {
	type step struct {
		nodes []string // reprovisioned, with a new value each step
		flags []string
		code  int
	}
	outside := clock(2*time.Hour) + "-" + clock(3*time.Hour)
	inside := clock(-time.Hour) + "-" + clock(time.Hour)
	tests := map[string]struct {
		spec  string
		steps []step
	}{
		"controllers": {spec: example, steps: []step{
			{nodes: []string{"lokomotive-controller-0", "lokomotive-controller-1"}, flags: []string{"--max-disruptive-controllers", "1"}, code: 2},
			{nodes: []string{"lokomotive-controller-0", "lokomotive-controller-1"}, flags: []string{"--max-disruptive-controllers", "2"}, code: 0},
		}},
		// 4 active workers: 25% is 1, 50% is 2, 74% still 2 (rounded down).
		"workers percent": {spec: example, steps: []step{
			{nodes: []string{"lokomotive-worker-0", "lokomotive-worker-1"}, code: 2},
			{nodes: []string{"lokomotive-worker-0", "lokomotive-worker-1", "lokomotive-worker-2"}, flags: []string{"--max-disruptive-workers-percent", "74"}, code: 2},
			{nodes: []string{"lokomotive-worker-0", "lokomotive-worker-1"}, flags: []string{"--max-disruptive-nodes-percent", "100"}, code: 2},
			{nodes: []string{"lokomotive-worker-0", "lokomotive-worker-1"}, flags: []string{"--max-disruptive-workers-percent", "50"}, code: 0},
		}},
		// 4 nodes: 25% is 1; the workers' percentage does not apply.
		"flatcar nodes percent": {spec: "../../spec-examples/flatcar.yaml", steps: []step{
			{nodes: []string{"node-0", "node-1"}, flags: []string{"--max-disruptive-workers-percent", "100"}, code: 2},
			{nodes: []string{"node-0", "node-1"}, flags: []string{"--max-disruptive-nodes-percent", "50"}, code: 0},
		}},
		"window": {spec: example, steps: []step{
			{nodes: []string{"lokomotive-worker-0"}, flags: []string{"--disruptive-window", outside}, code: 2},
			{nodes: []string{"lokomotive-worker-0"}, flags: []string{"--disruptive-window", "Mon-Sun " + inside}, code: 0},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			spec := string(b)
			repo := testenv.NewGitRepo(t)
			root := t.TempDir()
			repo.Commit(spec, "base")
			if r := watchOnce(t, repo, root); r.code != 0 {
				t.Fatalf("base: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			installed(t, root, tc.spec)
			for i, s := range tc.steps {
				repo.Commit(reprovisioned(t, spec, fmt.Sprintf("step-%d", i), s.nodes...), fmt.Sprint("step ", i))
				r := watchOnce(t, repo, root, s.flags...)
				if r.code != s.code {
					t.Fatalf("step %d %v: exit %d, want %d\nstdout: %s\nstderr: %s", i, s.flags, r.code, s.code, r.stdout, r.stderr)
				}
				rack, err := schema.Load(tc.spec)
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range s.nodes {
					n := rack.Node(name)
					_, err := os.Stat(filepath.Join(root, render.FlagFilePath(render.DefaultLayout(), rack.Provisioner, n.MAC)))
					if held := s.code == 2; (err == nil) != held {
						t.Errorf("step %d: %s flag file present %v, want %v (held %v)", i, name, err == nil, held, held)
					}
				}
				if s.code == 0 {
					installed(t, root, tc.spec) // the reinstall happened
				}
			}
		})
	}
}

// A commit changing a shared Lokomotive input reboots many installed nodes
// through lokoctl: watch counts them and holds the commit over the limits.
func TestWatchHoldsSharedLokomotiveInputs(t *testing.T) {
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	tests := map[string]struct {
		edit   func(string) string
		reason string
	}{
		"cluster.labels": {
			edit: func(s string) string {
				return strings.Replace(s, "cluster:\n", "cluster:\n  labels:\n    topology.kubernetes.io/zone: a\n", 1)
			},
			reason: "controller: 3 nodes > limit 1; worker: 4 nodes > limit 1",
		},
		"labels on every controller": {
			edit: func(s string) string {
				return strings.ReplaceAll(s, "    role: controller\n", "    role: controller\n    labels:\n      rack: a\n")
			},
			reason: "controller: 3 nodes > limit 1",
		},
		// Workers 1-3 move up the list; worker-0 leaves it.
		"first worker excluded": {
			edit: func(s string) string {
				return strings.Replace(s, "  - name: lokomotive-worker-0\n", "  - name: lokomotive-worker-0\n    exclude: true\n", 1)
			},
			reason: "worker: 3 nodes > limit 1",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			repo := testenv.NewGitRepo(t)
			root := t.TempDir()
			repo.Commit(spec, "base")
			if r := watchOnce(t, repo, root); r.code != 0 {
				t.Fatalf("base: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			installed(t, root, example)
			repo.Commit(tc.edit(spec), name)
			// The provisioner layer on: lokoctl is never run, the plan is held.
			r := watchOnce(t, repo, root, "--provisioner-run=auto", "--lokoctl", "/nonexistent/lokoctl")
			if r.code != 2 || !strings.Contains(r.stdout, tc.reason) {
				t.Fatalf("exit %d, want 2 (held) with %q\nstdout: %s\nstderr: %s", r.code, tc.reason, r.stdout, r.stderr)
			}
		})
	}
}
