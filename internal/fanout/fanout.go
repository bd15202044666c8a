// Package fanout runs one function over many items with a bound on how
// many run at once: the one bounded fan-out of rackctl (BMC calls, apply
// phases), so that each caller does not hand-roll its own semaphore.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrNotStarted is wrapped, together with the context's error, in the
// error of every item Each did not start because ctx had ended.
var ErrNotStarted = errors.New("not started")

// Each calls f for every item, at most limit at a time (limit < 1 means
// one at a time), each call in its own goroutine, and returns once every
// call has returned. errs[i] is item i's error: f's, or, for an item not
// started because ctx ended first, one wrapping ErrNotStarted and
// ctx.Err(). Items start in order; once ctx has ended no further item
// starts, but calls already running are waited for (f should honour ctx).
func Each[T any](ctx context.Context, limit int, items []T, f func(ctx context.Context, i int, item T) error) (errs []error) {
	if limit < 1 {
		limit = 1
	}
	errs = make([]error, len(items))
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, item := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		// Checked after the wait too: with a free slot and an ended ctx,
		// select may pick either, and an item must not start after ctx ended.
		if err := ctx.Err(); err != nil {
			for j := i; j < len(items); j++ {
				errs[j] = fmt.Errorf("%w: %w", ErrNotStarted, err)
			}
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = f(ctx, i, item)
		})
	}
	wg.Wait()
	return errs
}
