// Package reconcile turns desired state into a Plan and applies it.
//
// A Plan is data (FormatVersion, a list of typed Changes per Layer, the IP
// allocation changes, and the hash of every input it was made from). The
// human view (WriteHuman) and the saved JSON form (WriteJSON, ReadPlan)
// render the same model.
//
// Each layer is a Plugin in one file, layer_NAME.go, holding both its
// planning (Plugin.Plan) and its applying (its Executor): Build and Apply
// loop over Plugins in order and never switch on a layer's name. A layer
// says what a failed change of it stops (FailurePolicy: StopAll, PerNode,
// AllOrNothing) and what it persists around its phase (BeforePhase,
// AfterPhase). The files layer's executor is built in (FileExecutor);
// the others plug in through ApplyOptions.Executors (DHCPExecutor,
// FlagExecutor, ProvisionerExecutor, BMCExecutor, VerifyExecutor,
// CredentialsExecutor over the small driver interfaces DHCPServer, BMC,
// BMCRenewer, BMCAddressing, Terraformer, ClusterApplier, Verifier,
// CredentialRotator). The provisioner layer works through a Provisioner
// (ProvisionerFor the spec's `provisioner:`): flatcarProvisioner
// (terraform) and lokomotiveProvisioner (lokoctl) are its two
// implementations. A plan is applied only if every input it observed is
// unchanged (ErrStalePlan), and only by one apply at a time (ErrLocked).
//
// # Layers and their order
//
// Build plans the files layer, and with PlanOptions.Layers the others:
//
//	files        rendered files: create, update, delete, with diffs; dnsmasq.conf
//	             is checked with dnsmasq --test at plan time and before it is written
//	dhcp         reload dnsmasq when its config changes; release stale leases
//	             (a replaced server's old MAC holding the reserved IP, a MAC leased
//	             another IP); BMC DHCP renew or power cycle per --drift-fix
//	flags        delete flag files: reprovision changed, node excluded, MAC replaced
//	             (nodes in maintenance: nothing, in this or any later layer;
//	             their own files are held back too; plan notes say what)
//	provisioner  one terraform (init, plan, apply of that plan) or lokoctl run,
//	             only when something it reads changed or a node needs an install
//	bmc          per node to install: next boot PXE, power cycle (on when off);
//	             installed nodes whose boot device is not disk: disk, persistent, EFI;
//	             with bmc.addressSource: dhcp, per BMC whose LAN channel 1 is not on
//	             DHCP: lan set 1 ipsrc dhcp (after the node's other bmc changes)
//	verify       per installed node: the Verifier, then its flag file is written
//	credentials  bmc.rotate: per BMC with something left, the slot the new
//	             account takes and its steps; then the credential file switch
//
// The issue proposed files → DHCP → BMC → provisioner; bmc runs after
// provisioner instead. A node power-cycled into PXE must find its install
// profile in matchbox already: terraform puts it there, and only for nodes
// whose flag file is gone. Power-cycled first, the node PXE-boots into
// nothing and falls back to its old disk.
//
// A failed phase stops the later ones. The bmc phase is per node: a BMC
// that fails stops only its own node's verify, the other nodes go on, and
// the apply still ends failed. A rerun converges: every executor is
// idempotent and the flag files are the truth about what is installed.
//
// # Waves
//
// When a plan disrupts more than one installed node, Build plans waves
// (Plan.Rollout) by the spec's rollout section or, without one, by
// schema.DefaultRollout with the management node's limits
// (PlanOptions.Waves), over the installed nodes a disruptive change of a
// wave layer (bmc, verify, settle, reignite) or a DHCP drift power cycle
// interrupts. Apply runs those changes wave by wave after the shared
// phases (files, dhcp, flags, provisioner: a node's install profile must
// be in matchbox before its wave PXE-boots it), each wave gated on a
// HealthGate, before the credentials phase. A wave not healthy in time stops the rollout
// (OutcomeRolloutStopped, Result.Rollout, the history). See waves.go and
// apply_waves.go.
//
// # Credentials last
//
// The credentials layer (the spec's bmc.rotate, package rotate) runs after
// verify. Every phase before it drives the BMCs with the credentials in
// force when the plan was made; only the credentials phase switches
// rackctl's credential files, so no executor ever holds credentials that
// went stale in the middle of an apply, and the next plan reads the BMCs
// with the new ones. Run first, it would leave the bmc executor holding
// the old account after the switch had disabled it. The rotation is all
// or nothing by design: CredentialsExecutor plans it again for the BMCs of
// the plan (it must take the slots reviewed, else ErrStalePlan) and runs
// rotate.Apply once for all of them at the layer's first change; each
// change then reports its BMC's part. It runs for no BMC once any earlier
// change failed (the bmc phase's per-node carry-on stops here). It is not
// planned with -target. The plan holds the account names and slots, never
// a password. Once the rotation is done (rotate.Plan.Done) the layer plans
// nothing.
//
// # BMC address source
//
// bmc.addressSource: dhcp moves BMCs whose LAN channel takes its address
// elsewhere (static, BIOS, unspecified) to DHCP, where they get their
// bmcMac's reservation. The host is not interrupted; the BMC may move
// address, so the change runs after the node's other bmc changes, and
// after the dhcp phase has reloaded dnsmasq with the reservation.
//
// # What a saved plan relies on
//
// Observed keys are ObsKeys, typed: the layer whose executor re-reads
// the input, the node, the aspect read, a path. They are FileKey for every
// rendered and flag file (and terraform.tfstate when terraform runs),
// StateKey for the state dir's files, AspectLeases of dhcp (the active
// MAC/IP pairs of dnsmasq's lease file, not their expiry), AspectPower of
// bmc for every node the bmc layer PXE-boots, AspectAddressSource of bmc
// for every BMC moved to DHCP, StateKey("rotation.json") and AspectUsers
// of credentials (the digest of the user list of every BMC the rotation
// acts on), and AspectProvisionerPlan when the plan embeds a terraform
// plan. The saved plan keeps them as a list of objects, sorted. A terraform
// plan is made at plan time only when the flatcar dir already matches the
// rendered one, no flag file changes and it is initialized; its digest
// (TerraformDigest: resource addresses and actions, not the plan file,
// which terraform stamps with the time) is compared with a fresh plan at
// apply time, before anything runs, and again just before terraform apply.
//
// # Per-node record
//
// nodes.json (NodeState) holds each node's MAC, reprovision value and
// exclude flag as last applied, and the hash of the SSH keys; it is saved
// once the flags phase has succeeded. Without a record a node whose flag
// file exists is installed, one without is installed anew.
// # State dir
//
// The state dir (default var/lib/rackctl under the root) holds the files
// below; the state package owns them and documents their formats:
//
//	allocation.json      the IP allocation (ipam.State): saved after the files phase succeeds
//	nodes.json           the per-node record (NodeState): saved after the flags phase succeeds
//	managed-files.json   the Manifest: every file rackctl manages; one no longer
//	                     desired is deleted (a Block file has its block removed)
//	apply.lock           the running apply's holder; a lock of this host whose
//	                     boot, pid or pid start time is gone is stale and taken over
//	history.jsonl        one HistoryRecord per apply: times, spec hash, commit,
//	                     counts, outcome, error
//	backups/<UTC time>/  the previous version of every file an apply replaced or
//	                     deleted, at its path relative to the root
//
// Plans observe the state files too (StateKey("allocation.json"),
// StateKey("managed-files.json")), so a plan made before another apply ran
// is stale.
package reconcile

import "github.com/rackctl/rackctl/state"

// Names of the files and directories in the state dir.
const (
	AllocationFile = state.AllocationFile
	ManifestFile   = state.ManifestFile
	NodesFile      = state.NodesFile
	LockFile       = state.LockFile
	HistoryFile    = state.HistoryFile
	BackupsDir     = state.BackupsDir
)
