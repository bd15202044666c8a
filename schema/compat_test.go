package schema

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestGoodRackerCompat: the fields `rackctl import racker` sets to keep
// Racker's files as they are.
func TestGoodRackerCompat(t *testing.T) {
	r, err := Load("testdata/good/racker-compat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := r.Network.Internal
	checks := map[string]struct{ got, want any }{
		"file format":      {r.FileFormat, FormatRacker},
		"racker":           {r.Racker(), true},
		"fqdn":             {r.FQDN(&r.Nodes[0]), "node-0"},
		"api server":       {r.Cluster.APIServerName, "flatcar"},
		"default route":    {in.RoutesByDefault(), false},
		"lease":            {in.DHCP.Lease(), "2m"},
		"host names":       {in.DHCP.NamesHosts(), false},
		"router":           {in.DHCP.SendsRouter(), false},
		"excluded primary": {in.DHCP.ReserveExcludedPrimary, true},
		"image":            {r.Install.Image(), "quay.io/kinvolk/racker:v0.5.0"},
		"node by fqdn":     {r.Node("node-0") == &r.Nodes[0], true},
	}
	for name, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", name, c.got, c.want)
		}
	}
}

// TestCompatDefaults: a spec without the new fields keeps rackctl's
// behaviour, and so does a Rack built in Go (zero values).
func TestCompatDefaults(t *testing.T) {
	r, err := Load("testdata/good/lokomotive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var zero Rack
	for name, rk := range map[string]*Rack{"loaded": r, "zero": &zero} {
		in := rk.Network.Internal
		checks := map[string]struct{ got, want any }{
			"racker":           {rk.Racker(), false},
			"default route":    {in.RoutesByDefault(), true},
			"lease":            {in.DHCP.Lease(), DefaultReservationLease},
			"host names":       {in.DHCP.NamesHosts(), true},
			"router":           {in.DHCP.SendsRouter(), true},
			"excluded primary": {in.DHCP.ReserveExcludedPrimary, false},
			"image":            {rk.Install.Image(), DefaultIPMIToolImage},
		}
		for c, v := range checks {
			if v.got != v.want {
				t.Errorf("%s: %s: got %v, want %v", name, c, v.got, v.want)
			}
		}
	}
	if r.FileFormat != FormatRackctl {
		t.Errorf("fileFormat default %q, want %q", r.FileFormat, FormatRackctl)
	}
	if got := r.FQDN(&r.Nodes[0]); !strings.HasSuffix(got, ".k8s.localdomain") {
		t.Errorf("fqdn %q", got)
	}
}

// TestCompatBad: the new fields reject what they cannot write.
func TestCompatBad(t *testing.T) {
	src, err := readGood("racker-compat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		from, to string
		want     string
	}{
		"lokomotive without domain": {"provisioner: flatcar", "provisioner: lokomotive", "domain: \"\" is not a valid domain name"},
		"bad file format":           {"fileFormat: racker", "fileFormat: kinvolk", "is not a file format (want rackctl or racker)"},
		"bad lease":                 {"reservationLease: 2m", "reservationLease: forever", "is not a dnsmasq lease time"},
		"image with a space":        {"ipmitoolImage: quay.io/kinvolk/racker:v0.5.0", "ipmitoolImage: \"racker v1\"", "is not a container image reference"},
		"route not a bool":          {"defaultRoute: false", "defaultRoute: no-thanks", "defaultRoute"},
		"unknown dhcp field":        {"hostNames: false", "hostNames: false\n      names: false", "names"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := strings.Replace(src, tc.from, tc.to, 1)
			if s == src {
				t.Fatalf("%q not in the spec", tc.from)
			}
			_, err := Parse("rack.yaml", []byte(s))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("errors %q do not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "conflicting values") {
				t.Errorf("a default leaks into the message: %q", err)
			}
		})
	}
}

func readGood(name string) (string, error) {
	b, err := os.ReadFile("testdata/good/" + name)
	return string(b), err
}
