package notify

import (
	"testing"
	"time"
)

// BenchmarkNotify is what one watch record costs the watch loop's
// goroutine with three targets that never answer: building the events and
// queueing them (dropping the oldest once a queue is full). The check: every
// event is queued, in flight or counted as dropped, for every target.
func BenchmarkNotify(b *testing.B) {
	var targets []TargetConfig
	for _, name := range []string{"a", "b", "c"} {
		rcv := newReceiver(b, nil)
		rcv.holdAll()
		targets = append(targets, TargetConfig{Name: name, Kind: KindWebhook, URLFile: writeFile(b, "url-"+name, rcv.srv.URL), Timeout: time.Hour})
	}
	n := newNotifier(b, Config{Targets: targets})
	rec := heldRecord(commit)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n.Notify(rec)
	}
	b.StopTimer()
	for _, name := range []string{"a", "b", "c"} {
		got := counter(b, n.m.queue, name) + counter(b, n.m.dropped, name)
		if got != float64(b.N) && got != float64(b.N-1) { // one may be in flight
			b.Fatalf("target %s: %v queued or dropped of %d", name, got, b.N)
		}
	}
}
