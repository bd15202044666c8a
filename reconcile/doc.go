// Package reconcile turns desired state into a Plan and applies it.
//
// A Plan is data (FormatVersion, a list of typed Changes per Layer, the IP
// allocation changes, and the hash of every input it was made from). The
// human view (WriteHuman) and the saved JSON form (WriteJSON, ReadPlan)
// render the same model. Apply runs a plan phase by phase — files, dhcp,
// bmc, flags, provisioner, verify — through one Executor per layer; the
// files layer is built in (FileExecutor), later layers plug in through
// ApplyOptions.Executors. A plan is applied only if every input it observed
// is unchanged (ErrStalePlan), and only by one apply at a time (ErrLocked).
//
// # State dir
//
// The state dir (default var/lib/rackctl under the root) holds:
//
//	allocation.json      the IP allocation (ipam.State): saved after the files phase succeeds
//	managed-files.json   the Manifest: every file rackctl manages; one no longer
//	                     desired is deleted (a Block file has its block removed)
//	apply.lock           {"pid","host","started"} of the running apply; a lock of
//	                     this host whose pid is dead is stale and taken over
//	history.jsonl        one HistoryRecord per apply: times, spec hash, commit,
//	                     counts, outcome, error
//	backups/<UTC time>/  the previous version of every file an apply replaced or
//	                     deleted, at its path relative to the root
//
// Plans observe the state files too ("state:allocation.json",
// "state:managed-files.json"), so a plan made before another apply ran is
// stale.
package reconcile

// Names of the files and directories in the state dir.
const (
	AllocationFile = "allocation.json"
	ManifestFile   = "managed-files.json"
	LockFile       = "apply.lock"
	HistoryFile    = "history.jsonl"
	BackupsDir     = "backups"
)
