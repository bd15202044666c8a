#!/usr/bin/env bash
# Validates and renders every bundled example, and checks the generated
# 1000-node example is what the generator writes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/rackctl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./spec-examples/gen -n 1000 > "$tmp/rack-1000.yaml"
if ! cmp -s "$tmp/rack-1000.yaml" spec-examples/rack-1000.yaml; then
	echo "spec-examples/rack-1000.yaml is stale: go run ./spec-examples/gen -n 1000 > spec-examples/rack-1000.yaml" >&2
	exit 1
fi
for spec in spec-examples/*.yaml; do
	name=$(basename "$spec" .yaml)
	"$bin" validate -f "$spec"
	"$bin" render -f "$spec" --state-dir "$tmp/state-$name" --out "$tmp/out-$name" >/dev/null
	echo "examples: $spec validated and rendered ($(find "$tmp/out-$name" -type f | wc -l) files)"
done
"$bin" validate --all spec-examples/fleet/racks
"$bin" plan --all spec-examples/fleet/racks >/dev/null
echo "examples: spec-examples/fleet validated and planned (validate --all, plan --all)"
