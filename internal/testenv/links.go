package testenv

import (
	"os"
	"testing"
)

// UntrustedUID owns the links PlantLink makes: nobody on Debian.
const UntrustedUID = 65534

// PlantLink makes a symbolic link at link pointing to target, owned by an
// unprivileged user, as someone who can write a managed directory (core in
// Racker's layout) would plant it. rackctl follows only links root made
// (internal/rootfs), so a link a test creates as root would be followed;
// this one must be refused. Needs root, as the tests that plant links do.
func PlantLink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, UntrustedUID, UntrustedUID); err != nil {
		t.Fatalf("plant link %s: %v (tests that plant links run as root)", link, err)
	}
}
