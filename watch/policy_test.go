package watch

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
)

func rackOf(prov schema.Provisioner, controllers, workers int) *schema.Rack {
	r := &schema.Rack{Provisioner: prov}
	for i := range controllers {
		r.Nodes = append(r.Nodes, schema.Node{Name: fmt.Sprintf("c%d", i), Role: schema.RoleController})
	}
	role := schema.RoleWorker
	if prov == schema.Flatcar {
		role = schema.RoleNode
	}
	for i := range workers {
		r.Nodes = append(r.Nodes, schema.Node{Name: fmt.Sprintf("w%d", i), Role: role})
	}
	return r
}

// planTouching has a disruptive bmc change and a disruptive flags change
// for each node (counted once) and a non-disruptive file change.
func planTouching(nodes ...string) *reconcile.Plan {
	p := &reconcile.Plan{Changes: []reconcile.Change{{Layer: reconcile.LayerFiles, Action: reconcile.ActionUpdate, Address: "file:etc/hosts"}}}
	for _, n := range nodes {
		p.Changes = append(p.Changes,
			reconcile.Change{Layer: reconcile.LayerFlags, Action: reconcile.ActionDelete, Node: n, Disruptive: true},
			reconcile.Change{Layer: reconcile.LayerBMC, Action: reconcile.ActionPXEReinstall, Node: n, Disruptive: true},
			reconcile.Change{Layer: reconcile.LayerFiles, Action: reconcile.ActionUpdate, Node: n})
	}
	return p
}

// lokoctlRebooting is a plan whose lokoctl run reboots nodes to re-run
// their Ignition.
func lokoctlRebooting(nodes ...string) *reconcile.Plan {
	return &reconcile.Plan{Changes: []reconcile.Change{{
		Layer: reconcile.LayerProvisioner, Action: reconcile.ActionRun, Address: "provisioner:lokoctl",
		Disruptive: true, Detail: &reconcile.Detail{Nodes: nodes, Reboots: nodes},
	}}}
}

// inWaves is plan p run in the given waves (a rollout).
func inWaves(p *reconcile.Plan, waves ...[]string) *reconcile.Plan {
	p.Rollout = &reconcile.Rollout{}
	for i, w := range waves {
		p.Rollout.Waves = append(p.Rollout.Waves, reconcile.Wave{Number: i + 1, Nodes: w})
	}
	return p
}

func TestPolicyCheck(t *testing.T) {
	sat := time.Date(2026, 11, 7, 12, 0, 0, 0, time.UTC)
	mon := time.Date(2026, 11, 9, 10, 0, 0, 0, time.UTC)
	weekdays, _ := ParseWindow("Mon-Fri 09:00-17:00")
	tests := map[string]struct {
		rack     *schema.Rack
		policy   Policy
		plan     *reconcile.Plan
		approved bool
		now      time.Time
		hold     bool
		reason   string
	}{
		"no disruption":                   {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching()},
		"one controller":                  {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching("c0")},
		"two controllers":                 {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching("c0", "c1"), hold: true, reason: "controller: 2 nodes > limit 1"},
		"two controllers approved":        {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching("c0", "c1"), approved: true},
		"25% of 8 workers":                {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching("w0", "w1")},
		"3 of 8 workers":                  {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching("w0", "w1", "w2"), hold: true, reason: "worker: 3 nodes > limit 2"},
		"at least one worker":             {rack: rackOf(schema.Lokomotive, 1, 2), plan: planTouching("w0")},
		"both over":                       {rack: rackOf(schema.Lokomotive, 3, 2), plan: planTouching("c0", "c1", "w0", "w1"), hold: true, reason: "controller: 2 nodes > limit 1; worker: 2 nodes > limit 1"},
		"removed node counts as worker":   {rack: rackOf(schema.Lokomotive, 1, 2), plan: planTouching("gone", "w0"), hold: true, reason: "worker: 2 nodes > limit 1"},
		"flatcar 25%":                     {rack: rackOf(schema.Flatcar, 0, 8), plan: planTouching("w0", "w1")},
		"flatcar over":                    {rack: rackOf(schema.Flatcar, 0, 8), plan: planTouching("w0", "w1", "w2"), hold: true, reason: "node: 3 nodes > limit 2"},
		"lokoctl reboots one controller":  {rack: rackOf(schema.Lokomotive, 3, 8), plan: lokoctlRebooting("c0")},
		"lokoctl reboots two controllers": {rack: rackOf(schema.Lokomotive, 3, 8), plan: lokoctlRebooting("c0", "c1"), hold: true, reason: "controller: 2 nodes > limit 1"},
		"8 workers in waves of 2": {rack: rackOf(schema.Lokomotive, 3, 8),
			plan: inWaves(planTouching("w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"), []string{"w0"}, []string{"w1", "w2"}, []string{"w3", "w4"}, []string{"w5", "w6"}, []string{"w7"})},
		"controllers in waves of one": {rack: rackOf(schema.Lokomotive, 3, 8),
			plan: inWaves(planTouching("c0", "c1", "c2"), []string{"c0"}, []string{"c1"}, []string{"c2"})},
		"a wave over the limit": {rack: rackOf(schema.Lokomotive, 3, 8),
			plan: inWaves(planTouching("w0", "w1", "w2", "w3"), []string{"w0"}, []string{"w1", "w2", "w3"}), hold: true, reason: "worker: 3 nodes at once (in one wave) > limit 2"},
		"a wave plus a lokoctl reboot outside the waves": {rack: rackOf(schema.Lokomotive, 3, 8),
			plan: inWaves(&reconcile.Plan{Changes: append(planTouching("w0", "w1").Changes, lokoctlRebooting("w2").Changes...)}, []string{"w0", "w1"}),
			hold: true, reason: "worker: 3 nodes at once (in one wave) > limit 2"},
		"no limit": {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching("c0", "c1", "c2", "w0", "w1", "w2"),
			policy: Policy{MaxControllers: -1, MaxWorkersPercent: -1}},
		"outside window": {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching("w0"), now: sat,
			policy: Policy{MaxControllers: 1, MaxWorkersPercent: 25, Windows: []Window{weekdays}}, hold: true, reason: "outside the allowed windows"},
		"outside window, approved": {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching("w0"), now: sat, approved: true,
			policy: Policy{MaxControllers: 1, MaxWorkersPercent: 25, Windows: []Window{weekdays}}, hold: true, reason: "outside the allowed windows"},
		"inside window": {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching("w0"), now: mon,
			policy: Policy{MaxControllers: 1, MaxWorkersPercent: 25, Windows: []Window{weekdays}}},
		"non-disruptive outside window": {rack: rackOf(schema.Lokomotive, 3, 8), plan: planTouching(), now: sat,
			policy: Policy{MaxControllers: 1, MaxWorkersPercent: 25, Windows: []Window{weekdays}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pol := tc.policy
			if pol.MaxControllers == 0 && pol.MaxWorkersPercent == 0 {
				pol = DefaultPolicy()
			}
			pol.Location = time.UTC
			now := tc.now
			if now.IsZero() {
				now = mon
			}
			d := pol.Check(tc.rack, tc.plan, tc.approved, now)
			if d.Hold() != tc.hold {
				t.Fatalf("Hold() = %v, want %v (%+v)", d.Hold(), tc.hold, d)
			}
			if !strings.Contains(d.Reason(), tc.reason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason(), tc.reason)
			}
		})
	}
}

// TestPolicyLimitRounding: a role's limit is its percentage of the role's
// active nodes rounded down, at least one; lokomotive workers take
// MaxWorkersPercent, flatcar nodes MaxNodesPercent, controllers a count.
func TestPolicyLimitRounding(t *testing.T) {
	pol := Policy{MaxControllers: 2, MaxWorkersPercent: 50, MaxNodesPercent: 30}
	tests := map[string]struct {
		rack *schema.Rack
		role string
		want int
	}{
		"7 workers at 50%: 3.5 rounds down":  {rack: rackOf(schema.Lokomotive, 3, 7), role: schema.RoleWorker, want: 3},
		"1 worker at 50%: at least one":      {rack: rackOf(schema.Lokomotive, 3, 1), role: schema.RoleWorker, want: 1},
		"controllers: a count":               {rack: rackOf(schema.Lokomotive, 5, 7), role: schema.RoleController, want: 2},
		"7 flatcar nodes at 30%: 2.1 -> 2":   {rack: rackOf(schema.Flatcar, 0, 7), role: schema.RoleNode, want: 2},
		"3 flatcar nodes at 30%: at least 1": {rack: rackOf(schema.Flatcar, 0, 3), role: schema.RoleNode, want: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := pol.limit(tc.rack, tc.role); got != tc.want {
				t.Fatalf("limit = %d, want %d", got, tc.want)
			}
			// Through Check: the limit holds, one more is held.
			var nodes []string
			for _, n := range tc.rack.NodesWithRole(tc.role) {
				nodes = append(nodes, n.Name)
			}
			if len(nodes) > tc.want {
				if d := pol.Check(tc.rack, planTouching(nodes[:tc.want]...), false, time.Now()); d.Hold() {
					t.Errorf("%d nodes held: %s", tc.want, d.Reason())
				}
				if d := pol.Check(tc.rack, planTouching(nodes[:tc.want+1]...), false, time.Now()); !d.Hold() {
					t.Errorf("%d nodes not held", tc.want+1)
				}
			}
		})
	}
}

func TestDecisionCountsNodesOnce(t *testing.T) {
	d := DefaultPolicy().Check(rackOf(schema.Lokomotive, 3, 8), planTouching("w1", "w0", "c2"), false, time.Now())
	if d.DisruptiveNodes() != 3 || !slices.Equal(d.Disruptive["worker"], []string{"w0", "w1"}) {
		t.Errorf("decision %+v", d)
	}
}

func TestParseWindow(t *testing.T) {
	at := func(day time.Weekday, hh, mm int) time.Time {
		// 2026-11-08 is a Sunday.
		return time.Date(2026, 11, 8+int(day), hh, mm, 0, 0, time.UTC)
	}
	tests := map[string]struct {
		in      string
		err     string
		inside  []time.Time
		outside []time.Time
	}{
		"weekdays": {in: "Mon-Fri 09:00-17:00",
			inside:  []time.Time{at(time.Monday, 9, 0), at(time.Friday, 16, 59)},
			outside: []time.Time{at(time.Monday, 8, 59), at(time.Friday, 17, 0), at(time.Saturday, 12, 0)}},
		"every day":  {in: "02:00-04:00", inside: []time.Time{at(time.Sunday, 3, 0)}, outside: []time.Time{at(time.Sunday, 4, 0)}},
		"list":       {in: "sat,Sun 00:00-24:00", inside: []time.Time{at(time.Saturday, 0, 0), at(time.Sunday, 23, 59)}, outside: []time.Time{at(time.Monday, 0, 0)}},
		"wraps week": {in: "Fri-Mon 10:00-11:00", inside: []time.Time{at(time.Sunday, 10, 30), at(time.Monday, 10, 30)}, outside: []time.Time{at(time.Tuesday, 10, 30)}},
		"overnight": {in: "Fri 22:00-02:00",
			inside:  []time.Time{at(time.Friday, 23, 0), at(time.Saturday, 1, 59)},
			outside: []time.Time{at(time.Friday, 21, 0), at(time.Saturday, 2, 0), at(time.Friday, 1, 0)}},
		"star":       {in: "* 12:00-13:00", inside: []time.Time{at(time.Wednesday, 12, 30)}},
		"bad day":    {in: "Mon-Fun 09:00-17:00", err: `day "fun"`},
		"bad time":   {in: "Mon 9-17", err: "want HH:MM"},
		"bad minute": {in: "Mon 09:60-17:00", err: "want HH:MM"},
		"24 start":   {in: "Mon 24:00-01:00", err: "want HH:MM"},
		"empty":      {in: "Mon 09:00-09:00", err: "empty"},
		"too many":   {in: "Mon 09:00-10:00 extra", err: "want"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w, err := ParseWindow(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range tc.inside {
				if !w.Contains(x) {
					t.Errorf("%s: %s not inside", tc.in, x.Format("Mon 15:04"))
				}
			}
			for _, x := range tc.outside {
				if w.Contains(x) {
					t.Errorf("%s: %s inside", tc.in, x.Format("Mon 15:04"))
				}
			}
		})
	}
}
