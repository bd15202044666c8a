// Package deploy holds no code: its tests check the files operators deploy
// beside rackctl (Prometheus rules, the Grafana dashboard) against the
// metrics rackctl serves.
package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/testenv"
)

const (
	rulesFile     = "prometheus/rackctl-rules.yaml"
	rulesTestFile = "prometheus/rackctl-rules_test.yaml"
	dashboardFile = "grafana/rackctl-dashboard.json"
)

// promtool runs promtool with args in dir; a missing promtool fails.
func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	if err := testenv.NeedPrograms("promtool"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("promtool", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPrometheusRules: the rules parse, and promtool's unit tests (every
// alert fires when it should and stays quiet on the near misses) pass.
func TestPrometheusRules(t *testing.T) {
	promtool(t, "prometheus", "check", "rules", filepath.Base(rulesFile))
	promtool(t, "prometheus", "test", "rules", filepath.Base(rulesTestFile))
}

// TestDashboardQueries: the dashboard is valid JSON with unique panel
// ids, and every query parses as PromQL (promtool checks each as a
// recording rule, with the dashboard's variables filled in).
func TestDashboardQueries(t *testing.T) {
	exprs := dashboardExprs(t)
	if len(exprs) < 10 {
		t.Fatalf("%d queries in the dashboard", len(exprs))
	}
	fill := strings.NewReplacer("$instance", ".*", "$__rate_interval", "5m")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, _ := json.Marshal(fill.Replace(e))
		fmt.Fprintf(&b, "      - record: dashboard_query_%d\n        expr: %s\n", i, q)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "check", "rules", "dashboard.yaml")
}

func dashboardExprs(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(src, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	return exprs
}

// TestKnownMetrics: every rackctl_* name the rules, their tests and the
// dashboard use is a metric rackctl registers (watch/metrics.go,
// notify/metrics.go, engine/maintenance.go), so a renamed metric cannot leave a silent alert.
func TestKnownMetrics(t *testing.T) {
	known := map[string]bool{}
	decl := regexp.MustCompile(`Name:\s+"(rackctl_[a-z_]+)"`)
	for _, f := range []string{"../watch/metrics.go", "../notify/metrics.go", "../engine/maintenance.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			known[m[1]] = true
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				known[m[1]+suffix] = true
			}
		}
	}
	if !known["rackctl_watch_held"] || !known["rackctl_notify_sent_total"] {
		t.Fatalf("metric declarations not found: %v", known)
	}
	use := regexp.MustCompile(`rackctl_[a-z_]+`)
	for _, f := range []string{rulesFile, rulesTestFile, dashboardFile} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var unknown []string
		for _, m := range use.FindAllString(string(src), -1) {
			if !known[m] && !slices.Contains(unknown, m) {
				unknown = append(unknown, m)
			}
		}
		if len(unknown) > 0 {
			t.Errorf("%s uses metrics rackctl does not register: %v", f, unknown)
		}
	}
}
