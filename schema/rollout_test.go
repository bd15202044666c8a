package schema

import (
	"os"
	"testing"
)

// TestRolloutDefaults: a rollout section with nothing set gets the
// documented defaults; one that sets a field keeps it.
func TestRolloutDefaults(t *testing.T) {
	base, err := os.ReadFile("testdata/good/flatcar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		section string
		want    Rollout
	}{
		"empty": {"rollout: {}\n", Rollout{Canary: Canary{Count: ptr(1)},
			MaxUnavailable: MaxUnavailable{Controller: 1}, Settle: "30s", Timeout: "15m"}},
		"set": {"rollout:\n  canary: {names: [node-1]}\n  maxUnavailable: {node: 2}\n  settle: 1s\n  timeout: 2m\n",
			Rollout{Canary: Canary{Names: []string{"node-1"}},
				MaxUnavailable: MaxUnavailable{Controller: 1, Node: "2"}, Settle: "1s", Timeout: "2m"}},
		"no canary": {"rollout: {canary: {count: 0}}\n", Rollout{Canary: Canary{Count: ptr(0)},
			MaxUnavailable: MaxUnavailable{Controller: 1}, Settle: "30s", Timeout: "15m"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Parse("rack.yaml", append(append([]byte{}, base...), tc.section...))
			if err != nil {
				t.Fatal(err)
			}
			got := *r.Rollout
			if got.Settle != tc.want.Settle || got.Timeout != tc.want.Timeout || got.MaxUnavailable != tc.want.MaxUnavailable ||
				countOf(got.Canary.Count) != countOf(tc.want.Canary.Count) || len(got.Canary.Names) != len(tc.want.Canary.Names) {
				t.Errorf("rollout = %+v (count %v), want %+v", got, got.Canary.Count, tc.want)
			}
		})
	}
	r, err := Parse("rack.yaml", base)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rollout != nil {
		t.Errorf("no rollout section: Rollout = %+v, want nil", r.Rollout)
	}
}

func ptr(n int) *int { return &n }

// countOf is *n, or -1 for nil.
func countOf(n *int) int {
	if n == nil {
		return -1
	}
	return *n
}

func TestQuantityOf(t *testing.T) {
	tests := map[string]struct {
		q     Quantity
		total int
		want  int
	}{
		"percent rounds down": {"25%", 10, 2},
		"percent at least 1":  {"25%", 3, 1},
		"percent of all":      {"100%", 8, 8},
		"number":              {"3", 8, 3},
		"number over total":   {"20", 8, 20},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.q.Of(tc.total); got != tc.want {
				t.Errorf("%s of %d = %d, want %d", tc.q, tc.total, got, tc.want)
			}
		})
	}
}
