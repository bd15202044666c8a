//go:build !rackctl_testhooks

package main

import (
	"context"

	"github.com/rackctl/rackctl/reconcile"
)

// PauseEnv is the variable the test-only pause hook reads in a build with
// the tag rackctl_testhooks; this build has no hook and ignores it.
const PauseEnv = "RACKCTL_TEST_PAUSE_PHASE"

// pauseHook is nil in a released build: apply never pauses.
func (g *globals) pauseHook() func(context.Context, reconcile.Layer) { return nil }
