package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Event types (Event.Type) of GET /api/events.
const (
	EventOutcome     = "outcome"     // the loop handled a revision (applied, held, rejected, drift fixed…)
	EventObservation = "observation" // a new node observation finished (or failed)
	EventPlan        = "plan"        // a new plan finished (or failed)
	EventApproval    = "approval"    // a held commit was approved from the web
)

// Event is one server-sent event: what changed, so that a page re-reads
// the document it concerns. It never carries the documents themselves.
type Event struct {
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	Commit  string    `json:"commit,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
	Message string    `json:"message,omitempty"`
}

// subscriberBuffer is how many events a slow reader may lag behind; past
// it events are dropped for that reader (it re-reads the documents on the
// next one anyway).
const subscriberBuffer = 16

// MaxStreams bounds the open GET /api/events streams: each holds a
// goroutine and a connection past the listener's timeouts.
const MaxStreams = 64

// heartbeat keeps idle streams open through proxies and finds closed ones.
const heartbeat = 25 * time.Second

// Publish sends ev to every open GET /api/events stream; it never blocks.
func (s *Server) Publish(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = s.cfg.Now().UTC()
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// subscribe adds a stream; false when MaxStreams are open.
func (s *Server) subscribe() (<-chan Event, func(), bool) {
	ch := make(chan Event, subscriberBuffer)
	s.subMu.Lock()
	if len(s.subs) >= MaxStreams {
		s.subMu.Unlock()
		return nil, nil, false
	}
	s.subs[ch] = struct{}{}
	s.subMu.Unlock()
	return ch, func() {
		s.subMu.Lock()
		delete(s.subs, ch)
		s.subMu.Unlock()
	}, true
}

// serveEvents streams events until the client leaves or Run ends. The
// stream outlives the listener's write timeout, which is for documents.
func (s *Server) serveEvents(rw http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(rw)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		http.Error(rw, "streaming: "+err.Error(), http.StatusInternalServerError)
		return
	}
	ch, unsubscribe, ok := s.subscribe()
	if !ok {
		rw.Header().Set("Retry-After", "30")
		http.Error(rw, fmt.Sprintf("%d event streams are open already: close one (another tab?)", MaxStreams), http.StatusServiceUnavailable)
		return
	}
	defer unsubscribe()
	h := rw.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	rw.WriteHeader(http.StatusOK)
	fmt.Fprint(rw, "retry: 3000\n: connected\n\n")
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-t.C:
			fmt.Fprint(rw, ": heartbeat\n\n")
		case ev := <-ch:
			b, _ := json.Marshal(ev)
			fmt.Fprintf(rw, "event: %s\ndata: %s\n\n", ev.Type, b)
		}
	}
}
