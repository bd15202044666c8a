package state

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestProvisionerInputs: saved records load back; a missing one is not
// found; a forgotten one is gone; one of another version or unreadable is
// an error that says what to do, never a record.
func TestProvisionerInputs(t *testing.T) {
	d := New(t.TempDir() + "/state")
	if _, found, err := d.LoadProvisionerInputs(); found || err != nil {
		t.Fatalf("missing record: found %v, %v", found, err)
	}
	if err := d.ForgetProvisionerInputs(); err != nil {
		t.Fatalf("forget a missing record: %v", err)
	}
	want := ProvisionerInputs{Provisioner: "flatcar", Dir: "home/core/flatcar-container-linux", Digest: "sha256:ab", At: time.Unix(1_800_000_000, 0).UTC()}
	if err := d.SaveProvisionerInputs(want); err != nil {
		t.Fatal(err)
	}
	got, found, err := d.LoadProvisionerInputs()
	want.Version = ProvisionerInputsVersion
	if err != nil || !found || got != want {
		t.Fatalf("load = %+v, %v, %v; want %+v", got, found, err, want)
	}
	if err := d.ForgetProvisionerInputs(); err != nil {
		t.Fatal(err)
	}
	if _, found, err := d.LoadProvisionerInputs(); found || err != nil {
		t.Fatalf("forgotten record: found %v, %v", found, err)
	}
	for name, content := range map[string]string{
		"other version": `{"version":2,"digest":"sha256:ab"}`,
		"not JSON":      `{"version":`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(d.File(ProvisionerFile), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if rec, found, err := d.LoadProvisionerInputs(); err == nil || found || rec.Digest != "" || !strings.Contains(err.Error(), "remove it") {
				t.Fatalf("load = %+v, %v, %v; want an error saying to remove it", rec, found, err)
			}
		})
	}
}
