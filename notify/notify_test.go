package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

// TestWebhookSigned: a held commit reaches a webhook on loopback as the
// documented JSON, with the approve command, signed with the secret read
// from its file (checked here with crypto/hmac, not with Sign).
func TestWebhookSigned(t *testing.T) {
	rcv := newReceiver(t, nil)
	secret := "s3cret-key"
	n := newNotifier(t, Config{
		Targets: []TargetConfig{{Name: "hook", Kind: KindWebhook,
			URLFile: writeFile(t, "url", rcv.srv.URL+"/hook\n"), SecretFile: writeFile(t, "secret", secret+"\n")}},
		Origin: Origin{Host: "mgmt-1", Source: "git@example:racks@main:rack.yaml",
			ApproveCommand: func(c string) string { return "rackctl --state-dir /srv/state approve " + c }},
	})
	n.Notify(heldRecord(commit))
	q := rcv.next(t)

	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(q.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); q.header.Get(SignatureHeader) != want {
		t.Errorf("%s = %q, want %q", SignatureHeader, q.header.Get(SignatureHeader), want)
	}
	if q.header.Get(EventHeader) != string(KindHeld) || q.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", q.header)
	}
	var e Event
	if err := json.Unmarshal(q.body, &e); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, q.body)
	}
	if e.Version != FormatVersion || e.Kind != KindHeld || e.Commit == nil || e.Commit.ID != commit || e.Host != "mgmt-1" {
		t.Errorf("event %+v", e)
	}
	if e.Held == nil || e.Held.Approve != "rackctl --state-dir /srv/state approve "+commit ||
		!slices.Equal(e.Held.OverLimit, []string{"worker: 3 nodes > limit 1"}) {
		t.Errorf("held %+v", e.Held)
	}
	if q.header.Get(DeliveryHeader) != e.ID || e.ID == "" {
		t.Errorf("delivery %q, id %q", q.header.Get(DeliveryHeader), e.ID)
	}
	if !Verify([]byte(secret), q.body, q.header.Get(SignatureHeader)) || Verify([]byte("other"), q.body, q.header.Get(SignatureHeader)) {
		t.Error("Verify does not tell the right secret from a wrong one")
	}
	eventually(t, "sent ok counted", func() bool { return counter(t, n.m.sent, "hook", "ok") == 1 })
}

// TestWebhookUnsigned: without a secret file there is no signature header.
func TestWebhookUnsigned(t *testing.T) {
	rcv := newReceiver(t, nil)
	n := newNotifier(t, Config{Targets: []TargetConfig{{Name: "hook", Kind: KindWebhook, URLFile: writeFile(t, "url", rcv.srv.URL)}}})
	n.Enqueue(TestEvent(time.Now(), Origin{}))
	if q := rcv.next(t); q.header.Get(SignatureHeader) != "" {
		t.Errorf("unsigned target sent %s", q.header.Get(SignatureHeader))
	}
}

// TestSlack: a Slack target gets text and blocks, the approve command in a
// code block, no rackctl headers.
func TestSlack(t *testing.T) {
	rcv := newReceiver(t, nil)
	n := newNotifier(t, Config{Targets: []TargetConfig{{Name: "chat", Kind: KindSlack,
		URLFile: writeFile(t, "url", rcv.srv.URL+"/services/T000/B000/XXXX")}}})
	n.Notify(heldRecord(commit))
	q := rcv.next(t)
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct{ Type, Text string }
		} `json:"blocks"`
	}
	if err := json.Unmarshal(q.body, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, q.body)
	}
	if !hasAll(m.Text, commit[:12], "held", "worker: 3 nodes &gt; limit 1") { // Slack reads < > & as markup
		t.Errorf("text %q", m.Text)
	}
	var approve bool
	for _, b := range m.Blocks {
		if b.Text != nil && strings.Contains(b.Text.Text, "```rackctl approve "+commit+"```") {
			approve = true
		}
	}
	if !approve || len(m.Blocks) < 2 {
		t.Errorf("blocks lack the approve command: %s", q.body)
	}
	if q.header.Get(SignatureHeader) != "" || q.header.Get(EventHeader) != "" {
		t.Errorf("slack request carries rackctl headers: %v", q.header)
	}
}

// TestCommand: a command target gets the event JSON on stdin, runs
// without a shell from its argv, and does not inherit rackctl's secrets.
func TestCommand(t *testing.T) {
	t.Setenv("RACKCTL_BMC_PASSWORD", "bmc-secret")
	dir := t.TempDir()
	out, env := filepath.Join(dir, "event.json"), filepath.Join(dir, "env")
	script := writeFile(t, "record.sh", "#!/bin/sh\nenv > \"$2\"\ncat > \"$1\"\n")
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(t, Config{Targets: []TargetConfig{{Name: "cmd", Kind: KindCommand, Command: []string{script, out, env}}}})
	n.Notify(heldRecord(commit))
	eventually(t, "command ran", func() bool { return counter(t, n.m.sent, "cmd", "ok") == 1 })

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	if err := json.Unmarshal(b, &e); err != nil || e.Kind != KindHeld || e.Held.Approve != "rackctl approve "+commit {
		t.Errorf("stdin %s (%v)", b, err)
	}
	envs, _ := os.ReadFile(env)
	if strings.Contains(string(envs), "bmc-secret") || !strings.Contains(string(envs), "RACKCTL_EVENT_KIND=commit.held") {
		t.Errorf("command environment:\n%s", envs)
	}
}

// TestCommandFailureRetried: a command that exits non-zero is retried and
// its stderr is in the log.
func TestCommandFailureRetried(t *testing.T) {
	var logs logBuffer
	n := newNotifier(t, Config{Log: logs.logger(), Attempts: 3,
		Targets: []TargetConfig{{Name: "cmd", Kind: KindCommand, Command: []string{"sh", "-c", "echo nope >&2; exit 3"}}}})
	n.Enqueue(TestEvent(time.Now(), Origin{}))
	eventually(t, "given up", func() bool { return counter(t, n.m.sent, "cmd", "failed") == 1 })
	if r := counter(t, n.m.retries, "cmd"); r != 2 {
		t.Errorf("retries %v, want 2", r)
	}
	if !hasAll(logs.String(), "exit status 3", "nope") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestRetriesUntilDelivered: a server failing the first two requests gets
// the same event a third time and the notifier counts two retries, one
// success.
func TestRetriesUntilDelivered(t *testing.T) {
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	n := newNotifier(t, Config{Targets: []TargetConfig{{Name: "hook", Kind: KindWebhook, URLFile: writeFile(t, "url", rcv.srv.URL)}}})
	n.Notify(heldRecord(commit))
	var ids []string
	for range 3 {
		ids = append(ids, rcv.next(t).header.Get(DeliveryHeader))
	}
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("delivery ids %q: want one event sent three times", ids)
	}
	eventually(t, "delivered", func() bool { return counter(t, n.m.sent, "hook", "ok") == 1 })
	if r, f := counter(t, n.m.retries, "hook"), counter(t, n.m.sent, "hook", "failed"); r != 2 || f != 0 {
		t.Errorf("retries %v, failed %v; want 2, 0", r, f)
	}
	rcv.noMore(t)
}

// TestFinalAnswersNotRetried: a 4xx answer (other than 408/429) and a
// redirect (never followed) are final; 429 is retried.
func TestFinalAnswersNotRetried(t *testing.T) {
	tests := map[string]struct {
		code    int
		retries float64
	}{
		"not found":         {http.StatusNotFound, 0},
		"redirect":          {http.StatusFound, 0},
		"too many requests": {http.StatusTooManyRequests, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rcv := newReceiver(t, func(int) int { return tc.code })
			n := newNotifier(t, Config{Attempts: 2, Targets: []TargetConfig{{Name: "hook", Kind: KindWebhook, URLFile: writeFile(t, "url", rcv.srv.URL)}}})
			n.Enqueue(TestEvent(time.Now(), Origin{}))
			rcv.next(t)
			eventually(t, "failed counted", func() bool { return counter(t, n.m.sent, "hook", "failed") == 1 })
			if r := counter(t, n.m.retries, "hook"); r != tc.retries {
				t.Errorf("retries %v, want %v", r, tc.retries)
			}
			if tc.retries > 0 {
				rcv.next(t)
			}
			rcv.noMore(t)
		})
	}
}

// TestQueueDropsOldest: while the target hangs on the first event, a
// queue of two keeps the two newest of the four that follow; the two
// dropped are counted, and after the target recovers it gets 1, 4, 5.
func TestQueueDropsOldest(t *testing.T) {
	rcv := newReceiver(t, nil)
	rcv.holdAll()
	n := newNotifier(t, Config{QueueSize: 2,
		Targets: []TargetConfig{{Name: "hook", Kind: KindWebhook, URLFile: writeFile(t, "url", rcv.srv.URL), Timeout: time.Hour}}})
	send := func(i int) {
		r := heldRecord(commit)
		r.Reason = "event " + string(rune('0'+i))
		n.Notify(r)
	}
	send(1)
	first := rcv.next(t) // in flight, held by the server
	for i := 2; i <= 5; i++ {
		send(i)
	}
	if d, l := counter(t, n.m.dropped, "hook"), counter(t, n.m.queue, "hook"); d != 2 || l != 2 {
		t.Errorf("dropped %v, queue length %v; want 2, 2", d, l)
	}
	rcv.release()
	got := []string{reasonOf(t, first.body), reasonOf(t, rcv.next(t).body), reasonOf(t, rcv.next(t).body)}
	if want := []string{"event 1", "event 4", "event 5"}; !slices.Equal(got, want) {
		t.Errorf("received %q, want %q", got, want)
	}
}

func reasonOf(t *testing.T, body []byte) string {
	t.Helper()
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	return e.Reason
}

// TestNotifyNeverBlocks: with a target that never answers, Notify returns
// for every record (the watch loop's side), the dead target's queue drops
// its oldest, and the other target still delivers or counts every event.
func TestNotifyNeverBlocks(t *testing.T) {
	dead, live := newReceiver(t, nil), newReceiver(t, nil)
	dead.holdAll()
	n := newNotifier(t, Config{QueueSize: 10, Targets: []TargetConfig{
		{Name: "dead", Kind: KindWebhook, URLFile: writeFile(t, "dead", dead.srv.URL), Timeout: time.Hour},
		{Name: "live", Kind: KindWebhook, URLFile: writeFile(t, "live", live.srv.URL)},
	}})
	done := make(chan struct{})
	go func() {
		for range 50 {
			n.Notify(heldRecord(commit))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Notify blocked behind a target that does not answer")
	}
	dead.next(t)
	if d := counter(t, n.m.dropped, "dead"); d < 39 {
		t.Errorf("dead target dropped %v, want at least 39 (50 - 1 in flight - 10 queued)", d)
	}
	eventually(t, "live target done", func() bool {
		return counter(t, n.m.sent, "live", "ok")+counter(t, n.m.dropped, "live") == 50
	})
}

// TestURLNeverShown: the URL's path (a Slack URL's token) is in no error
// and no log line when the target is unreachable or answers an error.
func TestURLNeverShown(t *testing.T) {
	const token = "T0KEN-in-the-path"
	rcv := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	closed := newReceiver(t, nil)
	closed.srv.Close()
	var logs logBuffer
	n := newNotifier(t, Config{Log: logs.logger(), Attempts: 2, Targets: []TargetConfig{
		{Name: "down", Kind: KindSlack, URLFile: writeFile(t, "a", closed.srv.URL+"/services/"+token)},
		{Name: "erring", Kind: KindWebhook, URLFile: writeFile(t, "b", rcv.srv.URL+"/services/"+token)},
	}})
	n.Enqueue(TestEvent(time.Now(), Origin{}))
	eventually(t, "both given up", func() bool {
		return counter(t, n.m.sent, "down", "failed") == 1 && counter(t, n.m.sent, "erring", "failed") == 1
	})
	if err := n.SendNow(context.Background(), "down", TestEvent(time.Now(), Origin{})); err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("SendNow error %v: want a failure without the URL's path", err)
	}
	if l := logs.String(); strings.Contains(l, token) || !strings.Contains(l, "notification not delivered") {
		t.Errorf("log shows the token or lacks the failure:\n%s", l)
	}
	if _, err := New(Config{Targets: []TargetConfig{{Name: "x", Kind: KindSlack, URLFile: writeFile(t, "c", "ftp://"+token)}}}); err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("bad URL error %v: want one that does not quote the file", err)
	}
}

// TestEventsFilter: a target gets only the kinds it names; test events
// always.
func TestEventsFilter(t *testing.T) {
	rcv := newReceiver(t, nil)
	n := newNotifier(t, Config{Targets: []TargetConfig{{Name: "hook", Kind: KindWebhook,
		URLFile: writeFile(t, "url", rcv.srv.URL), Events: []Kind{KindApplied}}}})
	n.Notify(heldRecord(commit))
	applied := heldRecord(commit)
	applied.Outcome, applied.Policy, applied.Reason = watch.OutcomeApplied, nil, ""
	n.Notify(applied)
	if k := rcv.next(t).header.Get(EventHeader); k != string(KindApplied) {
		t.Errorf("first event %s, want only %s", k, KindApplied)
	}
	if err := n.SendNow(context.Background(), "hook", TestEvent(time.Now(), Origin{})); err != nil {
		t.Fatal(err)
	}
	if k := rcv.next(t).header.Get(EventHeader); k != string(KindTest) {
		t.Errorf("event %s, want test", k)
	}
	if err := n.SendNow(context.Background(), "nope", TestEvent(time.Now(), Origin{})); !errors.Is(err, ErrUnknownTarget) {
		t.Errorf("SendNow to an unknown target: %v", err)
	}
}

// TestFromRecord: every outcome watch records maps to its kind; one this
// rackctl does not know becomes watch.other.
func TestFromRecord(t *testing.T) {
	base := state.WatchEvent{Time: time.Now(), Trigger: watch.TriggerRevision, Commit: commit}
	rec := func(f func(*state.WatchEvent)) state.WatchEvent { r := base; f(&r); return r }
	tests := map[string]struct {
		rec   state.WatchEvent
		kinds []Kind
		check func(t *testing.T, evs []Event)
	}{
		"applied": {rec(func(r *state.WatchEvent) {
			r.Outcome, r.Planned = watch.OutcomeApplied, &state.Counts{Add: 1, Change: 2}
		}),
			[]Kind{KindApplied}, func(t *testing.T, evs []Event) {
				if evs[0].Changes.Change != 2 || !strings.Contains(evs[0].Summary, "(+1 ~2 -0)") {
					t.Errorf("%+v", evs[0])
				}
			}},
		"rollout stopped": {rec(func(r *state.WatchEvent) {
			r.Outcome, r.Reason = watch.OutcomeRolloutStopped, "rollout stopped at wave 1 of 5"
		}), []Kind{KindRolloutStopped}, func(t *testing.T, evs []Event) {
			if evs[0].Failure == nil || !strings.Contains(evs[0].Summary, "wave 1 of 5") {
				t.Errorf("%+v", evs[0])
			}
		}},
		"pinned": {rec(func(r *state.WatchEvent) { r.Outcome = watch.OutcomePinned }), []Kind{KindPinned}, nil},
		"pin":    {rec(func(r *state.WatchEvent) { r.Outcome = watch.OutcomePin }), []Kind{KindPinChanged}, nil},
		"unpin":  {rec(func(r *state.WatchEvent) { r.Outcome = watch.OutcomeUnpin }), []Kind{KindPinChanged}, nil},
		"maintenance": {rec(func(r *state.WatchEvent) {
			r.Outcome, r.Trigger, r.Commit, r.Reason = watch.OutcomeMaintenance, watch.TriggerOperator, "", "maintenance node-3 on locally by alice: disk"
		}), []Kind{KindMaintenanceChanged}, func(t *testing.T, evs []Event) {
			if evs[0].Summary != "maintenance node-3 on locally by alice: disk" {
				t.Errorf("summary %q, want the record's reason", evs[0].Summary)
			}
		}},
		"unchanged":       {rec(func(r *state.WatchEvent) { r.Outcome = watch.OutcomeUnchanged }), []Kind{KindUnchanged}, nil},
		"drift unchanged": {rec(func(r *state.WatchEvent) { r.Outcome, r.Trigger = watch.OutcomeUnchanged, watch.TriggerDrift }), nil, nil},
		"drift fixed":     {rec(func(r *state.WatchEvent) { r.Outcome, r.Trigger = watch.OutcomeApplied, watch.TriggerDrift }), []Kind{KindDriftFixed}, nil},
		"drift held": {rec(func(r *state.WatchEvent) {
			*r = heldRecord(commit)
			r.Trigger = watch.TriggerDrift
		}), []Kind{KindDriftFound}, func(t *testing.T, evs []Event) {
			if evs[0].Held.Approve != "rackctl approve "+commit {
				t.Errorf("%+v", evs[0].Held)
			}
		}},
		"held in a window only": {rec(func(r *state.WatchEvent) {
			r.Outcome, r.Policy, r.Reason = watch.OutcomeHeld, &state.PolicyDecision{OutsideWindow: true}, "outside"
		}), []Kind{KindHeld}, func(t *testing.T, evs []Event) {
			if evs[0].Held.Approve != "" || !evs[0].Held.OutsideWindow {
				t.Errorf("approve offered for a window hold: %+v", evs[0].Held)
			}
		}},
		"rejected": {rec(func(r *state.WatchEvent) {
			r.Outcome, r.Reason = watch.OutcomeRejected, "rack.yaml is not valid"
			r.Diagnostics = []schemaDiag{{File: "rack.yaml", Line: 31, Col: 5, Field: "nodes[0].mac", Message: "not a MAC"}}
		}), []Kind{KindRejected}, func(t *testing.T, evs []Event) {
			r := evs[0].Rejected
			if r.Cause != "validation" || len(r.Diagnostics) != 1 || r.Diagnostics[0].Line != 31 || r.Diagnostics[0].Field != "nodes[0].mac" {
				t.Errorf("%+v", r)
			}
		}},
		"unsigned": {rec(func(r *state.WatchEvent) { r.Outcome, r.Reason = watch.OutcomeSkipped, "commit is not signed" }),
			[]Kind{KindRejected}, func(t *testing.T, evs []Event) {
				if evs[0].Rejected.Cause != "source" || evs[0].Rejected.Error != "commit is not signed" {
					t.Errorf("%+v", evs[0].Rejected)
				}
			}},
		"plan failed": {rec(func(r *state.WatchEvent) { r.Outcome, r.Reason = watch.OutcomeFailed, "plan: boom" }),
			[]Kind{KindApplyFailed}, func(t *testing.T, evs []Event) {
				if evs[0].Failure.Phase != "plan" {
					t.Errorf("%+v", evs[0].Failure)
				}
			}},
		"install timed out": {rec(func(r *state.WatchEvent) {
			r.Outcome, r.Reason = watch.OutcomeApplyFailed, "apply ended failed"
			r.Failed = []state.WatchFailure{
				{Layer: "verify", Node: "w1", Address: "verify:w1", Error: "timed out after 3m", TimedOut: true},
				{Layer: "verify", Node: "w2", Address: "verify:w2", Error: "host key changed"},
			}
		}), []Kind{KindApplyFailed, KindInstallFailed}, func(t *testing.T, evs []Event) {
			if f := evs[0].Failure; f.Phase != "verify" || !slices.Equal(f.Nodes, []string{"w1", "w2"}) {
				t.Errorf("failure %+v", f)
			}
			if i := evs[1].Installs; len(i) != 2 || !i[0].TimedOut || i[1].TimedOut || !strings.Contains(evs[1].Summary, "w1 timed out, w2 failed") {
				t.Errorf("installs %+v, summary %q", i, evs[1].Summary)
			}
			if evs[0].ID == evs[1].ID {
				t.Error("two events of one record share an id")
			}
		}},
		"bmc failed": {rec(func(r *state.WatchEvent) {
			r.Outcome = watch.OutcomeApplyFailed
			r.Failed = []state.WatchFailure{{Layer: "bmc", Node: "c0", Address: "bmc:c0", Error: "no answer"}}
		}), []Kind{KindApplyFailed}, nil},
		"cancelled": {rec(func(r *state.WatchEvent) { r.Outcome = watch.OutcomeCancelled }), []Kind{KindCancelled}, nil},
		"unknown outcome": {rec(func(r *state.WatchEvent) { r.Outcome, r.Reason = "not-applied-pinned", "pinned to abc" }),
			[]Kind{KindOther}, func(t *testing.T, evs []Event) {
				if evs[0].Outcome != "not-applied-pinned" || !strings.Contains(evs[0].Summary, "pinned to abc") {
					t.Errorf("%+v", evs[0])
				}
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			evs := FromRecord(tc.rec, Origin{})
			var kinds []Kind
			for _, e := range evs {
				kinds = append(kinds, e.Kind)
				if e.Version != FormatVersion || e.ID == "" || e.Summary == "" {
					t.Errorf("event lacks version, id or summary: %+v", e)
				}
			}
			if !slices.Equal(kinds, tc.kinds) {
				t.Fatalf("kinds %v, want %v", kinds, tc.kinds)
			}
			if tc.check != nil {
				tc.check(t, evs)
			}
		})
	}
}

// TestDocsExampleEvent: the JSON example of docs/notifications.md is an
// Event with no field this package does not have.
func TestDocsExampleEvent(t *testing.T) {
	b, err := os.ReadFile("../docs/notifications.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/notifications.md lost its JSON example")
	}
	dec := json.NewDecoder(strings.NewReader(example))
	dec.DisallowUnknownFields()
	var e Event
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("docs example: %v", err)
	}
	got := FromRecord(heldRecord(commit), Origin{})[0]
	if e.Kind != got.Kind || e.Version != got.Version || e.Summary != got.Summary || e.Held.Approve != got.Held.Approve || len(e.ID) != len(got.ID) {
		t.Errorf("docs example differs from what rackctl sends:\ndocs: %+v\nsent: %+v", e, got)
	}
}

// TestRedirectNotFollowed: a webhook that redirects does not get the
// event (and its signature) sent on to where it points.
func TestRedirectNotFollowed(t *testing.T) {
	elsewhere := newReceiver(t, nil)
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.srv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	n := newNotifier(t, Config{Attempts: 1, Targets: []TargetConfig{{Name: "hook", Kind: KindWebhook,
		URLFile: writeFile(t, "url", redirect.URL), SecretFile: writeFile(t, "key", "k")}}})
	n.Enqueue(TestEvent(time.Now(), Origin{}))
	eventually(t, "failed counted", func() bool { return counter(t, n.m.sent, "hook", "failed") == 1 })
	elsewhere.noMore(t)
}

// TestAttemptTimeout: an attempt that gets no answer ends at the target's
// timeout and counts as failed; the sender goes on to the next event.
func TestAttemptTimeout(t *testing.T) {
	rcv := newReceiver(t, nil)
	rcv.holdAll()
	n := newNotifier(t, Config{Attempts: 1, Targets: []TargetConfig{{Name: "hook", Kind: KindWebhook,
		URLFile: writeFile(t, "url", rcv.srv.URL), Timeout: 50 * time.Millisecond}}})
	n.Enqueue(TestEvent(time.Now(), Origin{}))
	n.Enqueue(TestEvent(time.Now().Add(time.Second), Origin{}))
	rcv.next(t)
	rcv.next(t) // the second event: the first attempt ended
	eventually(t, "both failed", func() bool { return counter(t, n.m.sent, "hook", "failed") == 2 })
}
