package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/internal/atomicfile"
	"github.com/rackctl/rackctl/reconcile"
)

// TestHistoryEscapesRecordedText: an apply error (it may quote a BMC's or
// dnsmasq's reply) reaches the terminal escaped, never as raw control codes
// or line separators that would rewrite what the reader sees.
func TestHistoryEscapesRecordedText(t *testing.T) {
	state := t.TempDir()
	rec := reconcile.HistoryRecord{
		Time: time.Now(), Finished: time.Now(), SpecHash: "x", Outcome: reconcile.Outcome("failed"),
		Error: "bmc said \x1b[2J\x1b[Hall good\u2028\u202etab\there",
	}
	if err := atomicfile.AppendJSONLine(state+"/"+reconcile.HistoryFile, rec); err != nil {
		t.Fatal(err)
	}
	res := cli(t, "history", "--state-dir", state)
	if res.code != 0 {
		t.Fatalf("history exit %d: %s", res.code, res.stderr)
	}
	for _, raw := range []string{"\x1b", "\u2028", "\u202e", "\there"} {
		if strings.Contains(res.stdout, raw) {
			t.Errorf("raw %q in history output:\n%s", raw, res.stdout)
		}
	}
	if !strings.Contains(res.stdout, `\x1b[2J`) {
		t.Errorf("escaped text missing from history output:\n%s", res.stdout)
	}
}
