package dhcp

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestParseReservations(t *testing.T) {
	ip := netip.MustParseAddr
	tests := map[string]struct {
		conf    string
		want    []Reservation
		errLine []int
	}{
		"racker format": {
			conf: "# dnsmasq.conf\nno-daemon\ndhcp-range=172.24.213.128,172.24.213.254,255.255.255.0,2m\n" +
				"dhcp-host=AA:BB:CC:DD:EE:11,172.24.213.3,2m\n" +
				"dhcp-host=aa:bb:cc:dd:ee:12,172.24.213.4,infinite\n",
			want: []Reservation{
				{MAC: "aa:bb:cc:dd:ee:11", IP: ip("172.24.213.3")},
				{MAC: "aa:bb:cc:dd:ee:12", IP: ip("172.24.213.4")},
			},
		},
		"rendered format with hostname": {
			conf: "dhcp-host=aa:bb:cc:dd:ee:11,172.24.213.3,lk-controller-0.example.com,2m\n" +
				"  dhcp-host = aa:bb:cc:dd:ee:12,172.24.213.4,lk-controller-0-bmc  # the BMC\n",
			want: []Reservation{
				{MAC: "aa:bb:cc:dd:ee:11", IP: ip("172.24.213.3"), Host: "lk-controller-0.example.com"},
				{MAC: "aa:bb:cc:dd:ee:12", IP: ip("172.24.213.4"), Host: "lk-controller-0-bmc"},
			},
		},
		"several MACs, tags, dashes": {
			conf: "--dhcp-host=aa:bb:cc:dd:ee:11,aa:bb:cc:dd:ee:21,set:pxe,id:01:02,172.24.213.3,n0\n",
			want: []Reservation{
				{MAC: "aa:bb:cc:dd:ee:11", IP: ip("172.24.213.3"), Host: "n0"},
				{MAC: "aa:bb:cc:dd:ee:21", IP: ip("172.24.213.3"), Host: "n0"},
			},
		},
		"skipped: no IP, ignore, no MAC, wildcard, commented": {
			conf: "dhcp-host=aa:bb:cc:dd:ee:11,n0\n" +
				"dhcp-host=aa:bb:cc:dd:ee:12,172.24.213.4,ignore\n" +
				"dhcp-host=id:01:02:03,172.24.213.5\n" +
				"dhcp-host=n6,172.24.213.6\n" +
				"dhcp-host=aa:bb:cc:*:*:*,172.24.213.7\n" +
				"# dhcp-host=aa:bb:cc:dd:ee:18,172.24.213.8\n" +
				"dhcp-host=aa:bb:cc:dd:ee:19,[fd00::9],172.24.213.9\n",
			want: []Reservation{{MAC: "aa:bb:cc:dd:ee:19", IP: ip("172.24.213.9")}},
		},
		"errors positioned": {
			conf: "dhcp-host=aa:bb:cc:dd:ee,172.24.213.3\n" +
				"dhcp-host=aa:bb:cc:dd:ee:12,172.24.213.300\n" +
				"dhcp-host=aa:bb:cc:dd:ee:13,172.24.213.3,172.24.213.4\n" +
				"dhcp-host=\n" +
				"dhcp-host=aa:bb:cc:dd:ee:15,,172.24.213.5\n" +
				"dhcp-host=aa:bb:cc:dd:ee:16,172.24.213.6,a,b\n" +
				"dhcp-host=aa:bb:cc:dd:ee:17,172.24.213.7\n",
			want:    []Reservation{{MAC: "aa:bb:cc:dd:ee:17", IP: ip("172.24.213.7")}},
			errLine: []int{1, 2, 3, 4, 5, 6},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseReservations([]byte(tc.conf))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("reservations:\n got %+v\nwant %+v", got, tc.want)
			}
			var lines []int
			for _, e := range flatten(err) {
				var pe *ParseError
				if !errors.As(e, &pe) {
					t.Fatalf("error %v is not a *ParseError", e)
				}
				lines = append(lines, pe.Line)
			}
			if !reflect.DeepEqual(lines, tc.errLine) {
				t.Errorf("error lines = %v, want %v (err: %v)", lines, tc.errLine, err)
			}
		})
	}
}
