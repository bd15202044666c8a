#!/usr/bin/env bash
# build-tools.sh builds the programs rackctl's tests and demo run, at the
# versions pinned in tools/go.mod, into tools/bin (gitignored):
#
#   tools/bin/matchbox                      poseidon/matchbox (PXE/Ignition server)
#   tools/bin/terraform-provider-matchbox   poseidon/terraform-provider-matchbox
#   tools/bin/terraform                     only when no terraform is on PATH
#   tools/bin/lokoctl-standin               recording stand-in for lokoctl
#   tools/bin/tf-mirror/...                 Terraform filesystem mirror of the provider
#   tools/bin/terraformrc                   CLI config using only that mirror
#
# Use the mirror with: export TF_CLI_CONFIG_FILE=tools/bin/terraformrc
#
# It is idempotent: a binary is rebuilt only when its pinned version (read
# back with `go version -m`) or its source changed. Environment:
#   RACKCTL_TOOLS_BIN         output directory (default tools/bin)
#   RACKCTL_BUILD_TERRAFORM=1 build terraform even if one is on PATH
#   TERRAFORM_VERSION         terraform version to build (default 1.5.7)
#
# Why terraform 1.5.7 and not 1.11: from the Go module proxy, terraform v1.11.4
# cannot be built (checked): its go.mod replaces nested modules
# (internal/backend/remote-state/*, internal/legacy) with local directories
# that the module zip does not contain, and `go install` refuses replace
# directives. v1.5.7 has none and builds. The flatcar-baremetal module needs
# terraform >= 1.3; tests run the terraform on PATH (v1.11 on this image).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$root/tools
bin=${RACKCTL_TOOLS_BIN:-$tools/bin}
terraform_version=${TERRAFORM_VERSION:-1.5.7}
provider_source=registry.terraform.io/poseidon/matchbox

mkdir -p "$bin"
bin=$(cd "$bin" && pwd)

say() { printf 'build-tools: %s\n' "$*"; }

# pinned prints the version tools/go.mod requires for module $1.
pinned() {
	(cd "$tools" && go list -m -f '{{.Version}}' "$1")
}

# built_version prints the version of module $2 compiled into binary $1,
# or nothing when the binary is missing or unreadable.
built_version() {
	[[ -x $1 ]] || return 0
	go version -m "$1" 2>/dev/null | awk -v m="$2" '($1 == "dep" || $1 == "mod") && $2 == m { print $3; exit }'
}

# build_pinned NAME MODULE PACKAGE builds PACKAGE from the tools module.
build_pinned() {
	local name=$1 module=$2 pkg=$3 want have
	want=$(pinned "$module")
	have=$(built_version "$bin/$name" "$module")
	if [[ $have == "$want" ]]; then
		say "$name $want: up to date"
		return
	fi
	say "$name $want: building (was: ${have:-missing})"
	(cd "$tools" && go build -trimpath -o "$bin/$name" "$pkg")
}

build_pinned matchbox github.com/poseidon/matchbox github.com/poseidon/matchbox/cmd/matchbox
build_pinned terraform-provider-matchbox github.com/poseidon/terraform-provider-matchbox github.com/poseidon/terraform-provider-matchbox
provider_version=$(pinned github.com/poseidon/terraform-provider-matchbox)
provider_version=${provider_version#v}

# terraform: use the one on PATH unless told otherwise.
if [[ ${RACKCTL_BUILD_TERRAFORM:-} != 1 ]] && tf=$(command -v terraform); then
	say "terraform: using $tf ($("$tf" version 2>/dev/null | head -n1))"
else
	have=$(built_version "$bin/terraform" github.com/hashicorp/terraform)
	if [[ $have == "v$terraform_version" ]]; then
		say "terraform v$terraform_version: up to date"
	else
		say "terraform v$terraform_version: building from the module proxy (was: ${have:-missing})"
		if ! (cd "$tools" && GOBIN=$bin GOFLAGS=-trimpath go install "github.com/hashicorp/terraform@v$terraform_version"); then
			say "terraform v$terraform_version did not build; install terraform (>= 1.3) on PATH instead" >&2
			exit 1
		fi
	fi
fi

# lokoctl stand-in (lokoctl itself does not build: Lokomotive is archived).
# It serves nodes with rackctl's render and Terraform module: a change in
# any package of the repository it is built from rebuilds it.
standin_pkg=./provision/testdata/lokoctl-standin
mapfile -t standin_src < <(cd "$root" && go list -deps -f '{{if not .Standard}}{{.Dir}}{{end}}' "$standin_pkg" | grep -F "$root/")
if [[ -x $bin/lokoctl-standin && ${#standin_src[@]} -gt 0 &&
	-z $(find "${standin_src[@]}" -maxdepth 2 -newer "$bin/lokoctl-standin" \( -name '*.go' -o -name '*.tf' \) -print -quit) ]]; then
	say "lokoctl-standin: up to date"
else
	say "lokoctl-standin: building"
	(cd "$root" && go build -o "$bin/lokoctl-standin" "$standin_pkg")
fi

# staticcheck, pinned in its own module (tools/staticcheck) for CI's lint step.
# A failed build is reported, not fatal: CI then says staticcheck was skipped.
sc_version=$(cd "$tools/staticcheck" && go list -m -f '{{.Version}}' honnef.co/go/tools)
if [[ -x $bin/staticcheck ]] && "$bin/staticcheck" -version 2>/dev/null | grep -q "(${sc_version#v})"; then
	say "staticcheck $sc_version: up to date"
else
	say "staticcheck $sc_version: building"
	(cd "$tools/staticcheck" && go build -trimpath -o "$bin/staticcheck" honnef.co/go/tools/cmd/staticcheck) ||
		say "staticcheck: build failed; lint runs without it"
fi

# Terraform filesystem mirror (unpacked layout) holding the provider.
mirror=$bin/tf-mirror
pdir=$mirror/$provider_source/$provider_version/linux_amd64
pbin=$pdir/terraform-provider-matchbox_v$provider_version
if [[ -f $pbin ]] && cmp -s "$bin/terraform-provider-matchbox" "$pbin"; then
	say "mirror: $provider_source $provider_version up to date"
else
	say "mirror: $provider_source $provider_version -> $pdir"
	rm -rf "$mirror/$provider_source"
	mkdir -p "$pdir"
	cp "$bin/terraform-provider-matchbox" "$pbin.tmp"
	mv "$pbin.tmp" "$pbin"
fi

rc=$bin/terraformrc
cat >"$rc.tmp" <<RC
# Written by scripts/build-tools.sh. Serves $provider_source from a local
# filesystem mirror; nothing is downloaded.
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["$provider_source"]
  }
  direct {
    exclude = ["$provider_source"]
  }
}
RC
if cmp -s "$rc.tmp" "$rc"; then
	rm "$rc.tmp"
	say "terraformrc: up to date ($rc)"
else
	mv "$rc.tmp" "$rc"
	say "terraformrc: written ($rc)"
fi
