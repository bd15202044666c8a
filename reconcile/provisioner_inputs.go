package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/rackctl/rackctl/state"
)

// A no-op plan should not start terraform: `terraform plan` of a 1000-node
// rack is a process, provider start-up and a matchbox read per resource.
// So every run of the provisioner that ends with terraform having nothing
// left to do (the provisioner layer's run, the settle layer's re-run)
// records the digest of everything in the provisioner's directory that
// terraform reads (state/ProvisionerInputs), and a plan in which nothing
// else calls for a run skips `terraform plan` while that digest still
// matches, saying so: "not re-planned, inputs unchanged since <when>".
//
// What the skip relies on and what it does not observe:
//   - The digest covers every file and link under the directory (the
//     rendered .tf files and Ignition, the flag files, terraform.tfstate,
//     the lock file, anything a person added), except what is in
//     .terraform/, which terraform init derives from the lock file. Same
//     digest, same inputs: terraform would plan against the same
//     configuration and state.
//   - The record is removed (durably) before any run starts and written
//     only after one succeeded, so a failed or killed run leaves none.
//   - What terraform would read from matchbox itself is not observed: a
//     profile changed or deleted on the server behind rackctl's back is
//     seen only by a real plan. The note says so; removing the record
//     (state dir, provisioner-inputs.json) makes the next plan a real one.

// inputsNotReplanned is the note of a plan that skipped the provisioner's
// own plan; at is when the record was made.
func inputsNotReplanned(tool string, at time.Time) string {
	return fmt.Sprintf("provisioner: not re-planned, inputs unchanged since %s (the last successful %s run); "+
		"what the provisioner's servers hold was not read: remove %s from the state dir to plan with %s again",
		at.UTC().Format(time.RFC3339), tool, state.ProvisionerFile, tool)
}

// inputsUnchanged tells whether dir (relative to the root) still holds
// exactly the inputs recorded after the provisioner's last successful run,
// and when that was. Any doubt (no record, an unreadable one, another
// provisioner or directory, a file that cannot be read) is false: the
// provisioner then plans for itself.
func inputsUnchanged(pl *planner, dir string) (time.Time, bool) {
	rec, found, err := state.New(pl.opts.StateDir).LoadProvisionerInputs()
	if err != nil {
		pl.note(err.Error())
		return time.Time{}, false
	}
	if !found || rec.Dir != dir || rec.Provisioner != string(pl.rack.Provisioner) {
		return time.Time{}, false
	}
	d, err := inputsDigest(pl.opts.Root, dir)
	if err != nil || d != rec.Digest {
		return time.Time{}, false
	}
	return rec.At, true
}

// inputsDigest is "sha256:<hex>" over every entry under root/dir but what
// is in the top-level .terraform/: its slash path, type and permissions, and a
// file's content digest or a link's target. Files are hashed on all cores.
func inputsDigest(root, dir string) (string, error) {
	base := filepath.Join(root, filepath.FromSlash(dir))
	type entry struct {
		rel, meta string
		file      bool
		sum       [sha256.Size]byte
	}
	var entries []entry
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{rel: rel, meta: fi.Mode().String(), file: fi.Mode().IsRegular()}
		if d.IsDir() && rel == ".terraform" {
			// Its presence counts (without it the plan says terraform
			// is not initialized), not what init put in it.
			entries = append(entries, e)
			return filepath.SkipDir
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.meta += " -> " + t
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("provisioner inputs in %s: %w", dir, err)
	}
	errs := make([]error, len(entries))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			h := sha256.New()
			for i := range next {
				errs[i] = hashFile(h, filepath.Join(base, filepath.FromSlash(entries[i].rel)), &entries[i].sum)
			}
		})
	}
	for i := range entries {
		if entries[i].file {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	h := sha256.New()
	for i, e := range entries {
		if errs[i] != nil {
			return "", fmt.Errorf("provisioner inputs in %s: %w", dir, errs[i])
		}
		fmt.Fprintf(h, "%q %q %x\n", e.rel, e.meta, e.sum)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(h interface {
	io.Writer
	Reset()
	Sum([]byte) []byte
}, path string, out *[sha256.Size]byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h.Reset()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	h.Sum(out[:0])
	return nil
}

// convergence is what a ProvisionerExecutor knows of its runs in this
// apply: the directory of the last run that left the provisioner nothing
// to do, "" when none did or a later one started.
type convergence struct {
	mu  sync.Mutex
	dir string
}

func (c *convergence) started() { c.mu.Lock(); c.dir = ""; c.mu.Unlock() }

func (c *convergence) converged(dir string) { c.mu.Lock(); c.dir = dir; c.mu.Unlock() }

func (c *convergence) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dir
	c.dir = ""
	return d
}

// forgetInputs removes the record before a phase that may run the
// provisioner.
func forgetInputs(a *Applier) error {
	if err := state.New(a.opts.StateDir).ForgetProvisionerInputs(); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// recordInputs records the inputs of px's run when it left the
// provisioner nothing to do. Failing to record costs the next plan a real
// provisioner plan, no correctness: it is logged, not an apply failure.
func recordInputs(a *Applier, p *Plan, px *ProvisionerExecutor) error {
	if px == nil {
		return nil
	}
	dir := px.runs.take()
	if dir == "" {
		return nil
	}
	d, err := inputsDigest(a.opts.Root, dir)
	if err == nil {
		err = state.New(a.opts.StateDir).SaveProvisionerInputs(state.ProvisionerInputs{
			Provisioner: p.Provisioner, Dir: dir, Digest: d, At: a.opts.Now().UTC()})
	}
	if err != nil {
		a.log.Warn("provisioner inputs not recorded: the next plan runs the provisioner's own plan", "err", err)
	}
	return nil
}

// The provisioner and settle layers run the provisioner: the record goes
// before their phase and comes back after it only for a run that ended
// with nothing left to do.

func (provisionerLayer) BeforePhase(a *Applier, _ *Plan) error { return forgetInputs(a) }

func (provisionerLayer) AfterPhase(a *Applier, p *Plan, _ bool) error {
	px, _ := a.executors[LayerProvisioner].(*ProvisionerExecutor)
	return recordInputs(a, p, px)
}

func (settleLayer) BeforePhase(a *Applier, p *Plan) error {
	for _, c := range p.Changes {
		if c.Layer == LayerSettle && c.Action == ActionSettle {
			return forgetInputs(a)
		}
	}
	return nil
}

func (settleLayer) AfterPhase(a *Applier, p *Plan, _ bool) error {
	se, _ := a.executors[LayerSettle].(*SettleExecutor)
	if se == nil {
		return nil
	}
	return recordInputs(a, p, se.Provisioner)
}
