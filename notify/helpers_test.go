package notify

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

// request is one POST a receiver saw.
type request struct {
	header http.Header
	body   []byte
}

// receiver is an HTTP server on loopback that records what it is sent;
// status, when set, chooses the answer to the n-th request (from 1).
type receiver struct {
	srv    *httptest.Server
	got    chan request
	status func(n int) int
	// hold, when set, keeps every request waiting until it is closed.
	hold chan struct{}

	mu sync.Mutex
	n  int
}

func newReceiver(t testing.TB, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{got: make(chan request, 100), status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.n++
		n := r.n
		hold := r.hold
		r.mu.Unlock()
		r.got <- request{header: req.Header.Clone(), body: body}
		if hold != nil {
			select {
			case <-hold:
			case <-req.Context().Done():
			}
		}
		code := http.StatusOK
		if r.status != nil {
			code = r.status(n)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(func() {
		r.release()
		r.srv.Close()
	})
	return r
}

// holdAll makes requests wait until release.
func (r *receiver) holdAll() {
	r.mu.Lock()
	r.hold = make(chan struct{})
	r.mu.Unlock()
}

func (r *receiver) release() {
	r.mu.Lock()
	if r.hold != nil {
		close(r.hold)
		r.hold = nil
	}
	r.mu.Unlock()
}

// next waits for the next request.
func (r *receiver) next(t *testing.T) request {
	t.Helper()
	select {
	case q := <-r.got:
		return q
	case <-time.After(30 * time.Second):
		t.Fatal("no request within 30s")
		return request{}
	}
}

// noMore checks that no request is waiting to be read.
func (r *receiver) noMore(t *testing.T) {
	t.Helper()
	select {
	case q := <-r.got:
		t.Fatalf("unexpected request %s", q.body)
	default:
	}
}

// writeFile writes content to a new file in a temp dir and returns its
// path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuffer is a logger whose output the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newNotifier starts a notifier with fast retries; Close runs at cleanup.
func newNotifier(t testing.TB, cfg Config) *Notifier {
	t.Helper()
	if cfg.RetryMin == 0 {
		cfg.RetryMin, cfg.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A target a test leaves hanging gets a second to finish.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n.Close(ctx)
	})
	return n
}

// heldRecord is a commit held over the worker limit.
func heldRecord(commit string) state.WatchEvent {
	return state.WatchEvent{
		Time: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), Trigger: watch.TriggerRevision, Outcome: watch.OutcomeHeld,
		Commit: commit, Author: "Ops", Planned: &state.Counts{Change: 3},
		Policy: &state.PolicyDecision{Disruptive: map[string][]string{"worker": {"w0", "w1", "w2"}},
			OverLimit: []string{"worker: 3 nodes > limit 1"}},
		Reason: "blast radius over the limit (worker: 3 nodes > limit 1): run 'rackctl approve COMMIT'",
	}
}

// counter reads a counter or gauge of a vector by its labels.
func counter(t testing.TB, c prometheus.Collector, labels ...string) float64 {
	t.Helper()
	var m prometheus.Metric
	switch v := c.(type) {
	case *prometheus.CounterVec:
		m = v.WithLabelValues(labels...)
	case *prometheus.GaugeVec:
		m = v.WithLabelValues(labels...)
	default:
		t.Fatalf("collector %T", c)
	}
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}

// eventually polls cond until it holds; the bound only keeps a broken
// test from hanging, it measures nothing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 30s", what)
}

func hasAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

type schemaDiag = schema.Diagnostic
