package reconcile

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simredfish"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// mediaRack is a flatcar rack of two nodes behind simulated Redfish BMCs:
// node-0 installs by PXE, node-1 via virtual media.
type mediaRack struct {
	*rackEnv
	sims    []*simredfish.BMC
	drivers *bmc.Drivers
}

const mediaImage = "http://127.0.0.1:8080/assets/ipxe/rackctl.iso"

func newMediaRack(t *testing.T) *mediaRack {
	e := newRackEnv(t, schema.Flatcar, 2)
	e.settle = true
	ca, err := simredfish.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := &mediaRack{rackEnv: e}
	for i := range e.rack.Nodes {
		b := simredfish.StartT(t, simredfish.Options{User: "admin", Password: "Passw0rd-sim", CA: ca})
		m.sims = append(m.sims, b)
		e.rack.Nodes[i].BMCAddress, e.rack.Nodes[i].BMCProtocol = b.Addr, schema.ProtocolRedfish
	}
	e.rack.Nodes[1].InstallVia = schema.InstallViaVirtualMedia
	e.rack.Install.VirtualMediaImage = mediaImage
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	m.drivers = bmc.NewDrivers(bmc.Config{Credentials: bmc.Credentials{User: "admin", Password: "Passw0rd-sim"},
		Timeout: 5 * time.Second, Redfish: bmc.RedfishOptions{RootCAs: pool}})
	t.Cleanup(func() { m.drivers.Close() })
	return m
}

func (m *mediaRack) plan() *Plan {
	m.t.Helper()
	timeNow = func() time.Time { return m.now }
	cfg := m.layers()
	cfg.BMC = m.drivers
	p, err := Build(context.Background(), m.rack, PlanOptions{Root: m.root, StateDir: m.st, Layers: cfg, Now: func() time.Time { return m.now }})
	if err != nil {
		m.t.Fatalf("plan: %v", err)
	}
	return p
}

func (m *mediaRack) apply(p *Plan) Result {
	m.t.Helper()
	px := &ProvisionerExecutor{Terraform: m.tf, Lokoctl: m.loko}
	res, err := Apply(context.Background(), p, ApplyOptions{Root: m.root, StateDir: m.st, Executors: []Executor{
		&DHCPExecutor{Server: m.dhcp, BMC: m.drivers}, &FlagExecutor{Root: m.root}, px,
		&BMCExecutor{BMC: m.drivers, Parallel: 4}, &VerifyExecutor{Root: m.root},
		&SettleExecutor{Root: m.root, Provisioner: px, BMC: m.drivers},
	}})
	if err != nil || res.Outcome != OutcomeSuccess {
		m.t.Fatalf("apply: %s, %v", res.Outcome, err)
	}
	return res
}

// TestVirtualMediaInstall: a node installed via virtual media is planned
// where a PXE install would be (same symbol and place in the human view,
// its own action and the image in the JSON view), applied on a simulated
// Redfish BMC as insert + one-time boot from CD + power on, and settled by
// ejecting the image once its install is recorded. Media found in an
// installed node's drive later is planned out again.
func TestVirtualMediaInstall(t *testing.T) {
	m := newMediaRack(t)
	p := m.plan()
	if got, want := layerAddrs(p.Changes, LayerBMC), []string{"bmc pxe-reinstall bmc:node-0 node-0", "bmc virtual-media-reinstall bmc:node-1 node-1"}; !slices.Equal(got, want) {
		t.Fatalf("bmc changes %v, want %v", got, want)
	}
	if got, want := layerAddrs(p.Changes, LayerSettle), []string{
		"settle settle settle:terraform ", "settle set-boot-disk settle:bmc:node-0 node-0",
		"settle set-boot-disk settle:bmc:node-1 node-1", "settle eject-media settle:bmc:node-1:media node-1",
	}; !slices.Equal(got, want) {
		t.Fatalf("settle changes %v, want %v", got, want)
	}
	var human bytes.Buffer
	if err := WriteHuman(&human, p, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# bmc node-0 will be PXE-booted and power-cycled (reinstall)", "-/+ bmc node-0\n",
		"# bmc node-1 will boot from virtual media (" + mediaImage + ") and be power-cycled (reinstall)", "-/+ bmc node-1\n",
		"# settle bmc:node-1:media will eject its virtual media (" + mediaImage + ")", "~ settle bmc:node-1:media\n",
	} {
		if !strings.Contains(human.String(), want) {
			t.Errorf("human plan lacks %q:\n%s", want, human.String())
		}
	}
	var view PlanView
	var js bytes.Buffer
	if err := WritePlanView(&js, p); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js.Bytes(), &view); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range view.Changes {
		if c.Address == "bmc/bmc:node-1" {
			found = c.Action == "virtual-media-reinstall" && c.Detail != nil && c.Detail.MediaImage == mediaImage &&
				c.Disruption != nil && slices.Equal(c.Disruption.Interrupts, []string{"node-1"})
		}
	}
	if !found {
		t.Errorf("JSON view: want bmc/bmc:node-1 as virtual-media-reinstall with the image and the node interrupted:\n%s", js.String())
	}

	// The bmc change alone: the image is in and the next boot is the CD,
	// once, with the server on.
	ctx := context.Background()
	x := &BMCExecutor{BMC: m.drivers}
	if err := x.Prepare(p); err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Changes {
		if c.Layer == LayerBMC && c.Node == "node-1" {
			if err := x.Apply(ctx, c); err != nil {
				t.Fatalf("apply %s: %v", c.Address, err)
			}
		}
	}
	tgt := bmc.Target{Node: "node-1", Address: m.sims[1].Addr, Protocol: bmc.ProtocolRedfish}
	if bp, err := m.drivers.BootDevice(ctx, tgt); err != nil || bp.Device != bmc.BootCDROM || bp.Persistent {
		t.Errorf("node-1 boot override %v, %v; want the CD, once", bp, err)
	}
	if on, err := m.sims[1].Power(); err != nil || !on || m.sims[1].Media() != mediaImage {
		t.Errorf("node-1 power %v (%v), media %q; want on with %s", on, err, m.sims[1].Media(), mediaImage)
	}

	// The whole plan, settled in the same apply: the image is out again
	// and both nodes boot from disk.
	m.tf.noChanges = true
	m.apply(m.plan()) // node-1's power changed since p: p is stale
	for i, sim := range m.sims {
		if got := sim.Media(); got != "" {
			t.Errorf("node-%d: media %q after the apply, want none", i, got)
		}
		if got, _, err := sim.NextBoot(); err != nil || got != "Hdd" {
			t.Errorf("node-%d: next boot %q, %v; want Hdd", i, got, err)
		}
	}

	// Someone leaves an image in the installed node's drive: the next plan
	// ejects it, and then nothing.
	if err := m.drivers.InsertMedia(ctx, tgt, "http://127.0.0.1:8080/other.iso"); err != nil {
		t.Fatal(err)
	}
	m.tf.noChanges = true
	os.MkdirAll(filepath.Join(m.root, render.DefaultLayout().FlatcarDir, ".terraform"), 0o755) // terraform initialised
	p = m.plan()
	if got, want := layerAddrs(p.Changes, ""), []string{"bmc eject-media bmc:node-1:media node-1"}; !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	m.apply(p)
	if got := m.sims[1].Media(); got != "" {
		t.Errorf("media %q after the eject", got)
	}
	if p := m.plan(); p.HasChanges() {
		t.Errorf("not converged: %v", layerAddrs(p.Changes, ""))
	}
}

// TestVirtualMediaRefusals: the settle layer leaves the image of a node
// whose install was not recorded (its next try needs it), and a BMC
// driver without virtual media, or a change without an image, is an
// error before anything is switched.
func TestVirtualMediaRefusals(t *testing.T) {
	m := newMediaRack(t)
	ctx := context.Background()
	tgt := bmc.Target{Node: "node-1", Address: m.sims[1].Addr, Protocol: bmc.ProtocolRedfish}
	if err := m.drivers.InsertMedia(ctx, tgt, mediaImage); err != nil {
		t.Fatal(err)
	}
	x := &SettleExecutor{Root: m.root, BMC: m.drivers}
	c := Change{Layer: LayerSettle, Action: ActionEjectMedia, Address: "settle:bmc:node-1:media", Node: "node-1",
		Detail: &Detail{BMCAddress: m.sims[1].Addr, BMCProtocol: bmc.ProtocolRedfish, FlagFile: "home/core/flatcar-container-linux/assets/aa", MediaImage: mediaImage}}
	if err := x.Apply(ctx, c); err == nil || !strings.Contains(err.Error(), "install not recorded") {
		t.Fatalf("eject without a recorded install: %v", err)
	}
	if m.sims[1].Media() != mediaImage {
		t.Errorf("media ejected for a node whose install was not recorded")
	}

	fake := newFakeBMC()
	reinstall := Change{Layer: LayerBMC, Action: ActionMediaReinstall, Address: "bmc:node-1", Node: "node-1",
		Detail: &Detail{BMCAddress: "127.0.0.1:623", MediaImage: mediaImage}}
	for name, tc := range map[string]struct {
		x    *BMCExecutor
		c    Change
		want string
	}{
		"no virtual media": {&BMCExecutor{BMC: fake}, reinstall, "has no virtual media"},
		"no image":         {&BMCExecutor{BMC: m.drivers}, Change{Layer: LayerBMC, Action: ActionMediaReinstall, Address: "bmc:node-1", Node: "node-1", Detail: &Detail{BMCAddress: m.sims[1].Addr, BMCProtocol: bmc.ProtocolRedfish}}, "no virtual media image"},
	} {
		if err := tc.x.Prepare(&Plan{Changes: []Change{tc.c}}); err != nil {
			t.Fatal(err)
		}
		if err := tc.x.Apply(ctx, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if len(fake.calls) != 0 {
		t.Errorf("a BMC without virtual media was switched: %v", fake.calls)
	}
	if on, _ := m.sims[1].Power(); on {
		t.Errorf("node-1 powered on by a reinstall without an image")
	}
}
