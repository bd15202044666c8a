package dhcp

import (
	"slices"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/internal/macaddr"
)

// FuzzParseHost: ParseHost never panics; what it accepts is well formed
// (canonical MACs, an IPv4 address, a name without a separator), and
// writing it back as a dhcp-host value and parsing again gives the same
// Host. ParseReservations agrees with it on the same line.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{
		"aa:bb:cc:dd:ee:ff,10.0.0.5,node-1,12h",
		"AA-BB-CC-DD-EE-FF,set:pxe,10.0.0.5,node-1,infinite",
		"01-aa:bb:cc:dd:ee:ff,id:01:02,10.0.0.6",
		"aa:bb:cc:*:*:*,10.0.0.7",
		"aa:bb:cc:dd:ee:ff,[::1],10.0.0.8,ignore # comment",
		"aa:bb:cc:dd:ee:ff,10.0.0.300",
		",,",
		"node-1,10.0.0.1,node-2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, val string) {
		h, err := ParseHost(val)
		rs, rerr := ParseReservations([]byte("dhcp-host=" + val + "\n"))
		if strings.ContainsAny(val, "\n\r") {
			return // a second line: ParseReservations sees two lines
		}
		if (err == nil) != (rerr == nil) {
			t.Fatalf("ParseHost err %v, ParseReservations err %v", err, rerr)
		}
		if err != nil {
			return
		}
		for _, m := range h.MACs {
			if c, ok := macaddr.Normalize(m); ok && c != m {
				t.Fatalf("MAC %q not canonical", m)
			}
			if m != strings.ToLower(m) || strings.ContainsAny(m, ", \t#") {
				t.Fatalf("MAC %q", m)
			}
		}
		if h.IP.IsValid() && !h.IP.Is4() {
			t.Fatalf("IP %v is not IPv4", h.IP)
		}
		if strings.ContainsAny(h.Name, ",\t") || h.Name != strings.TrimSpace(h.Name) {
			t.Fatalf("name %q", h.Name)
		}
		want := 0
		if !h.Ignore && h.IP.IsValid() {
			want = len(h.MACs)
		}
		if len(rs) != want {
			t.Fatalf("%d reservations for %+v", len(rs), h)
		}
		// Round trip through the canonical form.
		var fields []string
		fields = append(fields, h.MACs...)
		if h.Wildcard {
			fields = append(fields, "*:*:*:*:*:*")
		}
		if h.IP.IsValid() {
			fields = append(fields, h.IP.String())
		}
		if h.Name != "" {
			fields = append(fields, h.Name)
		}
		if h.Lease != "" {
			fields = append(fields, h.Lease)
		}
		if h.Ignore {
			fields = append(fields, "ignore")
		}
		if len(fields) == 0 {
			return
		}
		again, err := ParseHost(strings.Join(fields, ","))
		if err != nil {
			t.Fatalf("%q parsed as %+v, written back as %q: %v", val, h, strings.Join(fields, ","), err)
		}
		if !slices.Equal(again.MACs, h.MACs) || again.IP != h.IP || again.Name != h.Name || again.Lease != h.Lease ||
			again.Ignore != h.Ignore || again.Wildcard != h.Wildcard {
			t.Fatalf("%q: %+v, round trip %+v", val, h, again)
		}
	})
}
