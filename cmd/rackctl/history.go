package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/internal/termtext"
	"github.com/rackctl/rackctl/reconcile"
	"github.com/rackctl/rackctl/watch"
)

// historyEntry is one line of `rackctl history`: an apply (from
// history.jsonl) or a commit watch did not apply (from watch-events.jsonl:
// rejected, held, skipped, failed).
type historyEntry struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"` // apply | watch
	Commit  string    `json:"commit,omitempty"`
	Author  string    `json:"author,omitempty"`
	Changes string    `json:"changes,omitempty"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`

	Apply *reconcile.HistoryRecord `json:"apply,omitempty"`
	Watch *watch.EventRecord       `json:"watch,omitempty"`
}

func newHistoryCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List past applies and the commits watch rejected, held or skipped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := readHistory(g.stateDir)
			if err != nil {
				return err
			}
			if limit > 0 && len(entries) > limit {
				entries = entries[len(entries)-limit:]
			}
			if g.output == "json" {
				return writeJSON(g.stdout, newHistoryView(entries))
			}
			if len(entries) == 0 {
				fmt.Fprintf(g.stdout, "No applies recorded in %s.\n", g.stateDir)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tCOMMIT\tAUTHOR\tCHANGES\tOUTCOME\tDETAIL")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"),
					termtext.Cell(shortCommit(e.Commit)), termtext.Cell(orDash(e.Author)), termtext.Cell(orDash(e.Changes)), termtext.Cell(e.Outcome), termtext.Cell(firstLine(e.Detail)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many of the newest records (0 = all)")
	return cmd
}

// readHistory merges both logs, oldest first. Watch's applied and
// apply-failed events repeat an apply record, so only their author is used.
func readHistory(stateDir string) ([]historyEntry, error) {
	applies, err := reconcile.ReadHistory(stateDir)
	if err != nil {
		return nil, err
	}
	events, err := watch.ReadEvents(stateDir)
	if err != nil {
		return nil, err
	}
	authors := map[string]string{}
	var out []historyEntry
	for i := range events {
		ev := &events[i]
		if ev.Commit != "" && ev.Author != "" {
			authors[ev.Commit] = ev.Author
		}
		switch ev.Outcome {
		case watch.OutcomeApplied, watch.OutcomeApplyFailed, watch.OutcomeUnchanged:
			continue
		}
		e := historyEntry{Time: ev.Time, Source: "watch", Commit: ev.Commit, Author: ev.Author,
			Outcome: string(ev.Outcome), Detail: ev.Reason, Watch: ev}
		if ev.Planned != nil {
			e.Changes = fmt.Sprintf("+%d ~%d -%d", ev.Planned.Add, ev.Planned.Change, ev.Planned.Destroy)
		}
		out = append(out, e)
	}
	for i := range applies {
		r := &applies[i]
		out = append(out, historyEntry{Time: r.Time, Source: "apply", Commit: r.Commit, Author: authors[r.Commit],
			Changes: r.ChangeSummary(), Outcome: string(r.Outcome), Detail: r.Error, Apply: r})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func shortCommit(c string) string {
	if c == "" {
		return "-"
	}
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
