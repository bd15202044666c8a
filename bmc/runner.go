package bmc

import (
	"context"
	"errors"
	"time"

	"github.com/rackctl/rackctl/internal/fanout"
)

// Result is the outcome of one target in ForEach.
type Result[T any] struct {
	Value   T
	Err     error
	Elapsed time.Duration
}

// ForEach runs fn for every target, at most limit at a time (limit <= 0
// means DefaultParallel), and returns the results by Target.Node. Each call
// of fn gets its own goroutine and so its own BMC client; a dead BMC costs
// its own timeout and does not hold up the others. Targets that had not
// started when ctx ended get ctx's error.
func ForEach[T any](ctx context.Context, limit int, targets []Target, fn func(ctx context.Context, t Target) (T, error)) map[string]Result[T] {
	if limit <= 0 {
		limit = DefaultParallel
	}
	res := make([]Result[T], len(targets))
	errs := fanout.Each(ctx, limit, targets, func(ctx context.Context, i int, t Target) error {
		start := time.Now()
		v, err := fn(ctx, t)
		res[i] = Result[T]{Value: v, Err: err, Elapsed: time.Since(start)}
		return err
	})
	results := make(map[string]Result[T], len(targets))
	for i, t := range targets {
		if errors.Is(errs[i], fanout.ErrNotStarted) {
			res[i] = Result[T]{Err: wrap(t.Node, "start", ctx.Err())}
		}
		results[t.Node] = res[i]
	}
	return results
}

// Runner runs one operation across many BMCs with the client's parallel
// limit.
type Runner struct {
	Client *Client
}

// Runner returns a Runner using c's Config.Parallel.
func (c *Client) Runner() Runner { return Runner{Client: c} }

// PowerStates reads the power state of every target in parallel.
func (r Runner) PowerStates(ctx context.Context, targets []Target) map[string]Result[string] {
	return ForEach(ctx, r.Client.cfg.Parallel, targets, r.Client.PowerState)
}

// Do runs fn for every target in parallel (for actions without a value).
func (r Runner) Do(ctx context.Context, targets []Target, fn func(ctx context.Context, t Target) error) map[string]Result[struct{}] {
	return ForEach(ctx, r.Client.cfg.Parallel, targets, func(ctx context.Context, t Target) (struct{}, error) {
		return struct{}{}, fn(ctx, t)
	})
}
