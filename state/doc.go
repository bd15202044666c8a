// Package state owns rackctl's state directory (default
// <root>/var/lib/rackctl, [DefaultDir]): the names of its files, their
// formats, and every load and save. Other packages hold the logic that
// fills the records (ipam allocates, reconcile plans and applies, rotate
// rotates, watch decides); they read and write the records only through a
// [Dir].
//
// Writes are atomic (internal/atomicfile: a temp file beside the target,
// fsync, rename, fsync of the directory), so a reader or a process killed
// half-way sees the old file or the new one. JSON files are read strictly
// (unknown fields refused) where the code before this package did, so a
// file written by a newer rackctl is refused rather than half-read. The
// formats below are what existing state dirs hold; testdata/old has files
// written by the code before this package, and the tests load them and
// write them back byte for byte.
//
// Files, all relative to the state dir:
//
//	allocation.json      ipam.State, mode 0644: {"version":1,"entries":[{"node",
//	                     "nic":"primary"|"bmc","mac","ip"}]}, entries sorted by
//	                     IP, node, NIC; indented with two spaces, final newline.
//	                     Missing = nothing allocated yet. Saved after the
//	                     files phase of an apply succeeds, and by `import racker`.
//	managed-files.json   Manifest, mode 0644: {"version":1,"files":[{"path",
//	                     "block"?,"node"?}]}, sorted by path, no duplicates;
//	                     every path a clean slash path relative to the root
//	                     (others are refused on load: a later apply deletes
//	                     what the manifest names).
//	nodes.json           NodeState, mode 0644: {"version":1,"sshKeys"?:"sha256:…",
//	                     "nodes":{name:{"mac","reprovision"?,"exclude"?}}};
//	                     missing = Version 0 (nothing recorded).
//	installs.json        Installs, mode 0644: {"version":1,"nodes":{name:
//	                     {"outcome":"installed"|"failed","mac","verify":
//	                     "ssh"|"cluster"|"flag","time","reason"?,"commit"?}}}:
//	                     each node's last verify outcome, written by the
//	                     verify layer (flag = installed without looking);
//	                     reason at most 1024 bytes, at most 10000 nodes (the
//	                     oldest dropped). Missing = nothing recorded.
//	apply.lock           LockInfo, one JSON line: {"pid","host","started",
//	                     "bootID"?,"procStart"?}. Made complete in a temp file
//	                     and hard-linked into place; stale only on this host
//	                     when its boot, pid or the pid's start time says so.
//	history.jsonl        one HistoryRecord per line, appended with O_APPEND:
//	                     {"time","finished","rackName"?,"specHash","commit"?,
//	                     "planned":{"add","change","destroy"},"allocations",
//	                     "done","failed","notAttempted","verified"?,"outcome",
//	                     "error"?,"backupDir"?}; verified counts the installs
//	                     the verify phase saw run (ssh, cluster).
//	backups/<UTC time>/  the previous version of every file an apply replaced
//	                     or deleted, at its path relative to the root.
//	rotation.json        Rotation, mode 0600 (the dir is created 0700 if
//	                     missing): {"formatVersion":1,"user","oldUser",
//	                     "switchStarted"?,"switched"?,"switchedAt"?,"complete"?,
//	                     "completedAt"?,"nodes":{name:{"slot","oldSlot"?,
//	                     "phase","updated","error"?}}}. No secret, ever.
//	provisioner-inputs.json  ProvisionerInputs, mode 0644: {"version":1,
//	                     "provisioner","dir","digest":"sha256:…","at"}: the
//	                     provisioner's directory (dir, relative to the root)
//	                     hashed after a run that left terraform nothing to do.
//	                     Removed (and the removal fsynced) before every run;
//	                     missing = the next plan runs terraform plan.
//	watch-events.jsonl   one WatchEvent per line: what the watch loop did with
//	                     each revision (trigger, outcome, commit and author,
//	                     planned counts, policy verdict, reason, diagnostics,
//	                     and for a failed apply the failed changes: layer,
//	                     node, address, error, timedOut).
//	watch-state.json     WatchState, mode 0644: {"lastApplied","time"}.
//	approvals/<commit>   empty file: the held commit is approved.
//	pin.json             Pin, mode 0644: {"commit","by","at","reason"?,
//	                     "rollback"?}: the commit watch reconciles instead of
//	                     the branch head (rackctl pin, rollback), the full
//	                     hash only; written atomically, removed by unpin.
//	                     Missing = not pinned; unreadable = watch applies
//	                     nothing until it is fixed or removed.
//	maintenance.json     Maintenance, mode 0644: {"version":1,"nodes":{name:
//	                     {"maintenance","by","at","reason"?}}}: the local
//	                     maintenance overrides (rackctl maintenance NODE
//	                     on|off), which the engine applies over the spec's
//	                     nodes[].maintenance until rack.yaml says the same;
//	                     reason at most 1024 bytes, at most 10000 nodes, the
//	                     file at most 16 MiB. Written atomically; removed
//	                     when the last override goes. Missing = none;
//	                     unreadable = plan, apply, watch and status fail
//	                     until it is fixed or removed.
//	maintenance.lock     empty; flock(2) held while maintenance.json is read,
//	                     changed and written (rackctl maintenance, an apply
//	                     removing spent overrides).
//	source/git/          the git source's clone.
package state
