package reconcile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/state"
)

type verifierFunc func(ctx context.Context, node string) error

func (f verifierFunc) Verify(ctx context.Context, node string) error { return f(ctx, node) }

// recorderFunc is an InstallRecorder that fails with its error.
type recorderFunc func(node string, r state.InstallRecord) error

func (f recorderFunc) RecordInstall(node string, r state.InstallRecord) error { return f(node, r) }

// TestVerifyRecordsOutcome: every verify outcome is kept in installs.json
// with the server's MAC, how it was verified, when, why and the plan's
// commit; a failed verify writes no flag file.
func TestVerifyRecordsOutcome(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		verifier Verifier
		mode     string
		want     state.InstallRecord
		wantErr  string
		wantFlag bool
	}{
		"observed": {
			verifier: verifierFunc(func(context.Context, string) error { return nil }), mode: "ssh",
			want:     state.InstallRecord{Outcome: state.InstallInstalled, MAC: "02:00:00:00:00:01", Verify: "ssh", Time: t0, Commit: "abc1234"},
			wantFlag: true,
		},
		"assumed": {
			mode:     "flag",
			want:     state.InstallRecord{Outcome: state.InstallInstalled, MAC: "02:00:00:00:00:01", Verify: "flag", Time: t0, Commit: "abc1234"},
			wantFlag: true,
		},
		"failed": {
			verifier: verifierFunc(func(context.Context, string) error { return errors.New("timed out after 25s: no SSH") }), mode: "ssh",
			want: state.InstallRecord{Outcome: state.InstallFailed, MAC: "02:00:00:00:00:01", Verify: "ssh", Time: t0, Commit: "abc1234",
				Reason: "verify n: timed out after 25s: no SSH"},
			wantErr: "timed out after 25s",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			root, sd := t.TempDir(), state.New(t.TempDir())
			e := &VerifyExecutor{Root: root, Verifier: tc.verifier, Outcomes: sd, Mode: tc.mode, Now: func() time.Time { return t0 }}
			if err := e.Prepare(&Plan{Commit: "abc1234"}); err != nil {
				t.Fatal(err)
			}
			err := e.Apply(context.Background(), verifyChange())
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Apply: %v, want error %q", err, tc.wantErr)
			}
			got, err := sd.LoadInstalls()
			if err != nil {
				t.Fatal(err)
			}
			if got.Nodes["n"] != tc.want {
				t.Errorf("record = %+v, want %+v", got.Nodes["n"], tc.want)
			}
			_, ferr := os.Stat(filepath.Join(root, verifyChange().Detail.FlagFile))
			if (ferr == nil) != tc.wantFlag {
				t.Errorf("flag file there = %v, want %v", ferr == nil, tc.wantFlag)
			}
		})
	}
}

// TestVerifyRecordFailureFailsNode: an outcome that cannot be kept fails
// the node and writes no flag file (a flag file without its record would
// read as an install rackctl did not see).
func TestVerifyRecordFailureFailsNode(t *testing.T) {
	root := t.TempDir()
	e := &VerifyExecutor{Root: root, Mode: "ssh",
		Verifier: verifierFunc(func(context.Context, string) error { return nil }),
		Outcomes: recorderFunc(func(string, state.InstallRecord) error { return errors.New("disk full") })}
	err := e.Apply(context.Background(), verifyChange())
	if err == nil || !strings.Contains(err.Error(), "record the outcome: disk full") {
		t.Errorf("Apply: %v, want the recording's error", err)
	}
	if _, err := os.Stat(filepath.Join(root, verifyChange().Detail.FlagFile)); err == nil {
		t.Errorf("flag file written though its outcome was not recorded")
	}
}

func verifyChange() Change {
	return Change{Layer: LayerVerify, Action: ActionVerify, Node: "n", Address: "verify:n",
		Detail: &Detail{FlagFile: "home/core/flatcar-container-linux/assets/02:00:00:00:00:01", MAC: "02:00:00:00:00:01", FQDN: "n.example"}}
}
