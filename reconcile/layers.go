package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/dhcp"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/provision"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// DriftFix is the policy for DHCP drift between reservations and leases.
type DriftFix string

const (
	// DriftRelease releases stale leases (the default).
	DriftRelease DriftFix = "release"
	// DriftRenew also makes a drifting BMC renew its address.
	DriftRenew DriftFix = "renew"
	// DriftPowerCycle also power-cycles a drifting node.
	DriftPowerCycle DriftFix = "power-cycle"
	// DriftNone lists drift as notes and acts on none of it.
	DriftNone DriftFix = "none"
)

// ProvisionerRun says when the provisioner layer runs.
type ProvisionerRun string

const (
	// ProvisionerOff plans nothing for the provisioner, silently (the
	// zero value: files-only plans).
	ProvisionerOff ProvisionerRun = ""
	// ProvisionerAuto runs it when something it reads changed or a node
	// needs an install.
	ProvisionerAuto ProvisionerRun = "auto"
	// ProvisionerNever never runs it and says so in the plan.
	ProvisionerNever ProvisionerRun = "never"
)

// Observed keys of the later layers.
const (
	// KeyLeases is the digest of dnsmasq's active leases (MAC and IP, not
	// their expiry, which moves on every renewal).
	KeyLeases = "dhcp:leases"
	// KeyTerraformPlan is TerraformSummary.Digest of the plan reviewed.
	KeyTerraformPlan = "terraform:plan"
	// BMCPowerPrefix starts "bmc:NODE:power", a node's power state ("on",
	// "off" or "unreachable") when the plan was made.
	BMCPowerPrefix = "bmc:"
)

// Unreachable is the observed power state of a BMC that did not answer.
const Unreachable = "unreachable"

// LayerConfig enables and drives the layers after files. The zero value
// plans the files layer only.
type LayerConfig struct {
	// Enabled turns on the flags layer and the per-node record
	// (nodes.json); the other layers need their driver too.
	Enabled bool
	// DHCP checks the rendered dnsmasq.conf (a rejected config fails the
	// plan), plans its reload and reads the leases; nil turns the dhcp
	// layer off, with DHCPOff as the plan's note when set.
	DHCP     DHCPServer
	DHCPOff  string
	DriftFix DriftFix // empty means DriftRelease
	// BMC reads power states and boot devices at plan time; nil turns the
	// bmc layer off, with BMCOff as the plan's note when set.
	BMC         BMC
	BMCOff      string
	BMCParallel int // BMCs read at once; bmc.DefaultParallel when zero
	// Addressing reads the BMCs' LAN address source when the spec sets
	// bmc.addressSource (with the bmc layer on); nil leaves it unchecked.
	Addressing BMCAddressing
	// Rotation plans the spec's bmc.rotate (the credentials layer); nil
	// turns the layer off, with a note when the spec has bmc.rotate.
	Rotation CredentialRotator
	// Provisioner says whether the provisioner layer runs.
	Provisioner ProvisionerRun
	// Terraform, for a flatcar rack, makes a real terraform plan at plan
	// time when the flatcar dir already matches the rendered one (and is
	// initialized); nil skips it.
	Terraform Terraformer
	// Verify plans the verify layer for every node being installed.
	Verify bool
}

func (c LayerConfig) driftFix() DriftFix {
	if c.DriftFix == "" {
		return DriftRelease
	}
	return c.DriftFix
}

// nodeInfo is what the later layers know about one node.
type nodeInfo struct {
	n        *schema.Node
	index    int
	flag     string // flag file path, relative to the root
	install  string // why it must be (re)installed, "" when it need not
	deleting bool   // its flag file is being deleted
}

// planner plans the layers after files.
type planner struct {
	ctx      context.Context
	p        *Plan
	rack     *schema.Rack
	addrs    map[string]ipam.Addrs
	files    []render.File
	opts     PlanOptions
	cfg      LayerConfig
	layout   render.Layout
	prev     NodeState
	targeted map[string]bool // nil: every node
	nodes    []*nodeInfo
}

// planLayers adds the changes of the dhcp, flags, provisioner, bmc and
// verify layers to p, whose files changes are made (and targeted).
func planLayers(ctx context.Context, p *Plan, rack *schema.Rack, addrs map[string]ipam.Addrs, files []render.File, opts PlanOptions) error {
	cfg := opts.Layers
	prev, err := state.New(opts.StateDir).LoadNodes()
	if err != nil {
		return err
	}
	h, err := stateDigest(opts.StateDir, NodesFile)
	if err != nil {
		return fmt.Errorf("state %s: %w", NodesFile, err)
	}
	p.Observed[StatePrefix+NodesFile] = h
	pl := &planner{ctx: ctx, p: p, rack: rack, addrs: addrs, files: files, opts: opts, cfg: cfg, layout: opts.Layout.WithDefaults(), prev: prev}
	if len(p.Targets) > 0 {
		pl.targeted = map[string]bool{}
		for _, t := range p.Targets {
			pl.targeted[t] = true
		}
	}
	pl.nextNodes()
	if err := pl.dhcpLayer(); err != nil {
		return err
	}
	if err := pl.flagsLayer(); err != nil {
		return err
	}
	if err := pl.provisionerLayer(); err != nil {
		return err
	}
	pl.bmcLayer()
	pl.verifyLayer()
	return pl.credentialsLayer()
}

func (pl *planner) isTarget(name string) bool { return pl.targeted == nil || pl.targeted[name] }

// nextNodes is the record saved after the flags phase: the spec's, except
// for nodes not targeted, which keep what was recorded.
func (pl *planner) nextNodes() {
	next := NodeStateOf(pl.rack)
	if pl.targeted != nil && pl.prev.Version != 0 {
		next.SSHKeys = pl.prev.SSHKeys
		for name := range next.Nodes {
			if rec, ok := pl.prev.Nodes[name]; ok && !pl.targeted[name] {
				next.Nodes[name] = rec
			}
		}
	}
	pl.p.NextNodes = next
}

func (pl *planner) fileChange(p string) *Change {
	addr := FilePrefix + p
	for i := range pl.p.Changes {
		if c := &pl.p.Changes[i]; c.Layer == LayerFiles && c.Address == addr {
			return c
		}
	}
	return nil
}

func (pl *planner) desired(p string) []byte {
	for _, f := range pl.files {
		if f.Path == p {
			return f.Content
		}
	}
	return nil
}

// dhcpLayer: check and reload a changed dnsmasq.conf; release stale leases.
func (pl *planner) dhcpLayer() error {
	if pl.cfg.DHCP == nil {
		if pl.cfg.DHCPOff != "" {
			pl.p.Notes = append(pl.p.Notes, pl.cfg.DHCPOff)
		}
		return nil
	}
	conf := pl.desired(pl.layout.DnsmasqConf)
	if c := pl.fileChange(pl.layout.DnsmasqConf); c != nil && c.Action != ActionDelete {
		if err := pl.cfg.DHCP.Check(pl.ctx, c.Content); err != nil {
			return fmt.Errorf("dnsmasq rejects the rendered %s: %w", pl.layout.DnsmasqConf, err)
		}
		pl.p.Changes = append(pl.p.Changes, Change{
			Layer: LayerDHCP, Action: ActionReload, Address: "dhcp:dnsmasq",
			Reason: pl.layout.DnsmasqConf + " changes",
		})
	}
	leases, err := pl.cfg.DHCP.Leases()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no lease file: no drift to find
	}
	if err != nil {
		pl.p.Notes = append(pl.p.Notes, fmt.Sprintf("dhcp: leases not read, drift not checked: %v", err))
		return nil
	}
	now := pl.opts.Now()
	pl.p.Observed[KeyLeases] = leaseDigest(leases, now)
	res, err := dhcp.ParseReservations(conf)
	if err != nil {
		return fmt.Errorf("dhcp: rendered reservations: %w", err)
	}
	byMAC := map[string]*schema.Node{}
	bmcMAC := map[string]bool{}
	for i := range pl.rack.Nodes {
		n := &pl.rack.Nodes[i]
		byMAC[n.MAC], byMAC[n.BMCMAC] = n, n
		bmcMAC[n.BMCMAC] = true
	}
	for i := range res {
		res[i].BMC = bmcMAC[res[i].MAC]
	}
	fix := pl.cfg.driftFix()
	for _, f := range dhcp.Drift(res, leases, now) {
		if f.Kind.Info() {
			continue
		}
		n := byMAC[f.MAC]
		name := f.Host
		if n != nil {
			name = n.Name
			if !pl.isTarget(name) {
				continue
			}
		}
		if fix == DriftNone {
			pl.p.Changes = append(pl.p.Changes, Change{Layer: LayerDHCP, Action: ActionNoop, Address: "dhcp:drift:" + f.MAC, Node: name,
				Reason: "drift left alone (--drift-fix=none): " + f.String()})
			pl.p.Notes = append(pl.p.Notes, "dhcp drift left alone (--drift-fix=none): "+f.String())
			continue
		}
		l := f.Lease
		pl.p.Changes = append(pl.p.Changes, Change{
			Layer: LayerDHCP, Action: ActionRelease, Address: "dhcp:lease:" + l.MAC + "/" + l.IP.String(), Node: name,
			Reason: f.String(),
			Detail: &Detail{Lease: &LeaseRef{MAC: l.MAC, IP: l.IP.String(), ClientID: l.ClientID, Hostname: l.Hostname}},
		})
		if n == nil {
			continue
		}
		switch {
		case f.BMC && (fix == DriftRenew || fix == DriftPowerCycle):
			pl.p.Changes = append(pl.p.Changes, Change{
				Layer: LayerDHCP, Action: ActionRenew, Address: "dhcp:bmc-renew:" + n.Name, Node: n.Name,
				Reason: "BMC lease drift: " + f.Kind.String(), Detail: &Detail{BMCAddress: pl.bmcAddress(n), MAC: n.BMCMAC},
			})
		case !f.BMC && fix == DriftPowerCycle && !n.Exclude:
			pl.p.Changes = append(pl.p.Changes, Change{
				Layer: LayerDHCP, Action: ActionPowerCycle, Address: "dhcp:power-cycle:" + n.Name, Node: n.Name, Disruptive: true,
				Reason: "node lease drift: " + f.Kind.String() + " (--drift-fix=power-cycle)", Detail: &Detail{BMCAddress: pl.bmcAddress(n), MAC: n.MAC},
			})
		}
	}
	return nil
}

// leaseDigest is the observed value of the leases: active (MAC, IP) pairs.
func leaseDigest(leases []dhcp.Lease, now time.Time) string {
	var pairs []string
	for _, l := range leases {
		if l.Active(now) {
			pairs = append(pairs, l.MAC+" "+l.IP.String())
		}
	}
	slices.Sort(pairs)
	sum := sha256.Sum256([]byte(strings.Join(pairs, "\n")))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (pl *planner) bmcAddress(n *schema.Node) string {
	if n.BMCAddress != "" {
		return n.BMCAddress
	}
	return bmc.EndpointFor(pl.rack, n, pl.addrs[n.Name].BMC).Address()
}

// flagsLayer deletes the flag files of nodes to reinstall (reprovision
// changed), of excluded nodes and of replaced MACs, and finds every node
// to install.
func (pl *planner) flagsLayer() error {
	if !pl.cfg.Enabled {
		return nil
	}
	prov := pl.rack.Provisioner
	for i := range pl.rack.Nodes {
		n := &pl.rack.Nodes[i]
		if !pl.isTarget(n.Name) {
			continue
		}
		ni := &nodeInfo{n: n, index: i, flag: render.FlagFilePath(pl.layout, prov, n.MAC)}
		pl.nodes = append(pl.nodes, ni)
		exists, err := pl.observeFlag(ni.flag)
		if err != nil {
			return err
		}
		rec, had := pl.prev.Nodes[n.Name]
		field := fmt.Sprintf("nodes[%d]", i)
		del := func(p, reason string) {
			pl.p.Changes = append(pl.p.Changes, Change{
				Layer: LayerFlags, Action: ActionDelete, Address: FilePrefix + p, Node: n.Name, Disruptive: !n.Exclude,
				Reason: reason, Detail: &Detail{FlagFile: p, MAC: n.MAC},
			})
		}
		if had && rec.MAC != n.MAC {
			old := render.FlagFilePath(pl.layout, prov, rec.MAC)
			oldExists, err := pl.observeFlag(old)
			if err != nil {
				return err
			}
			if oldExists {
				del(old, fmt.Sprintf("%s.mac changed (%s -> %s): the old server's flag file", field, rec.MAC, n.MAC))
			}
		}
		switch {
		case n.Exclude:
			if exists {
				del(ni.flag, field+".exclude: true")
			}
			continue
		case had && rec.Reprovision != n.Reprovision && exists:
			reason := fmt.Sprintf("%s.reprovision changed (%q -> %q): full PXE reinstall", field, rec.Reprovision, n.Reprovision)
			del(ni.flag, reason)
			ni.deleting, ni.install = true, reason
		case !exists:
			switch {
			case had && rec.Exclude:
				ni.install = field + ".exclude: false (added back)"
			case had && rec.MAC != n.MAC:
				ni.install = fmt.Sprintf("%s.mac changed (%s -> %s): new server", field, rec.MAC, n.MAC)
			case !had && pl.prev.Version != 0:
				ni.install = field + ": new node"
			default:
				ni.install = "flag file " + ni.flag + " missing: not installed"
			}
		}
	}
	return nil
}

// observeFlag records a flag file in Observed and tells whether it exists.
func (pl *planner) observeFlag(p string) (bool, error) {
	cur, _, exists, err := readCurrent(pl.opts.Root, p)
	if err != nil {
		return false, err
	}
	pl.p.Observed[FilePrefix+p] = hashOf(cur, exists)
	return exists, nil
}

func (pl *planner) installs() []*nodeInfo {
	var out []*nodeInfo
	for _, ni := range pl.nodes {
		if ni.install != "" {
			out = append(out, ni)
		}
	}
	return out
}

// provisionerLayer plans one run of terraform or lokoctl when something it
// reads changed or a node needs an install.
func (pl *planner) provisionerLayer() error {
	if !pl.cfg.Enabled || pl.cfg.Provisioner == ProvisionerOff {
		return nil
	}
	flatcar := pl.rack.Provisioner == schema.Flatcar
	dir, tool := pl.layout.LokomotiveDir, "lokoctl"
	if flatcar {
		dir, tool = pl.layout.FlatcarDir, "terraform"
	}
	var reasons, nodes, notes []string
	seen := map[string]bool{}
	addNode := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			nodes = append(nodes, n)
		}
	}
	var shared, clcNodes []string
	for _, c := range pl.p.Changes {
		if c.Layer != LayerFiles && c.Layer != LayerFlags {
			continue
		}
		rel, ok := strings.CutPrefix(strings.TrimPrefix(c.Address, FilePrefix), dir+"/")
		if !ok {
			continue
		}
		if c.Node != "" {
			addNode(c.Node)
			if c.Layer == LayerFiles && strings.HasPrefix(rel, "cl/") {
				clcNodes = append(clcNodes, c.Node)
			}
		} else if c.Layer == LayerFiles {
			shared = append(shared, rel)
		}
	}
	if len(shared) > 0 {
		reasons = append(reasons, "shared inputs change: "+summarize(shared, 5))
	}
	installs := pl.installs()
	for _, ni := range installs {
		addNode(ni.n.Name)
	}
	if len(installs) > 0 {
		reasons = append(reasons, fmt.Sprintf("%d node(s) to install", len(installs)))
	}
	if len(nodes) > 0 {
		reasons = append(reasons, "nodes: "+summarize(nodes, 10))
	}
	keysChanged := pl.prev.Version != 0 && pl.prev.SSHKeys != sshKeysHash(pl.rack)
	if keysChanged {
		reasons = append(reasons, "cluster.sshPubKeys changed")
		if flatcar {
			for _, n := range pl.rack.ActiveNodes() {
				if pl.isTarget(n.Name) && !installing(installs, n) {
					// rackctl's module serves the new Ignition; Flatcar runs
					// Ignition on first boot only.
					notes = append(notes, n.Name+": cluster.sshPubKeys changed: matchbox serves the new keys after this apply, but the node takes them only when Ignition runs again (set its reprovision, or touch /boot/flatcar/first_boot and reboot it)")
				}
			}
		}
	}
	var reboots []string
	if !flatcar {
		var err error
		if reboots, err = pl.lokomotiveReboots(clcNodes, installs, keysChanged); err != nil {
			return err
		}
		installed := func(n *schema.Node) (bool, error) {
			if pl.isTarget(n.Name) {
				return !installing(installs, n), nil
			}
			// lokoctl knows no targets: a shared input reaches every node.
			return pl.flagExists(n)
		}
		causes, err := pl.sharedInputReboots(shared, installed)
		if err != nil {
			return err
		}
		for _, c := range causes {
			notes = append(notes, fmt.Sprintf("%s: lokoctl re-runs Ignition with a reboot on %s", c.cause, summarize(c.nodes, 10)))
			reboots = append(reboots, c.nodes...)
		}
		reboots = pl.inSpecOrder(reboots)
		if len(reboots) > 0 {
			reasons = append(reasons, fmt.Sprintf("lokoctl reboots %d node(s) to re-run Ignition", len(reboots)))
		}
	}
	if pl.cfg.Provisioner == ProvisionerNever {
		if len(reasons) > 0 {
			pl.p.Notes = append(pl.p.Notes, fmt.Sprintf("provisioner not run (--provisioner-run=never): run %s in %s yourself (%s)", tool, dir, strings.Join(reasons, "; ")))
		}
		return nil
	}
	c := Change{Layer: LayerProvisioner, Action: ActionRun, Address: "provisioner:" + tool, Notes: notes, Detail: &Detail{Dir: dir}}
	if flatcar && len(reasons) == 0 && pl.cfg.Terraform != nil {
		sum, err := pl.terraformPlan(dir)
		if err != nil {
			return err
		}
		if sum == nil {
			reasons = append(reasons, "terraform not initialized in "+dir)
		} else if sum.Add+sum.Change+sum.Destroy > 0 {
			reasons = append(reasons, fmt.Sprintf("terraform plan: %d to add, %d to change, %d to destroy", sum.Add, sum.Change, sum.Destroy))
			for _, r := range sum.Resources {
				addNode(r.Node)
			}
			c.Detail.Terraform = sum
			pl.p.Observed[KeyTerraformPlan] = sum.Digest
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	if flatcar {
		st := path.Join(dir, "terraform.tfstate")
		cur, _, exists, err := readCurrent(pl.opts.Root, st)
		if err != nil {
			return err
		}
		pl.p.Observed[FilePrefix+st] = hashOf(cur, exists)
	}
	c.Reason = strings.Join(reasons, "; ")
	c.Detail.Nodes = nodes
	c.Detail.Reboots = reboots
	c.Disruptive = len(reboots) > 0
	pl.p.Changes = append(pl.p.Changes, c)
	return nil
}

// lokomotiveReboots are the installed, active nodes lokoctl reboots: those
// whose cl/ files change the Ignition their snippets merge into and, when
// the SSH keys change, every one — the keys are in each node's Ignition.
// Nodes being installed are interrupted by their install already.
func (pl *planner) lokomotiveReboots(clcNodes []string, installs []*nodeInfo, keysChanged bool) ([]string, error) {
	var out []string
	for _, n := range pl.rack.ActiveNodes() {
		if !pl.isTarget(n.Name) || installing(installs, n) {
			continue
		}
		if !keysChanged && !slices.Contains(clcNodes, n.Name) {
			continue
		}
		if !keysChanged {
			same, err := pl.sameIgnition(n)
			if err != nil {
				return nil, err
			}
			if same {
				continue // content moved between the node's snippets
			}
		}
		out = append(out, n.Name)
	}
	return out, nil
}

// sameIgnition says whether node n's snippets on disk and as rendered merge
// into the same Ignition. A snippet that does not transpile counts as a
// change: lokoctl would fail or serve something else.
func (pl *planner) sameIgnition(n *schema.Node) (bool, error) {
	var cur, want [][]byte
	for _, p := range render.NodeSnippets(pl.layout, pl.rack, n) {
		b, _, _, err := readCurrent(pl.opts.Root, p)
		if err != nil {
			return false, err
		}
		cur, want = append(cur, b), append(want, pl.desired(p))
	}
	a, err := render.SnippetsIgnition(cur...)
	if err != nil {
		return false, nil
	}
	b, err := render.SnippetsIgnition(want...)
	return err == nil && bytes.Equal(a, b), nil
}

// inSpecOrder is names without duplicates, in the spec's node order.
func (pl *planner) inSpecOrder(names []string) []string {
	var out []string
	for i := range pl.rack.Nodes {
		if n := pl.rack.Nodes[i].Name; slices.Contains(names, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func installing(installs []*nodeInfo, n *schema.Node) bool {
	return slices.ContainsFunc(installs, func(ni *nodeInfo) bool { return ni.n == n })
}

// terraformPlan runs terraform plan in an initialized flatcar dir; nil
// when it is not initialized.
func (pl *planner) terraformPlan(dir string) (*TerraformSummary, error) {
	if _, err := os.Stat(filepath.Join(pl.opts.Root, filepath.FromSlash(dir), ".terraform")); err != nil {
		return nil, nil
	}
	tp, err := pl.cfg.Terraform.Plan(pl.ctx)
	if err != nil {
		return nil, fmt.Errorf("terraform plan in %s: %w", dir, err)
	}
	return SummarizeTerraform(tp), nil
}

// SummarizeTerraform turns a terraform plan into the data a plan keeps.
func SummarizeTerraform(tp *provision.TerraformPlan) *TerraformSummary {
	s := &TerraformSummary{Add: tp.Summary.Add, Change: tp.Summary.Change, Destroy: tp.Summary.Destroy, Resources: []TerraformResource{}}
	for _, rc := range tp.Changes {
		s.Resources = append(s.Resources, TerraformResource{Address: rc.Address, Actions: rc.Actions, Node: strings.SplitN(rc.Node, ".", 2)[0]})
	}
	s.Digest = TerraformDigest(s.Resources)
	return s
}

// TerraformDigest is the hash of what terraform would do: every resource
// address with its actions, in order. It leaves out the plan file's own
// bytes (terraform stamps each plan with its time) and the attribute
// values, which come from the files the plan observes already.
func TerraformDigest(rs []TerraformResource) string {
	b, _ := json.Marshal(rs)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// bmcLayer: PXE boot and power-cycle every node to install; set the boot
// device of installed nodes back to disk.
func (pl *planner) bmcLayer() {
	if !pl.cfg.Enabled {
		return
	}
	if pl.cfg.BMC == nil {
		if pl.cfg.BMCOff != "" {
			pl.p.Notes = append(pl.p.Notes, pl.cfg.BMCOff)
		}
		if len(pl.installs()) > 0 {
			pl.p.Notes = append(pl.p.Notes, "bmc layer off: PXE-boot the nodes to install by hand")
		}
		return
	}
	lokoPXE := pl.rack.Provisioner == schema.Lokomotive && pl.rack.Install.PXECommands != ""
	var active []*nodeInfo
	for _, ni := range pl.nodes {
		if !ni.n.Exclude {
			active = append(active, ni)
		}
	}
	type obs struct {
		power string
		boot  bmc.BootParam
		err   error
	}
	results := make([]obs, len(active))
	limit := pl.cfg.BMCParallel
	if limit <= 0 {
		limit = bmc.DefaultParallel
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, ni := range active {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t := bmc.Target{Node: ni.n.Name, Address: pl.bmcAddress(ni.n)}
			if ni.install != "" {
				if lokoPXE {
					return
				}
				results[i].power, results[i].err = pl.cfg.BMC.PowerState(pl.ctx, t)
				return
			}
			results[i].boot, results[i].err = pl.cfg.BMC.BootDevice(pl.ctx, t)
		}()
	}
	wg.Wait()
	var unreached []string
	for i, ni := range active {
		r := results[i]
		addr := pl.bmcAddress(ni.n)
		if ni.install != "" {
			if lokoPXE {
				continue
			}
			reason := ni.install
			power := r.power
			if r.err != nil {
				power = Unreachable
				reason += fmt.Sprintf(" (warning: BMC not reached at plan time: %v)", r.err)
			}
			pl.p.Observed[BMCPowerPrefix+ni.n.Name+":power"] = power
			pl.p.Changes = append(pl.p.Changes, Change{
				Layer: LayerBMC, Action: ActionPXEReinstall, Address: "bmc:" + ni.n.Name, Node: ni.n.Name, Disruptive: true,
				Reason: reason, Detail: &Detail{BMCAddress: addr, MAC: ni.n.MAC},
			})
			continue
		}
		if r.err != nil {
			unreached = append(unreached, ni.n.Name)
			continue
		}
		if r.boot.Device != bmc.BootDisk {
			pl.p.Changes = append(pl.p.Changes, Change{
				Layer: LayerBMC, Action: ActionSetBootDisk, Address: "bmc:" + ni.n.Name + ":boot", Node: ni.n.Name,
				Reason: fmt.Sprintf("boot device is %s, want disk (persistent, EFI)", r.boot), Detail: &Detail{BMCAddress: addr, MAC: ni.n.MAC},
			})
		}
	}
	if lokoPXE && len(pl.installs()) > 0 {
		pl.p.Notes = append(pl.p.Notes, "lokoctl PXE-boots the nodes to install itself (install.pxeCommands)")
	}
	if len(unreached) > 0 {
		pl.p.Notes = append(pl.p.Notes, fmt.Sprintf("boot device not checked, BMC not reached: %s", summarize(unreached, 10)))
	}
	pl.addressSources()
}

// BMCAddressSourceSuffix ends "bmc:NODE:ipsrc", the observed address
// source of a node's BMC (a bmc.AddrSource* value or "unreachable").
const BMCAddressSourceSuffix = ":ipsrc"

// addressSources plans `lan set 1 ipsrc dhcp` for every BMC whose LAN
// channel does not take its address from DHCP when the spec's
// bmc.addressSource is dhcp. These changes come after every other bmc
// change: the BMC executor runs a node's renew after its other changes.
func (pl *planner) addressSources() {
	if pl.rack.BMC.AddressSource != schema.AddressSourceDHCP {
		return
	}
	if pl.cfg.Addressing == nil {
		pl.p.Notes = append(pl.p.Notes, "bmc.addressSource: dhcp not checked: no driver reads the BMCs' LAN settings")
		return
	}
	targets := make([]bmc.Target, len(pl.nodes))
	for i, ni := range pl.nodes {
		targets[i] = bmc.Target{Node: ni.n.Name, Address: pl.bmcAddress(ni.n)}
	}
	srcs := bmc.ForEach(pl.ctx, pl.cfg.BMCParallel, targets, func(ctx context.Context, t bmc.Target) (string, error) {
		return pl.cfg.Addressing.LANAddressSource(ctx, t)
	})
	var unreached []string
	for _, ni := range pl.nodes {
		n := ni.n
		r := srcs[n.Name]
		key := BMCPowerPrefix + n.Name + BMCAddressSourceSuffix
		if r.Err != nil {
			unreached = append(unreached, n.Name)
			continue
		}
		if r.Value == bmc.AddrSourceDHCP {
			continue
		}
		// Observed only where a change acts on it.
		pl.p.Observed[key] = r.Value
		reserved := "its DHCP reservation"
		if a := pl.addrs[n.Name].BMC; a.IsValid() {
			reserved = "its reserved IP " + a.String()
		}
		pl.p.Changes = append(pl.p.Changes, Change{
			Layer: LayerBMC, Action: ActionRenew, Address: "bmc:" + n.Name + BMCAddressSourceSuffix, Node: n.Name,
			Reason: fmt.Sprintf("bmc.addressSource: dhcp, LAN channel %d address source is %s: lan set %d ipsrc dhcp; the host is not interrupted, but the BMC moves to %s (bmcMac %s)",
				bmc.LANChannel, r.Value, bmc.LANChannel, reserved, n.BMCMAC),
			Detail: &Detail{BMCAddress: pl.bmcAddress(n), MAC: n.BMCMAC},
		})
	}
	if len(unreached) > 0 {
		pl.p.Notes = append(pl.p.Notes, fmt.Sprintf("bmc.addressSource not checked, BMC not reached: %s", summarize(unreached, 10)))
	}
}

// verifyLayer records every node being installed once the bmc phase is
// through.
func (pl *planner) verifyLayer() {
	if !pl.cfg.Enabled || !pl.cfg.Verify {
		return
	}
	for _, ni := range pl.installs() {
		pl.p.Changes = append(pl.p.Changes, Change{
			Layer: LayerVerify, Action: ActionVerify, Address: "verify:" + ni.n.Name, Node: ni.n.Name,
			Reason: "record the install (" + ni.flag + ")", Detail: &Detail{FlagFile: ni.flag, MAC: ni.n.MAC, FQDN: pl.rack.FQDN(ni.n)},
		})
	}
}

func summarize(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:max], ", ") + fmt.Sprintf(" and %d more", len(items)-max)
}
