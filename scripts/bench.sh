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

# measure LABEL WANT CMD...: wall seconds and peak RSS of one run, which
# must exit with status WANT; its stdout is kept in $tmp/stdout.
measure() {
	local label=$1 want=$2 code=0
	shift 2
	/usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >"$tmp/stdout" 2>"$tmp/stderr" || code=$?
	if [ "$code" -ne "$want" ]; then
		tail -n 20 "$tmp/stderr" >&2
		fail "$label: exit $code, want $want ($*)"
	fi
	# time(1) puts "Command exited with non-zero status N" first.
	read -r wall rss < <(tail -n 1 "$tmp/time")
	printf '| %s | %s s | %s MB |\n' "$label" "$wall" "$((rss / 1024))" >>"$tmp/cli.md"
}

# history_len DIR: entries in DIR/var/lib/rackctl/history.jsonl.
history_len() {
	local h=$1/var/lib/rackctl/history.jsonl
	if [ -f "$h" ]; then wc -l <"$h"; else echo 0; fi
}

echo "bench: CLI on $spec"
root="$tmp/root"
measure "validate, 1000 nodes" 0 $bin validate -f $spec
grep -q '1000 nodes' "$tmp/stdout" || fail "validate did not report 1000 nodes: $(cat "$tmp/stdout")"
measure "validate + plan, 1000 nodes, empty host (file layer)" 2 $bin plan -f $spec --root "$root" --bmc none --dhcp none --provisioner-run never --detailed-exitcode
$bin apply -f $spec --root "$root" --auto-approve --bmc none --dhcp none --provisioner-run never >/dev/null || fail "apply of $spec"
[ "$(history_len "$root")" -eq 1 ] || fail "apply of $spec recorded no history"
measure "validate + no-op plan, 1000 nodes, applied host" 0 $bin plan -f $spec --root "$root" --bmc none --dhcp none --provisioner-run never --detailed-exitcode

echo "bench: rackctl watch on the 1000-node example (git repo, --once, file layer)"
repo="$tmp/repo"
mkdir -p "$repo"
cp $spec "$repo/rack.yaml"
git -C "$repo" init -q -b main
git -C "$repo" add rack.yaml
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm bench
measure "rackctl watch --once, 1000 nodes, first apply (peak RSS of watch)" 0 $bin watch --once --repo "$repo" --root "$tmp/watchroot" --listen "" --bmc none --dhcp none --provisioner-run never --max-disruptive-nodes-percent -1 --max-disruptive-workers-percent 100 --max-disruptive-controllers 1000
grep -q ': applied$' "$tmp/stdout" || fail "watch --once first apply did not apply: $(tail -n 3 "$tmp/stdout")"
applied=$(history_len "$tmp/watchroot")
[ "$applied" -ge 1 ] || fail "watch --once first apply recorded no history"
measure "rackctl watch --once, 1000 nodes, no-op reconcile" 0 $bin watch --once --repo "$repo" --root "$tmp/watchroot" --listen "" --bmc none --dhcp none --provisioner-run never
grep -q ': unchanged$' "$tmp/stdout" || fail "watch --once no-op reconcile was not a no-op: $(tail -n 3 "$tmp/stdout")"
[ "$(history_len "$tmp/watchroot")" -eq "$applied" ] || fail "watch --once no-op reconcile applied something"

echo "bench: commit to apply start (watch tests' logged latencies)"
go test -count=1 -run 'TestGitCommitApplied|TestFileSourceEditorSave' -v ./watch >"$tmp/latency.log" 2>&1 || {
	tail -n 30 "$tmp/latency.log" >&2
	fail "the watch latency tests failed"
}
grep -E 'to apply start' "$tmp/latency.log" | sed 's/^ *[a-z_]*\.go:[0-9]*: //' >"$tmp/latency.txt" || true
[ "$(wc -l <"$tmp/latency.txt")" -ge 3 ] || fail "the watch latency tests logged $(wc -l <"$tmp/latency.txt") latencies, want 3"

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
for b in BenchmarkRackStatusDelay20ms BenchmarkRackStatus/rmcp BenchmarkRackStatusOneDead BenchmarkNoopPlan1000; do
	grep -q "^$b" "$tmp/go.txt" || fail "$b did not run: its figure would be missing"
done

{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` on $(date -u +%Y-%m-%dT%H:%MZ)."
	echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB,"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg). Figures from one run; compare ratios, not absolutes."
	echo "Each figure was published only after its run was checked to do what the label says (exit status, applied or"
	echo "unchanged state, the benchmark's own assertions); scripts/bench.sh fails and writes nothing otherwise."
	echo
	echo "## Summary"
	echo
	echo "| figure | value |"
	echo "|---|---|"
	awk -F'|' '/validate \+ plan, 1000/ {printf "| validate + plan, 1000 nodes (file layer) | %s, %s peak RSS |\n", $3, $4}' "$tmp/cli.md" | sed 's/  */ /g'
	awk -F'|' '/no-op reconcile/ {printf "| no-op reconcile (watch --once), 1000 nodes | %s, %s peak RSS |\n", $3, $4}' "$tmp/cli.md" | sed 's/  */ /g'
	awk -F'|' '/first apply/ {printf "| peak RSS of rackctl watch (first apply of 1000 nodes) | %s |\n", $4}' "$tmp/cli.md" | sed 's/  */ /g'
	awk '/BenchmarkRackStatusDelay20ms/ {printf "| status of 32 BMCs behind 20 ms delay: parallel vs sequential ipmitool loop | %s ms vs %s ms (%s×) |\n", $3, $5, $7}
	     /BenchmarkRackStatus\/rmcp/ {printf "| status of 32 BMCs, no delay: parallel vs sequential ipmitool loop | %s ms vs %s ms (%s×) |\n", $3, $5, $7}
	     /BenchmarkRackStatusOneDead/ {printf "| status of 32 BMCs with one dead (timeout %s ms) vs none | %s ms vs %s ms |\n", $7, $5, $3}' "$tmp/go.txt"
	sed 's/^\(.*\): commit to apply start \(.*\)$/| commit to apply start, \1 | \2 |/; s/^\(file source.*\) to apply start \(.*\)$/| \1 to apply start | \2 |/' "$tmp/latency.txt"
	echo
	echo "## CLI, one process each (wall time, peak RSS)"
	echo
	echo "| what | wall | peak RSS |"
	echo "|---|---|---|"
	cat "$tmp/cli.md"
	echo
	echo "## Commit (or save) to apply start, rackctl watch"
	echo
	sed 's/^/- /' "$tmp/latency.txt"
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
