package reconcile

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/rackctl/rackctl/render"
)

var intentFiles = []render.File{whole("a.conf", "a\n"), whole("b.conf", "b\n"), whole("c.conf", "c\n")}

// TestManifestRecordsIntent: whenever the files phase is about to write a
// file, the saved manifest already lists it (and every other file of the
// plan), so no moment exists where a written file is unrecorded.
func TestManifestRecordsIntent(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	checked := 0
	check := func(ctx context.Context, _ []byte) error {
		m, err := loadManifest(state)
		if err != nil {
			return err
		}
		for _, f := range intentFiles {
			if !slices.ContainsFunc(m.Files, func(mf ManagedFile) bool { return mf.Path == f.Path }) {
				t.Errorf("about to write: %s not in the saved manifest %v", f.Path, m.Files)
			}
		}
		checked++
		return nil
	}
	p := mustPlan(t, intentFiles, root, state)
	v := map[string]func(context.Context, []byte) error{}
	for _, f := range intentFiles {
		v[f.Path] = check
	}
	if _, err := Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state, Validate: v}); err != nil {
		t.Fatal(err)
	}
	if checked != len(intentFiles) {
		t.Fatalf("checked %d writes, want %d", checked, len(intentFiles))
	}
}

// TestKillDuringFilesPhaseLeavesNoOrphan kills a real apply (SIGKILL, in a
// child process) after a.conf is written and before b.conf is: a.conf must
// be in the manifest, so a spec that drops it deletes it.
func TestKillDuringFilesPhaseLeavesNoOrphan(t *testing.T) {
	if dir := os.Getenv("RECONCILE_TEST_KILL_ROOT"); dir != "" {
		killedApply(dir, os.Getenv("RECONCILE_TEST_KILL_STATE"))
		t.Fatal("the apply was not killed")
	}
	root, state := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringFilesPhaseLeavesNoOrphan$")
	cmd.Env = append(os.Environ(), "RECONCILE_TEST_KILL_ROOT="+root, "RECONCILE_TEST_KILL_STATE="+state)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want killed\n%s", err, out)
	}
	if !exists(root, "a.conf") || exists(root, "b.conf") {
		t.Fatalf("child did not stop between a.conf and b.conf")
	}

	// The next spec drops a.conf: the plan must delete it.
	p := mustPlan(t, intentFiles[1:], root, state)
	if got := addresses(p.Changes); !slices.Contains(got, "delete file:a.conf") {
		t.Fatalf("a.conf written before the kill is orphaned: changes %v", got)
	}
	mustApply(t, p, root, state)
	if exists(root, "a.conf") {
		t.Error("a.conf still there")
	}
}

// killedApply applies intentFiles and kills its own process when b.conf
// is about to be written.
func killedApply(root, state string) {
	p, err := filePlan(intentFiles, root, state)
	if err != nil {
		panic(err)
	}
	kill := func(context.Context, []byte) error {
		// File changes run concurrently (FileExecutor.Concurrency): wait
		// for a.conf to be written, so the kill falls between the two.
		for i := 0; i < 500 && !exists(root, "a.conf"); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	Apply(context.Background(), p, ApplyOptions{Root: root, StateDir: state,
		Validate: map[string]func(context.Context, []byte) error{"b.conf": kill}})
}
