package state

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// InstallsFile holds the last verify outcome of every node (installs.json).
// It is part of the on-disk format, like the names in dir.go.
const InstallsFile = "installs.json"

// InstallsVersion is the version of installs.json.
const InstallsVersion = 1

// Bounds of installs.json: a verify error quotes what a node or a cluster
// said, so it is cut to MaxInstallReason bytes; the oldest records beyond
// MaxInstallRecords (nodes long gone from the spec) are dropped. The file
// then stays well under maxInstallsSize, which a load refuses to exceed.
const (
	MaxInstallReason  = 1024
	MaxInstallRecords = 10000
	maxInstallsSize   = 32 << 20
)

// InstallOutcome is what the verify layer saw of a node's install.
type InstallOutcome string

const (
	// InstallInstalled: the verify layer recorded the install (its flag
	// file was written right after).
	InstallInstalled InstallOutcome = "installed"
	// InstallFailed: the verify layer gave up on the node; no flag file
	// was written.
	InstallFailed InstallOutcome = "failed"
)

// Installs is installs.json: per node, the last outcome of the verify layer.
// It says what rackctl saw, not whether the node is installed now: the
// provisioner's flag file says that, and it may have been written or
// removed by others (Racker, an operator) since.
type Installs struct {
	Version int                      `json:"version"`
	Nodes   map[string]InstallRecord `json:"nodes"`
}

// InstallRecord is one node's last verify outcome.
type InstallRecord struct {
	Outcome InstallOutcome `json:"outcome"`
	// MAC is the primary MAC of the server verified: a record of a
	// replaced server says nothing about its successor.
	MAC string `json:"mac"`
	// Verify is how the outcome was reached: ssh or cluster (observed),
	// flag (assumed: the flag file was written without looking).
	Verify string    `json:"verify"`
	Time   time.Time `json:"time"`
	// Reason is why the verify failed: the verifier's error text, which
	// never holds a secret (no credential reaches a verifier). It is
	// stored as said; whoever prints it escapes it.
	Reason string `json:"reason,omitempty"`
	// Commit is the commit the applied plan was made from, if known.
	Commit string `json:"commit,omitempty"`
}

// installsMu serializes RecordInstall within this process: the verify
// layer records nodes in parallel, and each record is a read, a change and
// a write of one file. Across processes the apply lock does the same.
var installsMu sync.Mutex

// LoadInstalls reads installs.json; a missing file is no record
// (Version 0, no nodes).
func (d Dir) LoadInstalls() (Installs, error) {
	path := d.File(InstallsFile)
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxInstallsSize {
		return Installs{}, fmt.Errorf("install records %s: %d bytes, more than rackctl ever writes (%d): move it aside", path, fi.Size(), maxInstallsSize)
	}
	var s Installs
	found, err := atomicfile.ReadJSON(path, &s)
	if err != nil {
		return Installs{}, fmt.Errorf("read install records: %w", err)
	}
	if !found {
		return Installs{Nodes: map[string]InstallRecord{}}, nil
	}
	if s.Version != InstallsVersion {
		return Installs{}, fmt.Errorf("install records %s: unsupported version %d", path, s.Version)
	}
	for name, r := range s.Nodes {
		if r.Outcome != InstallInstalled && r.Outcome != InstallFailed {
			return Installs{}, fmt.Errorf("install records %s: node %q: outcome %q, want installed or failed", path, name, r.Outcome)
		}
	}
	if s.Nodes == nil {
		s.Nodes = map[string]InstallRecord{}
	}
	return s, nil
}

// RecordInstall sets node's record to r (its reason cut to
// MaxInstallReason) and saves installs.json atomically.
func (d Dir) RecordInstall(node string, r InstallRecord) error {
	installsMu.Lock()
	defer installsMu.Unlock()
	s, err := d.LoadInstalls()
	if err != nil {
		return err
	}
	r.Reason = cut(r.Reason, MaxInstallReason)
	r.Time = r.Time.UTC()
	s.Nodes[node] = r
	prune(s.Nodes, MaxInstallRecords)
	return d.saveInstalls(s)
}

func (d Dir) saveInstalls(s Installs) error {
	s.Version = InstallsVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode install records: %w", err)
	}
	if err := d.Ensure(); err != nil {
		return err
	}
	if err := atomicfile.Write(d.File(InstallsFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save install records: %w", err)
	}
	return nil
}

// cut is s as valid UTF-8 in at most n bytes, ending on a whole
// character, with "…" when something was cut.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	const more = "…"
	i := n - len(more)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + more
}

// prune drops the oldest records (by time, then name) beyond max.
func prune(nodes map[string]InstallRecord, max int) {
	if len(nodes) <= max {
		return
	}
	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := nodes[names[i]], nodes[names[j]]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return names[i] < names[j]
	})
	for _, n := range names[:len(names)-max] {
		delete(nodes, n)
	}
}
