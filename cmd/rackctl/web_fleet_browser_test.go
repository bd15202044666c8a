package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/view"
)

// TestFleetPageBrowser runs two racks' watches (real ipmi_sim BMCs, each
// rack's own dnsmasq in namespaces the test creates) and `rackctl serve
// --fleet-endpoints` over them and a rack that never answers, and checks
// in headless Chromium:
//   - the rack page links the fleet page; the fleet page draws each rack's
//     slots with the states of its /api/status, names the silent rack
//     "unreachable: why" with no slot, and links each rack's own page;
//   - a node that took a DHCP lease from its rack's dnsmasq, and whose BMC
//     was told to PXE boot, shows the leased address and the boot device
//     in /api/status and in its detail on the rack's page;
//   - at a phone's width the fleet page needs no sideways scrolling.
//
// Screenshots (fleet-view.png, web-node-lease.png) go to
// $RACKCTL_SCREENSHOT_DIR, else to the test's temporary directory.
func TestFleetPageBrowser(t *testing.T) {
	if err := testenv.NeedPrograms("chromium", "ipmi_sim", "ipmitool", "dnsmasq"); err != nil {
		t.Fatal(err)
	}
	const password = "fleet-web-pass"
	names := []string{"a", "b"}
	specs := map[string]string{}
	for i, n := range names {
		bmcs := simrack.StartT(t, simrack.Options{N: 2 + i, Password: password}).BMCs
		specs["racks/"+n+"/rack.yaml"] = fleetRackSpec(n, i+1, "1h", bmcs)
	}
	repo := testenv.NewGitRepo(t)
	commit := repo.CommitFiles(specs, "two racks")
	watches := map[string]*fleetWatch{}
	for i, n := range names {
		watches[n] = startFleetWatch(t, repo, n, i+1, password, "--status-interval", "2s")
	}
	for _, n := range names {
		waitFor(t, "rack "+n+" applied", func() bool { return historyHas(t, watches[n].stateDir, commit) })
	}
	a := watches["a"]
	lease := checkLeaseAndBoot(t, a, filepath.Join(repo.Dir, "racks/a/rack.yaml"))

	endpoints := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(endpoints, []byte(fmt.Sprintf("racks:\n  - {name: a, url: \"http://%s\"}\n  - {name: b, url: \"http://%s/\"}\n  - {name: down, url: \"http://%s\"}\n",
		a.listen, watches["b"].listen, hangingListener(t))), 0o644)
	listen := freePort(t)
	startRackctl(t, "serve", "-f", filepath.Join(repo.Dir, "racks/a/rack.yaml"), "--root", a.root, "--listen", listen,
		"--fleet-endpoints", endpoints, "--fleet-timeout", "2s", "--timeout", "5s", "--dhcp=none", "--verify=none", "--provisioner-run=never")
	for _, n := range names {
		waitFor(t, "rack "+n+" observed", func() bool { return getAPIStatus(t, watches[n].listen).Observation.State == api.ObservationObserved })
	}

	b := startBrowser(t)
	shots := screenshotDir(t)
	// The rack page links the fleet page. (Followed by its address: a click
	// may land beside it while the header fills in.)
	inBrowser(t, b, chromedp.Navigate("http://"+listen+"/"), chromedp.WaitVisible(chromedp.CSS(`#fleet-link`)))
	if href := fromBrowser(t, b, chromedp.Evaluate[string](`document.querySelector('#fleet-link').href`)); href != "http://"+listen+"/fleet" {
		t.Fatalf("fleet link %q", href)
	}
	inBrowser(t, b, chromedp.Navigate("http://"+listen+"/fleet"),
		chromedp.WaitVisible(chromedp.CSS(`.fleet-rack[data-rack="down"] h2`)),
		chromedp.WaitVisible(chromedp.CSS(`.fleet-rack[data-rack="b"] .slot`)))
	var doc api.FleetDoc
	if err := json.Unmarshal([]byte(getBody(t, "http://"+listen+"/api/fleet")), &doc); err != nil {
		t.Fatal(err)
	}
	checkFleetPage(t, b, doc, map[string]string{"a": "http://" + a.listen + "/", "b": "http://" + watches["b"].listen + "/"})
	saveShot(t, b, filepath.Join(shots, "fleet-view.png"), "")

	// The rack's own page (checkFleetPage checked the link): a-0's lease
	// and boot device.
	inBrowser(t, b, chromedp.Navigate("http://"+a.listen+"/"), chromedp.WaitVisible(chromedp.CSS(`#rack .slot[data-node="a-0"]`)),
		chromedp.Click(chromedp.CSS(`#rack .slot[data-node="a-0"] rect`)), chromedp.WaitVisible(chromedp.CSS(`#detail h3[data-node="a-0"]`)))
	facts := fromBrowser(t, b, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll('#detail [data-fact]')].map(d => [d.dataset.fact, d.textContent]))`))
	if !strings.HasPrefix(facts["lease"], lease.IP+" to "+lease.MAC+", expires ") || !strings.HasPrefix(facts["boot"], "pxe, ") {
		t.Errorf("a-0's detail: lease %q, boot device %q; want %s to %s with its expiry, and pxe", facts["lease"], facts["boot"], lease.IP, lease.MAC)
	}
	saveShot(t, b, filepath.Join(shots, "web-node-lease.png"), "#detail-section")

	// At a phone's width the fleet page needs no sideways scrolling either.
	inBrowser(t, b, chromedp.Navigate("http://"+listen+"/fleet"))
	checkPhoneWidth(t, b, `.fleet-rack[data-rack="b"] .slot`)
}

// checkLeaseAndBoot has node a-0 take a lease from rack a's dnsmasq and
// its BMC set to PXE boot (`rackctl ipmi` passthrough), then waits for
// rack a's /api/status to show both; a-1, which asked for none, has no
// lease.
func checkLeaseAndBoot(t *testing.T, a *fleetWatch, spec string) view.Lease {
	t.Helper()
	const mac = "02:00:00:01:00:00"
	ip, err := a.dhcp.Request(t.Context(), mac)
	if err != nil {
		t.Fatal(err)
	}
	if r := cli(t, "ipmi", "-f", spec, "--root", a.root, "a-0", "chassis", "bootdev", "pxe"); r.code != 0 {
		t.Fatalf("ipmi a-0 chassis bootdev pxe: exit %d\n%s", r.code, r.stderr)
	}
	var n0, n1 view.NodeStatus
	waitFor(t, "rack a observing a-0's lease and boot device", func() bool {
		doc := getAPIStatus(t, a.listen)
		if doc.Status == nil {
			return false
		}
		n0, n1 = doc.Status.Nodes[0], doc.Status.Nodes[1]
		return n0.DHCPLease.State == "leased" && n0.BootDevice.Device == "pxe"
	})
	if n0.DHCPLease.IP != ip.String() || n0.DHCPLease.MAC != mac || n0.DHCPLease.Expires == nil || n0.BootDevice.State != "read" {
		t.Errorf("a-0: lease %+v, boot device %+v; want %s to %s with an expiry (1h reservations), read", n0.DHCPLease, n0.BootDevice, ip, mac)
	}
	if n1.DHCPLease.State != "none" || n1.DHCPLease.IP != "" || !strings.Contains(n1.DHCPLease.Reason, "no lease for") {
		t.Errorf("a-1 asked for no lease: %+v, want none", n1.DHCPLease)
	}
	return n0.DHCPLease
}

type fleetCard struct {
	Reachable, Href, Unreachable string
	Slots                        map[string]string
}

// checkFleetPage: one card per rack of doc; a reachable rack's slots are
// its nodes with their states, its name links its page; an unreachable
// one says why and draws nothing.
func checkFleetPage(t *testing.T, b context.Context, doc api.FleetDoc, hrefs map[string]string) {
	t.Helper()
	cards := fromBrowser(t, b, chromedp.Evaluate[map[string]fleetCard](`Object.fromEntries([...document.querySelectorAll('.fleet-rack')].map(c => [c.dataset.rack, {
		Reachable: c.dataset.reachable, Href: c.querySelector('h2 a') ? c.querySelector('h2 a').href : '',
		Unreachable: c.querySelector('.unreachable') ? c.querySelector('.unreachable').textContent : '',
		Slots: Object.fromEntries([...c.querySelectorAll('.slot')].map(g => [g.dataset.node, g.dataset.state]))}]))`))
	if len(cards) != len(doc.Racks) || len(doc.Racks) != 3 {
		t.Fatalf("%d cards, /api/fleet has %d racks (want 3): %+v", len(cards), len(doc.Racks), cards)
	}
	for _, r := range doc.Racks {
		c := cards[r.Name]
		if r.Name == "down" {
			if r.Reachable || c.Reachable != "false" || len(c.Slots) != 0 || !strings.HasPrefix(c.Unreachable, "⚠ unreachable: ") ||
				!strings.Contains(c.Unreachable, "no answer within 2s") {
				t.Errorf("rack down: %+v (/api/fleet: %+v); want unreachable with why, no slot", c, r)
			}
			continue
		}
		if !r.Reachable || r.Status == nil || c.Reachable != "true" || c.Unreachable != "" || c.Href != hrefs[r.Name] {
			t.Fatalf("rack %s: card %+v (/api/fleet: reachable %v %s); want reachable, linking %s", r.Name, c, r.Reachable, r.Error, hrefs[r.Name])
		}
		want := map[string]string{}
		for _, n := range r.Status.Nodes {
			want[n.Name] = n.State
		}
		if fmt.Sprint(c.Slots) != fmt.Sprint(want) {
			t.Errorf("rack %s: slots %v, want %v (its /api/status)", r.Name, c.Slots, want)
		}
	}
}
