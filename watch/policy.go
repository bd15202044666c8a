package watch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// Policy limits what the loop does to the rack without a person saying so.
// The zero value lets no controller be disrupted and at least one other
// node; DefaultPolicy has the documented defaults.
type Policy struct {
	// MaxControllers is how many lokomotive controllers one commit may
	// disrupt (reinstall, power-cycle) without approval. Negative: no limit.
	MaxControllers int
	// MaxWorkersPercent is the share of lokomotive workers one commit may
	// disrupt without approval, rounded down but at least one.
	MaxWorkersPercent int
	// MaxNodesPercent is the same for the nodes of a flatcar rack.
	MaxNodesPercent int
	// Windows, when any are set, are the only times disruptive changes
	// apply; outside them a plan with any disruptive change waits.
	Windows []Window
	// Location the windows are read in; nil means time.Local.
	Location *time.Location
}

// DefaultPolicy is 1 controller and 25% of the workers (flatcar: 25% of the
// nodes), at least one, at any time of day.
func DefaultPolicy() Policy {
	return Policy{MaxControllers: 1, MaxWorkersPercent: 25, MaxNodesPercent: 25}
}

// Decision is the policy's verdict on one plan; its fields are the
// recorded form ([state.PolicyDecision]) of watch-events.jsonl.
type Decision state.PolicyDecision

// Hold tells whether the plan must wait.
func (d Decision) Hold() bool {
	return d.OutsideWindow || (len(d.OverLimit) > 0 && !d.Approved)
}

// Reason says why the plan waits, for people; empty when it does not.
func (d Decision) Reason() string {
	var parts []string
	if len(d.OverLimit) > 0 && !d.Approved {
		parts = append(parts, "blast radius over the limit ("+strings.Join(d.OverLimit, "; ")+"): run 'rackctl approve COMMIT'")
	}
	if d.OutsideWindow {
		parts = append(parts, "disruptive changes outside the allowed windows")
	}
	return strings.Join(parts, "; ")
}

// DisruptiveNodes counts the nodes of the decision.
func (d Decision) DisruptiveNodes() int {
	n := 0
	for _, ns := range d.Disruptive {
		n += len(ns)
	}
	return n
}

// Check judges plan p of rack at time now. approved says whether
// `rackctl approve` was given for the plan's commit; it lifts the node
// limits but not the windows.
func (pol Policy) Check(rack *schema.Rack, p *reconcile.Plan, approved bool, now time.Time) Decision {
	d := Decision{Approved: approved}
	seen := map[string]bool{}
	for _, c := range p.Changes {
		if !c.Disruptive || c.Action == reconcile.ActionNoop {
			continue
		}
		for _, name := range c.Interrupts() {
			if seen[name] {
				continue
			}
			seen[name] = true
			role := defaultRole(rack)
			if n := rack.Node(name); n != nil {
				role = n.Role
			}
			if d.Disruptive == nil {
				d.Disruptive = map[string][]string{}
			}
			d.Disruptive[role] = append(d.Disruptive[role], name)
		}
	}
	// A disruptive change of no node (none exist today) still counts for
	// the windows.
	anyDisruptive := len(seen) > 0 || slices.ContainsFunc(p.Changes, func(c reconcile.Change) bool {
		return c.Disruptive && c.Action != reconcile.ActionNoop
	})
	roles := make([]string, 0, len(d.Disruptive))
	for r := range d.Disruptive {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	atOnce := disruptedAtOnce(rack, p, d.Disruptive)
	for _, role := range roles {
		nodes := d.Disruptive[role]
		slices.Sort(nodes)
		limit := pol.limit(rack, role)
		if n := atOnce[role]; limit >= 0 && n > limit {
			what := "nodes"
			if p.Rollout != nil {
				what = "nodes at once (in one wave)"
			}
			d.OverLimit = append(d.OverLimit, fmt.Sprintf("%s: %d %s > limit %d", role, n, what, limit))
		}
	}
	if anyDisruptive && len(pol.Windows) > 0 && !pol.InWindow(now) {
		d.OutsideWindow = true
	}
	return d
}

// disruptedAtOnce is how many nodes of each role the plan disrupts at
// once: all of them, or, when the plan runs in waves, those disrupted
// outside the waves (a lokoctl run's reboots) and the largest wave's. A
// plan in waves within the limits goes without approval: its waves keep
// the blast radius the limits allow.
func disruptedAtOnce(rack *schema.Rack, p *reconcile.Plan, byRole map[string][]string) map[string]int {
	out := map[string]int{}
	for role, nodes := range byRole {
		out[role] = len(nodes)
	}
	if p.Rollout == nil {
		return out
	}
	inWave := map[string]bool{}
	for _, w := range p.Rollout.Waves {
		for _, n := range w.Nodes {
			inWave[n] = true
		}
	}
	for role, nodes := range byRole {
		outside := 0
		for _, n := range nodes {
			if !inWave[n] {
				outside++
			}
		}
		largest := 0
		for _, w := range p.Rollout.Waves {
			largest = max(largest, len(slices.DeleteFunc(slices.Clone(w.Nodes), func(n string) bool { return !slices.Contains(nodes, n) })))
		}
		out[role] = outside + largest
	}
	return out
}

// limit is how many nodes of role may be disrupted at once; -1 is no limit.
func (pol Policy) limit(rack *schema.Rack, role string) int {
	if role == schema.RoleController {
		return pol.MaxControllers
	}
	pct := pol.MaxWorkersPercent
	if rack.Provisioner == schema.Flatcar {
		pct = pol.MaxNodesPercent
	}
	if pct < 0 {
		return -1
	}
	return max(1, len(rack.NodesWithRole(role))*pct/100)
}

// defaultRole is the role counted for a node no longer in the spec.
func defaultRole(rack *schema.Rack) string {
	if rack.Provisioner == schema.Flatcar {
		return schema.RoleNode
	}
	return schema.RoleWorker
}

// InWindow tells whether disruptive changes may run at t: always when no
// window is set.
func (pol Policy) InWindow(t time.Time) bool {
	if len(pol.Windows) == 0 {
		return true
	}
	loc := pol.Location
	if loc == nil {
		loc = time.Local
	}
	t = t.In(loc)
	for _, w := range pol.Windows {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// Window is a weekly time window, e.g. "Mon-Fri 09:00-17:00".
type Window struct {
	Days       [7]bool // by time.Weekday
	Start, End int     // minutes after midnight; End <= Start crosses midnight
	text       string
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWindow reads "[DAYS ]HH:MM-HH:MM": DAYS is a comma-separated list
// of days (Mon, Tue, … Sun) and day ranges (Mon-Fri, Fri-Mon), or "*";
// without DAYS every day. The end may be 24:00; an end before the start
// crosses midnight and belongs to the start's day ("Fri 22:00-02:00" is
// Friday night into Saturday).
func ParseWindow(s string) (Window, error) {
	var w Window
	w.text = strings.TrimSpace(s)
	fields := strings.Fields(s)
	var days, hours string
	switch len(fields) {
	case 1:
		days, hours = "*", fields[0]
	case 2:
		days, hours = fields[0], fields[1]
	default:
		return w, fmt.Errorf("window %q: want \"[DAYS ]HH:MM-HH:MM\", e.g. \"Mon-Fri 09:00-17:00\"", s)
	}
	if days == "*" {
		w.Days = [7]bool{true, true, true, true, true, true, true}
	} else {
		for part := range strings.SplitSeq(days, ",") {
			from, to, isRange := strings.Cut(part, "-")
			a, err := parseDay(from)
			if err != nil {
				return w, fmt.Errorf("window %q: %w", s, err)
			}
			b := a
			if isRange {
				if b, err = parseDay(to); err != nil {
					return w, fmt.Errorf("window %q: %w", s, err)
				}
			}
			for d := a; ; d = (d + 1) % 7 {
				w.Days[d] = true
				if d == b {
					break
				}
			}
		}
	}
	from, to, ok := strings.Cut(hours, "-")
	if !ok {
		return w, fmt.Errorf("window %q: times %q: want HH:MM-HH:MM", s, hours)
	}
	var err error
	if w.Start, err = parseClock(from, false); err != nil {
		return w, fmt.Errorf("window %q: %w", s, err)
	}
	if w.End, err = parseClock(to, true); err != nil {
		return w, fmt.Errorf("window %q: %w", s, err)
	}
	if w.Start == w.End {
		return w, fmt.Errorf("window %q: empty (start equals end)", s)
	}
	return w, nil
}

func parseDay(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) >= 3 {
		if i := slices.Index(dayNames, s[:3]); i >= 0 {
			return i, nil
		}
	}
	return 0, fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", s)
}

func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !end)) {
		return 0, fmt.Errorf("time %q: want HH:MM (00:00 to 24:00)", s)
	}
	return hh*60 + mm, nil
}

// Contains tells whether t (in the location the caller wants) is inside w.
func (w Window) Contains(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	wd := int(t.Weekday())
	if w.Start < w.End {
		return w.Days[wd] && m >= w.Start && m < w.End
	}
	return (w.Days[wd] && m >= w.Start) || (w.Days[(wd+6)%7] && m < w.End)
}

// String is the window as parsed.
func (w Window) String() string { return w.text }
