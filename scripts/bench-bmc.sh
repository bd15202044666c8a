# Sourced by scripts/bench.sh (its $tmp, $bin, measure and fail): issue 15's
# figure, `rackctl status` of 32 simulated Redfish BMCs against 32 ipmi_sim
# BMCs in the same run, one whole rackctl process each (sessions opened
# cold, as every CLI run does), plain and --full. The BMCs run in two
# rackctl-sim processes, started here and stopped on exit.
sim=bin/rackctl-sim
go build -o "$sim" ./cmd/rackctl-sim
sim_pids=()
stop_sims() {
	local p
	for p in "${sim_pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	sim_pids=()
}
trap 'stop_sims; rm -rf "$tmp"' EXIT

# start_sim KIND ARGS...: 32 BMCs of KIND, ready once the env file exists.
start_sim() {
	local kind=$1 d="$tmp/sim-$1"
	shift
	mkdir -p "$d"
	"$sim" -n 32 "$@" -dir "$d/bmcs" -root "$d/root" -spec "$d/rack.yaml" -env "$d/env" >"$d/log" 2>&1 &
	sim_pids+=($!)
	for _ in $(seq 120); do
		[ -s "$d/env" ] && return 0
		kill -0 "${sim_pids[-1]}" 2>/dev/null || break
		sleep 0.5
	done
	tail -n 20 "$d/log" >&2
	fail "rackctl-sim ($kind) did not come up"
}

echo "bench: rackctl status, 32 Redfish BMCs vs 32 IPMI BMCs (issue 15)"
start_sim redfish -redfish 32
start_sim ipmi
for kind in redfish ipmi; do
	d="$tmp/sim-$kind"
	label=$([ $kind = redfish ] && echo "32 Redfish BMCs (simulated, HTTPS)" || echo "32 IPMI BMCs (ipmi_sim)")
	measure "rackctl status, $label" 0 $bin status -f "$d/rack.yaml" --root "$d/root" --timeout 30s -o json
	n=$(grep -c '"bmc_reached": true' "$tmp/stdout" || true)
	[ "$n" -eq 32 ] || fail "status of $label reached $n BMCs, want 32"
	# --full runs four ipmitool processes per IPMI BMC: 32 at once time
	# out on a loaded 2-core host, so both protocols get 8 at a time.
	measure "rackctl status --full --parallel 8, $label" 0 $bin status --full --parallel 8 -f "$d/rack.yaml" --root "$d/root" --timeout 30s -o json
	n=$(grep -c '"bmc_firmware_version"' "$tmp/stdout" || true)
	[ "$n" -eq 32 ] || fail "status --full of $label read the firmware version of $n BMCs, want 32"
done
stop_sims

# Issue 17 targets 4 and 5 are Go benchmarks (bmc: BenchmarkStatusFloor,
# BenchmarkDriftCheckKeptSessions); the first runs this rackctl binary as
# a whole process.
export RACKCTL_BIN="$PWD/$bin"

# bmc_protocols_section: the docs/benchmarks.md section of these figures and
# of the in-process Go benchmark (BenchmarkMixedRackStatus, same run).
bmc_protocols_section() {
	echo "## Issue 15: rackctl status of 32 Redfish BMCs vs 32 IPMI BMCs (same run)"
	echo
	echo "Whole process each (wall time, peak RSS): Redfish BMCs are rackctl-sim's simulated ones (HTTPS on loopback, a"
	echo "session opened per BMC and run), IPMI BMCs are ipmi_sim (ipmitool processes). --full adds the diagnostics, inventory"
	echo "and health reads, 8 BMCs at a time. Each run must reach all 32 BMCs (and --full read every firmware version)."
	echo
	echo "| what | 32 Redfish | 32 IPMI | Redfish / IPMI |"
	echo "|---|---|---|---|"
	local what rf ip
	for what in "rackctl status" "rackctl status --full --parallel 8"; do
		rf=$(cli "$what, 32 Redfish BMCs (simulated, HTTPS)")
		ip=$(cli "$what, 32 IPMI BMCs (ipmi_sim)")
		awk -v w="$what" -v r="$rf" -v i="$ip" 'BEGIN { printf "| %s | %s s | %s s | %.2f× |\n", w, r, i, (i > 0 ? r / i : 0) }'
	done
	echo
	echo "In process, one bmc.Drivers, power status only (BenchmarkMixedRackStatus: metal-operator's mock for Redfish):"
	echo
	echo '```'
	grep -E '^BenchmarkMixedRackStatus' "$tmp/go.txt" || echo "(BenchmarkMixedRackStatus did not run)"
	echo '```'
}

# gometric BENCH UNIT: the value a Go benchmark reported in UNIT.
gometric() {
	awk -v b="$1" -v u="$2" '$1 ~ "^"b"(-[0-9]+)?$" { for (i = 4; i <= NF; i++) if ($i == u) print $(i - 1) }' "$tmp/go.txt"
}

# msrow FIGURE VALUE FLOOR-LABEL FLOOR RATIO OP TARGET: a time in ms
# against its floor or baseline from the same run; OP is <= (a ratio to a
# floor, at most TARGET) or >= (a speedup over a baseline, at least).
msrow() {
	awk -v f="$1" -v v="$2" -v fl="$3" -v b="$4" -v r="$5" -v op="$6" -v t="$7" 'BEGIN {
		if (v == "" || b == "" || r == "") { print "bench: no figure for " f > "/dev/stderr"; exit 1 }
		ok = (op == "<=" ? r + 0 <= t + 0 : r + 0 >= t + 0)
		printf "| %s | %.0f ms | %s %.0f ms | %.2f× | %s %s× | %s |\n", f, v, fl, b, r, (op == "<=" ? "≤" : "≥"), t, (ok ? "PASS" : "MISS")
	}'
}

# bmc_floor_rows: the summary rows of issue 17 targets 4 and 5.
bmc_floor_rows() {
	local b
	for b in BenchmarkStatusFloor/delay20ms BenchmarkStatusFloor/loopback BenchmarkDriftCheckKeptSessions; do
		grep -q "^$b" "$tmp/go.txt" || { echo "bench: $b did not run" >&2; return 1; }
	done
	b=BenchmarkStatusFloor/delay20ms
	msrow "rackctl status, 32 IPMI BMCs, 20 ms per datagram, whole process (spec load included)" \
		"$(gometric $b status-ms/rack)" "minimal RMCP+ client, 3 round trips ($(gometric $b protocol-ms) ms on the wire)" \
		"$(gometric $b floor-ms/rack)" "$(gometric $b x-floor)" "<=" 1.5
	b=BenchmarkStatusFloor/loopback
	msrow "rackctl status, 32 IPMI BMCs, plain loopback, whole process, speedup over a sequential ipmitool loop" \
		"$(gometric $b status-ms/rack)" "ipmitool loop" "$(gometric $b ipmitool-seq-ms/rack)" "$(gometric $b speedup)" ">=" 5
	b=BenchmarkDriftCheckKeptSessions
	msrow "watch drift check, 32 IPMI BMCs, 20 ms per datagram, kept sessions (boot device + address source; $(printf %.0f "$(gometric $b max-exchanges/bmc)") exchanges per BMC at most, checked ≤ 2)" \
		"$(gometric $b check-ms/rack)" "the same 2 reads in bare kept sessions" "$(gometric $b floor-ms/rack)" "$(gometric $b x-floor)" "<=" 1.5
}

# bmc_rtt_section: the docs/benchmarks.md section of targets 4 and 5.
bmc_rtt_section() {
	cat <<'EOT'
## Issue 17 targets 4 and 5: BMC status and drift checks in round trips

**The delay.** Every BMC is an ipmi_sim on loopback behind a UDP relay (internal/simrack's delay proxy) that holds each
datagram 20 ms in each direction, in order (one FIFO delay line: per-datagram timers let back-to-back datagrams swap,
which would have cost a pipelining client a 1 s retransmit), so a round trip is 40 ms. netem would be the closer
model, but this kernel has no sch_netem (`tc qdisc add … netem` answers "Specified qdisc kind is unknown"), so the
relay it is; the floor crosses the same relay as rackctl, so the relay's own cost is on both sides of each ratio. The
relay also counts each client's datagrams and exchanges (a burst sent without waiting is one exchange), which is how
the tests assert round trips.

**Round trips of a power read.** Open Session, RAKP 1/2, and RAKP 3/4 with Get Chassis Status sent right behind
RAKP 3: three round trips, then Close Session sent and not awaited (TestPowerQueryRoundTrips; one after the other it
was four). With kept sessions (watch), a power, boot device or address source read is one round trip
(TestKeptSessionsRoundTrips, TestWatchKeepsBMCSessions).

**The floors**, measured in the same benchmark loop as the figure: for `rackctl status`, a minimal client in the
test binary (bmc/export_test.go: the three round trips written out, no Client, bmclib or fan-out) reading the same
32 BMCs at once; for the drift check, the same two reads in bare kept sessions. The floor itself is above the 120 ms
the wire costs: ipmi_sim runs a shell script per chassis read. What rackctl adds on top is process start and spec
load (status) and the Client's path (drift check).

```
EOT
	grep -E '^Benchmark(StatusFloor|DriftCheckKeptSessions)' "$tmp/go.txt" || echo "(the benchmarks did not run)"
	echo '```'
}
