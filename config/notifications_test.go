package config

import (
	"os"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/notify"
)

// TestDocsNotificationsExample: the config example of
// docs/notifications.md is valid, and its kinds table has every kind.
func TestDocsNotificationsExample(t *testing.T) {
	b, err := os.ReadFile("../docs/notifications.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, rest, ok := strings.Cut(doc, "```yaml\n# /etc/rackctl/config.yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/notifications.md lost its config example")
	}
	f, err := Parse("docs example", []byte("apiVersion: rackctl/v1alpha1\nkind: Config\n"+example))
	if err != nil {
		t.Fatalf("docs/notifications.md example: %v", err)
	}
	if n := len(f.Notifications()); n != 3 {
		t.Errorf("example has %d targets, want 3", n)
	}
	for _, k := range notify.Kinds {
		if !strings.Contains(doc, "| `"+string(k)+"` |") {
			t.Errorf("docs/notifications.md has no row for kind %s", k)
		}
	}
}
