package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/internal/termtext"
	"github.com/rackctl/rackctl/notify"
	"github.com/rackctl/rackctl/state"
)

// notifyDrainTimeout is how long a stopping watch gives queued
// notifications to go.
const notifyDrainTimeout = 5 * time.Second

// notifier starts the targets of the config's notifications: section;
// nil when there are none. rack names the rack in each event (nil: none).
func (g *globals) notifier(source string, rack func() string) (*notify.Notifier, error) {
	if len(g.notifications) == 0 {
		return nil, nil
	}
	var targets []notify.TargetConfig
	for _, n := range g.notifications {
		targets = append(targets, n.TargetConfig)
	}
	host, _ := os.Hostname()
	n, err := notify.New(notify.Config{Targets: targets, Log: g.log,
		Origin: notify.Origin{Host: host, Source: source, Rack: rack, ApproveCommand: g.approveCommand}})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.configPath, err)
	}
	return n, nil
}

func closeNotifier(n *notify.Notifier) {
	if n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyDrainTimeout)
	defer cancel()
	n.Close(ctx)
}

// approveCommand is the command line that approves commit on this
// management node: --state-dir only when it is not the default.
func (g *globals) approveCommand(commit string) string {
	cmd := "rackctl approve " + commit
	if g.stateDir != filepath.Join("/", state.DefaultDir) {
		cmd = "rackctl --state-dir " + shellQuote(g.stateDir) + " approve " + commit
	}
	return cmd
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote makes s one word for a POSIX shell.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newNotifyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Check the notification targets of 'rackctl watch'",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	var target string
	test := &cobra.Command{
		Use:   "test",
		Short: "Send a test event to every notification target (or one)",
		Long: `test sends one event of kind "test" to each target of the config's
notifications: section (or only --target), once, without retries, and says
how each went; exit 1 when any failed. The event has the shape of every
other (docs/notifications.md), signed like them when the target has a
secretFile.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.notifyTest(cmd.Context(), target)
		},
	}
	test.Flags().StringVar(&target, "target", "", "name of the one target to test")
	cmd.AddCommand(test)
	return cmd
}

// testResult is one target's outcome, as `notify test -o json` shows it.
type testResult struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

func (g *globals) notifyTest(ctx context.Context, target string) error {
	if len(g.notifications) == 0 {
		where := g.configPath
		if where == "" {
			where = "the config (none found; 'rackctl init' writes one)"
		}
		return fmt.Errorf("no notification targets in %s: add a notifications: section (docs/notifications.md)", where)
	}
	n, err := g.notifier("rackctl notify test", nil)
	if err != nil {
		return err
	}
	defer closeNotifier(n)
	host, _ := os.Hostname()
	ev := notify.TestEvent(time.Now(), notify.Origin{Host: host, Source: "rackctl notify test"})
	var results []testResult
	for _, t := range g.notifications {
		if target != "" && t.Name != target {
			continue
		}
		r := testResult{Target: t.Name, Kind: string(t.Kind), OK: true}
		if err := n.SendNow(ctx, t.Name, ev); err != nil {
			r.OK, r.Error = false, err.Error()
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		return fmt.Errorf("--target %s: %w (targets: %s)", target, notify.ErrUnknownTarget, strings.Join(n.Targets(), ", "))
	}
	if err := g.printTestResults(results); err != nil {
		return err
	}
	for _, r := range results {
		if !r.OK {
			return exitCodeError{exitError}
		}
	}
	return nil
}

func (g *globals) printTestResults(results []testResult) error {
	if g.output == "json" {
		return writeJSON(g.stdout, results)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tKIND\tRESULT")
	for _, r := range results {
		res := "sent"
		if !r.OK {
			res = "failed: " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", termtext.Cell(r.Target), r.Kind, termtext.Cell(res))
	}
	return tw.Flush()
}
