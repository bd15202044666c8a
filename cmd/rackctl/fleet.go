package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rackctl/rackctl/api"
	"github.com/rackctl/rackctl/engine"
	"github.com/rackctl/rackctl/fleet"
	"github.com/rackctl/rackctl/internal/termtext"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// loadFleet loads every rack of dir and prints the valid racks' warnings
// and, in human output, every problem on stderr; the caller decides what
// the problems mean for its exit code.
func (g *globals) loadFleet(dir string) (*fleet.Fleet, schema.Errors, error) {
	f, diags, err := fleet.Load(g.ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range f.Valid() {
		for _, w := range r.Spec.Rack.Warnings {
			fmt.Fprintf(g.stderr, "warning: %s\n", w)
		}
	}
	if len(diags) > 0 && g.output == "human" {
		fmt.Fprintf(g.stderr, "%s: %d problem%s in %d rack%s:\n", dir, len(diags), plural(len(diags)), len(f.Racks), plural(len(f.Racks)))
		for _, d := range diags {
			fmt.Fprintf(g.stderr, "  %s\n", d)
		}
	}
	return f, diags, nil
}

// validateAll is `validate --all DIR`.
func (g *globals) validateAll(dir string) error {
	f, diags, err := g.loadFleet(dir)
	if err != nil {
		return err
	}
	if g.output == "json" {
		return g.validateAllJSON(f, diags)
	}
	if len(diags) > 0 {
		return exitCodeError{exitError}
	}
	nodes := 0
	for _, r := range f.Racks {
		nodes += len(r.Spec.Rack.Nodes)
	}
	fmt.Fprintf(g.stdout, "%s is valid: %d rack%s, %d nodes, no conflict between racks.\n", dir, len(f.Racks), plural(len(f.Racks)), nodes)
	return nil
}

func (g *globals) validateAllJSON(f *fleet.Fleet, diags schema.Errors) error {
	type rackView struct {
		Dir   string `json:"dir"`
		File  string `json:"file"`
		Name  string `json:"name,omitempty"`
		Valid bool   `json:"valid"`
	}
	out := struct {
		Valid  bool                `json:"valid"`
		Dir    string              `json:"dir"`
		Racks  []rackView          `json:"racks"`
		Errors []schema.Diagnostic `json:"errors"`
	}{Valid: len(diags) == 0, Dir: f.Dir, Racks: []rackView{}, Errors: append([]schema.Diagnostic{}, diags...)}
	for _, r := range f.Racks {
		v := rackView{Dir: r.Dir, File: r.File, Valid: r.Spec != nil}
		if r.Spec != nil {
			v.Name = r.Spec.Rack.Name
		}
		out.Racks = append(out.Racks, v)
	}
	if err := writeJSON(g.stdout, out); err != nil {
		return err
	}
	if !out.Valid {
		return exitCodeError{exitError}
	}
	return nil
}

// fleetPlan is one rack's line of `plan --all`.
type fleetPlan struct {
	Dir     string                           `json:"dir"`
	Rack    string                           `json:"rack"`
	Root    string                           `json:"root"` // "" for an empty state
	Nodes   int                              `json:"nodes"`
	Counts  state.Counts                     `json:"counts"`
	ByLayer map[reconcile.Layer]state.Counts `json:"by_layer"`
	Plan    *reconcile.Plan                  `json:"-"`
}

// planAll is `plan --all DIR`: each rack planned by the file layer alone
// (no BMC, DHCP, provisioner or verify driver), against its root under
// --roots when there is one, else against an empty state; nothing is
// planned when a rack is invalid.
func (g *globals) planAll(ctx context.Context, pf *planFlags) error {
	dir := pf.all
	f, diags, err := g.loadFleet(dir)
	if err != nil {
		return err
	}
	if len(diags) > 0 {
		if g.output == "json" {
			return g.validateAllJSON(f, diags)
		}
		return exitCodeError{exitError}
	}
	var plans []fleetPlan
	for _, r := range f.Racks {
		fp, err := g.planRackFiles(ctx, r, pf.roots)
		if err != nil {
			return fmt.Errorf("rack %s (%s): %w", r.Spec.Rack.Name, r.File, err)
		}
		plans = append(plans, fp)
	}
	if g.output == "json" {
		err = writeJSON(g.stdout, struct {
			FormatVersion string      `json:"format_version"`
			Dir           string      `json:"dir"`
			Racks         []fleetPlan `json:"racks"`
		}{"1.0", dir, plans})
	} else {
		writeFleetPlans(g, plans)
	}
	if err != nil {
		return err
	}
	for _, p := range plans {
		if pf.detailedExitcode && p.Plan.HasChanges() {
			return exitCodeError{exitChanges}
		}
	}
	return nil
}

// fileLayerOnly are the drivers of `plan --all`: the driver flags'
// defaults with every layer after files off, so nothing but the files
// under the root is read.
func fileLayerOnly() engine.DriverConfig {
	var d engine.DriverConfig
	registerDriverFlags(pflag.NewFlagSet("plan --all", pflag.ContinueOnError), &d)
	d.DHCP, d.BMC, d.ProvisionerRun, d.Verify = "none", "none", string(reconcile.ProvisionerNever), "none"
	return d
}

func (g *globals) planRackFiles(ctx context.Context, r fleet.Rack, roots string) (fleetPlan, error) {
	fp := fleetPlan{Dir: r.Dir, Rack: r.Spec.Rack.Name, Nodes: len(r.Spec.Rack.Nodes)}
	root := ""
	if roots != "" {
		if st, err := os.Stat(filepath.Join(roots, r.Dir)); err == nil && st.IsDir() {
			root = filepath.Join(roots, r.Dir)
		}
	}
	fp.Root = root
	if root == "" {
		empty, err := os.MkdirTemp("", "rackctl-plan-all-")
		if err != nil {
			return fp, err
		}
		defer os.RemoveAll(empty)
		root = empty
	}
	eng, err := engine.New(engine.Config{SpecFile: r.File, Root: root, StateDir: filepath.Join(root, state.DefaultDir),
		Timeout: g.timeout, Parallel: g.parallel, Drivers: fileLayerOnly(), Log: g.log})
	if err != nil {
		return fp, err
	}
	s, err := eng.Open(r.Spec.Rack)
	if err != nil {
		return fp, err
	}
	p, err := s.Plan(ctx, nil, "")
	if err != nil {
		return fp, err
	}
	fp.Plan, fp.Counts, fp.ByLayer = p, p.Counts(), p.CountsByLayer()
	return fp, nil
}

// writeFleetPlans prints one line per rack: its nodes, the plan's counts
// and, per layer in apply order, what would change.
func writeFleetPlans(g *globals, plans []fleetPlan) {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RACK\tNODES\tSTATE\tADD\tCHANGE\tDESTROY\tBY LAYER")
	for _, p := range plans {
		against := "empty"
		if p.Root != "" {
			against = p.Root
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\n", termtext.Cell(p.Rack), p.Nodes, termtext.Cell(against),
			p.Counts.Add, p.Counts.Change, p.Counts.Destroy, byLayer(p.ByLayer))
	}
	tw.Flush()
	fmt.Fprintln(g.stdout, "\nFile layer only: no BMC, DHCP server, provisioner or node was contacted.")
}

// byLayer is "files +3 ~1 -0, flags +2" in apply order; "no changes" when
// there are none.
func byLayer(m map[reconcile.Layer]state.Counts) string {
	var parts []string
	for _, l := range reconcile.Layers {
		if c, ok := m[l]; ok {
			parts = append(parts, fmt.Sprintf("%s +%d ~%d -%d", l, c.Add, c.Change, c.Destroy))
		}
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

type fleetStatusFlags struct {
	endpoints string
}

func newFleetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Work with a fleet of racks kept in one repository (docs/fleet.md)",
		Args:  cobra.NoArgs,
	}
	var sf fleetStatusFlags
	status := &cobra.Command{
		Use:   "status",
		Short: "One table of every rack: reachable, commit applied, nodes, held commits",
		Long: `fleet status reads GET /api/status (docs/api.md) of every rack's watch
listed in the endpoints file (docs/fleet.md), all at once, each request
bounded by --timeout: a rack that does not answer in time is shown as
unreachable and delays no other. A rack's commit and node counts are shown
only as its API reported them; an unreachable rack's are unknown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.fleetStatus(cmd.Context(), &sf)
		},
	}
	status.Flags().StringVar(&sf.endpoints, "endpoints", "", "YAML or JSON file listing the racks: racks: [{name, url}] (docs/fleet.md)")
	cmd.AddCommand(status)
	return cmd
}

func (g *globals) fleetStatus(ctx context.Context, sf *fleetStatusFlags) error {
	if sf.endpoints == "" {
		return fmt.Errorf("fleet status: --endpoints is required: a file listing each rack's name and watch URL (docs/fleet.md)")
	}
	eps, err := fleet.LoadEndpoints(ctx, sf.endpoints)
	if err != nil {
		return g.printDiagnostics(sf.endpoints, err)
	}
	racks := fleet.Query(ctx, &http.Client{}, eps, g.timeout)
	if g.output == "json" {
		return writeJSON(g.stdout, struct {
			FormatVersion string             `json:"format_version"`
			GeneratedAt   time.Time          `json:"generated_at"`
			Racks         []fleet.RackStatus `json:"racks"`
		}{"1.0", time.Now().UTC(), racks})
	}
	writeFleetStatus(g, racks)
	return nil
}

func writeFleetStatus(g *globals, racks []fleet.RackStatus) {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RACK\tREACHABLE\tCOMMIT\tOK\tFAILED\tOTHER\tHELD\tNOTE")
	for _, r := range racks {
		if !r.Reachable {
			fmt.Fprintf(tw, "%s\tno\tunknown\t-\t-\t-\t-\t%s\n", termtext.Cell(r.Name), termtext.Cell(r.Error))
			continue
		}
		fmt.Fprintf(tw, "%s\tyes\t%s\t%d\t%d\t%d\t%d\t%s\n", termtext.Cell(r.Name), termtext.Cell(appliedCell(r.Commit)),
			r.Nodes.OK, r.Nodes.Failed, r.Nodes.Other, len(r.Held), termtext.Cell(fleetNote(r)))
	}
	tw.Flush()
}

// appliedCell is the COMMIT of a reachable rack: "none" before its watch
// applied one.
func appliedCell(commit string) string {
	if commit == "" {
		return "none"
	}
	return shortCommit(commit)
}

// fleetNote says what a reachable rack's row alone does not.
func fleetNote(r fleet.RackStatus) string {
	var notes []string
	switch r.Rack {
	case "":
		notes = append(notes, "no valid spec read yet")
	case r.Name:
	default:
		notes = append(notes, fmt.Sprintf("serves rack %q", r.Rack))
	}
	switch r.Observation {
	case api.ObservationPending:
		notes = append(notes, "nodes not observed yet")
	case api.ObservationFailed:
		notes = append(notes, "last node observation failed")
	}
	if r.Status.Watch == nil {
		notes = append(notes, "no watch loop")
	} else if r.Status.Watch.LastError != "" && r.Status.Watch.Failures > 0 {
		notes = append(notes, fmt.Sprintf("%d failure%s: %s", r.Status.Watch.Failures, plural(r.Status.Watch.Failures), firstLine(r.Status.Watch.LastError)))
	}
	if len(r.Held) > 0 {
		notes = append(notes, "held "+shortCommit(r.Held[0]))
	}
	return strings.Join(notes, "; ")
}
