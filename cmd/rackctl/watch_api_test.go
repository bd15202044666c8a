package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
)

// watch serves GET /api/status on --listen: the loop's state, the rejected
// commit among the last errors, and node states observed from real
// ipmi_sim BMCs (one stopped: unreachable, never guessed).
func TestWatchServesAPIStatus(t *testing.T) {
	const password = "s3cret-sim-pass"
	sims := simrack.StartT(t, simrack.Options{N: 3, Password: password})
	if err := sims.Stop(2); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	specFile := simSpec(t, root, "admin", password, sims.BMCs)
	spec, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	repo := testenv.NewGitRepo(t)
	good := repo.Commit(string(spec), "spec")
	stateDir := filepath.Join(root, "var/lib/rackctl")
	listen := freePort(t)
	var out, errb syncBuffer
	g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	t.Cleanup(func() {
		cancel()
		<-done
	})
	args := []string{"watch", "--repo", repo.Dir, "--root", root, "--interval", "100ms", "--listen", listen,
		"--timeout", "2s", "--status-interval", "1h", "--dhcp=none", "--bmc=none", "--provisioner-run=never", "--verify=none"}
	go func() { done <- execute(ctx, g, args) }()
	waitFor(t, "the commit applied", func() bool { return historyHas(t, stateDir, good) })

	var doc api.RackStatus
	waitFor(t, "the nodes observed", func() bool {
		doc = getAPIStatus(t, listen)
		return doc.Observation.State == api.ObservationObserved
	})
	if doc.Rack != "sim" || doc.Watch == nil || !doc.Watch.Running || doc.Watch.LastApplied != good {
		t.Fatalf("rack %q watch %+v, want sim, running, last applied %s", doc.Rack, doc.Watch, good)
	}
	if doc.Status == nil || len(doc.Status.Nodes) != 3 || len(doc.Nodes) != 3 {
		t.Fatalf("status %+v nodes %+v", doc.Status, doc.Nodes)
	}
	// ipmi_sim starts powered off; node-2's BMC is stopped.
	want := []string{api.StateOff, api.StateOff, api.StateUnreachable}
	for i, n := range doc.Nodes {
		if n.State != want[i] {
			t.Errorf("%s: state %q (%s), want %q", n.Name, n.State, n.Reason, want[i])
		}
	}
	if doc.Summary.Off != 2 || doc.Summary.Unreachable != 1 || doc.Summary.Total != 3 {
		t.Errorf("summary %+v", doc.Summary)
	}

	bad := repo.Commit(strings.Replace(string(spec), "name: sim", "name: Not_A_Name!", 1), "bad name")
	waitFor(t, "the rejection among the last errors", func() bool {
		doc = getAPIStatus(t, listen)
		return len(doc.LastErrors) > 0 && doc.LastErrors[0].Commit == bad
	})
	if e := doc.LastErrors[0]; e.Outcome != "rejected" || !strings.Contains(e.Message, "rack.yaml") {
		t.Errorf("last error %+v, want a rejection naming rack.yaml", e)
	}
	if doc.Watch.LastApplied != good || doc.Rack != "sim" {
		t.Errorf("after a rejected commit: rack %q last applied %s, want the valid one kept", doc.Rack, doc.Watch.LastApplied)
	}
}

func getAPIStatus(t *testing.T, listen string) api.RackStatus {
	t.Helper()
	var doc api.RackStatus
	body := getBody(t, "http://"+listen+"/api/status")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("GET /api/status: %v\n%s", err, body)
	}
	if doc.FormatVersion != api.FormatVersion {
		t.Fatalf("format_version %q", doc.FormatVersion)
	}
	return doc
}

// --status-interval is checked through the CLI.
func TestWatchStatusIntervalFlag(t *testing.T) {
	r := cli(t, "watch", "--once", "-f", "testdata/bad-mac.yaml", "--root", t.TempDir(), "--listen", freePort(t), "--status-interval", "0s")
	if r.code != 1 || !strings.Contains(r.stderr, "--status-interval 0s") {
		t.Errorf("exit %d stderr %s", r.code, r.stderr)
	}
}
