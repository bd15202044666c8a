package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// Waves: a plan's disruptive changes are carried out wave by wave, by the
// spec's rollout section or, without one, by schema.DefaultRollout (the
// same as `rollout: {}`): maxUnavailable left out is the management
// node's blast-radius limit (WavePlanning.Limits, watch's
// --max-disruptive-*-percent), so that apply and watch agree. A plan that
// disrupts one node or none runs in one step. The plan holds the waves (Plan.Rollout); Apply runs
// the layers before the first wave layer for everything, the wave layers
// (bmc, verify, settle, reignite: the per-node work that interrupts a
// node and checks it came back) first for the nodes in no wave, then once
// per wave, each gated on health; the layers after them (credentials)
// once the last wave is healthy.
//
// Shared changes go first, whole: files, dhcp (reservations of new nodes,
// reloads), the flags layer and the provisioner run. The flag files of the
// nodes to reinstall are deleted before the provisioner runs because
// terraform serves a node its install profile only once its flag file is
// gone; a node whose flag is gone keeps booting from disk until its wave
// PXE-boots it, so deleting them up front interrupts nobody. A lokoctl run
// that reboots nodes (Detail.Reboots) reboots them all in that one run:
// it cannot be split, and the plan says so.

// Rollout is how Apply carries out a plan's disruptive changes.
type Rollout struct {
	// Waves in the order they run; wave numbers start at 1.
	Waves []Wave `json:"waves"`
	// Settle is how long a wave's nodes must stay healthy, Timeout how long
	// a wave may take to become healthy (Go durations, from the spec).
	Settle  string `json:"settle"`
	Timeout string `json:"timeout"`
	// First are the nodes whose changes of the wave layers run before the
	// waves: they interrupt nothing (first installs, boot device fixes).
	First []string `json:"first,omitempty"`
	// Rule says, for people, how the waves were made: from which rollout
	// (the spec's or the default) and with which limits.
	Rule string `json:"rule,omitempty"`

	waveByNode map[string]int // built by waveOf on first use
}

// Wave is one step of a rollout: nodes disrupted together.
type Wave struct {
	Number int      `json:"number"`
	Canary bool     `json:"canary,omitempty"`
	Nodes  []string `json:"nodes"`
	// Await are the nodes that must be healthy before the wave starts: the
	// other controllers, for a wave that disrupts a controller.
	Await []string `json:"await,omitempty"`
}

// WavePlanning is how Build plans waves.
type WavePlanning struct {
	// Limits are the wave sizes of workers and flatcar nodes when the
	// spec's rollout leaves maxUnavailable out (or has no section): the
	// management node's limits. Empty: schema.DefaultMaxUnavailable.
	Limits schema.MaxUnavailable
	// Off plans no waves: the plan runs in one step (--no-waves).
	Off bool
}

// waveLayer is a Plugin whose changes Apply runs per wave: a change of a
// node in the wave of its node (or before the waves when its node is in
// none), a change of no node narrowed to each wave's nodes (narrow).
type waveLayer interface{ inWaves() }

func (bmcLayer) inWaves()      {}
func (verifyLayer) inWaves()   {}
func (settleLayer) inWaves()   {}
func (reigniteLayer) inWaves() {}

func inWaves(l Plugin) bool { _, ok := l.(waveLayer); return ok }

// ComputeWaves splits disrupted (node names, in spec order) into waves by
// rack's rollout section. Nil without one or without disrupted nodes.
func ComputeWaves(rack *schema.Rack, disrupted []string) []Wave {
	if rack.Rollout == nil {
		return nil
	}
	return computeWaves(rack, rack.Rollout, disrupted)
}

// computeWaves splits disrupted into waves by ro: the canary first, then
// the controllers one at a time, then the other roles in waves of at most
// their maxUnavailable (of the role's active nodes).
func computeWaves(rack *schema.Rack, ro *schema.Rollout, disrupted []string) []Wave {
	if len(disrupted) == 0 {
		return nil
	}
	var waves []Wave
	rest := canaryFirst(rack, ro.Canary, disrupted, &waves)
	byRole := map[string][]string{}
	var roles []string
	for _, name := range rest {
		role := rack.Node(name).Role
		if role == schema.RoleController {
			waves = append(waves, Wave{Nodes: []string{name}})
			continue
		}
		if _, ok := byRole[role]; !ok {
			roles = append(roles, role)
		}
		byRole[role] = append(byRole[role], name)
	}
	for _, role := range roles {
		limit := ro.MaxUnavailable.For(role).Of(len(rack.NodesWithRole(role)))
		for chunk := range slices.Chunk(byRole[role], limit) {
			waves = append(waves, Wave{Nodes: chunk})
		}
	}
	controllers := activeNames(rack.NodesWithRole(schema.RoleController))
	for i := range waves {
		waves[i].Number = i + 1
		if c := slices.IndexFunc(waves[i].Nodes, func(n string) bool { return slices.Contains(controllers, n) }); c >= 0 {
			self := waves[i].Nodes[c]
			waves[i].Await = slices.DeleteFunc(slices.Clone(controllers), func(n string) bool { return n == self })
		}
	}
	return waves
}

// canaryFirst appends the canary wave (if any) to waves and returns the
// disrupted nodes left. A count takes workers (and flatcar nodes) before
// controllers; a canary holds at most one controller.
func canaryFirst(rack *schema.Rack, c schema.Canary, disrupted []string, waves *[]Wave) []string {
	var picked []string
	controllers := 0
	take := func(name string) {
		if rack.Node(name).Role == schema.RoleController {
			if controllers > 0 {
				return
			}
			controllers++
		}
		picked = append(picked, name)
	}
	if c.Selects() {
		for _, name := range disrupted {
			if c.Matches(rack.Node(name)) {
				take(name)
			}
		}
	} else if c.Count != nil {
		controllersLast := slices.Clone(disrupted)
		slices.SortStableFunc(controllersLast, func(a, b string) int {
			return boolInt(rack.Node(a).Role == schema.RoleController) - boolInt(rack.Node(b).Role == schema.RoleController)
		})
		for _, name := range controllersLast {
			if len(picked) < *c.Count {
				take(name)
			}
		}
	}
	if len(picked) == 0 {
		return disrupted
	}
	*waves = append(*waves, Wave{Canary: true, Nodes: picked})
	return slices.DeleteFunc(slices.Clone(disrupted), func(n string) bool { return slices.Contains(picked, n) })
}

func activeNames(nodes []*schema.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// planRollout fills p.Rollout from the planned changes: the nodes a
// disruptive change interrupts that run an install now (wavedNodes). A
// plan that disrupts one node or none runs in one step: a single wave
// would only add a wait.
func (pl *planner) planRollout() {
	if pl.opts.Waves.Off {
		return
	}
	installs, err := state.New(pl.opts.StateDir).LoadInstalls()
	if err != nil {
		pl.note("rollout: " + err.Error() + ": nodes without a flag file count as not installed")
	}
	disrupted := pl.wavedNodes(installs)
	if len(disrupted) <= 1 {
		return
	}
	ro := pl.rollout()
	r := &Rollout{Waves: computeWaves(pl.rack, ro, disrupted), Settle: ro.Settle, Timeout: ro.Timeout, Rule: pl.rolloutRule(ro, disrupted)}
	for _, c := range pl.p.Changes {
		if c.Node != "" && r.waveOf(c.Node) == 0 && layerInWaves(c.Layer) {
			r.First = append(r.First, c.Node)
		}
	}
	r.First = pl.inSpecOrder(r.First)
	pl.p.Rollout = r
}

// wavedNodes are the nodes to carry out in waves, in spec order: those a
// disruptive change of a wave layer interrupts, or a power cycle (a DHCP
// drift fix), and that run an install now. A node being installed for the
// first time has nothing running to interrupt; one whose flag file is
// gone (deleted before an earlier rollout stopped) but that a verify has
// seen (installs.json) still runs its old install, and stays in the
// waves, so that a retry does not reinstall the nodes a stopped rollout
// left alone all at once. Nodes whose last install failed come first: a
// retry tries the canary that stopped the rollout again. A lokoctl run's
// reboots cannot be split: the plan notes them and does not wave them.
func (pl *planner) wavedNodes(installs state.Installs) []string {
	fresh := map[string]bool{}
	for _, ni := range pl.nodes {
		rec, seen := installs.Nodes[ni.n.Name]
		if ni.install != "" && !ni.deleting && (!seen || rec.MAC != ni.n.MAC) {
			fresh[ni.n.Name] = true
		}
	}
	var disrupted, rebootsAtOnce []string
	seen := map[string]bool{} // a rack of 10 000 nodes: no scan of disrupted per change
	for _, c := range pl.p.Changes {
		switch {
		case !c.Disruptive:
		case c.Node == "":
			rebootsAtOnce = append(rebootsAtOnce, c.Interrupts()...)
		case waved(c) && !fresh[c.Node] && !seen[c.Node]:
			// A flag file's delete only marks a node for reinstall: what
			// interrupts it is its wave's PXE boot (none with --bmc=none).
			seen[c.Node] = true
			disrupted = append(disrupted, c.Node)
		}
	}
	if len(rebootsAtOnce) > 0 {
		pl.note(fmt.Sprintf("rollout: the %s run reboots %s at once: one run cannot be split into waves", pl.prov.Tool(), summarize(pl.inSpecOrder(rebootsAtOnce), 10)))
	}
	disrupted = pl.inSpecOrder(disrupted)
	slices.SortStableFunc(disrupted, func(a, b string) int {
		failed := func(n string) int { return boolInt(installs.Nodes[n].Outcome != state.InstallFailed) }
		return failed(a) - failed(b)
	})
	return disrupted
}

// rollout is the spec's rollout section, or the default one, with the
// maxUnavailable it leaves out taken from the management node's limits.
func (pl *planner) rollout() *schema.Rollout {
	ro := *schema.DefaultRollout()
	if pl.rack.Rollout != nil {
		ro = *pl.rack.Rollout
	}
	ro.MaxUnavailable.Worker = cmp.Or(ro.MaxUnavailable.Worker, pl.opts.Waves.Limits.Worker, schema.DefaultMaxUnavailable)
	ro.MaxUnavailable.Node = cmp.Or(ro.MaxUnavailable.Node, pl.opts.Waves.Limits.Node, schema.DefaultMaxUnavailable)
	return &ro
}

// rolloutRule says how the waves of disrupted were made, for the plan.
func (pl *planner) rolloutRule(ro *schema.Rollout, disrupted []string) string {
	from := "the rollout: section"
	if pl.rack.Rollout == nil {
		from = "the default rollout (no rollout: section)"
	}
	canary := "no canary"
	switch c := ro.Canary; {
	case c.Selects():
		canary = "a canary of the nodes rollout.canary selects"
	case c.Count != nil && *c.Count > 0:
		canary = fmt.Sprintf("a canary of %d", *c.Count)
	}
	var limits []string
	var roles []string
	for _, n := range disrupted {
		if role := pl.rack.Node(n).Role; role != schema.RoleController && !slices.Contains(roles, role) {
			roles = append(roles, role)
		}
	}
	for _, role := range roles {
		q := ro.MaxUnavailable.For(role)
		limits = append(limits, fmt.Sprintf("%s %s (%d)", role, q, q.Of(len(pl.rack.NodesWithRole(role)))))
	}
	rule := from + ": " + canary + ", controllers one at a time"
	if len(limits) > 0 {
		rule += ", then waves of at most " + strings.Join(limits, ", ")
	}
	return rule
}

// waved tells whether c is carried out in its node's wave: a change of a
// wave layer, or a power cycle of a layer before them (a DHCP drift fix
// that power-cycles a node interrupts it as a reinstall does).
func waved(c Change) bool {
	return layerInWaves(c.Layer) || (c.Disruptive && c.Action == ActionPowerCycle)
}

func layerInWaves(l Layer) bool {
	for _, p := range Plugins {
		if p.Layer() == l {
			return inWaves(p)
		}
	}
	return false
}

// waveOfChange is the wave c runs in: its node's, 0 (before the waves)
// for a change of a layer before the wave layers or of a node in none.
// A change of no node in a wave layer (the settle run) runs in several;
// it is shown with the first.
func (r *Rollout) waveOfChange(c Change) int {
	if !waved(c) {
		return 0
	}
	if c.Node != "" {
		return r.waveOf(c.Node)
	}
	if c.Detail != nil {
		for _, n := range c.Detail.Nodes {
			if r.waveOf(n) == 0 {
				return 0
			}
		}
		if len(c.Detail.Nodes) > 0 {
			return r.waveOf(c.Detail.Nodes[0])
		}
	}
	return 0
}

// waveOf is the number of the wave node is in, 0 for none. Apply asks
// for every change in every wave: a rack of 1000 nodes in waves of one
// would otherwise scan the waves 10⁹ times.
func (r *Rollout) waveOf(node string) int {
	if r.waveByNode == nil {
		r.waveByNode = map[string]int{}
		for _, w := range r.Waves {
			for _, n := range w.Nodes {
				r.waveByNode[n] = w.Number
			}
		}
	}
	return r.waveByNode[node]
}

// Split says how a plan is split, for people: what goes first, then each
// wave.
func (r *Rollout) Split() []string {
	var out []string
	if r.Rule != "" {
		out = append(out, "waves by "+r.Rule)
	}
	out = append(out, "first, not held behind the waves: files, DHCP, flag files, the provisioner run"+firstNodes(r.First))
	for _, w := range r.Waves {
		kind := "wave"
		if w.Canary {
			kind = "canary wave"
		}
		out = append(out, fmt.Sprintf("%s %d: %s", kind, w.Number, strings.Join(w.Nodes, ", ")))
	}
	out = append(out, fmt.Sprintf("each wave waits until its nodes are healthy for %s (at most %s, else the rollout stops); then the credentials layer, if any", r.Settle, r.Timeout))
	return out
}

func firstNodes(nodes []string) string {
	if len(nodes) == 0 {
		return ""
	}
	return ", and the node changes that interrupt nothing (" + summarize(nodes, 5) + ")"
}

// inWave is c as it runs in wave (0: before the waves): a waved change
// narrowed to the wave, any other in 0 alone.
func (r *Rollout) inWave(c Change, wave int) (Change, bool) {
	if waved(c) {
		return r.narrowToWave(c, wave)
	}
	return c, wave == 0
}

// narrowToWave is c as it runs in a wave of nodes (wave 0: before the
// waves, r.First): a change of a node when the node is in it; a change of
// no node with Detail.Nodes narrowed to those in it (Hosts alike); false
// when nothing of c belongs to it.
func (r *Rollout) narrowToWave(c Change, wave int) (Change, bool) {
	if c.Node != "" {
		return c, r.waveOf(c.Node) == wave
	}
	if c.Detail == nil || len(c.Detail.Nodes) == 0 {
		return c, wave == 0
	}
	d := *c.Detail
	d.Nodes, d.Hosts = nil, nil
	for i, n := range c.Detail.Nodes {
		if r.waveOf(n) != wave {
			continue
		}
		d.Nodes = append(d.Nodes, n)
		if i < len(c.Detail.Hosts) {
			d.Hosts = append(d.Hosts, c.Detail.Hosts[i])
		}
	}
	c.Detail = &d
	return c, len(d.Nodes) > 0
}
