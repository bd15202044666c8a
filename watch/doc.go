// Package watch is rackctl's GitOps loop (`rackctl watch`): it takes each
// revision of rack.yaml from a [source.Source] (git or a local file),
// validates it, plans it, checks it against a safety [Policy] and applies
// it, through a [Reconciler] the engine provides (engine.Engine.Reconciler:
// the same plan and apply path as `rackctl apply`).
//
// # One revision
//
// A spec that fails validation (schema.Parse) never reaches plan: the
// revision is recorded as rejected with the positioned diagnostics and the
// rack keeps the last valid revision. A commit the source refuses (unsigned,
// unknown key, bad signature, not a fast-forward) is recorded as skipped.
// An empty plan is "unchanged". Otherwise the policy decides, and the plan
// is applied with the commit in reconcile's history.jsonl.
//
// # Policy
//
// The disruptive changes of a plan (reconcile.Change.Disruptive: PXE
// reinstalls, power cycles, flag files removed to force a reinstall, a
// lokoctl run that reboots nodes to re-run their Ignition) are counted as
// distinct nodes per role (reconcile.Change.Interrupts). A lokoctl run
// counts every installed node whose Ignition a changed shared input reaches
// (cluster labels, SSH keys, a node's list position, the number of
// controllers, …) and, when rackctl cannot tell, every installed node. Up to Policy.MaxControllers
// controllers and Policy.MaxWorkersPercent of the workers (flatcar:
// MaxNodesPercent of the nodes), at least one, go without asking; more
// holds the plan until `rackctl approve COMMIT` writes
// <stateDir>/approvals/<commit>. The loop polls for the approval, plans the
// commit again against the current state and applies it; the approval is
// removed after a successful apply. An approval lifts the node limits only.
// A plan in waves (reconcile.Plan.Rollout: by default whenever it disrupts
// more than one installed node, waves of the same limits) counts what it
// disrupts at once: each role's largest wave, plus the nodes disrupted
// outside the waves (a lokoctl run's reboots).
//
// With Policy.Windows, a plan with any disruptive change waits outside the
// windows and goes when one opens; plans without disruptive changes apply
// at any time.
//
// A held plan is held whole: its non-disruptive changes (DHCP reservations,
// /etc/hosts, configuration files) wait with it. Applying part of a plan is
// not safe from outside reconcile: the state records a plan saves
// (nodes.json, the file manifest) describe the whole plan, so a partial
// apply would record reinstalls that never happened. A commit that only
// touches non-disruptive parts is never held. A newer valid revision
// replaces a held one.
//
// # Drift, failures, stopping
//
// Every Config.DriftInterval the last applied revision is planned again; a
// non-empty plan is applied under the same policy (trigger "drift").
// A failed plan or apply, and a panic in the Reconciler (recovered, logged
// with its stack), are retried after [Backoff]: BackoffMin doubling per
// failure in a row, capped at BackoffMax. Cancelling Run's context (SIGTERM)
// reaches reconcile.Apply, which stops between changes and releases its
// lock; the revision is recorded as cancelled, and the next start, handed
// the same revision by the source, converges.
//
// # Rollback pin
//
// `rackctl pin COMMIT` (or `rackctl rollback`) writes <stateDir>/pin.json
// ([state.Pin]: commit, who, when, why); the loop reads it at start, at
// every source event and every PollInterval. While a pin is set the loop
// reconciles the pinned commit instead of the branch head, drift checks
// included; each new head is recorded once as "pinned" ("not applied:
// pinned to …") and never planned. The pinned commit is read through
// Config.Pins (source.Git.ReadCommit): it must be the branch head or one of
// its ancestors and pass the same signature check as a head, so a pin is
// no way around signed commits. A pin the loop cannot follow (unknown or
// unsigned commit, invalid spec, no git source) is recorded as failed and
// nothing is applied until it is fixed or removed. `rackctl unpin` removes
// the file; the loop then reconciles the head. [SetPin] and [Unpin] record
// the operator's action in watch-events.jsonl (trigger "operator", outcome
// "pin"/"unpin", the operator as author); a running loop that sees the pin
// change hands those records to Config.OnEvent before it acts on the pin,
// so notifications say who pinned. [LastGood] is rollback's choice:
// the newest commit of history.jsonl whose apply succeeded with at least
// one install the verify phase saw (HistoryRecord.Verified).
//
// # Local maintenance overrides
//
// `rackctl maintenance NODE on|off` writes <stateDir>/maintenance.json
// through [SetMaintenance], which records the operator's action (outcome
// "maintenance", trigger "operator"). The engine applies the file to every
// plan (the Reconciler's), so the next drift check, retry or revision sees
// it without a commit; the loop also looks at the file every PollInterval
// and, when it changed, checks drift at once (even with DriftInterval off)
// and hands the operator's new records to Config.OnEvent.
//
// # Records
//
// <stateDir>/watch-events.jsonl has one [EventRecord] per outcome
// (applied, apply-failed, unchanged, rejected, skipped, held, failed,
// cancelled, pinned; pin, unpin and maintenance for the operator's actions) with the commit, author, commit time, signer, planned counts,
// the policy verdict and the reason; state.Dir.ReadWatchEvents reads it. Drift checks
// that find nothing are not recorded. <stateDir>/watch-state.json keeps the
// last applied commit (state.Dir.LastApplied) for the git source's fast-forward
// check after a restart.
//
// # Metrics
//
// [Watcher.Handler] serves /metrics (its own registry):
// rackctl_watch_last_applied_info{commit}, _last_applied_timestamp_seconds,
// _reconcile_duration_seconds{trigger,outcome}, _actions_total{layer,outcome},
// _reconciles_total{trigger,outcome}, _bmc_reachable{node} (from the
// "bmc:NODE:power" values each plan observes, so only for nodes the bmc
// layer reads), _drift_changes, _held, _consecutive_failures, _panics_total,
// _source_errors_total, _pinned_info{commit} (only while pinned);
// rackctl_rollout_wave (the last wave of the last rollout that became
// healthy), rackctl_rollout_stopped_total, and, live during an apply when
// the Reconciler is a [ProgressReconciler], rackctl_rollout_wave_in_progress
// (the wave being applied or waited on, 0: none) and
// rackctl_rollout_wave_nodes{state} (the rollout's nodes: pending,
// in_progress, healthy, unhealthy); /healthz (the [Status] as JSON, 503 when
// the loop is not running); and /webhook when Config.Webhook is set. [Watcher.Register]
// adds collectors of others to it (the notifier's rackctl_notify_*, the
// engine's rackctl_maintenance_local_overrides).
//
// An apply-failed record lists the failed changes (state.WatchFailure:
// layer, node, error, whether a wait timed out), from which package notify
// tells which phase and nodes failed.
package watch
