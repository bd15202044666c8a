#!/usr/bin/env bash
# make bench: runs the Go benchmarks and times the CLI on the 1000-node
# example, then writes docs/benchmarks.md. Compare ratios within one run:
# machines here are noisy.
#
# Every figure is published only when the run did what the figure says:
# each timed command must exit as expected and leave the state its label
# claims (an applied rack, a no-op plan, an unchanged history), and every
# benchmark's own checks must pass. Otherwise the script exits 1 and leaves
# docs/benchmarks.md as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/benchmarks.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=bin/rackctl
spec=spec-examples/rack-1000.yaml

fail() {
	echo "bench: FAILED: $*" >&2
	echo "bench: $out not written" >&2
	exit 1
}

# measure LABEL WANT CMD...: wall seconds, CPU and peak RSS of $RUNS runs
# (default 3; the median wall and CPU, the largest RSS), each of which must
# exit with status WANT; the last run's stdout is kept in $tmp/stdout. One
# run's figure on this machine moved by 2× with a neighbour's burst; the
# median of three does not. "@RUN@" in an argument becomes the run's number,
# so a command that changes state (a first apply) gets a fresh root each
# run instead of one emptied by rm -rf: ext4 without a journal scans
# recently deleted inodes on every create, which would time our own clean-up.
measure() {
	local label=$1 want=$2 run
	shift 2
	for ((run = 1; run <= ${RUNS:-3}; run++)); do
		measure_once "$label" "$want" "$run" "$@"
	done
	measure_row "$label"
}

# measure_once LABEL WANT RUN CMD...: one run of measure's, its times
# added to LABEL's. Figures compared as a ratio are measured in rounds
# (each round runs every one of them once) so that a neighbour's load
# that comes and goes over minutes weighs on both sides of the ratio.
measure_once() {
	local label=$1 want=$2 run=$3 code=0
	shift 3
	/usr/bin/time -f "%e %M %U %S" -o "$tmp/time" "${@//@RUN@/$run}" >"$tmp/stdout" 2>"$tmp/stderr" || code=$?
	if [ "$code" -ne "$want" ]; then
		tail -n 20 "$tmp/stderr" >&2
		fail "$label: exit $code, want $want ($*, run $run)"
	fi
	# time(1) puts "Command exited with non-zero status N" first.
	tail -n 1 "$tmp/time" >>"$tmp/times-$(printf %s "$label" | md5sum | cut -c1-16)"
}

# measure_row LABEL: LABEL's row of $tmp/cli.md from its runs' times.
measure_row() {
	local times="$tmp/times-$(printf %s "$1" | md5sum | cut -c1-16)"
	# CPU (user + sys) next to the wall time: on a machine shared with
	# other work the wall time mostly measures the wait for a core.
	awk -v label="$1" '
		function median(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ wall[NR] = $1; cpu[NR] = $3 + $4; if ($2 > rss) rss = $2 }
		END { printf "| %s | %.2f s | %d MB | %.2f s |\n", label, median(wall, NR), rss / 1024, median(cpu, NR) }
	' "$times" >>"$tmp/cli.md"
	rm -f "$times"
}

# history_len DIR: entries in DIR/var/lib/rackctl/history.jsonl.
history_len() {
	local h=$1/var/lib/rackctl/history.jsonl
	if [ -f "$h" ]; then wc -l <"$h"; else echo 0; fi
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: load average $load_start"
echo "bench: CLI on $spec"
root="$tmp/root"
measure "validate, 1000 nodes" 0 $bin validate -f $spec
grep -q '1000 nodes' "$tmp/stdout" || fail "validate did not report 1000 nodes: $(cat "$tmp/stdout")"
measure "validate + plan, 1000 nodes, empty host (file layer)" 2 $bin plan -f $spec --root "$root" --bmc none --dhcp none --provisioner-run never --detailed-exitcode
$bin apply -f $spec --root "$root" --auto-approve --bmc none --dhcp none --provisioner-run never >/dev/null || fail "apply of $spec"
[ "$(history_len "$root")" -eq 1 ] || fail "apply of $spec recorded no history"
measure "validate + no-op plan, 1000 nodes, applied host" 0 $bin plan -f $spec --root "$root" --bmc none --dhcp none --provisioner-run never --detailed-exitcode

# Issue 17, targets 1-3: the same generated specs the Go benchmarks use
# (spec-examples/gen), both provisioners, 1000 and 10 000 nodes.
echo "bench: validate + plan at 1000 and 10 000 nodes, first apply of 1000 (issue 17)"
for prov in lokomotive flatcar; do
	for n in 1000 10000; do
		go run ./spec-examples/gen -n $n -provisioner $prov >"$tmp/$prov-$n.yaml"
	done
	# Rounds: validate and plan of 1000 and of 10 000 nodes once each per
	# round, so the ratios between them (targets 1 and 2) see one load.
	for ((run = 1; run <= ${RUNS:-3}; run++)); do
		for n in 1000 10000; do
			measure_once "validate, $n $prov nodes" 0 $run $bin validate -f "$tmp/$prov-$n.yaml"
			grep -q "$prov, $n nodes" "$tmp/stdout" || fail "validate of $n $prov nodes: $(cat "$tmp/stdout")"
			# exit 2: the plan has changes (an empty host); it must plan
			# every node's files, not stop early.
			measure_once "validate + plan, $n $prov nodes, empty host (file layer)" 2 $run $bin plan -f "$tmp/$prov-$n.yaml" --root "$tmp/empty-$prov-$n" --bmc none --dhcp none --provisioner-run never --detailed-exitcode
			adds=$(sed -n 's/^Plan: \([0-9]*\) to add.*/\1/p' "$tmp/stdout")
			[ "${adds:-0}" -ge $((2 * n)) ] || fail "plan of $n $prov nodes planned ${adds:-no} creates, want ≥ $((2 * n)): $(tail -n 2 "$tmp/stdout")"
			[ ! -e "$tmp/empty-$prov-$n/var/lib/rackctl/managed-files.json" ] || fail "plan of $n $prov nodes wrote the manifest"
		done
	done
	for n in 1000 10000; do
		measure_row "validate, $n $prov nodes"
		measure_row "validate + plan, $n $prov nodes, empty host (file layer)"
	done
done
measure "first apply, 1000 lokomotive nodes, empty host (file layer, whole process)" 0 $bin apply -f "$tmp/lokomotive-1000.yaml" --root "$tmp/applyroot-@RUN@" --auto-approve --bmc none --dhcp none --provisioner-run never
applyroot="$tmp/applyroot-${RUNS:-3}"
grep -q 'Apply complete! Changes: [0-9]* added' "$tmp/stdout" || fail "first apply did not complete: $(tail -n 2 "$tmp/stdout")"
[ "$(history_len "$applyroot")" -eq 1 ] || fail "first apply recorded no history"
$bin plan -f "$tmp/lokomotive-1000.yaml" --root "$applyroot" --bmc none --dhcp none --provisioner-run never --detailed-exitcode >/dev/null ||
	fail "the plan after the first apply is not empty (exit $?)"
measure "first apply, 1000 flatcar nodes, empty host (file layer, whole process)" 0 $bin apply -f "$tmp/flatcar-1000.yaml" --root "$tmp/applyroot-flatcar-@RUN@" --auto-approve --bmc none --dhcp none --provisioner-run never
applyroot="$tmp/applyroot-flatcar-${RUNS:-3}"
grep -q 'Apply complete! Changes: [0-9]* added' "$tmp/stdout" || fail "first flatcar apply did not complete: $(tail -n 2 "$tmp/stdout")"
[ "$(history_len "$applyroot")" -eq 1 ] || fail "first flatcar apply recorded no history"
$bin plan -f "$tmp/flatcar-1000.yaml" --root "$applyroot" --bmc none --dhcp none --provisioner-run never --detailed-exitcode >/dev/null ||
	fail "the plan after the first flatcar apply is not empty (exit $?)"

echo "bench: rackctl watch on the 1000-node example (git repo, --once, file layer)"
repo="$tmp/repo"
mkdir -p "$repo"
cp $spec "$repo/rack.yaml"
git -C "$repo" init -q -b main
git -C "$repo" add rack.yaml
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm bench
RUNS=1 measure "rackctl watch --once, 1000 nodes, first apply (peak RSS of watch)" 0 $bin watch --once --repo "$repo" --root "$tmp/watchroot" --listen "" --bmc none --dhcp none --provisioner-run never --max-disruptive-nodes-percent -1 --max-disruptive-workers-percent 100 --max-disruptive-controllers 1000
grep -q ': applied$' "$tmp/stdout" || fail "watch --once first apply did not apply: $(tail -n 3 "$tmp/stdout")"
applied=$(history_len "$tmp/watchroot")
[ "$applied" -ge 1 ] || fail "watch --once first apply recorded no history"
measure "rackctl watch --once, 1000 nodes, no-op reconcile" 0 $bin watch --once --repo "$repo" --root "$tmp/watchroot" --listen "" --bmc none --dhcp none --provisioner-run never
grep -q ': unchanged$' "$tmp/stdout" || fail "watch --once no-op reconcile was not a no-op: $(tail -n 3 "$tmp/stdout")"
[ "$(history_len "$tmp/watchroot")" -eq "$applied" ] || fail "watch --once no-op reconcile applied something"

# Redfish vs IPMI status (issue 15): scripts/bench-bmc.sh.
source scripts/bench-bmc.sh

echo "bench: commit to apply start (watch tests' logged latencies)"
go test -count=1 -run 'TestGitCommitApplied|TestFileSourceEditorSave' -v ./watch >"$tmp/latency.log" 2>&1 || {
	tail -n 30 "$tmp/latency.log" >&2
	fail "the watch latency tests failed"
}
grep -E 'to apply start' "$tmp/latency.log" | sed 's/^ *[a-z_]*\.go:[0-9]*: //' >"$tmp/latency.txt" || true
[ "$(wc -l <"$tmp/latency.txt")" -ge 3 ] || fail "the watch latency tests logged $(wc -l <"$tmp/latency.txt") latencies, want 3"

# Issue 16: apply → all N booting servers verified, and what one dead node
# costs. A test, not a Go benchmark: each size is a whole rack (ipmi_sim
# BMCs, dnsmasq in a namespace, matchbox, terraform, simulated servers
# that PXE-boot, install and answer SSH), timed once. It fails, and
# nothing is published, unless every node was seen powered on, up and
# verified, and the dead node was not.
echo "bench: apply → all verified on 8 and 32 booting servers, one dead node (issue 16)"
boot_load=$(cut -d' ' -f1-3 /proc/loadavg)
# --parallel 8: 32 boot devices set at once time out on these ipmi_sims
# (with rackctl's runPhase before and after its move to internal/fanout).
RACKCTL_BOOT_BENCH=8,32 RACKCTL_BOOT_BENCH_PARALLEL=8 RACKCTL_BOOT_BENCH_OUT="$tmp/boot.md" \
	go test -count=1 -run '^TestBootFigures$' -v -timeout 30m ./cmd/rackctl >"$tmp/boot.log" 2>&1 || {
	grep -E -- '^\s*(--- FAIL|e2e_boot_perf_test.go)' "$tmp/boot.log" | tail -n 20 >&2
	fail "the boot figures run failed (TestBootFigures, full log in a rerun with -v)"
}
grep -q '^| 32 |' "$tmp/boot.md" || fail "the boot figures have no row for 32 nodes"

echo "bench: Go benchmarks"
pkgs=$(go list ./... | while read -r p; do
	d=$(go list -f '{{.Dir}}' "$p")
	if grep -lq '^func Benchmark' "$d"/*_test.go 2>/dev/null; then echo "$p"; fi
done)
# A benchmark checks what its figure claims (b.Fatal/b.Error): go test
# then exits non-zero and nothing is published.
go test -run '^$' -bench . -benchmem -benchtime 3x -timeout 30m $pkgs 2>&1 | tee "$tmp/go.txt" || fail "a benchmark failed its own check (see above)"
if grep -qE -- '^--- (FAIL|SKIP)' "$tmp/go.txt"; then
	fail "a benchmark failed or was skipped: $(grep -E -- '^--- (FAIL|SKIP)' "$tmp/go.txt" | tr '\n' ' ')"
fi
for b in BenchmarkRackStatusDelay20ms BenchmarkRackStatus/rmcp BenchmarkRackStatusOneDead BenchmarkNoopPlan1000/lokomotive BenchmarkNoopPlan1000/flatcar BenchmarkMixedRackStatus \
	BenchmarkCUEFloor/lokomotive BenchmarkCUEFloor/flatcar BenchmarkValidatePlan1000/lokomotive BenchmarkValidatePlan1000/flatcar BenchmarkFirstApply1000; do
	grep -q "^$b" "$tmp/go.txt" || fail "$b did not run: its figure would be missing"
done

# issue17_profile_notes: where the time of targets 1 and 3 went, from the
# profiles of 2026-12-02 (not rerun by this script: the figures above are).
issue17_profile_notes() {
	cat <<'NOTES'
### Targets 1 and 3: where the time goes (profiles of 2026-12-02, 19:10–19:40Z, load 10–20)

Taken with `go test -cpuprofile -memprofile` on BenchmarkValidatePlan1000/flatcar, a CPU profile of whole
`rackctl plan` and `rackctl apply` processes, and `perf record -g` for the kernel side. Per iteration of
validate + plan of 1000 flatcar nodes (0.54 s then, CUE floor 0.25 s):

- CUE (schema.validateNodes, per node, both cores) was half the samples: the floor's own work plus the
  position index and unknown-field checks. Unchanged.
- Rendering: 0.11 s, of which 0.067 s was data-URL escaping each node's final Ignition again for its
  installer (dataurl.Escape, one fmt call per escaped byte). Now the installer is filled from its
  template's installer, made once per template with the node's values escaped twice
  (TestIgnitionTemplatesByteIdentical checks it byte for byte, installer included). The CLC writer's
  literal lines went through fmt (0.03 s); fillTokens' result outgrew its len+64 guess and was copied,
  and once more to append the line break.
- The human plan: 0.057 s and 13 MB of one-line strings for the 10.8 MB it prints (every created file in
  full, as terraform shows a new resource); now written line by line into a 64 KiB buffer. The output
  is byte-identical (golden tests; a 1000-node plan compared with cmp before and after).
- Reading the current files: 0.03 s (all ENOENT on an empty host, on both cores already).
- Allocations per validate + plan: 186 MB / 1.30 M before, see BenchmarkValidatePlan1000/flatcar below.

Peak RSS: after loading, 2 MB of CUE's heap is live (runtime.GC, HeapAlloc); the plan then holds 23 MB
(rendered content and the create diffs of 4010 changes); `validate` alone peaks at 66–71 MB. A forced
GC after loading raised the plan's peak (94–99 MB → 102–105 MB in three runs each) and was not kept.

The lokomotive plan parsed lokocfg.vars and baremetal.lokocfg on disk and as rendered to tell which
installed nodes a shared input reboots: about a tenth of a 1000-node first apply's CPU with no node
installed. It is skipped when every active node is being installed (it could name none).

First apply (target 3), whole process: at load 17, loading 1.0 s, plan 0.5–0.9 s, showing it 0.05–0.2 s,
prechecks 0.1–0.2 s, the files phase 1.4–2.8 s wall for 1.0–2.0 s of system CPU. In `perf`,
ext4_create → find_inode_bit → recently_deleted was 23 % of all samples of a flatcar apply: the root
file system is ext4 without a journal, where allocating an inode skips, one buffer lookup each, every
inode of its block group deleted in the last 60–300 s — the other test suites on this machine delete
thousands of temp files, so what creating our 4000 files costs depends on their churn (0.7 % of the
samples a quiet minute later, 40 % right after we deleted 4000 files ourselves). File fsyncs were 11 %,
renames 5 %. atomicfile.DirSync shares directory fsyncs, yet 2000 files into one directory still cost
about 1440 of them (strace): creates and renames serialize on the directory's lock, so few writers
meet in one fsync. Writing a batch (all temp files, then their fsyncs, the renames, one fsync per
directory) measured 0.85–2.2 s against 1.8–2.4 s for 2000 files in a standalone program at load 19:
not separable from the noise, so not done. Wall time here is mostly waiting for a core: read the
CPU (user + sys) rows.

On a quiet machine (2026-12-03, load 0.2 at the start of `make bench`) the flatcar first apply took
1.48 s wall and 1.64 s of CPU, the lokomotive one 0.93 s / 1.05 s. A CPU profile of the flatcar apply
in one process: 80 % of its samples in system calls of the files phase, createTemp's openat alone 52 %;
`perf`: recently_deleted and the buffer lookups under it 33 %, optimistic spinning on the directory's
lock in rename 15 % (the owner holds it through its slow create). File writers at once, 16 (kept) vs 4
vs 2, four alternating runs each with fresh roots: 16 was fastest in wall time in three of four and
no worse in CPU; fewer writers only lengthen the wait. What is left is this file system's inode
allocator; on a journalled ext4 (a Racker management node) recently_deleted is not consulted.
Since then a new file is created without a name (O_TMPFILE), fsynced and linked into place, which
saves the temp name's directory entry and the rename: over 7 alternating runs of the flatcar first
apply, median 1.19 s wall and 0.59 s system CPU against 1.26 s and 0.65 s before (internal/rootfs).
NOTES
}

# The summary: each figure against its floor or baseline from this run,
# the ratio, the target, PASS or MISS. A MISS is a published result; a
# run that did not do what its figure says has failed above.
cli() { awk -F'|' -v l="$1" '$2 == " " l " " {gsub(/ s/, "", $3); gsub(/ /, "", $3); print $3}' "$tmp/cli.md"; }
cpu() { awk -F'|' -v l="$1" '$2 == " " l " " {gsub(/ s/, "", $5); gsub(/ /, "", $5); print $5}' "$tmp/cli.md"; }
rss() { awk -F'|' -v l="$1" '$2 == " " l " " {gsub(/ MB/, "", $4); gsub(/ /, "", $4); print $4}' "$tmp/cli.md"; }
gobench() { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {print $3 / 1e9}' "$tmp/go.txt"; }
# row FIGURE VALUE FLOOR-LABEL FLOOR TARGET-RATIO: a time against a floor.
row() {
	awk -v f="$1" -v v="$2" -v fl="$3" -v b="$4" -v t="$5" 'BEGIN {
		if (v == "" || b == "" || b + 0 == 0) { print "bench: no figure for " f > "/dev/stderr"; exit 1 }
		r = v / b
		printf "| %s | %.3f s | %s %.3f s | %.2f× | ≤ %s× | %s |\n", f, v, fl, b, r, t, (r <= t ? "PASS" : "MISS")
	}'
}
# limit FIGURE VALUE UNIT TARGET: an absolute figure against its target.
limit() {
	awk -v f="$1" -v v="$2" -v u="$3" -v t="$4" 'BEGIN {
		if (v == "") { print "bench: no figure for " f > "/dev/stderr"; exit 1 }
		printf "| %s | %s %s | — | — | < %s %s | %s |\n", f, v, u, t, u, (v + 0 < t + 0 ? "PASS" : "MISS")
	}'
}
# info FIGURE VALUE UNIT: a figure reported without a target.
info() {
	awk -v f="$1" -v v="$2" -v u="$3" 'BEGIN {
		if (v == "") { print "bench: no figure for " f > "/dev/stderr"; exit 1 }
		printf "| %s | %s %s | — | — | — | info |\n", f, v, u
	}'
}
{
	echo "| figure | value | floor or baseline (same run) | ratio | target | result |"
	echo "|---|---|---|---|---|---|"
	for prov in lokomotive flatcar; do
		row "validate + plan, 1000 $prov nodes, in process (Go benchmark)" "$(gobench BenchmarkValidatePlan1000/$prov)" "CUE load only" "$(gobench BenchmarkCUEFloor/$prov/nodes=1000)" 2
		row "validate + plan, 1000 $prov nodes, whole process" "$(cli "validate + plan, 1000 $prov nodes, empty host (file layer)")" "validate (CUE + checks)" "$(cli "validate, 1000 $prov nodes")" 2
		row "validate + plan, 1000 $prov nodes, whole process, CPU (user + sys)" "$(cpu "validate + plan, 1000 $prov nodes, empty host (file layer)")" "validate (CUE + checks)" "$(cpu "validate, 1000 $prov nodes")" 2
		limit "peak RSS, validate + plan, 1000 $prov nodes" "$(rss "validate + plan, 1000 $prov nodes, empty host (file layer)")" MB 100
	done
	for prov in lokomotive flatcar; do
		row "validate + plan, 10 000 $prov nodes, whole process" "$(cli "validate + plan, 10000 $prov nodes, empty host (file layer)")" "1000 nodes" "$(cli "validate + plan, 1000 $prov nodes, empty host (file layer)")" 11
		row "validate + plan, 10 000 $prov nodes, whole process, CPU (user + sys)" "$(cpu "validate + plan, 10000 $prov nodes, empty host (file layer)")" "1000 nodes" "$(cpu "validate + plan, 1000 $prov nodes, empty host (file layer)")" 11
		row "validate alone, 10 000 $prov nodes, whole process (where linearity is lost)" "$(cli "validate, 10000 $prov nodes")" "1000 nodes" "$(cli "validate, 1000 $prov nodes")" 11
		limit "peak RSS, validate + plan, 10 000 $prov nodes" "$(rss "validate + plan, 10000 $prov nodes, empty host (file layer)")" MB 1024
	done
	limit "first apply, 1000 lokomotive nodes, whole process (validate + plan + files)" "$(cli "first apply, 1000 lokomotive nodes, empty host (file layer, whole process)")" s 1.5
	limit "first apply, 1000 lokomotive nodes, file layer (Apply alone, Go benchmark)" "$(gobench BenchmarkFirstApply1000)" s 1.5
	limit "first apply, 1000 flatcar nodes, whole process (validate + plan + files)" "$(cli "first apply, 1000 flatcar nodes, empty host (file layer, whole process)")" s 1.5
	# The CPU the first applies took, without a verdict: target 3 is the
	# elapsed time, and CPU above it is both cores at work (the issue asks
	# for that). On a loaded machine, where the wall time is mostly the
	# wait for a core, this row says how much of it was our own work.
	for prov in lokomotive flatcar; do
		info "first apply, 1000 $prov nodes, whole process, CPU (user + sys; target 3 is the wall time above)" "$(cpu "first apply, 1000 $prov nodes, empty host (file layer, whole process)")" s
	done
	# Issue 17 target 6: every layer on against recording fakes; the
	# benchmark fails (and nothing is published) if the reconcile started
	# a process or wrote to a BMC (TestNoopPlan1000 checks it in make test).
	for prov in lokomotive flatcar; do
		limit "no-op reconcile, 1000 $prov nodes, every layer on, 0 processes, 0 BMC writes (Go benchmark)" "$(gobench BenchmarkNoopPlan1000/$prov)" s 1
	done
	bmc_floor_rows # targets 4 and 5 (scripts/bench-bmc.sh)
} >"$tmp/summary.md" || fail "a summary figure is missing (see above)"
echo
echo "bench: summary (load average $(cut -d' ' -f1-3 /proc/loadavg))"
cat "$tmp/summary.md"
echo
grep -q '| [0-9.]* s |\|| [0-9]* MB |' "$tmp/summary.md" || fail "the summary has no figures"
if grep -qE '\| (nan|inf|-nan|0\.000) ' "$tmp/summary.md"; then
	fail "a summary figure is missing: $(grep -E '\| (nan|inf|-nan|0\.000) ' "$tmp/summary.md" | head -n 1)"
fi

{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` on $(date -u +%Y-%m-%dT%H:%MZ)."
	echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB,"
	echo "load average at start: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg). Figures from one run of the script (each whole-process figure the median of ${RUNS:-3} runs); compare ratios, not absolutes."
	echo "Each figure was published only after its run was checked to do what the label says (exit status, applied or"
	echo "unchanged state, the benchmark's own assertions); scripts/bench.sh fails and writes nothing otherwise."
	echo
	echo "## Issue 17: figures against their floors (same run)"
	echo
	cat "$tmp/summary.md"
	echo
	issue17_profile_notes
	echo
	echo "## Summary"
	echo
	echo "| figure | value |"
	echo "|---|---|"
	# Each CLI run under its own label (wall, peak RSS).
	awk -F'|' '/validate \+ plan|no-op|first apply/ {printf "| %s | %s, %s peak RSS |\n", $2, $3, $4}' "$tmp/cli.md" | sed 's/  */ /g'
	awk '/BenchmarkRackStatusDelay20ms/ {printf "| status of 32 BMCs behind 20 ms delay: parallel vs sequential ipmitool loop | %s ms vs %s ms (%s×) |\n", $3, $5, $7}
	     /BenchmarkRackStatus\/rmcp/ {printf "| status of 32 BMCs, no delay: parallel vs sequential ipmitool loop | %s ms vs %s ms (%s×) |\n", $3, $5, $7}
	     /BenchmarkRackStatusOneDead/ {printf "| status of 32 BMCs with one dead (timeout %s ms) vs none | %s ms vs %s ms |\n", $7, $5, $3}' "$tmp/go.txt"
	sed 's/^\(.*\): commit to apply start \(.*\)$/| commit to apply start, \1 | \2 |/; s/^\(file source.*\) to apply start \(.*\)$/| \1 to apply start | \2 |/' "$tmp/latency.txt"
	echo
	bmc_protocols_section
	echo
	bmc_rtt_section
	echo
	echo "## CLI, one process each (median wall time of ${RUNS:-3} runs, largest peak RSS, median CPU)"
	echo
	echo "| what | wall | peak RSS | CPU (user + sys) |"
	echo "|---|---|---|---|"
	cat "$tmp/cli.md"
	echo
	echo "## Commit (or save) to apply start, rackctl watch"
	echo
	sed 's/^/- /' "$tmp/latency.txt"
	echo
	echo "## Issue 16: apply → all nodes verified, booting servers (install duration 0)"
	echo
	echo "TestBootFigures (cmd/rackctl), --parallel 8, load average at its start: $boot_load. Per node: power on and SSH up from the"
	echo "server's own log, verified when rackctl printed it. The servers' own steps are the boot column; what rackctl adds"
	echo "is everything else: the work before the first power on (validate, plan, files, dhcp, terraform), the bmc phase"
	echo "(first → last power on), SSH up → verified, and the settle after."
	echo
	cat "$tmp/boot.md"
	echo
	echo "## BMC status of a simulated rack of 32 ipmi_sim BMCs vs a sequential ipmitool loop (same run)"
	echo
	echo '```'
	grep -E '^BenchmarkRackStatus' "$tmp/go.txt" || echo "(bmc benchmarks did not run)"
	echo '```'
	echo
	echo "## Go benchmarks"
	echo
	echo '```'
	grep -E '^(Benchmark|goos|cpu|pkg:|ok)' "$tmp/go.txt"
	echo '```'
} >"$tmp/benchmarks.md"
mv "$tmp/benchmarks.md" "$out"
echo "bench: wrote $out"
