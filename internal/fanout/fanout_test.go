package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEachBound(t *testing.T) {
	tests := map[string]struct {
		limit, items, wantMax int
	}{
		"limit 3 of 20":      {limit: 3, items: 20, wantMax: 3},
		"limit above items":  {limit: 50, items: 5, wantMax: 5},
		"zero means one":     {limit: 0, items: 6, wantMax: 1},
		"negative means one": {limit: -2, items: 4, wantMax: 1},
		"no items":           {limit: 4, items: 0, wantMax: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			items := make([]int, tc.items)
			for i := range items {
				items[i] = i
			}
			var running, peak atomic.Int32
			var mu sync.Mutex
			seen := map[int]bool{}
			errs := Each(context.Background(), tc.limit, items, func(_ context.Context, i, item int) error {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				running.Add(-1)
				mu.Lock()
				seen[item] = true
				mu.Unlock()
				if item%2 == 1 {
					return fmt.Errorf("item %d", item)
				}
				return nil
			})
			if int(peak.Load()) != tc.wantMax {
				t.Errorf("at most %d at once, want %d", peak.Load(), tc.wantMax)
			}
			if len(seen) != tc.items || len(errs) != tc.items {
				t.Fatalf("ran %d items, %d errors, want %d", len(seen), len(errs), tc.items)
			}
			for i, err := range errs {
				want := ""
				if i%2 == 1 {
					want = fmt.Sprintf("item %d", i)
				}
				if got := fmt.Sprint(err); (err == nil) != (want == "") || err != nil && got != want {
					t.Errorf("errs[%d] = %v, want %q", i, err, want)
				}
			}
		})
	}
}

// TestEachContext: once ctx ends no item starts; the ones not started get
// ErrNotStarted with ctx's error, the running one finishes.
func TestEachContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var started atomic.Int32
	var errs []error
	within(t, func() {
		errs = Each(ctx, 1, []string{"a", "b", "c", "d"}, func(ctx context.Context, i int, _ string) error {
			started.Add(1)
			if i == 1 {
				cancel()
				return ctx.Err()
			}
			return nil
		})
	})
	if started.Load() != 2 {
		t.Errorf("%d items started, want 2 (a, and b which cancelled)", started.Load())
	}
	if errs[0] != nil || !errors.Is(errs[1], context.Canceled) || errors.Is(errs[1], ErrNotStarted) {
		t.Errorf("errs[0..1] = %v, %v", errs[0], errs[1])
	}
	for _, i := range []int{2, 3} {
		if !errors.Is(errs[i], ErrNotStarted) || !errors.Is(errs[i], context.Canceled) {
			t.Errorf("errs[%d] = %v, want not started, cancelled", i, errs[i])
		}
	}

	ended, stop := context.WithCancel(context.Background())
	stop()
	within(t, func() {
		errs = Each(ended, 8, []int{1, 2}, func(context.Context, int, int) error {
			t.Error("an item started after ctx ended")
			return nil
		})
	})
	if !errors.Is(errs[0], ErrNotStarted) || !errors.Is(errs[1], ErrNotStarted) {
		t.Errorf("errs = %v, want both not started", errs)
	}
}

// within fails the test if f does not return in 10s (a lost slot would
// make Each wait forever).
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Each did not return within 10s")
	}
}
