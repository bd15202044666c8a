package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rackctl/rackctl/ipam"
)

// testdata/old holds files written by the code before this package existed
// (ipam.SaveState, reconcile.SaveManifest/SaveNodeState/appendHistory/
// acquireLock, rotate.State.Save, watch's appendEvent/saveState/Approve).
// They are not regenerated: an -update would only compare the new code
// with itself. An existing state dir must keep loading, and what is loaded
// must be written back byte for byte.
const oldDir = "testdata/old"

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(oldDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOldFilesRoundTrip loads every file of an old state dir, checks what
// was read, saves it into an empty state dir and compares the bytes.
func TestOldFilesRoundTrip(t *testing.T) {
	old := New(oldDir)
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		file string
		// copy loads from old, checks the value and saves into dst.
		copy func(t *testing.T, dst Dir) error
	}{
		"allocation": {AllocationFile, func(t *testing.T, dst Dir) error {
			s, err := old.LoadAllocation()
			if err != nil {
				return err
			}
			want := ipam.Entry{Node: "node-1", NIC: ipam.BMC, MAC: "aa:bb:cc:dd:ee:12", IP: netip.MustParseAddr("172.24.213.20")}
			if len(s.Entries) != 3 || s.Entries[2] != want {
				t.Errorf("entries = %+v, want 3 ending in %+v", s.Entries, want)
			}
			return dst.SaveAllocation(s)
		}},
		"manifest": {ManifestFile, func(t *testing.T, dst Dir) error {
			m, err := old.LoadManifest()
			if err != nil {
				return err
			}
			if len(m.Files) != 3 || m.Files[0] != (ManagedFile{Path: "etc/hosts", Block: true}) || m.Files[1].Node != "node-1" {
				t.Errorf("manifest = %+v", m)
			}
			return dst.SaveManifest(m)
		}},
		"nodes": {NodesFile, func(t *testing.T, dst Dir) error {
			s, err := old.LoadNodes()
			if err != nil {
				return err
			}
			if s.SSHKeys != "sha256:00ff" || s.Nodes["node-1"] != (NodeRecord{MAC: "aa:bb:cc:dd:ee:11", Reprovision: "2026-11-01", Exclude: true}) {
				t.Errorf("nodes = %+v", s)
			}
			return dst.SaveNodes(s)
		}},
		"rotation": {RotationFile, func(t *testing.T, dst Dir) error {
			s, err := old.LoadRotation()
			if err != nil {
				return err
			}
			if s == nil || s.User != "admin2" || !s.Switched || !s.SwitchedAt.Equal(t0) || s.Nodes["node-0"].Phase != PhaseOldDisabled || s.Nodes["node-1"].Error == "" {
				t.Errorf("rotation = %+v", s)
			}
			return dst.SaveRotation(s)
		}},
		"history": {HistoryFile, func(t *testing.T, dst Dir) error {
			h, err := old.ReadHistory()
			if err != nil {
				return err
			}
			if len(h) != 2 || h[0].Outcome != OutcomeFailed || h[0].Planned != (Counts{1, 2, 3}) || h[0].ChangeSummary() != "+1 ~2 -3 (2 IP)" || h[1].Outcome != OutcomeSuccess {
				t.Errorf("history = %+v", h)
			}
			for _, r := range h {
				if err := dst.AppendHistory(r); err != nil {
					return err
				}
			}
			return nil
		}},
		"watch events": {WatchEventsFile, func(t *testing.T, dst Dir) error {
			evs, err := old.ReadWatchEvents()
			if err != nil {
				return err
			}
			if len(evs) != 3 || evs[0].Outcome != "held" || evs[0].Policy == nil || !evs[0].Policy.OutsideWindow ||
				!slices.Equal(evs[0].Policy.Disruptive["worker"], []string{"w-0", "w-1"}) || evs[0].Planned == nil ||
				len(evs[1].Diagnostics) != 1 || evs[1].Diagnostics[0].Line != 3 || !evs[2].Policy.Approved {
				t.Errorf("events = %+v", evs)
			}
			for _, e := range evs {
				if err := dst.AppendWatchEvent(e); err != nil {
					return err
				}
			}
			return nil
		}},
		"watch state": {WatchStateFile, func(t *testing.T, dst Dir) error {
			last, err := old.LastApplied()
			if err != nil {
				return err
			}
			if last != "0123456789abcdef0123456789abcdef01234567" {
				t.Errorf("last applied = %q", last)
			}
			var s WatchState
			if err := json.Unmarshal(readGolden(t, WatchStateFile), &s); err != nil {
				return err
			}
			return dst.SaveWatchState(s)
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dst := New(t.TempDir())
			if err := tc.copy(t, dst); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst.File(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if want := readGolden(t, tc.file); !bytes.Equal(got, want) {
				t.Errorf("%s written back differs from the old code's:\n got: %s\nwant: %s", tc.file, got, want)
			}
		})
	}
}

// TestOldLockIsHonoured: a lock file written by the old code is read by
// Lock; held by another host, it is refused naming its holder.
func TestOldLockIsHonoured(t *testing.T) {
	raw := readGolden(t, LockFile)
	var holder LockInfo
	if err := json.Unmarshal(raw, &holder); err != nil {
		t.Fatal(err)
	}
	holder.Host = "another-host-than-this"
	b, _ := json.Marshal(holder)
	if !bytes.Equal(append(b, '\n'), bytes.Replace(raw, []byte(`"host":"vm"`), []byte(`"host":"another-host-than-this"`), 1)) {
		t.Fatalf("the old lock's encoding is not LockInfo's:\n%s\n%s", raw, b)
	}
	d := New(t.TempDir())
	if err := os.WriteFile(d.File(LockFile), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := d.Lock(time.Now(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	var le *LockError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock = %v, want a *LockError", err)
	}
	if le.Holder.PID != 11622 || le.Holder.BootID != "bec46a36-85ab-44b7-9b00-b4c71d5714aa" || le.Holder.ProcStart != 1028418 {
		t.Errorf("holder = %+v, want the old lock's", le.Holder)
	}
}

func TestOldApprovalIsSeen(t *testing.T) {
	if !New(oldDir).Approved("0123456789abcdef0123456789abcdef01234567") {
		t.Fatal("the old code's approval file is not seen")
	}
	if New(oldDir).Approved("0123456789abcdef0123456789abcdef01234568") {
		t.Fatal("an unapproved commit is seen as approved")
	}
}
