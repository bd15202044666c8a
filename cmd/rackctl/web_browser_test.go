package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/internal/simrack"
	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/view"
)

// TestWebViewBrowser loads the web view of a simulated rack (watch over a
// git repo, real ipmi_sim BMCs) in headless Chromium and checks what a
// person sees: every node's state in the elevation (as text and symbol, as
// /api/status has it), a node's detail after a click, the held commit
// refused without the token and approved with it, and a BMC stopped later
// shown unreachable without a reload (server-sent events). Screenshots of
// the rack and of a node's detail go to $RACKCTL_SCREENSHOT_DIR, else to
// the test's temporary directory.
func TestWebViewBrowser(t *testing.T) {
	if err := testenv.NeedPrograms("chromium", "ipmi_sim", "ipmitool"); err != nil {
		t.Fatal(err)
	}
	const password, token = "s3cret-sim-pass", "web-approve-token-0123"
	sims := simrack.StartT(t, simrack.Options{N: 5, Password: password})
	root := t.TempDir()
	specFile := simSpec(t, root, "admin", password, sims.BMCs)
	spec := placedSpec(t, specFile)
	tokenFile := filepath.Join(t.TempDir(), "approve-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	repo := testenv.NewGitRepo(t)
	commit := repo.Commit(spec, "five servers")
	stateDir := filepath.Join(root, "var/lib/rackctl")
	listen := freePort(t)
	startRackctl(t, "watch", "--repo", repo.Dir, "--root", root, "--interval", "100ms", "--listen", listen,
		"--timeout", "10s", "--status-interval", "3s", "--approval-poll", "200ms", "--approve-token-file", tokenFile,
		"--dhcp=none", "--provisioner-run=never", "--verify=none")

	// Four installs at once are over the default limit (25%): held.
	waitFor(t, "the commit held", func() bool {
		doc, ok := tryAPIStatus(listen)
		return ok && len(doc.Held) == 1 && doc.Held[0].Commit == commit && doc.Observation.State == api.ObservationObserved
	})
	b := startBrowser(t)
	page := "http://" + listen + "/"
	shots := screenshotDir(t)
	inBrowser(t, b, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#rack svg .slot`)),
		chromedp.WaitVisible(chromedp.CSS(`.held[data-commit="`+commit+`"] button.approve`)))
	checkSlots(t, b, getAPIStatus(t, listen))

	// Refused without the token, nothing approved.
	inBrowser(t, b, chromedp.Click(chromedp.CSS(`.held button.approve`)),
		chromedp.WaitVisible(chromedp.CSS(`#approve-status.error`)))
	if msg := text(t, b, `#approve-status`); !strings.Contains(msg, "missing or wrong approve token") {
		t.Errorf("approve without the token: %q", msg)
	}
	if state.New(stateDir).Approved(commit) {
		t.Fatal("approved without the token")
	}
	inBrowser(t, b, chromedp.SendKeys(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`.held button.approve`)),
		chromedp.WaitVisible(chromedp.CSS(`#approve-status.done`)))
	waitFor(t, "the approved commit applied", func() bool { return historyHas(t, stateDir, commit) })

	// A BMC that stops answering shows on the open page, without a reload.
	if err := sims.Stop(2); err != nil {
		t.Fatal(err)
	}
	inBrowser(t, b, chromedp.WaitVisible(chromedp.CSS(`#rack .slot[data-node="node-2"][data-state="unreachable"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`.held[data-commit]`)))
	doc := getAPIStatus(t, listen)
	checkSlots(t, b, doc)
	saveShot(t, b, filepath.Join(shots, "web-rack.png"), `#rack-section`)

	checkDetail(t, b, doc, "node-0")
	checkMaintenanceMark(t, b, specFile, root, "node-3")
	checkPlanPanel(t, b, listen)
	saveShot(t, b, filepath.Join(shots, "web-node-detail.png"), "")
	checkPrint(t, b, len(doc.Nodes))
	checkPhoneWidth(t, b, `#rack svg`)
	saveShot(t, b, filepath.Join(shots, "web-phone.png"), "")
}

// checkMaintenanceMark: a local maintenance override (rackctl maintenance,
// not in git) shows on the open page without a reload — the slot's mark
// and label, and the node's detail — and goes when it is turned off.
func checkMaintenanceMark(t *testing.T, b context.Context, specFile, root, node string) {
	t.Helper()
	if r := cli(t, "maintenance", "-f", specFile, "--root", root, node, "on", "--reason", "disk swap"); r.code != 0 {
		t.Fatalf("maintenance %s on: exit %d: %s", node, r.code, r.stderr)
	}
	marked := `#rack .slot[data-node="` + node + `"][data-maintenance="local"]`
	inBrowser(t, b, chromedp.WaitVisible(chromedp.CSS(marked)),
		chromedp.Click(chromedp.CSS(marked+` rect`)), chromedp.WaitVisible(chromedp.CSS(`#detail h3[data-node="`+node+`"]`)))
	slot := fromBrowser(t, b, chromedp.Evaluate[domSlot](`(() => { const g = document.querySelector('`+marked+`');
		return {Node: g.dataset.node, State: g.dataset.state, Text: g.textContent, Label: g.getAttribute('aria-label'), Y: 0}; })()`))
	if !strings.Contains(slot.Text, node+" ⚑*") || !strings.Contains(slot.Label, "maintenance on, local override (rackctl maintenance, not in git)") {
		t.Errorf("%s in local maintenance: slot %+v, want the mark ⚑* and the words", node, slot)
	}
	if d := text(t, b, `#detail [data-fact="maintenance"]`); !strings.HasPrefix(d, "on, local override") {
		t.Errorf("%s detail maintenance %q, want the local override", node, d)
	}
	if r := cli(t, "maintenance", "-f", specFile, "--root", root, node, "off"); r.code != 0 {
		t.Fatalf("maintenance %s off: exit %d: %s", node, r.code, r.stderr)
	}
	inBrowser(t, b, chromedp.WaitNotPresent(chromedp.CSS(marked)))
}

// checkPlanPanel: the plan panel shows /api/plan's layers, one entry per
// change, each disruptive change marked and each diff expandable.
func checkPlanPanel(t *testing.T, b context.Context, listen string) {
	t.Helper()
	var plan api.PlanDoc
	waitFor(t, "a plan", func() bool {
		if err := json.Unmarshal([]byte(getBody(t, "http://"+listen+"/api/plan")), &plan); err != nil {
			t.Fatal(err)
		}
		return plan.State == api.PlanPlanned
	})
	// The page re-reads the plan on its event; the last plan is what counts.
	inBrowser(t, b, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#plan-state[data-state="planned"]`)))
	plan = api.PlanDoc{}
	if err := json.Unmarshal([]byte(getBody(t, "http://"+listen+"/api/plan")), &plan); err != nil {
		t.Fatal(err)
	}
	type panel struct{ Layers, Changes, Disruptive, Diffs int }
	got := fromBrowser(t, b, chromedp.Evaluate[panel](`({Layers: document.querySelectorAll('#plan .layer').length,
		Changes: document.querySelectorAll('#plan .layer li').length,
		Disruptive: document.querySelectorAll('#plan .layer li .disruptive').length,
		Diffs: document.querySelectorAll('#plan .layer li details pre.diff').length})`))
	var want panel
	want.Layers = len(plan.Layers)
	for _, l := range plan.Layers {
		for _, g := range l.Nodes {
			for _, c := range g.Changes {
				want.Changes++
				if c.Disruptive {
					want.Disruptive++
				}
				if c.Diff != "" {
					want.Diffs++
				}
			}
		}
	}
	if got != want || want.Changes == 0 {
		t.Errorf("plan panel %+v, want %+v (from /api/plan, at least one change)", got, want)
	}
}

// checkPrint: printed, the page is the rack alone, every slot still named
// with its state in text (no colour to rely on on paper).
func checkPrint(t *testing.T, b context.Context, nodes int) {
	t.Helper()
	media := func(m string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m})
			return err
		})
	}
	inBrowser(t, b, media("print"))
	type printed struct {
		Hidden       []string
		Slots, Named int
	}
	got := fromBrowser(t, b, chromedp.Evaluate[printed](`({
		Hidden: ['#detail-section', '#held-section', '#plan-section', '#history-section', '#rack-section']
			.filter(s => getComputedStyle(document.querySelector(s)).display === 'none'),
		Slots: document.querySelectorAll('#rack .slot').length,
		Named: [...document.querySelectorAll('#rack .slot')].filter(g => g.textContent.includes(g.dataset.state)).length})`))
	inBrowser(t, b, media(""))
	if strings.Join(got.Hidden, " ") != "#detail-section #held-section #plan-section #history-section" || got.Slots != nodes || got.Named != nodes {
		t.Errorf("printed: %+v, want only the rack shown, %d slots with their state in text", got, nodes)
	}
}

// checkPhoneWidth: at a phone's width the page needs no sideways
// scrolling, once sel is shown.
func checkPhoneWidth(t *testing.T, b context.Context, sel string) {
	t.Helper()
	inBrowser(t, b, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.WaitVisible(chromedp.CSS(sel)))
	if w := fromBrowser(t, b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("at 390px wide the page is %dpx wide", w)
	}
}

// tryAPIStatus is /api/status, or false while watch does not answer yet.
func tryAPIStatus(listen string) (api.RackStatus, bool) {
	var doc api.RackStatus
	resp, err := http.Get("http://" + listen + "/api/status")
	if err != nil {
		return doc, false
	}
	defer resp.Body.Close()
	return doc, resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&doc) == nil
}

// placedSpec gives specFile's nodes rack units (node-1 unplaced: list
// order) and excludes node-4.
func placedSpec(t *testing.T, specFile string) string {
	t.Helper()
	b, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for name, extra := range map[string]string{"node-0": "rackUnit: 10", "node-2": "rackUnit: 8", "node-3": "rackUnit: 7", "node-4": "rackUnit: 3, exclude: true"} {
		s = strings.Replace(s, "{name: "+name+",", "{name: "+name+", "+extra+",", 1)
	}
	return s
}

// startRackctl runs rackctl in-process until the test ends; its stderr is
// returned, and logged when the test failed.
func startRackctl(t *testing.T, args ...string) *syncBuffer {
	t.Helper()
	var out, errb syncBuffer
	g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- execute(ctx, g, args) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("rackctl %s stderr:\n%s", args[0], errb.String())
		}
	})
	return &errb
}

// startBrowser starts headless Chromium at 1280×800; the test's cleanup
// ends it. Each step of run has a hang guard, not a speed check.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 800), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil { // starts the browser: no timeout on this context
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

func inBrowser(t *testing.T, b context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	fromBrowser(t, b, chromedp.Steps(actions...))
}

// fromBrowser runs one action and returns its value; a failure shows the
// page's text.
func fromBrowser[T any](t *testing.T, b context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		body, _ := chromedp.Run(b, chromedp.Text(chromedp.CSS(`body`)))
		t.Fatalf("browser: %v\npage text:\n%s", err, body)
	}
	return v
}

func text(t *testing.T, b context.Context, sel string) string {
	t.Helper()
	return fromBrowser(t, b, chromedp.Text(chromedp.CSS(sel)))
}

type domSlot struct {
	Node, State, Text, Label string
	Y                        float64
}

// checkSlots: one slot per node in the elevation, each with the state of
// /api/status as data, as text and as its symbol; placed nodes at their
// unit (higher unit, higher up), the unplaced one in a free unit.
func checkSlots(t *testing.T, b context.Context, doc api.RackStatus) {
	t.Helper()
	slots := fromBrowser(t, b, chromedp.Evaluate[[]domSlot](`[...document.querySelectorAll('#rack .slot')].map(g => ({Node: g.dataset.node,
		State: g.dataset.state, Text: g.textContent, Label: g.getAttribute('aria-label'),
		Y: g.querySelector('rect').y.baseVal.value}))`))
	if len(slots) != len(doc.Nodes) {
		t.Fatalf("%d slots, want %d: %+v", len(slots), len(doc.Nodes), slots)
	}
	symbols := map[string]string{api.StateOK: "✓", api.StatePending: "…", api.StateDrift: "≠", api.StateFailed: "✗",
		api.StateUnreachable: "⚠", api.StateOff: "○", api.StateExcluded: "⊘", api.StateUnknown: "?"}
	y := map[string]float64{}
	for _, s := range slots {
		y[s.Node] = s.Y
	}
	for _, n := range doc.Nodes {
		var s *domSlot
		for i := range slots {
			if slots[i].Node == n.Name {
				s = &slots[i]
			}
		}
		if s == nil {
			t.Errorf("%s: no slot", n.Name)
			continue
		}
		if s.State != n.State || !strings.Contains(s.Text, n.State) || !strings.Contains(s.Text, symbols[n.State]) ||
			!strings.Contains(s.Label, n.State) || !strings.Contains(s.Text, n.Role) {
			t.Errorf("%s: slot %+v, want state %q as data, text and symbol %s, and role %q", n.Name, *s, n.State, symbols[n.State], n.Role)
		}
	}
	if !(y["node-0"] < y["node-2"] && y["node-2"] < y["node-3"] && y["node-3"] < y["node-4"]) {
		t.Errorf("slot heights %v: want node-0 (U10) above node-2 (U8) above node-3 (U7) above node-4 (U3)", y)
	}
	if ex := slotState(slots, "node-4"); ex != api.StateExcluded {
		t.Errorf("node-4: %q, want excluded", ex)
	}
}

func slotState(slots []domSlot, node string) string {
	for _, s := range slots {
		if s.Node == node {
			return s.State
		}
	}
	return ""
}

// checkDetail clicks node's slot and checks its detail against the
// observation /api/status carries.
func checkDetail(t *testing.T, b context.Context, doc api.RackStatus, node string) {
	t.Helper()
	inBrowser(t, b, chromedp.Click(chromedp.CSS(`#rack .slot[data-node="`+node+`"] rect`)),
		chromedp.WaitVisible(chromedp.CSS(`#detail h3[data-node="`+node+`"]`)))
	var obs = doc.Status.Nodes[0]
	for _, n := range doc.Status.Nodes {
		if n.Name == node {
			obs = n
		}
	}
	facts := fromBrowser(t, b, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll('#detail [data-fact]')].map(d => [d.dataset.fact, d.textContent]))`))
	want := map[string]string{"mac": obs.MAC, "bmc_mac": obs.BMCMAC, "bmc_address": obs.BMCAddress, "power": obs.Power,
		"config": obs.Config, "bmc_protocol": "ipmi", "lease": "unknown: " + obs.DHCPLease.Reason, "boot": bootFact(obs.BootDevice)}
	if obs.DHCPLease.State != "unknown" || obs.BootDevice.State != "read" {
		t.Errorf("%s: lease %+v, boot device %+v; want the lease unknown (--dhcp=none), the boot device read", node, obs.DHCPLease, obs.BootDevice)
	}
	for k, v := range want {
		if facts[k] != v {
			t.Errorf("detail %s: %q, want %q (all: %v)", k, facts[k], v, facts)
		}
	}
	if !strings.HasPrefix(facts["install"], obs.Install.State) {
		t.Errorf("detail install %q, want it to start with %q", facts["install"], obs.Install.State)
	}
	cmds := text(t, b, `#detail`)
	for _, c := range []string{"rackctl ipmi " + node + " power status", "rackctl plan --target " + node} {
		if !strings.Contains(cmds, c) {
			t.Errorf("detail lacks the command %q:\n%s", c, cmds)
		}
	}
}

// bootFact is the detail's text of a boot device read (app.js bootText).
func bootFact(b view.BootDevice) string {
	s := b.Device + ", next boot only"
	if b.Persistent {
		s = b.Device + ", persistent"
	}
	if b.EFI {
		s += ", EFI"
	}
	return s
}

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("RACKCTL_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// saveShot saves the element sel, or the whole page when sel is "".
func saveShot(t *testing.T, b context.Context, path, sel string) {
	t.Helper()
	var png []byte
	if sel == "" {
		png = fromBrowser(t, b, chromedp.FullScreenshot(100))
	} else {
		png = fromBrowser(t, b, chromedp.Screenshot(chromedp.CSS(sel)))
	}
	if len(png) < 1000 {
		t.Fatalf("screenshot %s: %d bytes", path, len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}
