package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
)

// watch publishes each outcome of its loop on GET /api/events: a commit
// rejected after the stream opened arrives as an "outcome" event naming
// it.
func TestWatchPublishesOutcomes(t *testing.T) {
	const password = "s3cret-sim-pass"
	sims := simrack.StartT(t, simrack.Options{N: 1, Password: password})
	root := t.TempDir()
	spec, err := os.ReadFile(simSpec(t, root, "admin", password, sims.BMCs))
	if err != nil {
		t.Fatal(err)
	}
	repo := testenv.NewGitRepo(t)
	good := repo.Commit(string(spec), "spec")
	listen := freePort(t)
	startRackctl(t, "watch", "--repo", repo.Dir, "--root", root, "--interval", "100ms", "--listen", listen,
		"--timeout", "2s", "--status-interval", "1h", "--dhcp=none", "--bmc=none", "--provisioner-run=never", "--verify=none")
	waitFor(t, "the commit applied", func() bool { return historyHas(t, filepath.Join(root, "var/lib/rackctl"), good) })

	resp, err := http.Get("http://" + listen + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "retry: 3000\n" {
		t.Fatalf("stream starts with %q %v", line, err)
	}
	bad := repo.Commit(strings.Replace(string(spec), "name: sim", "name: Not_A_Name!", 1), "bad name")
	events := make(chan api.Event)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(events)
				return
			}
			if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				var ev api.Event
				if json.Unmarshal([]byte(data), &ev) == nil {
					events <- ev
				}
			}
		}
	}()
	deadline := time.After(60 * time.Second) // a hang guard, not a speed check
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.Type == api.EventOutcome && ev.Commit == bad {
				if ev.Outcome != "rejected" || !strings.Contains(ev.Message, "rack.yaml") {
					t.Errorf("event %+v, want the rejection naming rack.yaml", ev)
				}
				return
			}
		case <-deadline:
			t.Fatal("no outcome event for the rejected commit")
		}
	}
}
