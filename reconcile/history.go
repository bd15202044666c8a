package reconcile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Outcome is how an apply ended.
type Outcome string

const (
	OutcomeSuccess   Outcome = "success"
	OutcomeFailed    Outcome = "failed"
	OutcomeCancelled Outcome = "cancelled"
)

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
	Outcome      Outcome   `json:"outcome"`
	Error        string    `json:"error,omitempty"`
	BackupDir    string    `json:"backupDir,omitempty"`
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

func appendHistory(stateDir string, r HistoryRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(stateDir, HistoryFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("history: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// ReadHistory returns the apply records of stateDir, oldest first. No
// history file means no records.
func ReadHistory(stateDir string) ([]HistoryRecord, error) {
	path := filepath.Join(stateDir, HistoryFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	var out []HistoryRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r HistoryRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("read history %s:%d: %w", path, line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history %s: %w", path, err)
	}
	return out, nil
}
