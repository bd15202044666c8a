package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/rackctl/rackctl/state"
)

// Defaults of Config.
const (
	DefaultQueueSize = 100
	DefaultAttempts  = 6
	DefaultRetryMin  = 2 * time.Second
	DefaultRetryMax  = 5 * time.Minute
)

// Config configures a Notifier.
type Config struct {
	Targets []TargetConfig
	Origin  Origin
	Log     *slog.Logger
	// QueueSize bounds each target's queue; a full queue drops its oldest
	// event. Default DefaultQueueSize.
	QueueSize int
	// Attempts per event and target (the first and the retries), default
	// DefaultAttempts; the wait after a failed attempt starts at RetryMin
	// and doubles up to RetryMax, each wait plus up to half again of
	// random jitter.
	Attempts           int
	RetryMin, RetryMax time.Duration
}

// Notifier sends the events of watch records to their targets, each
// target from its own queue and goroutine.
type Notifier struct {
	origin  Origin
	log     *slog.Logger
	m       *metrics
	senders []*sender

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New reads every target's files and starts its sender; Close stops them.
func New(cfg Config) (*Notifier, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	retry := retryPolicy{attempts: cfg.Attempts, min: cfg.RetryMin, max: cfg.RetryMax}
	retry.defaults()
	n := &Notifier{origin: cfg.Origin, log: log, m: newMetrics()}
	seen := map[string]bool{}
	for _, tc := range cfg.Targets {
		if seen[tc.Name] {
			return nil, fmt.Errorf("notification target %s: named twice", tc.Name)
		}
		seen[tc.Name] = true
		t, err := NewTarget(tc)
		if err != nil {
			return nil, err
		}
		n.senders = append(n.senders, newSender(tc, t, cmpOr(cfg.QueueSize, DefaultQueueSize), retry, n.m, log))
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	for _, s := range n.senders {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); s.run(ctx) }()
	}
	return n, nil
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Targets names the targets, in the order of the config.
func (n *Notifier) Targets() []string {
	var out []string
	for _, s := range n.senders {
		out = append(out, s.name)
	}
	return out
}

// Notify queues the events of a watch record for every target that wants
// them and returns at once: it runs on the watch loop's goroutine
// (watch.Config.OnEvent).
func (n *Notifier) Notify(r state.WatchEvent) {
	for _, e := range FromRecord(r, n.origin) {
		n.Enqueue(e)
	}
}

// Enqueue queues e for every target whose filter takes its kind.
func (n *Notifier) Enqueue(e Event) {
	for _, s := range n.senders {
		if s.kinds[e.Kind] {
			s.enqueue(e)
		}
	}
}

// ErrUnknownTarget is returned by SendNow for a name no target has.
var ErrUnknownTarget = errors.New("no such notification target")

// SendNow makes one attempt at delivering e to the named target, outside
// its queue, and returns how it went (`rackctl notify test`).
func (n *Notifier) SendNow(ctx context.Context, name string, e Event) error {
	i := slices.IndexFunc(n.senders, func(s *sender) bool { return s.name == name })
	if i < 0 {
		return fmt.Errorf("%s: %w", name, ErrUnknownTarget)
	}
	return n.senders[i].attempt(ctx, e)
}

// Close lets the senders deliver what is queued until ctx ends, then
// stops them.
func (n *Notifier) Close(ctx context.Context) {
	for _, s := range n.senders {
		s.drain()
	}
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel()
		<-done
	}
	n.cancel()
}

type retryPolicy struct {
	attempts int
	min, max time.Duration
}

func (r *retryPolicy) defaults() {
	r.attempts = cmpOr(r.attempts, DefaultAttempts)
	if r.min <= 0 {
		r.min = DefaultRetryMin
	}
	if r.max <= 0 {
		r.max = DefaultRetryMax
	}
	r.max = max(r.max, r.min)
}

// backoff is the schedule of one event's retries: min doubling to max,
// each wait with up to 50% random jitter added.
func (r retryPolicy) backoff() *wait.Backoff {
	return &wait.Backoff{Duration: r.min, Factor: 2, Jitter: 0.5, Steps: r.attempts, Cap: r.max}
}

// sender delivers one target's queue in order.
type sender struct {
	name    string
	kind    TargetKind
	target  Target
	kinds   map[Kind]bool
	timeout time.Duration
	retry   retryPolicy
	m       *metrics
	log     *slog.Logger

	mu       sync.Mutex
	queue    []Event
	size     int
	draining bool
	wake     chan struct{}
}

func newSender(tc TargetConfig, t Target, size int, retry retryPolicy, m *metrics, log *slog.Logger) *sender {
	kinds := map[Kind]bool{}
	evs := tc.Events
	if len(evs) == 0 {
		evs = DefaultKinds()
	}
	for _, k := range evs {
		kinds[k] = true
	}
	kinds[KindTest] = true
	s := &sender{name: tc.Name, kind: tc.Kind, target: t, kinds: kinds, timeout: tc.Timeout, retry: retry,
		m: m, log: log.With("target", tc.Name, "kind", string(tc.Kind)), size: size, wake: make(chan struct{}, 1)}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	m.queue.WithLabelValues(s.name).Set(0)
	return s
}

// enqueue adds e, dropping the oldest event when the queue is full.
func (s *sender) enqueue(e Event) {
	s.mu.Lock()
	if len(s.queue) >= s.size {
		old := s.queue[0]
		s.queue = s.queue[1:]
		s.m.dropped.WithLabelValues(s.name).Inc()
		s.log.Warn("notification queue full: dropped the oldest event", "dropped", string(old.Kind), "id", old.ID)
	}
	s.queue = append(s.queue, e)
	s.m.queue.WithLabelValues(s.name).Set(float64(len(s.queue)))
	s.mu.Unlock()
	s.signal()
}

func (s *sender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	s.signal()
}

// next takes the oldest event; ok is false once draining with nothing
// left, or when ctx ends.
func (s *sender) next(ctx context.Context) (Event, bool) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			e := s.queue[0]
			s.queue = s.queue[1:]
			s.m.queue.WithLabelValues(s.name).Set(float64(len(s.queue)))
			s.mu.Unlock()
			return e, true
		}
		draining := s.draining
		s.mu.Unlock()
		if draining {
			return Event{}, false
		}
		select {
		case <-ctx.Done():
			return Event{}, false
		case <-s.wake:
		}
	}
}

func (s *sender) run(ctx context.Context) {
	for {
		e, ok := s.next(ctx)
		if !ok {
			return
		}
		s.deliver(ctx, e)
	}
}

// deliver tries e until it goes, fails permanently or runs out of
// attempts.
func (s *sender) deliver(ctx context.Context, e Event) {
	b := s.retry.backoff()
	for attempt := 1; ; attempt++ {
		err := s.attempt(ctx, e)
		if err == nil {
			return
		}
		var perm *PermanentError
		if errors.As(err, &perm) || attempt >= s.retry.attempts || ctx.Err() != nil {
			s.m.sent.WithLabelValues(s.name, "failed").Inc()
			s.log.Error("notification not delivered", "event", string(e.Kind), "id", e.ID, "attempts", attempt, "err", err)
			return
		}
		d := b.Step()
		s.m.retries.WithLabelValues(s.name).Inc()
		s.log.Warn("notification failed, retrying", "event", string(e.Kind), "id", e.ID, "attempt", attempt, "retryIn", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// attempt sends e once, bounded by the target's timeout; a success is
// counted here.
func (s *sender) attempt(ctx context.Context, e Event) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.target.Send(ctx, e); err != nil {
		return err
	}
	s.m.sent.WithLabelValues(s.name, "ok").Inc()
	s.m.lastOK.WithLabelValues(s.name).SetToCurrentTime()
	s.log.Info("notification sent", "event", string(e.Kind), "id", e.ID)
	return nil
}
