package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rackctl/rackctl/internal/simnode"
	"github.com/rackctl/rackctl/internal/termtext"
)

// Boot lines: what the simulated servers did, one line per node per boot
// step, read back from their logs (<node-dir>/<bmc>/log, written by
// internal/simnode). The demo prints them after the apply, so that one can
// see each node go through DHCP, iPXE, Ignition, the install and SSH —
// the steps rackctl's verify relies on — without reading whole logs.

// bootLine is one step of one node.
type bootLine struct {
	time string // the log's HH:MM:SS.mmm (UTC)
	node string
	step string
}

// bootSteps turns a log line's message into a step, "" for a line that is
// not one. The patterns follow the messages of internal/simnode.
var bootSteps = []struct {
	re   *regexp.Regexp
	step func(m []string) string
}{
	{regexp.MustCompile(`^DHCP: (\S+) `), func(m []string) string { return "DHCP lease " + m[1] }},
	{regexp.MustCompile(`^iPXE: kernel (\S+)`), func(m []string) string { return "iPXE script from matchbox: kernel " + filepath.Base(m[1]) }},
	{regexp.MustCompile(`^Ignition ok: (https?://\S+) \(sha256 ([0-9a-f]+)`), func(m []string) string {
		return "Ignition fetched (sha256 " + m[2] + "…)"
	}},
	{regexp.MustCompile(`^Ignition invalid: (.*)`), func(m []string) string { return "Ignition invalid: " + m[1] }},
	{regexp.MustCompile(`^install: hangs`), func([]string) string { return "install hangs (knob)" }},
	{regexp.MustCompile(`^` + regexp.QuoteMeta(simnode.LogInstalled) + `$`), func([]string) string { return "installed to disk, rebooting" }},
	{regexp.MustCompile(`^` + regexp.QuoteMeta(simnode.LogSSHUp) + ` on (\S+)`), func(m []string) string { return "SSH up on " + m[1] }},
	{regexp.MustCompile(`^boot failed: (.*)`), func(m []string) string { return "boot failed: " + m[1] }},
}

// logLine is "HH:MM:SS.mmm NAME: message", as simnode writes its log.
var logLine = regexp.MustCompile(`^(\d\d:\d\d:\d\d\.\d{3}) [^:]+: (.*)$`)

// parseBootLog is node's boot steps from its log, in log order.
func parseBootLog(node string, r io.Reader) ([]bootLine, error) {
	var out []bootLine
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := logLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		for _, s := range bootSteps {
			if sm := s.re.FindStringSubmatch(m[2]); sm != nil {
				out = append(out, bootLine{time: m[1], node: node, step: s.step(sm)})
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("log of %s: %w", node, err)
	}
	return out, nil
}

// writeBootLines prints the boot steps of every server under nodeDir in
// time order, named as the spec names the node behind each BMC (bmcDir's
// inventory.json gives each BMC's MAC, the spec the node with that
// bmcMac); a BMC the spec does not name keeps its own name.
func writeBootLines(w io.Writer, nodeDir, bmcDir, spec string) error {
	names, err := nodeNames(bmcDir, spec)
	if err != nil {
		return err
	}
	dirs, err := os.ReadDir(nodeDir)
	if err != nil {
		return fmt.Errorf("boot lines: %w", err)
	}
	var all []bootLine
	for _, d := range dirs {
		f, err := os.Open(filepath.Join(nodeDir, d.Name(), "log"))
		if err != nil {
			continue // not a server's directory
		}
		node := d.Name()
		if n, ok := names[node]; ok {
			node = n
		}
		lines, err := parseBootLog(node, f)
		f.Close()
		if err != nil {
			return err
		}
		all = append(all, lines...)
	}
	// Logs of one day (the demo's): the clock sorts as text.
	sort.SliceStable(all, func(i, j int) bool { return all[i].time < all[j].time })
	width := 0
	for _, l := range all {
		width = max(width, len(l.node))
	}
	for _, l := range all {
		// The steps quote what servers and matchbox said.
		fmt.Fprintln(w, termtext.Escape(fmt.Sprintf("%s  %-*s  %s", l.time, width, l.node, l.step)))
	}
	return nil
}

// nodeNames maps each BMC's name to the spec's name of the node behind it.
func nodeNames(bmcDir, spec string) (map[string]string, error) {
	out := map[string]string{}
	if bmcDir == "" || spec == "" {
		return out, nil
	}
	inv, err := os.ReadFile(filepath.Join(bmcDir, "inventory.json"))
	if err != nil {
		return nil, fmt.Errorf("boot lines: %w", err)
	}
	var bmcs []simBMC
	if err := json.Unmarshal(inv, &bmcs); err != nil {
		return nil, fmt.Errorf("boot lines: %s: %w", filepath.Join(bmcDir, "inventory.json"), err)
	}
	src, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("boot lines: %w", err)
	}
	var rack struct {
		Nodes []struct {
			Name   string `yaml:"name"`
			BMCMAC string `yaml:"bmcMac"`
		} `yaml:"nodes"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(src)).Decode(&rack); err != nil {
		return nil, fmt.Errorf("boot lines: %s: %w", spec, err)
	}
	for _, b := range bmcs {
		for _, n := range rack.Nodes {
			if strings.EqualFold(n.BMCMAC, b.MAC) {
				out[b.Name] = n.Name
			}
		}
	}
	return out, nil
}
