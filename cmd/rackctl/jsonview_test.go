package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/reconcile"
)

var updateViews = flag.Bool("update", false, "rewrite the JSON view goldens under testdata/jsonview")

// checkGolden compares got with testdata/jsonview/name, or rewrites it
// under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "jsonview", name)
	if *updateViews {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden (run with -update after checking docs/json.md):\n%s", name, got)
	}
}

// jsonKeys collects every object key of a JSON document.
func jsonKeys(t *testing.T, doc []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				seen[k] = true
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkDocumented: every key a view prints is documented in docs/json.md
// (as `key` in a field table), so the golden cannot grow a field the
// documentation does not promise.
func checkDocumented(t *testing.T, view string, doc []byte) {
	t.Helper()
	md, err := os.ReadFile("../../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range jsonKeys(t, doc) {
		if !bytes.Contains(md, []byte("| `"+k+"`")) {
			t.Errorf("%s prints key %q that docs/json.md does not document", view, k)
		}
	}
}

var createdAt = regexp.MustCompile(`"created_at": "[^"]*"`)

// TestPlanJSONView checks `plan -o json` and `show PLANFILE -o json` for
// the example rack: the documented, versioned view (golden), the same from
// both commands, and nothing of the saved plan's internals in it.
func TestPlanJSONView(t *testing.T) {
	root := t.TempDir()
	planFile := filepath.Join(t.TempDir(), "plan.bin")
	args := []string{"plan", "-f", example, "--root", root, "--dhcp=none", "--bmc=none", "--provisioner-run=never", "-o", "json"}
	r := cli(t, append(args, "-out", planFile)...)
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	view := []byte(r.stdout)
	var v reconcile.PlanView
	if err := json.Unmarshal(view, &v); err != nil || v.FormatVersion != "1.0" {
		t.Fatalf("plan -o json: format_version %q, err %v", v.FormatVersion, err)
	}
	checkGolden(t, "plan.json", createdAt.ReplaceAll(view, []byte(`"created_at": "TIME"`)))
	checkDocumented(t, "plan -o json", view)

	show := cli(t, "show", planFile, "-o", "json")
	if show.code != 0 || show.stdout != r.stdout {
		t.Errorf("show -o json: exit %d, differs from plan -o json:\n%s%s", show.code, show.stdout, show.stderr)
	}
	if human := cli(t, "show", planFile); human.code != 0 || !strings.Contains(human.stdout, "Plan:") {
		t.Errorf("show: exit %d\n%s%s", human.code, human.stdout, human.stderr)
	}

	saved, err := engine.ReadPlanFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	// No file content: no line of any file the plan writes that is long
	// enough to be the file's own text, in any encoding the saved plan uses.
	for _, c := range saved.Changes {
		for line := range strings.Lines(string(c.Content)) {
			if line = strings.TrimSpace(line); len(line) >= 24 && strings.Contains(r.stdout, line) {
				t.Errorf("the view holds a line of %s: %q", c.Address, line)
			}
		}
	}
	// No allocation internals or observed-input digests: the saved plan's
	// own fields are absent, and no observed digest but a file's appears.
	keys := jsonKeys(t, view)
	for _, k := range []string{"content", "diff", "observed", "nextState", "next_state", "managed", "nextNodes", "specHash", "allocations"} {
		if slices.Contains(keys, k) {
			t.Errorf("the view has the saved plan's field %q", k)
		}
	}
	for key, h := range saved.Observed {
		if key.Layer != reconcile.LayerFiles && strings.Contains(r.stdout, h) {
			t.Errorf("the view holds the observed digest of %s", key)
		}
	}
}

// TestShowRefusesNonPlan: show names the file and why it is no plan.
func TestShowRefusesNonPlan(t *testing.T) {
	tests := map[string]string{
		"not json":      "hello",
		"a json view":   `{"format_version": "1.0", "changes": []}`,
		"other version": `{"formatVersion": 999}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "plan")
			os.WriteFile(f, []byte(content), 0o644)
			r := cli(t, "show", f, "-o", "json")
			if r.code != 1 || !strings.Contains(r.stderr, f) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and an error naming %s", r.code, r.stdout, r.stderr, f)
			}
		})
	}
}

var port = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

// TestStatusJSONView checks `status -o json` against real ipmi_sim BMCs:
// the documented shape (golden, ports masked) and no password.
func TestStatusJSONView(t *testing.T) {
	const password = "view-s3cret-pass"
	rack := simrack.StartT(t, simrack.Options{N: 2, Password: password})
	if err := rack.Stop(1); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	spec := simSpec(t, root, "admin", password, rack.BMCs)
	r := cli(t, "status", "-f", spec, "--root", root, "--timeout", "2s", "-o", "json")
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, password) {
		t.Fatal("status -o json holds the BMC password")
	}
	out := port.ReplaceAll([]byte(r.stdout), []byte("127.0.0.1:PORT"))
	for i, b := range rack.BMCs {
		out = bytes.ReplaceAll(out, []byte(b.MAC), []byte("BMC-MAC-"+string(rune('0'+i))))
	}
	checkGolden(t, "status.json", out)
	checkDocumented(t, "status -o json", []byte(r.stdout))
}

// TestHistoryJSONView checks `history -o json` on a state directory with
// an apply and a watch record: the documented shape (golden), without the
// records' internal fields (spec hash).
func TestHistoryJSONView(t *testing.T) {
	state := t.TempDir()
	os.WriteFile(filepath.Join(state, reconcile.HistoryFile), []byte(
		`{"time":"2026-11-30T10:00:00Z","finished":"2026-11-30T10:01:00Z","rackName":"r1","specHash":"sha256:feedface","commit":"0123456789abcdef0123456789abcdef01234567","planned":{"add":1,"change":2,"destroy":0},"allocations":1,"done":3,"failed":0,"notAttempted":0,"outcome":"success","backupDir":"/var/lib/rackctl/backups/1"}`+"\n"), 0o600)
	os.WriteFile(filepath.Join(state, "watch-events.jsonl"), []byte(
		`{"time":"2026-11-30T11:00:00Z","trigger":"revision","outcome":"held","commit":"89abcdef0123456789abcdef0123456789abcdef","author":"Ann","authorEmail":"ann@example.org","commitTime":"2026-11-30T10:59:00Z","planned":{"add":0,"change":4,"destroy":0},"policy":{"disruptive":{"worker":["w-1","w-2"]},"overLimit":["worker: 2 nodes > limit 1"]},"reason":"over the limit"}`+"\n"+
			`{"time":"2026-11-30T12:00:00Z","trigger":"release","outcome":"rejected","commit":"fedcba9876543210fedcba9876543210fedcba98","reason":"invalid spec","diagnostics":[{"File":"rack.yaml","Line":3,"Col":7,"Field":"nodes[0].mac","Message":"not a MAC"}]}`+"\n"), 0o600)
	r := cli(t, "history", "--state-dir", state, "-o", "json")
	if r.code != 0 {
		t.Fatalf("history: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "feedface") {
		t.Error("history -o json holds the spec hash")
	}
	checkGolden(t, "history.json", []byte(r.stdout))
	checkDocumented(t, "history -o json", []byte(r.stdout))

	empty := cli(t, "history", "--state-dir", t.TempDir(), "-o", "json")
	if empty.code != 0 || !strings.Contains(empty.stdout, `"entries": []`) {
		t.Errorf("history of an empty state dir: exit %d\n%s", empty.code, empty.stdout)
	}
}
