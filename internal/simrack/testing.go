package simrack

import (
	"context"
	"testing"
)

// StartT starts a rack in t.TempDir() (unless opts.Dir is set), fails the
// test when ipmi_sim is missing or does not start, and stops the rack in
// t.Cleanup.
func StartT(t testing.TB, opts Options) *Rack {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	r, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start simulated rack: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
