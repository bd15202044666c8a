#!/usr/bin/env bash
# make demo: a simulated rack on this machine, reconciled by rackctl.
#   scripts/demo.sh        bring it up (N=8 PROVISIONER=flatcar|lokomotive)
#   scripts/demo.sh down   stop everything it started
#   scripts/demo.sh config ROOT   write the management node config of a sim
#                 (from the RACKCTL_SIM_* variables) beneath ROOT only
#   scripts/demo.sh not-up BOOT_LINES NODE...   the NODEs that never
#                 answered SSH according to rackctl-sim -boot-lines output
#
# What runs (all on loopback or in network namespaces the demo creates):
#   rackctl-sim   N ipmi_sim BMCs, matchbox (TLS, generated certificates),
#                 dnsmasq in a network namespace serving the dnsmasq.conf
#                 rackctl writes under .demo/root, and behind every BMC a
#                 simulated server that boots (internal/simnode)
#   rackctl       apply --auto-approve: files, dnsmasq reload, flag files,
#                 terraform against matchbox (flatcar) or the lokoctl
#                 stand-in, which serves the nodes through matchbox too
#                 (lokomotive), BMC PXE boot and power cycle, verify over
#                 SSH, settle
#   rackctl watch follows .demo/repo afterwards (pid in .demo/watch.pid)
# Needs root (network namespaces) and the tools of `make deps`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/sbin:/sbin
demo=${DEMO_DIR:-.demo}
N=${N:-8}
PROVISIONER=${PROVISIONER:-flatcar}
WATCH_LISTEN=${WATCH_LISTEN:-127.0.0.1:9747}
rackctl=bin/rackctl

# stop_pid FILE: stop the process whose pid FILE holds (TERM, then KILL).
stop_pid() {
	local f=$1 pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			echo "demo: pid $pid ($f) did not stop in 15s; killing it" >&2
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$f"
}

down() {
	stop_pid "$demo/watch.pid"
	# rackctl-sim stops its simulators, matchbox and dnsmasq and deletes its
	# namespaces on SIGTERM; its children die with it even when killed.
	stop_pid "$demo/sim.pid"
	# Namespaces of a rackctl-sim that was killed: kill what runs in them
	# (by pid), delete them.
	for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^rackctl-demo-/ {print $1}'); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns delete "$ns" && echo "demo: deleted leftover namespace $ns"
	done
	local abs left
	abs=$(realpath -m "$demo")
	left=$(pgrep -af "$abs/|$demo/" 2>/dev/null | grep -v -e pgrep -e "demo.sh" || true)
	if [ -n "$left" ]; then
		echo "demo: warning: still running:" >&2
		echo "$left" >&2
	fi
	echo "demo: stopped; state kept in $demo (rm -rf $demo to start afresh)"
}

# write_config ROOT: the management node config (ROOT/etc/rackctl/config.yaml)
# that says how this rack's parts are reached: dnsmasq is restarted by
# rackctl-sim's reload script and releases leases inside its namespace;
# terraform gets the matchbox provider from the local mirror; the lokoctl
# stand-in gets the record path passed on. No command then needs a driver
# flag.
write_config() {
	local root=$1
	# q VALUE: VALUE as a YAML double-quoted string.
	q() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
	mkdir -p "$root/etc/rackctl"
	cat >"$root/etc/rackctl/config.yaml" <<EOT
# Written by scripts/demo.sh for the simulated rack; see docs/config.md.
apiVersion: rackctl/v1alpha1
kind: Config
# ipmi_sim answers in 30-50 ms on a quiet machine, in seconds on a loaded one.
timeout: 30s
driver:
  dnsmasqReloadCmd: $(q "$RACKCTL_SIM_DNSMASQ_RELOAD")
  dnsmasqInterface: $(q "$RACKCTL_SIM_DHCP_IFACE")
  dhcpReleasePrefix: $(q "ip netns exec $RACKCTL_SIM_DHCP_SERVER_NS")
  terraform: $(q "$RACKCTL_SIM_TERRAFORM")
  terraformrc: $(q "$RACKCTL_SIM_TERRAFORMRC")
EOT
	# The simulated servers boot, with either provisioner: installs are
	# observed over SSH as core (the key rackctl-sim put at
	# home/core/.ssh/id_rsa beneath the root), reached inside the rack's
	# network namespace.
	cat >>"$root/etc/rackctl/config.yaml" <<EOT
  verify: ssh
  sshProxyCommand: $(q "ip netns exec $RACKCTL_SIM_DHCP_SERVER_NS busybox nc %h %p")
  verifyTimeout: 3m
EOT
	if [ -n "${RACKCTL_SIM_LOKOCTL_STANDIN:-}" ] && [ "${PROVISIONER:-flatcar}" = lokomotive ]; then
		# lokoctl gets only an allow-listed environment (TF_* passes by
		# itself): pass on the record path and the terraform with which the
		# stand-in serves the nodes through matchbox (see lokoctl.env).
		cat >>"$root/etc/rackctl/config.yaml" <<EOT
  lokoctl: $(q "$RACKCTL_SIM_LOKOCTL_STANDIN")
  passEnv: [RACKCTL_LOKOCTL_RECORD, RACKCTL_LOKOCTL_TERRAFORM]
EOT
	fi
}

# not_up BOOT_LINES NODE...: print each NODE that has no "SSH up" line in
# BOOT_LINES (the output of rackctl-sim -boot-lines). By field, not by
# spacing: the name column is padded to the longest name.
not_up() {
	local lines=$1 node
	shift
	for node in "$@"; do
		awk -v n="$node" '$2 == n && $3 == "SSH" && $4 == "up" {found = 1} END {exit !found}' "$lines" || echo "$node"
	done
}

case ${1:-up} in
not-up)
	not_up "${2:?usage: scripts/demo.sh not-up BOOT_LINES NODE...}" "${@:3}"
	exit 0
	;;
down)
	down
	exit 0
	;;
config)
	write_config "${2:?usage: scripts/demo.sh config ROOT}"
	exit 0
	;;
esac
case $PROVISIONER in flatcar | lokomotive) ;; *)
	echo "demo: PROVISIONER=$PROVISIONER: want flatcar or lokomotive" >&2
	exit 1
	;;
esac
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (dnsmasq runs in a network namespace)" >&2
	exit 1
fi

[ -f "$demo/sim.pid" ] && down >/dev/null
rm -rf "$demo"
mkdir -p "$demo/root" "$demo/repo"
go build -o bin/rackctl-sim ./cmd/rackctl-sim
go build -o "$rackctl" ./cmd/rackctl
if [ "$PROVISIONER" = lokomotive ]; then
	# Built from this tree like rackctl: the stand-in serves the nodes with
	# rackctl's render and Terraform module, which must be the same code.
	go build -o bin/lokoctl-standin ./provision/testdata/lokoctl-standin
fi

echo "demo: starting $N simulated BMCs (ipmi_sim), matchbox and dnsmasq (network namespace)"
bin/rackctl-sim -n "$N" -dir "$demo/bmcs" -root "$demo/root" -spec "$demo/repo/rack.yaml" \
	-provisioner "$PROVISIONER" -matchbox -matchbox-dir "$demo/matchbox" \
	-dhcp -dhcp-dir "$demo/dhcp" -node-dir "$demo/nodes" -env "$demo/sim.env" >"$demo/sim.log" 2>&1 &
echo $! >"$demo/sim.pid"
for _ in $(seq 300); do
	[ -f "$demo/bmcs/inventory.json" ] && break
	if ! kill -0 "$(cat "$demo/sim.pid")" 2>/dev/null; then
		cat "$demo/sim.log"
		rm -f "$demo/sim.pid"
		exit 1
	fi
	sleep 0.1
done
[ -f "$demo/bmcs/inventory.json" ] || { cat "$demo/sim.log"; down; exit 1; }
cat "$demo/sim.log"
# shellcheck source=/dev/null
. "$demo/sim.env"

git -C "$demo/repo" init -q -b main
git -C "$demo/repo" add rack.yaml
git -C "$demo/repo" -c user.name=demo -c user.email=demo@localhost commit -qm "Initial rack"

flags=(-f "$demo/repo/rack.yaml" --root "$demo/root")
if [ "$PROVISIONER" = lokomotive ]; then
	RACKCTL_SIM_LOKOCTL_STANDIN=$PWD/bin/lokoctl-standin
	# What the stand-in needs from rackctl's environment to serve the nodes
	# (terraform, the provider mirror) and record its calls; rackctl watch
	# and a by-hand apply need it too, hence the file.
	cat >"$demo/lokoctl.env" <<EOT
export RACKCTL_LOKOCTL_RECORD=$PWD/$demo/lokoctl-calls.jsonl
export RACKCTL_LOKOCTL_TERRAFORM=$RACKCTL_SIM_TERRAFORM
export TF_CLI_CONFIG_FILE=$RACKCTL_SIM_TERRAFORMRC
EOT
	# shellcheck source=/dev/null
	. "$demo/lokoctl.env"
	cat <<EOT

demo: NOTE: lokoctl is a STAND-IN ($RACKCTL_SIM_LOKOCTL_STANDIN).
      Lokomotive is archived and lokoctl does not build here. The stand-in
      checks the rendered directory, records each call in
      $demo/lokoctl-calls.jsonl and serves the nodes through matchbox as
      lokoctl's bare-metal module does (terraform; install profile until a
      node's flag file exists, then its final Ignition: hostname, core's SSH
      keys). The servers really boot and installs are observed over SSH, but
      NO KUBERNETES CLUSTER runs: no kube-apiserver, no kubelet joins, so
      status cannot say a node JOINED (it shows unknown or no).
EOT
fi
write_config "$demo/root"
echo
echo "demo: the driver settings are in $demo/root/etc/rackctl/config.yaml:"
run() {
	echo "+ $*"
	"$@"
}
# fail WHY: the demo did not show what it should; it goes on (the rack
# stays up to look at) and exits 1 at the end.
failed=""
fail() {
	echo "demo: FAILED: $*" >&2
	failed="${failed}  $*
"
}
run $rackctl config view --root "$demo/root" | grep -v ' default$'

echo
run $rackctl validate "${flags[@]}"
echo
provisioner_run=terraform
[ "$PROVISIONER" = lokomotive ] && provisioner_run="lokoctl (the stand-in)"
echo "demo: one apply installs every node: files, dnsmasq reload, $provisioner_run, PXE boot + power cycle;"
echo "      the simulated servers DHCP, iPXE, fetch their Ignition, install, reboot and answer SSH;"
echo "      each install is recorded once seen over SSH, then matchbox and the boot device settle"
echo "+ $rackctl apply ${flags[*]} --auto-approve"
$rackctl apply "${flags[@]}" --auto-approve >"$demo/apply-1.txt" 2>&1 || {
	cat "$demo/apply-1.txt"
	echo "demo: apply failed (full output in $demo/apply-1.txt); 'scripts/demo.sh down' stops the rack" >&2
	exit 1
}
grep '^verify: ' "$demo/apply-1.txt" || true
tail -n 1 "$demo/apply-1.txt"
echo
echo "demo: what the servers did, a line per node per boot step (from their logs, $demo/nodes/<bmc>/log):"
bin/rackctl-sim -boot-lines -node-dir "$demo/nodes" -dir "$demo/bmcs" -spec "$demo/repo/rack.yaml" | tee "$demo/boot-lines.txt"
# Every node must have come up: a demo that shows less is a broken demo.
# shellcheck disable=SC2046 # node names are DNS labels: no spaces, no globs
for node in $(not_up "$demo/boot-lines.txt" $(awk '/- name:/ {print $3}' "$demo/repo/rack.yaml")); do
	fail "$node never answered SSH (see $demo/nodes/*/log)"
done
echo
echo "+ $rackctl plan ${flags[*]} --detailed-exitcode"
rc=0
$rackctl plan "${flags[@]}" --detailed-exitcode >"$demo/plan-2.txt" 2>&1 || rc=$?
tail -n 1 "$demo/plan-2.txt"
# One apply converges the rack: anything left to do is a broken demo.
[ $rc = 0 ] || fail "plan exit $rc after the apply: the rack has not converged (see $demo/plan-2.txt)"
if [ "$PROVISIONER" = lokomotive ]; then
	echo "demo: the lokoctl stand-in recorded $(wc -l <"$demo/lokoctl-calls.jsonl") call(s) in $demo/lokoctl-calls.jsonl (no cluster was installed)"
fi
echo
mac0=$(awk '/mac:/ && !/bmcMac/ {print $2; exit}' "$demo/repo/rack.yaml")
node0=$(awk '/- name:/ {print $3; exit}' "$demo/repo/rack.yaml")
echo "demo: the first node's PXE NIC ($mac0) asks dnsmasq for its address:"
echo "+ $RACKCTL_SIM_DHCP_REQUEST $mac0"
"$RACKCTL_SIM_DHCP_REQUEST" "$mac0" 2>&1 | grep -i lease || echo "demo: warning: no lease for $mac0" >&2
echo
echo "demo: what matchbox serves that node now (its final Ignition):"
curl -fsS "$RACKCTL_SIM_MATCHBOX_HTTP/ignition?mac=$mac0&os=installed" | head -c 300
echo " ..."
echo
run $rackctl status "${flags[@]}" | tee "$demo/status.txt"
# The INSTALL column: an install observed over SSH (verify ssh) for every
# node, with either provisioner; "assumed" or "not observed" is a failure.
want_install=installed
for node in $(awk '/- name:/ {print $3}' "$demo/repo/rack.yaml"); do
	row=$(grep "^$node " "$demo/status.txt" || true)
	[[ "$row" == *"  $want_install" ]] || fail "status does not show $node as $want_install (see $demo/status.txt)"
done
echo
run $rackctl ipmi "${flags[@]}" --all power status

echo
echo "demo: starting rackctl watch on $demo/repo (log $demo/watch.log, web view http://$WATCH_LISTEN/, metrics http://$WATCH_LISTEN/metrics)"
$rackctl watch --repo "$PWD/$demo/repo" --branch main --root "$demo/root" \
	--interval 10s --listen "$WATCH_LISTEN" >"$demo/watch.log" 2>&1 &
echo $! >"$demo/watch.pid"
watching="rackctl watch (pid $(cat "$demo/watch.pid")) applies every commit to $demo/repo within 10s.
The rack's web view: http://$WATCH_LISTEN/"

env_hint=""
if [ "$PROVISIONER" = lokomotive ]; then
	env_hint="  . $demo/lokoctl.env   first, in the shell you apply from: what the lokoctl stand-in needs to serve the nodes
"
fi
cat <<EOT

The simulated rack keeps running. $watching
Try:
  bin/rackctl status ${flags[*]} [--full]
  bin/rackctl ipmi   ${flags[*]} $node0 diag
  $RACKCTL_SIM_DHCP_REQUEST $mac0   ask dnsmasq for a lease as $node0's PXE NIC
  curl '$RACKCTL_SIM_MATCHBOX_HTTP/ipxe?mac=$mac0'   what matchbox serves $node0's PXE boot
${env_hint}  edit $demo/repo/rack.yaml (set reprovision: "1" on a node, exclude: true, add a node), commit it;
  rackctl watch picks it up (tail -f $demo/watch.log), or by hand:
  bin/rackctl plan   ${flags[*]}
  bin/rackctl apply  ${flags[*]}
  bin/rackctl config view --root $demo/root   the driver settings, from $demo/root/etc/rackctl/config.yaml
  make demo-down     stops everything (simulators, matchbox, dnsmasq and its namespaces, watch)
EOT
if [ -n "$failed" ]; then
	printf 'demo: FAILED checks (the rack keeps running; make demo-down stops it):\n%s' "$failed" >&2
	exit 1
fi
