package render

import (
	"strings"
	"testing"

	"github.com/coreos/ignition/v2/config/v3_4"
	"github.com/vincent-petithory/dataurl"

	"github.com/rackctl/rackctl/schema"
)

// TestLokoctlIgnition: what the lokoctl stand-in serves a Lokomotive node
// is valid spec 3 Ignition (as the simulated servers parse it): the final
// config names the node (hostname), authorizes the spec's keys for core,
// writes /ignition_ran and carries the node's snippets; the installer runs
// flatcar-install -i with exactly that final config. A snippet that does
// not transpile is an error naming the node.
func TestLokoctlIgnition(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNpbS1yYWNrLWtleQ ops@loko"
	snippet := []byte("storage:\n  files:\n    - path: /etc/from-snippet\n      filesystem: root\n      mode: 0644\n      contents:\n        inline: node's own\n")
	final, installer, err := LokoctlIgnition(LokoctlNode{Domain: "worker-0.loko.localdomain", SSHKeys: []string{key},
		Snippets: [][]byte{snippet, []byte("{}")}},
		schema.Install{CachedInstall: true}, schema.Matchbox{HTTPEndpoint: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	fc, rep, err := v3_4.ParseCompatibleVersion(final)
	if err != nil || rep.IsFatal() {
		t.Fatalf("final config does not parse as spec 3: %v %v\n%s", err, rep, final)
	}
	files := map[string]string{}
	for _, f := range fc.Storage.Files {
		src := ""
		if f.Contents.Source != nil {
			src = *f.Contents.Source
		}
		d, err := dataurl.DecodeString(src)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		files[f.Path] = string(d.Data)
	}
	for p, want := range map[string]string{"/etc/hostname": "worker-0.loko.localdomain\n", IgnitionRanPath: "", "/etc/from-snippet": "node's own"} {
		if got, ok := files[p]; !ok || got != want {
			t.Errorf("final config: %s = %q (present %v), want %q", p, got, ok, want)
		}
	}
	if len(fc.Passwd.Users) != 1 || fc.Passwd.Users[0].Name != "core" || len(fc.Passwd.Users[0].SSHAuthorizedKeys) != 1 ||
		string(fc.Passwd.Users[0].SSHAuthorizedKeys[0]) != key {
		t.Errorf("final config users %+v, want core with the spec's key", fc.Passwd.Users)
	}
	ic, rep, err := v3_4.ParseCompatibleVersion(installer)
	if err != nil || rep.IsFatal() {
		t.Fatalf("installer does not parse as spec 3: %v %v", err, rep)
	}
	var script, embedded string
	for _, f := range ic.Storage.Files {
		d, err := dataurl.DecodeString(*f.Contents.Source)
		if err != nil {
			t.Fatalf("installer %s: %v", f.Path, err)
		}
		switch f.Path {
		case "/opt/installer":
			script = string(d.Data)
		case "/opt/ignition.json":
			embedded = string(d.Data)
		}
	}
	if !strings.Contains(script, "flatcar-install -d /dev/sda -C stable -V current -b http://127.0.0.1:8080/assets/flatcar -i /opt/ignition.json") {
		t.Errorf("installer script:\n%s", script)
	}
	if strings.TrimSpace(embedded) != strings.TrimSpace(string(final)) {
		t.Errorf("installer embeds another config than the final one:\n%s\nwant\n%s", embedded, final)
	}

	_, _, err = LokoctlIgnition(LokoctlNode{Domain: "worker-1.loko.localdomain", Snippets: [][]byte{[]byte("storage: [")}}, schema.Install{}, schema.Matchbox{})
	if err == nil || !strings.Contains(err.Error(), "worker-1.loko.localdomain") {
		t.Errorf("bad snippet: %v, want an error naming the node", err)
	}
}
