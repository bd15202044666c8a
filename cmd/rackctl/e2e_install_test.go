package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/state"
)

// TestE2EStatusInstall: on a rack whose servers boot, status tells the
// installs rackctl saw from the ones it did not. A server that never
// finishes installing reads "install failed (timed out …)" with the whole
// reason below the table, the other one "installed"; once it is fixed and
// applied again both read "installed"; flag files rackctl's verify did not
// record read "installed (not observed by rackctl)".
func TestE2EStatusInstall(t *testing.T) {
	b := startBootRack(t, 2)
	b.nodes.Nodes[1].SetKnobs(simnode.Knobs{InstallHangs: true})
	b.run("apply (node-1 hangs)", 1, "apply", append([]string{"--auto-approve"}, b.sshArgs("20s")...)...)

	st := b.status()
	if in := st["node-0"].Install; in.State != "installed" || in.Verify != "ssh" || in.Since == nil {
		t.Errorf("node-0 after its observed install: install %+v, want installed over ssh with a time", in)
	}
	in := st["node-1"].Install
	if in.State != "failed" || !strings.Contains(in.Reason, "timed out after 20s") || in.Since == nil || st["node-1"].Provisioned {
		t.Errorf("node-1 that never finished installing: provisioned %v, install %+v; want failed, timed out after 20s, with a time",
			st["node-1"].Provisioned, in)
	}
	human := b.humanStatus()
	for _, want := range []string{"installed\n", "install failed (timed out after 20s", "Installs failed (the next apply boots them again):\n  node-1 ("} {
		if !strings.Contains(human, want) {
			t.Errorf("human status lacks %q:\n%s", want, human)
		}
	}
	if row := statusRow(human, "node-0"); !strings.HasSuffix(row, "  installed") {
		t.Errorf("node-0's row %q does not end in INSTALL installed", row)
	}

	b.nodes.Nodes[1].SetKnobs(simnode.Knobs{})
	b.run("apply (node-1 fixed)", 0, "apply", append([]string{"--auto-approve"}, b.sshArgs("120s")...)...)
	st = b.status()
	for _, n := range []string{"node-0", "node-1"} {
		if in := st[n].Install; in.State != "installed" || in.Verify != "ssh" || in.Reason != "" {
			t.Errorf("%s after the fixed apply: install %+v, want installed over ssh, no reason", n, in)
		}
	}
	if human := b.humanStatus(); strings.Contains(human, "install failed") || strings.Contains(human, "Installs failed") {
		t.Errorf("status still reports a failed install after the fix:\n%s", human)
	}

	// The flag files stay, the records go: rackctl did not see these.
	must(t, os.Remove(state.New(b.root+"/"+state.DefaultDir).File(state.InstallsFile)))
	st = b.status()
	for _, n := range []string{"node-0", "node-1"} {
		if in := st[n].Install; in.State != "installed" || in.Verify != "" || !st[n].Provisioned {
			t.Errorf("%s with a flag file and no record: install %+v, want installed without verify", n, in)
		}
	}
	if human := b.humanStatus(); !strings.Contains(human, "installed (not observed by rackctl)") {
		t.Errorf("human status does not say the installs were not observed:\n%s", human)
	}
}

// status is `status -o json`, by node name.
func (b *bootRack) status() map[string]nodeStatusView {
	b.t.Helper()
	r := cli(b.t, "status", "-f", b.spec, "--root", b.root, "--timeout", "3s", "-o", "json")
	if r.code != 0 {
		b.t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	var v statusView
	must(b.t, json.Unmarshal([]byte(r.stdout), &v))
	out := map[string]nodeStatusView{}
	for _, n := range v.Nodes {
		out[n.Name] = n
	}
	return out
}

func (b *bootRack) humanStatus() string {
	b.t.Helper()
	r := cli(b.t, "status", "-f", b.spec, "--root", b.root, "--timeout", "3s")
	if r.code != 0 {
		b.t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	return r.stdout
}

// statusRow is the table row of node, without its line end.
func statusRow(out, node string) string {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, node+" ") {
			return strings.TrimRight(line, "\n")
		}
	}
	return ""
}

// TestStatusInstallText: each install state's cell and the failure list
// below the table; a reason is a node's or a cluster's words, so its
// control characters never reach the terminal.
func TestStatusInstallText(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 15, 40, 12, 0, time.UTC)
	tests := map[string]struct {
		in      engine.InstallStatus
		cell    string
		section string // "" = no section below the table
	}{
		"installed":  {engine.InstallStatus{State: "installed", Verify: "ssh", Since: t0}, "installed", ""},
		"assumed":    {engine.InstallStatus{State: "installed", Verify: "flag", Since: t0}, "installed (assumed: --verify flag)", ""},
		"unobserved": {engine.InstallStatus{State: "installed"}, "installed (not observed by rackctl)", ""},
		"pending":    {engine.InstallStatus{State: "pending"}, "install pending", ""},
		"excluded":   {engine.InstallStatus{State: "excluded"}, "excluded", ""},
		"failed": {engine.InstallStatus{State: "failed", Verify: "ssh", Since: t0, Commit: "abc1234", Reason: "verify n: timed out after 3m0s: \x1b[2Jgone\r\nnext"},
			"install failed (timed out after 3m0s: \\x1b[2Jgone\\r\\nnext, Dec 2 15:40 UTC)",
			"Installs failed (the next apply boots them again):\n  n (2026-12-02 15:40:12 UTC, verify ssh, commit abc1234): verify n: timed out after 3m0s: \\x1b[2Jgone\\r\\nnext\n"},
		"unknown": {engine.InstallStatus{State: "unknown", Reason: "read install records: \x07bad"}, "unknown (install records unreadable)",
			"Install records not read: read install records: \\x07bad\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			g := &globals{stdout: &out}
			st := &engine.Status{Rack: "r", Provisioner: "flatcar", APIReached: "n/a",
				Nodes: []engine.NodeStatus{{Name: "n", MAC: "m", IP: "10.0.0.1", Install: tc.in}}}
			if err := writeStatus(g, st, false); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			if strings.ContainsAny(s, "\x1b\x07\r") {
				t.Errorf("raw control characters reach the terminal:\n%q", s)
			}
			if row := statusRow(s, "n"); !strings.HasSuffix(row, "  "+tc.cell) {
				t.Errorf("row %q, want it to end in the cell %q", row, tc.cell)
			}
			_, section, _ := strings.Cut(s, "\n\n")
			_, section, _ = strings.Cut(section, "\n\n") // after the table
			if section != tc.section {
				t.Errorf("below the table:\n%q\nwant\n%q", section, tc.section)
			}
		})
	}
}
