package source

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// testLog writes the source's log lines to the test log.
func testLog(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// start runs src until the test ends and returns its event channel.
func start(t *testing.T, src Source) <-chan Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Event, 16)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return out
}

func next(t *testing.T, ch <-chan Event, within time.Duration) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
		return Event{}
	}
}

func nextRevision(t *testing.T, ch <-chan Event, within time.Duration) *Revision {
	t.Helper()
	ev := next(t, ch, within)
	if ev.Err != nil {
		t.Fatalf("want a revision, got error event: %v", ev.Err)
	}
	if ev.Revision == nil {
		t.Fatalf("event with neither revision nor error")
	}
	return ev.Revision
}

func none(t *testing.T, ch <-chan Event, wait time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		if ev.Err != nil {
			t.Fatalf("want no event, got error: %v", ev.Err)
		}
		t.Fatalf("want no event, got revision %s: %q", ev.Revision.Commit, ev.Revision.Spec)
	case <-time.After(wait):
	}
}
