package testenv

import (
	"testing"
)

// FindToolsT is FindTools that fails the test when a tool cannot be had.
func FindToolsT(t testing.TB) Tools {
	t.Helper()
	tl, err := FindTools(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// StartMatchboxT starts matchbox in t.TempDir(), fails the test when it
// cannot, stops it in t.Cleanup and logs its output if the test failed.
func StartMatchboxT(t testing.TB) *Matchbox {
	t.Helper()
	m, err := StartMatchbox(t.Context(), t.TempDir())
	if err != nil {
		t.Fatalf("start matchbox: %v", err)
	}
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("matchbox log (end):\n%s", m.Log(4000))
		}
	})
	return m
}

// StartDHCPT starts dnsmasq in a namespace pair (opts.Dir defaults to
// t.TempDir()), fails the test when it cannot, and stops it and deletes
// the namespaces in t.Cleanup.
func StartDHCPT(t testing.TB, opts DHCPOptions) *DHCP {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	d, err := StartDHCP(t.Context(), opts)
	if err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq log (end):\n%s", d.Log(4000))
		}
		if err := d.Close(); err != nil {
			t.Errorf("close dhcp: %v", err)
		}
	})
	return d
}
