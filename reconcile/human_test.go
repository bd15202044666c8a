package reconcile

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/rackctl/rackctl/ipam"
)

// TestWriteHumanEscapes: no text of a plan reaches the terminal as a
// control character, line separator or invisible formatting character —
// not the spec's strings in addresses, reasons and notes, not the content
// of a file on disk in its diff. The ANSI codes of the color view are the
// only escape sequences written.
func TestWriteHumanEscapes(t *testing.T) {
	const hostile = "x\x1b]0;owned\x07\x1b[2J\rEVIL\u2028\u2029\u0085\u202e\x00y"
	old := []byte("127.0.0.1 localhost\n10.0.0.2 a\x1b[8m hidden\n")
	p := &Plan{FormatVersion: FormatVersion, Notes: []string{"note " + hostile}, Targets: []string{"t" + hostile}}
	p.Allocations = []ipam.Change{{Node: "n" + hostile, NIC: ipam.Primary, MAC: "02:00:00:00:00:01", New: mustAddr("10.0.0.2"), Reason: ipam.ReasonNew}}
	p.Changes = []Change{
		{Layer: LayerFiles, Action: ActionUpdate, Address: "file:etc/hosts" + hostile, Reason: "r" + hostile,
			Diff: unifiedDiff("etc/hosts", old, []byte("10.0.0.3 b"+strings.ReplaceAll(hostile, "\x00", "")+"\n"), true, true), Notes: []string{"n" + hostile}},
		{Layer: LayerBMC, Action: ActionPowerCycle, Address: "bmc:n" + hostile, Node: "n" + hostile, Reason: "reprovision: " + hostile, Disruptive: true},
	}
	for _, color := range []bool{false, true} {
		var b bytes.Buffer
		if err := WriteHuman(&b, p, color); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, code := range []string{ansiReset, ansiBold, ansiRed, ansiGreen, ansiYellow, ansiCyan} {
			out = strings.ReplaceAll(out, code, "")
		}
		for i, r := range out {
			if r != '\n' && unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
				t.Fatalf("color %v: %U at byte %d reaches the terminal:\n%s", color, r, i, out)
			}
		}
		for _, want := range []string{`x\x1b]0;owned\x07\x1b[2J\rEVIL\u2028\u2029\u0085\u202e\x00y`, `-10.0.0.2 a\x1b[8m hidden`, `+10.0.0.3 bx\x1b]0;owned\x07\x1b[2J\rEVIL\u2028`, "file etc/hosts"} {
			if !strings.Contains(out, want) {
				t.Errorf("color %v: output lacks %q:\n%s", color, want, out)
			}
		}
	}
}

// TestEventStringEscapes: apply progress carries errors with programs'
// output; no control character of it reaches the terminal.
func TestEventStringEscapes(t *testing.T) {
	e := Event{Layer: LayerFiles, Change: &Change{Action: ActionUpdate, Address: "file:etc/hosts"}, Status: "failed",
		Err: errors.New("dnsmasq: bad line\n\x1b[31mx\ry\u2028")}
	got := e.String()
	want := "files: update file etc/hosts: failed: dnsmasq: bad line\n\\x1b[31mx\\ry\\u2028"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
