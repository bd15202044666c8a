package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/render"
)

// FilePrefix starts the Address of every file change: "file:" + the slash
// path relative to the root.
const FilePrefix = "file:"

// filesLayer is the files layer: every rendered file, written whole or as
// a managed block. Build plans it (PlanFiles) before any other layer,
// since targets and the allocation apply to it first; its phase saves the
// manifest before it writes and the allocation and manifest after.
type filesLayer struct{}

func (filesLayer) Layer() Layer                                  { return LayerFiles }
func (filesLayer) Plan(context.Context, *planner) error          { return nil }
func (filesLayer) Policy() FailurePolicy                         { return StopAll }
func (filesLayer) BeforePhase(a *Applier, p *Plan) error         { return a.recordIntent(p) }
func (filesLayer) AfterPhase(a *Applier, p *Plan, ok bool) error { return a.saveState(p, ok) }

// Absent is the Observed value of a file that does not exist.
const Absent = "absent"

const defaultMode fs.FileMode = 0o644

// PlanFiles compares the desired files with the files under root. Block
// files are compared after merging their block into the current content;
// files of the manifest that are no longer desired are deleted (Block
// files have their block removed). Unchanged files yield no change but are
// in observed, like every file the plan was made from. A whole file whose
// content differs from the rendered one only in layout (render.SameMeaning:
// HCL and YAML compared by meaning) is unchanged: it is left as it is
// until its meaning changes.
func PlanFiles(desired []render.File, root string, m Manifest) (changes []Change, observed Observations, err error) {
	observed = make(Observations, len(desired))
	seen := make(map[string]bool, len(desired))
	for _, f := range desired {
		if err := checkPath(f.Path); err != nil {
			return nil, nil, err
		}
		if seen[f.Path] {
			return nil, nil, fmt.Errorf("plan files: %s desired twice", f.Path)
		}
		seen[f.Path] = true
	}
	// Reading, hashing and diffing one file is independent of every other
	// file: done on all cores, each result at its file's index, then
	// gathered in order, so the plan and the first error reported are
	// those of a sequential pass.
	type result struct {
		hash   string
		change Change
		ok     bool
		err    error
	}
	res := make([]result, len(desired))
	parallel(len(desired), func(i int) {
		f := desired[i]
		cur, curMode, exists, err := readCurrent(root, f.Path)
		if err != nil {
			res[i].err = err
			return
		}
		res[i].hash = hashOf(cur, exists)
		res[i].change, res[i].ok = planFile(f, cur, curMode, exists)
	})
	for i, f := range desired {
		if res[i].err != nil {
			return nil, nil, res[i].err
		}
		observed[FileKey(f.Path)] = res[i].hash
		if res[i].ok {
			changes = append(changes, res[i].change)
		}
	}
	for _, mf := range m.Files {
		if seen[mf.Path] {
			continue
		}
		if err := checkPath(mf.Path); err != nil {
			return nil, nil, fmt.Errorf("manifest: %w", err)
		}
		cur, _, exists, err := readCurrent(root, mf.Path)
		if err != nil {
			return nil, nil, err
		}
		if !exists {
			continue // already gone: nothing to do
		}
		addr := FilePrefix + mf.Path
		if mf.Block {
			if _, ok := render.ExtractBlock(cur); !ok {
				continue
			}
			observed[FileKey(mf.Path)] = hashOf(cur, true)
			changes = append(changes, Change{
				Layer: LayerFiles, Action: ActionUpdate, Address: addr, Block: true, Node: mf.Node,
				Reason: "managed block no longer desired",
				Diff:   unifiedDiff(mf.Path, cur, render.MergeBlock(cur, nil), true, true),
			})
			continue
		}
		observed[FileKey(mf.Path)] = hashOf(cur, true)
		changes = append(changes, Change{
			Layer: LayerFiles, Action: ActionDelete, Address: addr, Node: mf.Node,
			Reason: "no longer in rack.yaml",
			Diff:   unifiedDiff(mf.Path, cur, nil, true, false),
		})
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.Address, b.Address) })
	return changes, observed, nil
}

// parallel calls do(i) for every i in [0, n) on GOMAXPROCS goroutines and
// returns when all are done. do must only write to what index i owns.
func parallel(n int, do func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			do(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				do(i)
			}
		})
	}
	wg.Wait()
}

func planFile(f render.File, cur []byte, curMode fs.FileMode, exists bool) (Change, bool) {
	c := Change{Layer: LayerFiles, Address: FilePrefix + f.Path, Node: f.Node, Content: f.Content, Mode: f.Mode}
	if c.Mode == 0 {
		c.Mode = defaultMode
	}
	want := f.Content
	if f.Kind == render.Block {
		c.Block = true
		want = render.MergeBlock(cur, f.Content)
		if exists {
			c.Mode = curMode // a Block file's mode is the owner's
		}
	}
	switch {
	case !exists:
		c.Action, c.Reason = ActionCreate, "not present"
		c.Diff = createDiff(f.Path, want)
	case !bytes.Equal(cur, want) && (c.Block || !render.SameMeaning(f.Path, cur, want)):
		c.Action, c.Reason = ActionUpdate, "content differs"
		if c.Block {
			c.Reason = "managed block differs"
		}
		c.Diff = unifiedDiff(f.Path, cur, want, true, true)
		if curMode != c.Mode {
			c.Reason += fmt.Sprintf(", mode %04o -> %04o", curMode, c.Mode)
		}
	case curMode != c.Mode:
		c.Action, c.Reason = ActionUpdate, fmt.Sprintf("mode %04o -> %04o", curMode, c.Mode)
	default:
		return Change{}, false
	}
	return c, true
}

// createDiff is unifiedDiff(p, nil, want, false, true), written out
// directly: every line is an addition, so there is nothing for the LCS
// search to find, and on an empty host (a first plan: every file is
// created) that search was most of the plan's diffing. Inputs unifiedDiff
// treats specially (empty, binary, too large) go to it.
func createDiff(p string, want []byte) string {
	if len(want) == 0 || len(want) > maxDiffInput || isBinary(want) {
		return unifiedDiff(p, nil, want, false, true)
	}
	n := bytes.Count(want, []byte("\n"))
	if want[len(want)-1] != '\n' {
		n++
	}
	var b strings.Builder
	b.Grow(len(want) + n + 2*len(p) + 64)
	b.WriteString("--- /dev/null\n+++ b/")
	b.WriteString(p)
	if n == 1 {
		b.WriteString("\n@@ -0,0 +1 @@\n")
	} else {
		fmt.Fprintf(&b, "\n@@ -0,0 +1,%d @@\n", n)
	}
	for rest := want; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		b.WriteByte('+')
		b.Write(line)
		if line[len(line)-1] != '\n' {
			b.WriteString("\n\\ No newline at end of file\n")
		}
	}
	return truncateLines(b.String(), maxDiffLines)
}

// checkPath rejects paths that are not clean, relative and inside the root.
func checkPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "\\") {
		return fmt.Errorf("file path %q: must be a clean slash path relative to the root", p)
	}
	return nil
}

// maxFileSize bounds every managed file a plan reads (terraform.tfstate
// of a large rack included): a planted huge file must not exhaust memory.
const maxFileSize = 256 << 20

// readCurrent reads root/p beneath root without following links: a link
// on the way is refused with an error naming it (*rootfs.LinkError), so no
// content read through one ever reaches a diff, a log or a saved plan. A
// missing file is not an error.
func readCurrent(root, p string) (content []byte, mode fs.FileMode, exists bool, err error) {
	r, err := rootfs.New(root)
	if err != nil {
		return nil, 0, false, err
	}
	b, fi, err := r.ReadFile(p, maxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("file %s: %w", p, err)
	}
	return b, fi.Mode().Perm(), true, nil
}

func hashOf(b []byte, exists bool) string {
	if !exists {
		return Absent
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// FileConfig configures a FileExecutor.
type FileConfig struct {
	Root string // host root the file paths are relative to
	// BackupDir receives the previous version of every replaced or deleted
	// file, at the same relative path; empty means no backups.
	BackupDir string
	Log       *slog.Logger
	// Validate checks new content by path before it is written.
	Validate map[string]func(ctx context.Context, content []byte) error
	// CleanTemp removes temp files an interrupted write left beside a
	// file before it is written (set after a stale apply lock).
	CleanTemp bool
}

// FileExecutor applies the files layer: atomic writes, backups, deletes.
// Every path is reached through rootfs, beneath Root, refusing links.
type FileExecutor struct {
	cfg    FileConfig
	log    *slog.Logger
	serial bool // set by Prepare: this plan's changes must run in order
}

var (
	_ Executor = (*FileExecutor)(nil)
	_ Observer = (*FileExecutor)(nil)
)

// NewFileExecutor returns the executor of the files layer.
func NewFileExecutor(cfg FileConfig) *FileExecutor {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FileExecutor{cfg: cfg, log: log}
}

// Layer is LayerFiles.
func (e *FileExecutor) Layer() Layer { return LayerFiles }

// fileConcurrency is how many file changes of a phase run at once. A write
// is mostly waiting for its fsyncs: run together, the file fsyncs share
// journal commits and the directory fsyncs are shared outright (rootfs
// group-commits them per directory), which is what makes a first apply of
// a thousand nodes cost a few directory fsyncs instead of one per file.
const fileConcurrency = 16

var (
	_ Concurrent = (*FileExecutor)(nil)
	_ Preparer   = (*FileExecutor)(nil)
)

// Concurrency is fileConcurrency, or 1 for a plan whose file changes
// depend on their order (see Prepare).
func (e *FileExecutor) Concurrency() int {
	if e.serial {
		return 1
	}
	return fileConcurrency
}

// Prepare looks for file changes whose paths nest: a file deleted where
// another change needs a directory (or the reverse) works only in plan
// order, so such a plan is applied one change at a time. Changes at
// distinct, non-nesting paths touch distinct directory entries and
// commute.
func (e *FileExecutor) Prepare(p *Plan) error {
	paths := map[string]bool{}
	for _, c := range p.Changes {
		if rel, ok := strings.CutPrefix(c.Address, FilePrefix); ok && c.Layer == LayerFiles {
			paths[rel] = true
		}
	}
	e.serial = false
	for rel := range paths {
		for dir := path.Dir(rel); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if paths[dir] {
				e.serial = true
				return nil
			}
		}
	}
	return nil
}

// Observe hashes a file as PlanFiles does.
func (e *FileExecutor) Observe(ctx context.Context, k ObsKey) (string, error) {
	if err := checkPath(k.Path); err != nil {
		return "", err
	}
	cur, _, exists, err := readCurrent(e.cfg.Root, k.Path)
	if err != nil {
		return "", err
	}
	return hashOf(cur, exists), nil
}

// Apply carries out one file change. It is idempotent: writing content the
// file already has, or deleting a missing file, does nothing. A Block
// file keeps its mode and owner: the file is someone else's.
func (e *FileExecutor) Apply(ctx context.Context, c Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, ok := strings.CutPrefix(c.Address, FilePrefix)
	if !ok {
		return fmt.Errorf("files: address %q is not a file", c.Address)
	}
	if err := checkPath(p); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	root, err := rootfs.New(e.cfg.Root)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	cur, curMode, exists, err := readCurrent(e.cfg.Root, p)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	switch c.Action {
	case ActionNoop:
		return nil
	case ActionCreate, ActionUpdate:
		want, mode := c.Content, c.Mode
		if c.Block {
			want = render.MergeBlock(cur, c.Content)
			if exists {
				mode = curMode
			}
		}
		if mode == 0 {
			mode = defaultMode
		}
		if exists && bytes.Equal(cur, want) && curMode == mode {
			return nil
		}
		if v := e.cfg.Validate[p]; v != nil {
			if err := v(ctx, want); err != nil {
				return fmt.Errorf("files: %s not written: %w", p, err)
			}
		}
		if e.cfg.CleanTemp {
			cleanTemp(root, p, e.log)
		}
		if exists {
			if err := e.backup(p, cur, curMode); err != nil {
				return err
			}
		}
		if err := root.WriteFile(p, want, mode); err != nil {
			return fmt.Errorf("files: %w", err)
		}
		e.log.Info("file written", "path", p, "action", string(c.Action), "bytes", len(want))
		return nil
	case ActionDelete:
		if !exists {
			return nil
		}
		if err := e.backup(p, cur, curMode); err != nil {
			return err
		}
		if err := root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("files: delete: %w", err)
		}
		e.log.Info("file deleted", "path", p)
		return nil
	default:
		return fmt.Errorf("files: %s: unsupported action %q", p, c.Action)
	}
}

// cleanTemp removes the temp files a write killed between creating and
// renaming them left beside p.
func cleanTemp(root *rootfs.Root, p string, log *slog.Logger) {
	for _, f := range root.Leftovers(p) {
		if err := root.Remove(f); err == nil {
			log.Info("removed temp file of an interrupted apply", "path", f)
		}
	}
}

// backup saves the previous content of p under BackupDir, which is
// rackctl's own (0700), written beneath it without following links.
func (e *FileExecutor) backup(p string, cur []byte, mode fs.FileMode) error {
	if e.cfg.BackupDir == "" {
		return nil
	}
	if err := os.MkdirAll(e.cfg.BackupDir, 0o700); err != nil {
		return fmt.Errorf("files: back up %s: %w", p, err)
	}
	dst, err := rootfs.New(e.cfg.BackupDir)
	if err != nil {
		return fmt.Errorf("files: back up %s: %w", p, err)
	}
	if err := dst.WriteFile(p, cur, mode); err != nil {
		return fmt.Errorf("files: back up %s: %w", p, err)
	}
	return nil
}

// defaultExecutor is the files layer's own executor, used when the caller
// supplies none: it writes beneath the Applier's root, backing replaced
// files up into backupDir.
func (filesLayer) defaultExecutor(a *Applier, backupDir string) Executor {
	return NewFileExecutor(FileConfig{Root: a.opts.Root, BackupDir: backupDir, Log: a.log, Validate: a.opts.Validate})
}

// afterKilledApply: an apply was killed, so the temp files its writes may
// have left beside the files this plan writes are dropped first.
func (e *FileExecutor) afterKilledApply() { e.cfg.CleanTemp = true }

// precheck reads every file the plan observed or changes, before the
// state dir or the lock is touched: a link planted beneath the root since
// the plan was made fails the apply with nothing written at all. The
// check under the lock (checkObserved) still decides; this only makes a
// refusal leave no trace.
func (e *FileExecutor) precheck(p *Plan) error {
	paths := map[string]bool{}
	for key := range p.Observed {
		if key.Layer == LayerFiles {
			paths[key.Path] = true
		}
	}
	for _, c := range p.Changes {
		if rel, ok := strings.CutPrefix(c.Address, FilePrefix); ok && c.Layer == LayerFiles {
			paths[rel] = true
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(paths)) {
		if err := checkPath(rel); err != nil {
			return err
		}
		if _, _, _, err := readCurrent(e.cfg.Root, rel); errors.Is(err, rootfs.ErrLink) {
			return err
		}
	}
	return nil
}
