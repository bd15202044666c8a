//go:build tools

// Package staticcheck records the pinned staticcheck for go mod tidy.
package staticcheck

import _ "honnef.co/go/tools/cmd/staticcheck"
