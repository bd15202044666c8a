#!/usr/bin/env bash
# make demo: a simulated rack on this machine, reconciled by rackctl.
#   scripts/demo.sh        bring it up (N=8 PROVISIONER=flatcar|lokomotive)
#   scripts/demo.sh down   stop everything it started
set -euo pipefail
cd "$(dirname "$0")/.."
demo=${DEMO_DIR:-.demo}
N=${N:-8}
PROVISIONER=${PROVISIONER:-flatcar}
rackctl=bin/rackctl

down() {
	if [ -f "$demo/sim.pid" ]; then
		pid=$(cat "$demo/sim.pid")
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid"
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
		rm -f "$demo/sim.pid"
	fi
	pkill -f "ipmi_sim .*$(realpath -m "$demo")/bmcs" 2>/dev/null || true
	echo "demo: stopped; state kept in $demo (rm -rf $demo to start afresh)"
}

if [ "${1:-up}" = down ]; then
	down
	exit 0
fi

[ -f "$demo/sim.pid" ] && down >/dev/null
rm -rf "$demo"
mkdir -p "$demo/root" "$demo/repo"
go build -o bin/rackctl-sim ./cmd/rackctl-sim

echo "demo: starting $N simulated BMCs (ipmi_sim on 127.0.0.1)"
bin/rackctl-sim -n "$N" -dir "$demo/bmcs" -root "$demo/root" -spec "$demo/repo/rack.yaml" \
	-provisioner "$PROVISIONER" >"$demo/sim.log" 2>&1 &
echo $! >"$demo/sim.pid"
for _ in $(seq 100); do
	[ -f "$demo/bmcs/inventory.json" ] && break
	kill -0 "$(cat "$demo/sim.pid")" 2>/dev/null || { cat "$demo/sim.log"; exit 1; }
	sleep 0.1
done
cat "$demo/sim.log"

git -C "$demo/repo" init -q
git -C "$demo/repo" add rack.yaml
git -C "$demo/repo" -c user.name=demo -c user.email=demo@localhost commit -qm "Initial rack"

flags=(-f "$demo/repo/rack.yaml" --root "$demo/root")
set -x
$rackctl validate "${flags[@]}"
$rackctl plan "${flags[@]}" -out "$demo/plan.json" >"$demo/plan.txt"
set +x
tail -n 3 "$demo/plan.txt"
set -x
$rackctl apply "${flags[@]}" "$demo/plan.json" | tail -n 3
$rackctl plan "${flags[@]}" --detailed-exitcode | tail -n 1
$rackctl status "${flags[@]}"
$rackctl ipmi "${flags[@]}" --all power status
set +x

cat <<EOT

The simulated rack keeps running. Try:
  bin/rackctl status ${flags[*]} [--full]
  bin/rackctl ipmi   ${flags[*]} node-0 diag        (a node name from $demo/repo/rack.yaml)
  bin/rackctl ipmi   ${flags[*]} --all user list
  edit $demo/repo/rack.yaml (add a node, set exclude: true, change reprovision), then
  bin/rackctl plan   ${flags[*]}
  bin/rackctl apply  ${flags[*]}
  make demo-down     stops the simulators
EOT
