package state

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var updateInstalls = flag.Bool("update", false, "rewrite testdata/installs.json")

// TestInstallsGolden records a failed and an installed node and compares
// the file with testdata/installs.json (go test ./state -run Golden -update
// rewrites it); loading the golden gives the same records back.
func TestInstallsGolden(t *testing.T) {
	d := New(t.TempDir())
	t0 := time.Date(2026, 12, 2, 15, 40, 0, 0, time.FixedZone("CET", 3600))
	recs := map[string]InstallRecord{
		"node-0": {Outcome: InstallInstalled, MAC: "02:00:00:00:00:01", Verify: "ssh", Time: t0, Commit: "0123abc"},
		"node-1": {Outcome: InstallFailed, MAC: "02:00:00:00:01:01", Verify: "ssh", Time: t0.Add(25 * time.Second),
			Reason: "timed out after 25s: node node-1 did not report a finished Ignition run in time"},
	}
	for _, n := range []string{"node-1", "node-0"} {
		if err := d.RecordInstall(n, recs[n]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(d.File(InstallsFile))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", InstallsFile)
	if *updateInstalls {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("installs.json differs from %s (-update rewrites it):\n%s", golden, got)
	}
	loaded, err := New("testdata").LoadInstalls()
	if err != nil {
		t.Fatal(err)
	}
	for n, r := range recs {
		r.Time = r.Time.UTC()
		if l := loaded.Nodes[n]; l != r {
			t.Errorf("%s loaded as %+v, want %+v", n, l, r)
		}
	}
}

// TestInstallsLastOutcomeWins: a node's later verify replaces its earlier
// one, other nodes' records are kept.
func TestInstallsLastOutcomeWins(t *testing.T) {
	d := New(t.TempDir())
	t0 := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	steps := []struct {
		node string
		rec  InstallRecord
	}{
		{"a", InstallRecord{Outcome: InstallFailed, MAC: "m", Verify: "ssh", Time: t0, Reason: "timed out"}},
		{"b", InstallRecord{Outcome: InstallInstalled, MAC: "n", Verify: "ssh", Time: t0}},
		{"a", InstallRecord{Outcome: InstallInstalled, MAC: "m", Verify: "ssh", Time: t0.Add(time.Minute)}},
	}
	for _, s := range steps {
		if err := d.RecordInstall(s.node, s.rec); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.LoadInstalls()
	if err != nil {
		t.Fatal(err)
	}
	if got.Nodes["a"] != steps[2].rec || got.Nodes["b"] != steps[1].rec || len(got.Nodes) != 2 {
		t.Errorf("records = %+v, want a installed at t0+1m and b installed", got.Nodes)
	}
}

// TestInstallsConcurrent: the verify layer records nodes in parallel;
// none of them may be lost to another's read-modify-write.
func TestInstallsConcurrent(t *testing.T) {
	d := New(t.TempDir())
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.RecordInstall(fmt.Sprintf("node-%d", i), InstallRecord{Outcome: InstallInstalled, MAC: "m", Verify: "ssh", Time: time.Now()}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := d.LoadInstalls()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Nodes) != 16 {
		t.Errorf("%d records after 16 parallel ones", len(got.Nodes))
	}
}

// TestInstallsBounded: the reason is cut on a character boundary and made
// valid UTF-8, and the oldest records beyond the limit are dropped.
func TestInstallsBounded(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantLen int // at most
		suffix  string
	}{
		"short kept":            {in: "timed out", wantLen: 9, suffix: "out"},
		"ascii cut":             {in: strings.Repeat("x", 5000), wantLen: MaxInstallReason, suffix: "…"},
		"multibyte cut whole":   {in: strings.Repeat("é", 3000), wantLen: MaxInstallReason, suffix: "…"},
		"invalid utf-8 cleaned": {in: "bad \xff\xfe byte", wantLen: 20, suffix: "byte"},
		// Cleaned before it is cut: JSON would turn each bad byte into a
		// 3-byte U+FFFD after the cut and break the bound.
		"invalid run in bound": {in: strings.Repeat("x", 1000) + strings.Repeat("\xff", 100), wantLen: MaxInstallReason, suffix: "\uFFFD"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := New(t.TempDir())
			if err := d.RecordInstall("n", InstallRecord{Outcome: InstallFailed, Reason: tc.in, Time: time.Now()}); err != nil {
				t.Fatal(err)
			}
			got, err := d.LoadInstalls()
			if err != nil {
				t.Fatal(err)
			}
			r := got.Nodes["n"].Reason
			if len(r) > tc.wantLen || !utf8.ValidString(r) || !strings.HasSuffix(r, tc.suffix) {
				t.Errorf("reason %q (%d bytes): want valid UTF-8, at most %d bytes, ending in %q", r, len(r), tc.wantLen, tc.suffix)
			}
		})
	}
	t.Run("records", func(t *testing.T) {
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		nodes := map[string]InstallRecord{}
		for i := range 5 {
			nodes[fmt.Sprintf("n%d", i)] = InstallRecord{Time: t0.Add(time.Duration(i) * time.Hour)}
		}
		prune(nodes, 3)
		if len(nodes) != 3 || nodes["n0"] != (InstallRecord{}) || nodes["n1"] != (InstallRecord{}) {
			t.Errorf("after prune to 3: %v, want n2..n4", nodes)
		}
	})
}

// TestInstallsRefused: a file rackctl did not write is refused with its
// path rather than half-read.
func TestInstallsRefused(t *testing.T) {
	tests := map[string]struct {
		content string
		want    string
	}{
		"version":       {`{"version":2,"nodes":{}}`, "unsupported version 2"},
		"outcome":       {`{"version":1,"nodes":{"a":{"outcome":"maybe","mac":"m","verify":"ssh","time":"2026-01-01T00:00:00Z"}}}`, `outcome "maybe"`},
		"unknown field": {`{"version":1,"nodes":{},"extra":1}`, "unknown field"},
		"not json":      {`{`, "install records"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := New(t.TempDir())
			if err := os.WriteFile(d.File(InstallsFile), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := d.LoadInstalls()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadInstalls: %v, want an error with %q", err, tc.want)
			}
			if err := d.RecordInstall("a", InstallRecord{Outcome: InstallInstalled}); err == nil {
				t.Errorf("RecordInstall over a refused file: no error (it would drop what it could not read)")
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		// Sparse: the size is checked before anything is read.
		d := New(t.TempDir())
		f, err := os.Create(d.File(InstallsFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(maxInstallsSize + 1); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if _, err := d.LoadInstalls(); err == nil || !strings.Contains(err.Error(), "more than rackctl ever writes") {
			t.Errorf("LoadInstalls of an oversized file: %v, want it refused by size", err)
		}
	})
	t.Run("missing is empty", func(t *testing.T) {
		got, err := New(t.TempDir()).LoadInstalls()
		if err != nil || len(got.Nodes) != 0 || got.Nodes == nil {
			t.Errorf("missing file: %+v, %v; want no records", got, err)
		}
	})
}
