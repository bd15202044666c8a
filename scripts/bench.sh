#!/usr/bin/env bash
# make bench: runs the Go benchmarks and times the CLI on the 1000-node
# example, then writes docs/benchmarks.md. Compare ratios within one run:
# machines here are noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/benchmarks.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=bin/rackctl
spec=spec-examples/rack-1000.yaml

# measure LABEL CMD...: wall seconds and peak RSS of one run.
measure() {
	local label=$1; shift
	/usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/stderr" || {
		code=$?; [ "$code" -eq 2 ] || { cat "$tmp/stderr"; return "$code"; }
	}
	read -r wall rss <"$tmp/time"
	printf '| %s | %s s | %s MB |\n' "$label" "$wall" "$((rss / 1024))" >>"$tmp/cli.md"
}

echo "bench: CLI on $spec"
root="$tmp/root"
measure "validate, 1000 nodes" $bin validate -f $spec
measure "validate + plan, 1000 nodes, empty host (file layer)" $bin plan -f $spec --root "$root" --bmc none --dhcp none --provisioner-run never
$bin apply -f $spec --root "$root" --auto-approve --bmc none --dhcp none --provisioner-run never >/dev/null
measure "validate + no-op plan, 1000 nodes, applied host" $bin plan -f $spec --root "$root" --bmc none --dhcp none --provisioner-run never --detailed-exitcode

echo "bench: rackctl watch on the 1000-node example (git repo, --once, file layer)"
repo="$tmp/repo"
mkdir -p "$repo"
cp $spec "$repo/rack.yaml"
git -C "$repo" init -q -b main
git -C "$repo" add rack.yaml
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -qm bench
measure "rackctl watch --once, 1000 nodes, first apply (peak RSS of watch)" $bin watch --once --repo "$repo" --root "$tmp/watchroot" --listen "" --bmc none --dhcp none --provisioner-run never --max-disruptive-nodes-percent -1 --max-disruptive-workers-percent 100 --max-disruptive-controllers 1000
measure "rackctl watch --once, 1000 nodes, no-op reconcile" $bin watch --once --repo "$repo" --root "$tmp/watchroot" --listen "" --bmc none --dhcp none --provisioner-run never

echo "bench: commit to apply start (watch tests' logged latencies)"
go test -count=1 -run 'TestGitCommitApplied|TestFileSourceEditorSave' -v ./watch 2>&1 | grep -E 'to apply start' | sed 's/^ *[a-z_]*\.go:[0-9]*: //' >"$tmp/latency.txt" || true

echo "bench: Go benchmarks"
pkgs=$(go list ./... | while read -r p; do
	d=$(go list -f '{{.Dir}}' "$p")
	if grep -lq '^func Benchmark' "$d"/*_test.go 2>/dev/null; then echo "$p"; fi
done)
go test -run '^$' -bench . -benchmem -benchtime 3x -timeout 30m $pkgs | tee "$tmp/go.txt"

{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` on $(date -u +%Y-%m-%dT%H:%MZ)."
	echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB,"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg). Figures from one run; compare ratios, not absolutes."
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
} >"$out"
echo "bench: wrote $out"
