#!/usr/bin/env bash
# Builds the Kubernetes control plane the cluster tests start (kube-apiserver
# and kube-controller-manager v1.37.2, etcd v3.7.0) from the pinned module in
# tools/kube, into a version-keyed cache directory OUTSIDE the repository:
#   ${RACKCTL_KUBE_CACHE:-/var/cache/rackctl/kube-v1.37.2-etcd-v3.7.0}
# A cache whose stamp matches tools/kube (go.mod, go.sum, etcd/main.go) is
# reused in seconds; a missing or stale one is rebuilt (about 12–17 minutes
# cold on a 2-core machine). The build goes to a temporary directory that is
# renamed into place only when complete, so an interrupted build never leaves
# a cache that looks usable. internal/testenv reads the same directory and
# stamp (kube.go); keep the two in step.
#
#   scripts/build-kube.sh            build when missing or stale
#   scripts/build-kube.sh --dir      print the cache directory and exit
#   scripts/build-kube.sh --check    exit 0 when the cache is usable, 1 when not
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
cache=${RACKCTL_KUBE_CACHE:-/var/cache/rackctl/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}}
bins=(kube-apiserver kube-controller-manager etcd)

# The stamp is the SHA-256 of the three files that decide what gets built,
# concatenated in this order (internal/testenv computes the same).
stamp() { cat tools/kube/go.mod tools/kube/go.sum tools/kube/etcd/main.go | sha256sum | cut -d' ' -f1; }

usable() {
	local b
	for b in "${bins[@]}"; do [ -x "$cache/$b" ] || return 1; done
	[ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$(stamp)" ]
}

case "${1:-}" in
--dir) echo "$cache"; exit 0 ;;
--check) usable; exit ;;
"") ;;
*) echo "usage: $0 [--dir|--check]" >&2; exit 2 ;;
esac

if usable; then
	echo "build-kube: cached in $cache (kube $KUBE_VERSION, etcd $ETCD_VERSION)"
	exit 0
fi

parent=$(dirname "$cache")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.build-kube.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The same -X flags as hack/lib/version.sh, so `kube-apiserver --version` and
# the /version endpoint report the release, not v0.0.0-master.
ld="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
	ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

echo "build-kube: building kube $KUBE_VERSION and etcd $ETCD_VERSION into $cache (cold: about 12–17 minutes)"
t0=$(date +%s)
(
	cd tools/kube
	CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$tmp/" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		./etcd
)
got=$("$tmp/kube-apiserver" --version)
if [ "$got" != "Kubernetes $KUBE_VERSION" ]; then
	echo "build-kube: kube-apiserver --version says '$got', want 'Kubernetes $KUBE_VERSION'" >&2
	exit 1
fi
stamp >"$tmp/stamp"
chmod 755 "$tmp" # mktemp made it 0700
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "build-kube: built in $(( $(date +%s) - t0 ))s into $cache"
