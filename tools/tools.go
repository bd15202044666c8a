//go:build tools

// Package tools records the pinned tool dependencies so `go mod tidy` keeps
// them; scripts/build-tools.sh builds them into tools/bin.
package tools

import (
	_ "github.com/poseidon/matchbox/cmd/matchbox"
	_ "github.com/poseidon/terraform-provider-matchbox"
)
