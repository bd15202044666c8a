//go:build rackctl_testhooks

package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rackctl/rackctl/reconcile"
)

// PauseEnv is a test-only hook, compiled in only with the build tag
// rackctl_testhooks (the tests that kill apply build rackctl so):
// RACKCTL_TEST_PAUSE_PHASE=<layer> makes apply print "paused before phase
// <layer>" on stderr and sleep (up to a minute, or until interrupted) at the
// start of that phase, so a test can kill it there. A released build
// (make build) has no such hook and ignores the variable.
const PauseEnv = "RACKCTL_TEST_PAUSE_PHASE"

// pauseHook is the RACKCTL_TEST_PAUSE_PHASE hook (see PauseEnv).
func (g *globals) pauseHook() func(context.Context, reconcile.Layer) {
	phase := os.Getenv(PauseEnv)
	if phase == "" {
		return nil
	}
	return func(ctx context.Context, l reconcile.Layer) {
		if string(l) != phase {
			return
		}
		fmt.Fprintf(g.stderr, "paused before phase %s (%s, test only)\n", l, PauseEnv)
		select {
		case <-ctx.Done():
		case <-time.After(time.Minute):
		}
	}
}
