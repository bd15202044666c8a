package state

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Names of the files and directories in the state dir. They are part of
// the on-disk format: existing state dirs are found by them.
const (
	AllocationFile  = "allocation.json"
	ManifestFile    = "managed-files.json"
	NodesFile       = "nodes.json"
	LockFile        = "apply.lock"
	HistoryFile     = "history.jsonl"
	BackupsDir      = "backups"
	RotationFile    = "rotation.json"
	WatchEventsFile = "watch-events.jsonl"
	WatchStateFile  = "watch-state.json"
	ApprovalsDir    = "approvals"
	// SourceDir holds the sources' own data (the git clone in source/git).
	SourceDir = "source"
	// KnownHostsFile pins the nodes' SSH host keys (OpenSSH's known_hosts
	// format, the node's name as host), written by package nodessh.
	KnownHostsFile = "known_hosts"
)

// Dir is a state directory. It is a path, not an open handle: every load
// and save resolves its file when it runs, so a Dir may be made before the
// directory exists (a rack never applied).
type Dir struct {
	path string
}

// New returns the state dir at path.
func New(path string) Dir { return Dir{path: path} }

// Path is the directory itself.
func (d Dir) Path() string { return d.path }

// File is the path of name (one of the names above) in the state dir.
func (d Dir) File(name string) string { return filepath.Join(d.path, name) }

// Ensure creates the state dir (and its parents) when it is missing.
func (d Dir) Ensure() error {
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return nil
}

// BackupDir is where an apply started at started keeps the previous
// version of every file it replaced or deleted. The name sorts by time.
func (d Dir) BackupDir(started time.Time) string {
	return filepath.Join(d.path, BackupsDir, started.UTC().Format("20060102T150405.000000000Z"))
}

// GitSourceDir is the working directory of the git source (its clone).
func (d Dir) GitSourceDir() string { return filepath.Join(d.path, SourceDir, "git") }

// DefaultDir is the state dir relative to --root when no --state-dir is
// given.
const DefaultDir = "var/lib/rackctl"
