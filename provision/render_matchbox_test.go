package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vincent-petithory/dataurl"

	"github.com/rackctl/rackctl/internal/testenv"
	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
)

// renderedRack is a small flatcar rack served by matchbox m: the provider
// reads the client certificate from m.CertDir.
func renderedRack(m *testenv.Matchbox) render.Input {
	r := &schema.Rack{
		APIVersion:  schema.APIVersion,
		Kind:        schema.Kind,
		Name:        "rack-m",
		Provisioner: schema.Flatcar,
		Domain:      "rack.example",
		Network: schema.Network{
			Internal: schema.InternalNetwork{
				Subnet:       "172.24.213.0/24",
				Gateway:      "172.24.213.1",
				DNS:          []string{"172.24.213.1"},
				Interface:    "eno1",
				DynamicRange: schema.IPRange{Start: "172.24.213.128", End: "172.24.213.254"},
			},
			Public: &schema.PublicNetwork{Gateway: "203.0.113.1", DNS: []string{"1.1.1.1"}},
		},
		Matchbox: schema.Matchbox{
			HTTPEndpoint:  m.HTTPEndpoint(),
			RPCEndpoint:   m.RPC,
			ClientCertDir: m.CertDir,
		},
		Install: schema.Install{
			KernelConsole:         []string{"console=ttyS1,57600n8"},
			InstallToSmallestDisk: true,
			CachedInstall:         true,
		},
		Cluster: schema.Cluster{
			Name:       "flatcar",
			SSHPubKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample ops@example"},
			Updates:    schema.Updates{Strategy: "reboot"},
		},
		Nodes: []schema.Node{
			{Name: "m-0", Role: schema.RoleNode, MAC: "52:54:00:00:01:00", BMCMAC: "52:54:00:00:02:00"},
			{Name: "m-1", Role: schema.RoleNode, MAC: "52:54:00:00:01:01", BMCMAC: "52:54:00:00:02:01",
				SecondaryMAC: "52:54:00:00:03:01", PublicIP: "203.0.113.11/24"},
			{Name: "m-2", Role: schema.RoleNode, MAC: "52:54:00:00:01:02", BMCMAC: "52:54:00:00:02:02"},
		},
	}
	addrs := map[string]ipam.Addrs{}
	for i, n := range r.Nodes {
		addrs[n.Name] = ipam.Addrs{
			Primary: netip.AddrFrom4([4]byte{172, 24, 213, byte(10 + i)}),
			BMC:     netip.AddrFrom4([4]byte{172, 24, 213, byte(100 + i)}),
		}
	}
	return render.Input{Rack: r, Addrs: addrs, Layout: render.DefaultLayout()}
}

// servedIgnitionVersion is the spec matchbox v0.11 serves every 3.x
// config in.
const servedIgnitionVersion = "3.4.0"

// asServed is a rendered spec 3.0 Ignition file with the version matchbox
// serves it in; everything else must come back unchanged.
func asServed(t *testing.T, rendered []byte) []byte {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(rendered, &cfg); err != nil {
		t.Fatalf("rendered ignition: %v", err)
	}
	ign, _ := cfg["ignition"].(map[string]any)
	if ign == nil || ign["version"] != "3.0.0" {
		t.Fatalf("rendered ignition is not spec 3.0.0: %v", cfg["ignition"])
	}
	ign["version"] = servedIgnitionVersion
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// servedIgnition is the part of a served Ignition config the test reads.
type servedIgnition struct {
	Ignition struct{ Version string }
	Storage  struct {
		Files []struct {
			Path     string
			Contents struct{ Source string }
		}
	}
}

// file decodes the contents of the file at p; ok is false when it is absent.
func (c servedIgnition) file(t *testing.T, p string) (string, bool) {
	t.Helper()
	for _, f := range c.Storage.Files {
		if f.Path == p {
			d, err := dataurl.DecodeString(f.Contents.Source)
			if err != nil {
				t.Fatalf("%s: contents %.40q: %v", p, f.Contents.Source, err)
			}
			return string(d.Data), true
		}
	}
	return "", false
}

// TestRenderedFlatcarServed renders a flatcar rack with render.Render,
// applies the rendered directory through the Terraform executor against a
// real matchbox, and checks that matchbox serves the rendered Ignition
// (spec 3: matchbox v0.11 serves a 2.x config empty) and the PXE install.
// The plan applies only if the module's spec 3.x preconditions pass.
func TestRenderedFlatcarServed(t *testing.T) {
	tl := testenv.FindToolsT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	mb := testenv.StartMatchboxT(t)
	in := renderedRack(mb)
	files, err := render.Render(in)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	dir := t.TempDir()
	prefix := in.Layout.FlatcarDir + "/"
	rendered := map[string][]byte{}
	for _, f := range files {
		rel, ok := strings.CutPrefix(f.Path, prefix)
		if !ok {
			continue
		}
		rendered[rel] = f.Content
		must(t, writeFile(filepath.Join(dir, filepath.FromSlash(rel)), f.Content))
	}
	// m-2 is installed: its flag file exists.
	installed := in.Rack.Nodes[2]
	must(t, writeFile(filepath.Join(dir, render.FlatcarAssetDir, installed.MAC), nil))

	tf, _ := testTerraform(t, tl, dir)
	if err := tf.Init(ctx); err != nil {
		t.Fatalf("init: %v", err)
	}
	plan, err := tf.Plan(ctx)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if want := (PlanSummary{Add: 2 + 3 + 3 + 3}); plan.Summary != want {
		t.Fatalf("plan summary = %+v, want %+v; changes: %v", plan.Summary, want, plan.Changes)
	}
	if err := tf.Apply(ctx, plan.PlanFile); err != nil {
		t.Fatalf("apply: %v", err)
	}

	for _, n := range in.Rack.Nodes {
		fqdn := in.Rack.FQDN(&n)
		isInstalled := n.MAC == installed.MAC

		// The installed OS's Ignition, as the module's installed_ignition_urls give it.
		status, body := get(ctx, t, mb, "/ignition?mac="+n.MAC+"&os=installed")
		var final servedIgnition
		if err := json.Unmarshal([]byte(body), &final); status != 200 || err != nil {
			t.Fatalf("%s: /ignition?os=installed: status %d, %v:\n%s", n.Name, status, err, body)
		}
		// matchbox v0.11 parses raw Ignition into its spec 3.4 types and
		// serves that: the rendered 3.0 config comes back as 3.4.0 (a 2.x
		// one would come back empty, with no version).
		if final.Ignition.Version != servedIgnitionVersion {
			t.Errorf("%s: served ignition version %q, want %s:\n%s", n.Name, final.Ignition.Version, servedIgnitionVersion, body)
		}
		if want := asServed(t, rendered["ignition/"+fqdn+".ign"]); !jsonContains(t, want, body) {
			t.Errorf("%s: /ignition?os=installed served\n%s\nwant the rendered\n%s", n.Name, body, want)
		}
		unit, ok := final.file(t, "/etc/systemd/network/10-priv-stable.network")
		if !ok || !strings.Contains(unit, "MACAddress="+n.MAC+"\n") ||
			!strings.Contains(unit, "Address="+in.Addrs[n.Name].Primary.String()+"/24\n") {
			t.Errorf("%s: served networkd unit (%v):\n%s", n.Name, ok, unit)
		}

		// PXE: the install kernel until the flag file exists.
		status, ipxe := get(ctx, t, mb, "/ipxe?mac="+n.MAC)
		if isInstalled {
			if strings.Contains(ipxe, "vmlinuz") {
				t.Errorf("installed node %s: iPXE boots a kernel:\n%s", n.Name, ipxe)
			}
		} else if want := "kernel /assets/flatcar/current/flatcar_production_pxe.vmlinuz"; status != 200 || !strings.Contains(ipxe, want) {
			t.Errorf("%s: /ipxe: status %d, want %q:\n%s", n.Name, status, want, ipxe)
		}

		// What the PXE image's flatcar.config.url gets: the installer, which
		// carries the final Ignition for flatcar-install -i.
		status, body = get(ctx, t, mb, "/ignition?mac="+n.MAC)
		var byMAC servedIgnition
		if err := json.Unmarshal([]byte(body), &byMAC); status != 200 || err != nil {
			t.Fatalf("%s: /ignition?mac: status %d, %v:\n%s", n.Name, status, err, body)
		}
		if isInstalled {
			if _, ok := byMAC.file(t, "/opt/installer"); ok {
				t.Errorf("installed node %s is served the installer", n.Name)
			}
			continue
		}
		if want := asServed(t, rendered["ignition/"+fqdn+"-installer.ign"]); byMAC.Ignition.Version != servedIgnitionVersion || !jsonContains(t, want, body) {
			t.Errorf("%s: /ignition?mac served\n%s\nwant the rendered installer\n%s", n.Name, body, want)
		}
		emb, ok := byMAC.file(t, "/opt/ignition.json")
		var cb bytes.Buffer
		must(t, json.Compact(&cb, rendered["ignition/"+fqdn+".ign"]))
		if !ok || emb != cb.String() {
			t.Errorf("%s: installer's /opt/ignition.json (%v) is not the rendered final ignition:\n%s", n.Name, ok, emb)
		}
		if script, _ := byMAC.file(t, "/opt/installer"); !strings.Contains(script, "flatcar-install -s ") {
			t.Errorf("%s: installer script:\n%s", n.Name, script)
		}
	}
}
