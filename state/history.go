package state

import (
	"fmt"
	"time"

	"github.com/rackctl/rackctl/internal/atomicfile"
)

// Outcome is how an apply ended.
type Outcome string

const (
	OutcomeSuccess   Outcome = "success"
	OutcomeFailed    Outcome = "failed"
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeRolloutStopped: a wave of the plan's rollout did not become
	// healthy in time; the later waves' nodes were left untouched.
	OutcomeRolloutStopped Outcome = "rollout-stopped"
)

// Counts are a plan's changes by action. They are recorded in
// history.jsonl and watch-events.jsonl, so their JSON names are format.
type Counts struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

// HistoryRecord is one line of history.jsonl.
type HistoryRecord struct {
	Time         time.Time `json:"time"` // when the apply started
	Finished     time.Time `json:"finished"`
	RackName     string    `json:"rackName,omitempty"`
	SpecHash     string    `json:"specHash"`
	Commit       string    `json:"commit,omitempty"`
	Planned      Counts    `json:"planned"`
	Allocations  int       `json:"allocations"`
	Done         int       `json:"done"`
	Failed       int       `json:"failed"`
	NotAttempted int       `json:"notAttempted"`
	// Verified counts the installs the verify phase confirmed by seeing
	// the node run its config (ssh, cluster); installs recorded without
	// looking (--verify flag) are not counted.
	Verified  int     `json:"verified,omitempty"`
	Outcome   Outcome `json:"outcome"`
	Error     string  `json:"error,omitempty"`
	BackupDir string  `json:"backupDir,omitempty"`
	// Rollout is what was done of the plan's waves, when it had any.
	Rollout *RolloutRecord `json:"rollout,omitempty"`
}

// RolloutRecord is what an apply did of a rollout: how many waves it had,
// the last one that became healthy, and the wave that stopped it with
// its unhealthy nodes (node → why).
type RolloutRecord struct {
	Waves     int               `json:"waves"`
	Completed int               `json:"completed"`
	StoppedAt int               `json:"stoppedAt,omitempty"`
	Unhealthy map[string]string `json:"unhealthy,omitempty"`
}

// ChangeSummary is the planned counts, e.g. "+1 ~2 -0", with the number
// of allocation changes when there were any.
func (r HistoryRecord) ChangeSummary() string {
	s := fmt.Sprintf("+%d ~%d -%d", r.Planned.Add, r.Planned.Change, r.Planned.Destroy)
	if r.Allocations > 0 {
		s += fmt.Sprintf(" (%d IP)", r.Allocations)
	}
	return s
}

// AppendHistory adds r as the last line of history.jsonl.
func (d Dir) AppendHistory(r HistoryRecord) error {
	if err := atomicfile.AppendJSONLine(d.File(HistoryFile), r); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// ReadHistory returns the apply records, oldest first. No history file
// means no records.
func (d Dir) ReadHistory() ([]HistoryRecord, error) {
	out, err := atomicfile.ReadJSONLines[HistoryRecord](d.File(HistoryFile))
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return out, nil
}
