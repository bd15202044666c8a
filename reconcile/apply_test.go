package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
)

func TestApplyThenNoChanges(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	writeFile(t, root, "etc/hosts", "127.0.0.1 localhost\n", 0o644)
	writeFile(t, root, "old.conf", "old\n", 0o644)
	desired := []render.File{
		block("etc/hosts", hostsBlock),
		whole("home/core/a.conf", "a\n"),
		whole("old.conf", "new\n"),
	}
	p := mustPlan(t, desired, root, state)
	p.NextState = ipam.State{Version: 1, Entries: []ipam.Entry{{Node: "n", NIC: ipam.Primary, MAC: "02:00:00:00:00:01", IP: mustAddr("10.0.0.2")}}}
	if got := addresses(p.Changes); !slices.Equal(got, []string{"update file:etc/hosts", "create file:home/core/a.conf", "update file:old.conf"}) {
		t.Fatalf("plan = %v", got)
	}
	res := mustApply(t, p, root, state)
	if res.Outcome != OutcomeSuccess || len(res.Done) != 3 || len(res.Failed)+len(res.NotAttempted) != 0 {
		t.Fatalf("result = %+v", res)
	}
	if got := readFile(t, root, "etc/hosts"); got != "127.0.0.1 localhost\n"+hostsBlock {
		t.Fatalf("hosts = %q", got)
	}
	if got := readFile(t, root, "home/core/a.conf"); got != "a\n" {
		t.Fatalf("a.conf = %q", got)
	}
	// The allocation and the manifest were saved.
	s, err := loadAllocation(state)
	if err != nil || len(s.Entries) != 1 {
		t.Fatalf("allocation not saved: %v %v", s, err)
	}
	m, err := loadManifest(state)
	if err != nil || len(m.Files) != 3 || !m.Files[0].Block {
		t.Fatalf("manifest = %+v, %v", m, err)
	}
	// Second round: nothing to do.
	p2 := mustPlan(t, desired, root, state)
	if p2.HasChanges() {
		t.Fatalf("second plan has changes: %v", addresses(p2.Changes))
	}
	// No lock left behind.
	if exists(state, LockFile) {
		t.Fatal("apply.lock left behind")
	}
}

func TestBlockMergePreservesText(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	before := "127.0.0.1 localhost\n# BEGIN rackctl managed block\n10.0.0.9 stale\n# END rackctl managed block\n192.168.1.1 printer # mine\n"
	writeFile(t, root, "etc/hosts", before, 0o600)
	p := mustPlan(t, []render.File{block("etc/hosts", hostsBlock)}, root, state)
	mustApply(t, p, root, state)
	want := "127.0.0.1 localhost\n" + hostsBlock + "192.168.1.1 printer # mine\n"
	if got := readFile(t, root, "etc/hosts"); got != want {
		t.Fatalf("hosts = %q, want %q", got, want)
	}
	if fi, _ := os.Stat(filepath.Join(root, "etc/hosts")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode of a block file changed to %v", fi.Mode())
	}
	// Removing the block later keeps the rest.
	p = mustPlan(t, nil, root, state)
	mustApply(t, p, root, state)
	if got := readFile(t, root, "etc/hosts"); got != "127.0.0.1 localhost\n192.168.1.1 printer # mine\n" {
		t.Fatalf("after block removal: %q", got)
	}
	if exists(root, "etc/hosts") == false {
		t.Fatal("block file deleted")
	}
}

func TestBlockMergedAgainstCurrentContent(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "etc/hosts", "1.1.1.1 a\n", 0o644)
	e := NewFileExecutor(FileConfig{Root: root})
	c := Change{Layer: LayerFiles, Action: ActionUpdate, Address: "file:etc/hosts", Block: true, Content: []byte(hostsBlock)}
	// Someone edits the file outside the block between plan and write.
	writeFile(t, root, "etc/hosts", "1.1.1.1 a\n2.2.2.2 b\n", 0o644)
	if err := e.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, root, "etc/hosts"); got != "1.1.1.1 a\n2.2.2.2 b\n"+hostsBlock {
		t.Fatalf("hosts = %q", got)
	}
}

func TestDeleteExcludedNodeFiles(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	desired := []render.File{whole("cl/node-0.yaml", "0\n"), whole("cl/node-1.yaml", "1\n"), whole("cl/node-1-custom.yaml", "1c\n")}
	mustApply(t, mustPlan(t, desired, root, state), root, state)
	// node-1 is excluded: its files are no longer desired.
	p := mustPlan(t, desired[:1], root, state)
	if got := addresses(p.Changes); !slices.Equal(got, []string{"delete file:cl/node-1-custom.yaml", "delete file:cl/node-1.yaml"}) {
		t.Fatalf("plan = %v", got)
	}
	res := mustApply(t, p, root, state)
	if exists(root, "cl/node-1.yaml") || exists(root, "cl/node-1-custom.yaml") || !exists(root, "cl/node-0.yaml") {
		t.Fatal("wrong files deleted")
	}
	// Backups of what was deleted.
	if res.BackupDir == "" {
		t.Fatal("no backup dir")
	}
	if got := readFile(t, res.BackupDir, "cl/node-1.yaml"); got != "1\n" {
		t.Fatalf("backup = %q", got)
	}
	if m, _ := loadManifest(state); len(m.Files) != 1 {
		t.Fatalf("manifest = %+v", m)
	}
	if mustPlan(t, desired[:1], root, state).HasChanges() {
		t.Fatal("changes after the deletes")
	}
}

func TestDeleteAlreadyDeletedIsNoop(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	desired := []render.File{whole("keep", "k\n"), whole("gone", "g\n")}
	mustApply(t, mustPlan(t, desired, root, state), root, state)
	p := mustPlan(t, desired[:1], root, state) // plans a delete of "gone"
	if err := os.Remove(filepath.Join(root, "gone")); err != nil {
		t.Fatal(err)
	}
	res := mustApply(t, p, root, state) // the user beat us to it: fine
	if len(res.Done) != 1 {
		t.Fatalf("result = %+v", res)
	}
	// And planned afresh, a manifest file that is gone is no change at all.
	writeFile(t, root, "x", "x", 0o644)
	m := Manifest{Version: 1, Files: []ManagedFile{{Path: "gone"}}}
	changes, _, err := PlanFiles(nil, root, m)
	if err != nil || len(changes) != 0 {
		t.Fatalf("changes = %v, %v", changes, err)
	}
	if err := NewFileExecutor(FileConfig{Root: root}).Apply(context.Background(), Change{Action: ActionDelete, Address: "file:gone"}); err != nil {
		t.Fatalf("delete of a missing file: %v", err)
	}
}

func TestBackupsWritten(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	writeFile(t, root, "opt/dnsmasq.conf", "old config\n", 0o640)
	now := time.Date(2026, 11, 5, 10, 11, 12, 0, time.UTC)
	p := mustPlan(t, []render.File{whole("opt/dnsmasq.conf", "new config\n")}, root, state)
	res, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	wantDir := filepath.Join(state, "backups", "20261105T101112.000000000Z")
	if res.BackupDir != wantDir {
		t.Fatalf("backup dir = %q, want %q", res.BackupDir, wantDir)
	}
	if got := readFile(t, wantDir, "opt/dnsmasq.conf"); got != "old config\n" {
		t.Fatalf("backup = %q", got)
	}
	if fi, _ := os.Stat(filepath.Join(wantDir, "opt/dnsmasq.conf")); fi.Mode().Perm() != 0o640 {
		t.Fatalf("backup mode %v", fi.Mode())
	}
	// No temp files left beside the target.
	entries, _ := os.ReadDir(filepath.Join(root, "opt"))
	if len(entries) != 1 {
		t.Fatalf("stray files: %v", entries)
	}
}

func TestStalePlanRefused(t *testing.T) {
	tests := map[string]func(t *testing.T, root, state string){
		"file modified": func(t *testing.T, root, state string) { writeFile(t, root, "a.conf", "edited\n", 0o644) },
		"file created":  func(t *testing.T, root, state string) { writeFile(t, root, "b.conf", "sneaky\n", 0o644) },
		"unchanged file modified": func(t *testing.T, root, state string) {
			writeFile(t, root, "c.conf", "edited\n", 0o644)
		},
		"another apply ran": func(t *testing.T, root, state string) {
			if err := saveManifest(state, Manifest{Files: []ManagedFile{{Path: "zzz"}}}); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			root, state := t.TempDir(), t.TempDir()
			writeFile(t, root, "a.conf", "a\n", 0o644)
			writeFile(t, root, "c.conf", "c\n", 0o644)
			p := mustPlan(t, []render.File{whole("a.conf", "A\n"), whole("b.conf", "b\n"), whole("c.conf", "c\n")}, root, state)
			mutate(t, root, state)
			res, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state})
			if !errors.Is(err, ErrStalePlan) {
				t.Fatalf("err = %v, want ErrStalePlan", err)
			}
			var se *StaleError
			if !errors.As(err, &se) || len(se.Changed) != 1 {
				t.Fatalf("stale error = %#v", err)
			}
			t.Log(err)
			if len(res.Done) != 0 || exists(root, "b.conf") && name != "file created" {
				t.Fatal("a stale plan wrote files")
			}
			if h, _ := readHistory(state); len(h) != 0 {
				t.Fatal("a refused plan is in the history")
			}
		})
	}
}

func TestLockHeld(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	host, _ := os.Hostname()
	// A lock written before this boot would be stale: stay after it.
	started := time.Now().UTC().Truncate(time.Second)
	// Our own pid is certainly alive.
	writeLock(t, state, LockInfo{PID: os.Getpid(), Host: host, Started: started})
	p := mustPlan(t, []render.File{whole("a", "a")}, root, state)
	_, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	var le *LockError
	if !errors.As(err, &le) || le.Holder.PID != os.Getpid() {
		t.Fatalf("lock error = %#v", err)
	}
	for _, want := range []string{"pid " + strconv.Itoa(os.Getpid()), "host " + host, started.Format(time.RFC3339)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if exists(root, "a") {
		t.Fatal("wrote while locked")
	}
	// A lock of another host cannot be checked: it holds.
	writeLock(t, state, LockInfo{PID: 1, Host: "elsewhere", Started: started})
	if _, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state}); !errors.Is(err, ErrLocked) {
		t.Fatalf("foreign lock: %v", err)
	}
	// A garbage lock file holds too, and says so.
	if err := os.WriteFile(filepath.Join(state, LockFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "unreadable") {
		t.Fatalf("garbage lock: %v", err)
	}
}

func TestStaleLockTakenOver(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatalf("run true: %v", err)
	}
	dead := cmd.Process.Pid
	host, _ := os.Hostname()
	writeLock(t, state, LockInfo{PID: dead, Host: host, Started: time.Now().Add(-time.Hour)})
	var logs strings.Builder
	p := mustPlan(t, []render.File{whole("a", "a")}, root, state)
	// The killed apply's half-written temp file beside "a".
	leftover := ".a" + atomicfile.TempSuffix + "0badc0ffee00"
	writeFile(t, root, leftover, "half", 0o600)
	_, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state, Log: newTextLogger(&logs)})
	if err != nil {
		t.Fatalf("apply with a stale lock: %v", err)
	}
	if !strings.Contains(logs.String(), "took over stale apply lock") || !strings.Contains(logs.String(), "pid="+strconv.Itoa(dead)) {
		t.Fatalf("no warning: %s", logs.String())
	}
	if exists(state, LockFile) {
		t.Fatal("lock not released")
	}
	if !exists(root, "a") {
		t.Fatal("not applied")
	}
	if exists(root, leftover) {
		t.Fatal("the killed apply's temp file left beside the file written")
	}
}

func TestConcurrentApplies(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	p := mustPlan(t, []render.File{whole("a", "a")}, root, state)
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := &blockingExecutor{entered: entered, release: release}
	p.Changes = append(p.Changes, Change{Layer: LayerBMC, Action: ActionPowerCycle, Address: "bmc:node-0"})
	done := make(chan error, 1)
	go func() {
		_, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state, Executors: []Executor{slow}})
		done <- err
	}()
	<-entered
	_, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state, Executors: []Executor{&fakeExecutor{layer: LayerBMC}}})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second apply: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first apply: %v", err)
	}
}

type blockingExecutor struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingExecutor) Layer() Layer { return LayerBMC }
func (b *blockingExecutor) Apply(ctx context.Context, c Change) error {
	close(b.entered)
	<-b.release
	return nil
}

func TestFailingPhaseStopsLaterPhases(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	p := mustPlan(t, []render.File{whole("a.conf", "a\n")}, root, state)
	p.NextState = ipam.State{Version: 1, Entries: []ipam.Entry{{Node: "n", NIC: ipam.BMC, IP: mustAddr("10.0.0.9")}}}
	p.Changes = append(p.Changes,
		Change{Layer: LayerVerify, Action: ActionUpdate, Address: "verify:all"},
		Change{Layer: LayerBMC, Action: ActionPowerCycle, Address: "bmc:node-0", Node: "node-0", Disruptive: true},
		Change{Layer: LayerBMC, Action: ActionPowerCycle, Address: "bmc:node-1", Node: "node-1", Disruptive: true},
		Change{Layer: LayerDHCP, Action: ActionReload, Address: "dhcp:dnsmasq"},
	)
	dhcp := &fakeExecutor{layer: LayerDHCP}
	bmc := &fakeExecutor{layer: LayerBMC, err: errors.New("ipmi timeout")}
	prov := &fakeExecutor{layer: LayerVerify}
	var events []string
	res, err := Apply(context.Background(), p, ApplyOptions{
		Root: root, StateDir: state, Executors: []Executor{prov, bmc, dhcp},
		Progress: func(e Event) {
			events = append(events, string(e.Status)+" "+e.Change.Address)
			if e.Status == StatusFailed && e.String() != "bmc: power-cycle node-0: failed: ipmi timeout" && e.Change.Address == "bmc:node-0" {
				t.Errorf("event string %q", e.String())
			}
		},
	})
	if err == nil || !strings.Contains(err.Error(), "phase bmc: 2 of 2 changes failed") || !strings.Contains(err.Error(), "ipmi timeout") {
		t.Fatalf("err = %v", err)
	}
	if res.Outcome != OutcomeFailed {
		t.Fatalf("outcome %s", res.Outcome)
	}
	if got := addresses(res.Done); !slices.Equal(got, []string{"create file:a.conf", "reload dhcp:dnsmasq"}) {
		t.Fatalf("done = %v", got)
	}
	if len(res.Failed) != 2 || res.Failed[0].Change.Address != "bmc:node-0" {
		t.Fatalf("failed = %+v", res.Failed)
	}
	if got := addresses(res.NotAttempted); !slices.Equal(got, []string{"update verify:all"}) {
		t.Fatalf("not attempted = %v", got)
	}
	if len(prov.calls) != 0 {
		t.Fatal("verify ran after a failed bmc phase")
	}
	if got := res.Summary(); got != "Apply failed: 2 done, 2 failed, 1 not attempted." {
		t.Fatalf("summary = %q", got)
	}
	js, err := json.Marshal(res)
	if err != nil || !strings.Contains(string(js), `"error":"ipmi timeout"`) || strings.Contains(string(js), `"content"`) {
		t.Fatalf("result JSON = %s, %v", js, err)
	}
	wantEvents := []string{"started file:a.conf", "done file:a.conf", "started dhcp:dnsmasq", "done dhcp:dnsmasq",
		"started bmc:node-0", "failed bmc:node-0", "started bmc:node-1", "failed bmc:node-1", "not-attempted verify:all"}
	if !slices.Equal(events, wantEvents) {
		t.Fatalf("events = %v", events)
	}
	// The files phase succeeded, so the allocation is saved.
	if s, err := loadAllocation(state); err != nil || len(s.Entries) != 1 {
		t.Fatalf("allocation = %v %v", s, err)
	}
	h, err := readHistory(state)
	if err != nil || len(h) != 1 {
		t.Fatalf("history = %v %v", h, err)
	}
	if r := h[0]; r.Outcome != OutcomeFailed || r.Done != 2 || r.Failed != 2 || r.NotAttempted != 1 || !strings.Contains(r.Error, "ipmi timeout") {
		t.Fatalf("history record = %+v", r)
	}
}

func TestNoExecutorForLayer(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	p := mustPlan(t, []render.File{whole("a", "a")}, root, state)
	p.Changes = append(p.Changes, Change{Layer: LayerBMC, Action: ActionPowerCycle, Address: "bmc:x"})
	if _, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state}); err == nil || !strings.Contains(err.Error(), "no executor for layer bmc") {
		t.Fatalf("err = %v", err)
	}
	if exists(root, "a") {
		t.Fatal("wrote files before refusing")
	}
	if _, err := NewApplier(ApplyOptions{StateDir: state, Executors: []Executor{&fakeExecutor{layer: LayerBMC}, &fakeExecutor{layer: LayerBMC}}}); err == nil {
		t.Fatal("two executors for one layer accepted")
	}
}

func TestCancelledBeforeStartWritesNothing(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	p := mustPlan(t, []render.File{whole("a", "a")}, root, state)
	p.NextState = ipam.State{Version: 1}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, p, ApplyOptions{Root: root, StateDir: state})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if exists(root, "a") || exists(state, "") {
		t.Fatal("something was written")
	}
}

func TestCancelledDuringApply(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	p := mustPlan(t, []render.File{whole("a", "a")}, root, state)
	ctx, cancel := context.WithCancel(context.Background())
	canceller := &cancelExecutor{cancel: cancel}
	p.Changes = append(p.Changes,
		Change{Layer: LayerDHCP, Action: ActionReload, Address: "dhcp:1"},
		Change{Layer: LayerDHCP, Action: ActionReload, Address: "dhcp:2"},
		Change{Layer: LayerVerify, Action: ActionUpdate, Address: "verify:x"})
	res, err := Apply(ctx, p, ApplyOptions{Root: root, StateDir: state, Executors: []Executor{canceller, &fakeExecutor{layer: LayerVerify}}})
	if !errors.Is(err, context.Canceled) || res.Outcome != OutcomeCancelled {
		t.Fatalf("err = %v, outcome %s", err, res.Outcome)
	}
	if got := addresses(res.NotAttempted); !slices.Equal(got, []string{"reload dhcp:2", "update verify:x"}) {
		t.Fatalf("not attempted = %v", got)
	}
	if h, _ := readHistory(state); len(h) != 1 || h[0].Outcome != OutcomeCancelled {
		t.Fatalf("history = %+v", h)
	}
}

type cancelExecutor struct{ cancel func() }

func (c *cancelExecutor) Layer() Layer { return LayerDHCP }
func (c *cancelExecutor) Apply(ctx context.Context, ch Change) error {
	c.cancel()
	return nil
}

func TestHistoryAppended(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	for i, content := range []string{"1", "2", "3"} {
		p := mustPlan(t, []render.File{whole("a", content), whole("b"+content, content)}, root, state)
		p.SpecHash = "sha256:" + content
		_, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state, Commit: "c0ffee" + content})
		if err != nil {
			t.Fatal(err)
		}
		h, err := readHistory(state)
		if err != nil || len(h) != i+1 {
			t.Fatalf("history after %d applies: %v %v", i+1, h, err)
		}
		r := h[i]
		if r.SpecHash != "sha256:"+content || r.Commit != "c0ffee"+content || r.Outcome != OutcomeSuccess || r.Done != r.Planned.Add+r.Planned.Change+r.Planned.Destroy || r.Finished.Before(r.Time) {
			t.Fatalf("record %d = %+v", i, r)
		}
	}
	// A corrupt line is reported with its number.
	f, _ := os.OpenFile(filepath.Join(state, HistoryFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("{oops\n")
	f.Close()
	if _, err := readHistory(state); err == nil || !strings.Contains(err.Error(), "history.jsonl:4") {
		t.Fatalf("err = %v", err)
	}
	if h, err := readHistory(t.TempDir()); err != nil || len(h) != 0 {
		t.Fatalf("empty dir: %v %v", h, err)
	}
}

func writeLock(t *testing.T, state string, info LockInfo) {
	t.Helper()
	b, _ := json.Marshal(info)
	if err := os.WriteFile(filepath.Join(state, LockFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
