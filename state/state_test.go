package state

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackctl/rackctl/ipam"
)

func entries(n int) []ipam.Entry {
	var es []ipam.Entry
	for i := range n {
		es = append(es,
			ipam.Entry{Node: fmt.Sprintf("node-%d", i), NIC: ipam.Primary, MAC: fmt.Sprintf("aa:bb:cc:dd:ee:%02x", 2*i), IP: netip.AddrFrom4([4]byte{172, 24, 213, byte(10 + i)})},
			ipam.Entry{Node: fmt.Sprintf("node-%d", i), NIC: ipam.BMC, MAC: fmt.Sprintf("aa:bb:cc:dd:ee:%02x", 2*i+1), IP: netip.AddrFrom4([4]byte{172, 24, 213, byte(100 + i)})})
	}
	return es
}

func TestAllocationRoundTrip(t *testing.T) {
	d := New(filepath.Join(t.TempDir(), "sub"))
	s, err := d.LoadAllocation()
	if err != nil || len(s.Entries) != 0 || s.Version != ipam.StateVersion {
		t.Fatalf("missing file: %+v %v, want an empty state", s, err)
	}
	next := ipam.State{Version: ipam.StateVersion, Entries: entries(5)}
	ipam.SortEntries(next.Entries)
	if err := d.SaveAllocation(next); err != nil {
		t.Fatal(err)
	}
	got, err := d.LoadAllocation()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, next) {
		t.Fatalf("round trip: %v != %v", got, next)
	}
	// Stable bytes regardless of entry order.
	slices.Reverse(next.Entries)
	d2 := New(t.TempDir())
	if err := d2.SaveAllocation(next); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(d.File(AllocationFile))
	b, _ := os.ReadFile(d2.File(AllocationFile))
	if string(a) != string(b) {
		t.Fatalf("not stable:\n%s\n%s", a, b)
	}
	if fi, err := os.Stat(d.File(AllocationFile)); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v; want 0644", fi.Mode(), err)
	}
}

// TestLoadRefusesBadFiles: every JSON state file is refused, naming its
// path, when it is not JSON, has another version, has fields this rackctl
// does not know (a newer writer) or entries that would be acted on wrongly.
func TestLoadRefusesBadFiles(t *testing.T) {
	load := map[string]func(Dir) error{
		AllocationFile: func(d Dir) error { _, err := d.LoadAllocation(); return err },
		ManifestFile:   func(d Dir) error { _, err := d.LoadManifest(); return err },
		NodesFile:      func(d Dir) error { _, err := d.LoadNodes(); return err },
		RotationFile:   func(d Dir) error { _, err := d.LoadRotation(); return err },
		WatchStateFile: func(d Dir) error { _, err := d.LastApplied(); return err },
	}
	tests := map[string]struct {
		file, content string
	}{
		"allocation garbage":            {AllocationFile, "{"},
		"allocation version":            {AllocationFile, `{"version": 9, "entries": []}`},
		"allocation unknown key":        {AllocationFile, `{"version": 1, "entries": [], "x": 1}`},
		"allocation entry without ip":   {AllocationFile, `{"version": 1, "entries": [{"node": "a", "nic": "primary", "mac": ""}]}`},
		"allocation unknown nic":        {AllocationFile, `{"version": 1, "entries": [{"node": "a", "nic": "ilo", "mac": "", "ip": "10.0.0.1"}]}`},
		"allocation entry without node": {AllocationFile, `{"version": 1, "entries": [{"node": "", "nic": "bmc", "mac": "", "ip": "10.0.0.1"}]}`},
		"manifest garbage":              {ManifestFile, "[]"},
		"manifest version":              {ManifestFile, `{"version": 2, "files": []}`},
		"manifest unknown key":          {ManifestFile, `{"version": 1, "files": [{"path": "a", "mode": 1}]}`},
		"manifest absolute path":        {ManifestFile, `{"version": 1, "files": [{"path": "/etc/passwd"}]}`},
		"manifest path out of root":     {ManifestFile, `{"version": 1, "files": [{"path": "../etc/passwd"}]}`},
		"manifest path ..":              {ManifestFile, `{"version": 1, "files": [{"path": ".."}]}`},
		"manifest unclean path":         {ManifestFile, `{"version": 1, "files": [{"path": "etc/../../x"}]}`},
		"manifest backslash path":       {ManifestFile, `{"version": 1, "files": [{"path": "etc\\hosts"}]}`},
		"manifest empty path":           {ManifestFile, `{"version": 1, "files": [{"path": ""}]}`},
		"nodes version":                 {NodesFile, `{"version": 2, "nodes": {}}`},
		"nodes unknown key":             {NodesFile, `{"version": 1, "nodes": {}, "installed": []}`},
		"rotation garbage":              {RotationFile, `{"formatVersion":`},
		"rotation version":              {RotationFile, `{"formatVersion": 2, "user": "a", "oldUser": "b", "nodes": {}}`},
		"watch state garbage":           {WatchStateFile, `lastApplied=abc`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := New(t.TempDir())
			path := d.File(tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := load[tc.file](d); err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want one naming %s", err, path)
			}
		})
	}
}

// TestMissingFilesAreEmpty: a state dir that does not exist yet (a rack
// never applied) loads as empty records, not errors.
func TestMissingFilesAreEmpty(t *testing.T) {
	d := New(filepath.Join(t.TempDir(), "never-made"))
	if m, err := d.LoadManifest(); err != nil || m.Version != ManifestVersion || len(m.Files) != 0 {
		t.Errorf("manifest: %+v, %v", m, err)
	}
	if s, err := d.LoadNodes(); err != nil || s.Version != 0 {
		t.Errorf("nodes: %+v, %v", s, err)
	}
	if r, err := d.LoadRotation(); err != nil || r != nil {
		t.Errorf("rotation: %+v, %v", r, err)
	}
	if h, err := d.ReadHistory(); err != nil || h != nil {
		t.Errorf("history: %+v, %v", h, err)
	}
	if e, err := d.ReadWatchEvents(); err != nil || e != nil {
		t.Errorf("events: %+v, %v", e, err)
	}
	if l, err := d.LastApplied(); err != nil || l != "" {
		t.Errorf("last applied: %q, %v", l, err)
	}
	if _, err := os.Stat(d.Path()); !os.IsNotExist(err) {
		t.Errorf("loading created the state dir: %v", err)
	}
}

// TestRotationIsPrivate: rotation.json names accounts and slots; it is
// 0600 and a state dir it creates is 0700.
func TestRotationIsPrivate(t *testing.T) {
	d := New(filepath.Join(t.TempDir(), "state"))
	if err := d.SaveRotation(&Rotation{FormatVersion: RotationFormatVersion, User: "admin2", OldUser: "admin", Nodes: map[string]RotationNode{}}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{d.File(RotationFile): 0o600, d.Path(): 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
}

// TestApprovalNames: a commit name becomes a file name under approvals/;
// names that would leave it or are no names are refused on every path.
func TestApprovalNames(t *testing.T) {
	tests := map[string]struct {
		commit string
		ok     bool
	}{
		"full hash":  {"0123456789abcdef0123456789abcdef01234567", true},
		"empty":      {"", false},
		"dot":        {".", false},
		"dot dot":    {"..", false},
		"slash":      {"../../etc/cron.d/x", false},
		"backslash":  {`a\b`, false},
		"nul":        {"abc\x00def", false},
		"too long":   {strings.Repeat("a", 201), false},
		"longest ok": {strings.Repeat("a", 200), true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Targets a name that escapes approvals/ would reach: the
			// state dir itself and a planted file outside it.
			base := t.TempDir()
			d := New(filepath.Join(base, "state"))
			planted := filepath.Join(base, "etc", "cron.d", "x")
			for _, dir := range []string{filepath.Join(d.Path(), ApprovalsDir), filepath.Dir(planted)} {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(planted, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			err := d.WriteApproval(tc.commit)
			if (err == nil) != tc.ok {
				t.Fatalf("WriteApproval(%q) = %v, want ok %v", tc.commit, err, tc.ok)
			}
			if got := d.Approved(tc.commit); got != tc.ok {
				t.Errorf("Approved = %v, want %v", got, tc.ok)
			}
			if !tc.ok {
				// Nothing may have been written anywhere under base.
				var found []string
				filepath.WalkDir(base, func(p string, e os.DirEntry, _ error) error {
					if e != nil && !e.IsDir() && p != planted {
						found = append(found, p)
					}
					return nil
				})
				if len(found) > 0 {
					t.Errorf("a refused approval wrote %v", found)
				}
				if err := d.RemoveApproval(tc.commit); err == nil {
					t.Errorf("RemoveApproval(%q) accepted the name", tc.commit)
				}
				return
			}
			if err := d.RemoveApproval(tc.commit); err != nil || d.Approved(tc.commit) {
				t.Errorf("RemoveApproval = %v, approved after: %v", err, d.Approved(tc.commit))
			}
			if err := d.RemoveApproval(tc.commit); err != nil {
				t.Errorf("removing a missing approval: %v", err)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	d := New("/var/lib/rackctl")
	for got, want := range map[string]string{
		d.File(AllocationFile): "/var/lib/rackctl/allocation.json",
		d.GitSourceDir():       "/var/lib/rackctl/source/git",
		d.ApprovalPath("abc"):  "/var/lib/rackctl/approvals/abc",
		d.BackupDir(time.Date(2026, 12, 2, 13, 4, 5, 600, time.FixedZone("x", 3600))): "/var/lib/rackctl/backups/20261202T120405.000000600Z",
	} {
		if got != want {
			t.Errorf("path %s, want %s", got, want)
		}
	}
}

// TestDigest: the digest names one file of the state dir; a name from an
// edited saved plan that reaches elsewhere is refused, not read.
func TestDigest(t *testing.T) {
	base := t.TempDir()
	d := New(filepath.Join(base, "state"))
	if err := d.SaveNodes(NodeState{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		name   string
		found  bool
		digest string
		bad    bool
	}{
		"present":   {name: NodesFile, found: true, digest: "sha256:"},
		"missing":   {name: AllocationFile},
		"empty":     {name: "", bad: true},
		"dot":       {name: ".", bad: true},
		"dot dot":   {name: "..", bad: true},
		"parent":    {name: "../secret", bad: true},
		"subdir":    {name: "approvals/x", bad: true},
		"backslash": {name: `..\secret`, bad: true},
		"nul":       {name: "nodes.json\x00", bad: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h, found, err := d.Digest(tc.name)
			if (err != nil) != tc.bad || found != tc.found || !strings.HasPrefix(h, tc.digest) || (tc.found && len(h) != len("sha256:")+64) {
				t.Fatalf("Digest(%q) = %q, %v, %v; want found %v, error %v", tc.name, h, found, err, tc.found, tc.bad)
			}
		})
	}
}

// TestManifestSavedSorted: managed-files.json is sorted by path without
// duplicates whatever order the caller built it in, so equal manifests are
// equal bytes.
func TestManifestSavedSorted(t *testing.T) {
	d := New(t.TempDir())
	m := Manifest{Files: []ManagedFile{{Path: "z"}, {Path: "a", Node: "n"}, {Path: "m", Block: true}, {Path: "a", Node: "n"}}}
	if err := d.SaveManifest(m); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(d.File(ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "version": 1,
  "files": [
    {
      "path": "a",
      "node": "n"
    },
    {
      "path": "m",
      "block": true
    },
    {
      "path": "z"
    }
  ]
}
`
	if string(b) != want {
		t.Fatalf("saved:\n%s\nwant:\n%s", b, want)
	}
	if len(m.Files) != 4 || m.Files[0].Path != "z" {
		t.Errorf("SaveManifest changed the caller's slice: %+v", m.Files)
	}
}
