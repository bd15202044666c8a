package dhcp

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestDrift(t *testing.T) {
	ip := netip.MustParseAddr
	now := time.Unix(10_000, 0)
	future, past := now.Add(time.Minute), now.Add(-time.Minute)
	const (
		macA  = "aa:bb:cc:dd:ee:11"
		macA2 = "aa:bb:cc:dd:ee:21" // A's replacement NIC
		macB  = "aa:bb:cc:dd:ee:12"
		macX  = "aa:bb:cc:dd:ee:99" // unreserved
	)
	resA := Reservation{MAC: macA, IP: ip("172.24.213.3"), Host: "node-a"}
	resA2 := Reservation{MAC: macA2, IP: ip("172.24.213.3"), Host: "node-a"}
	resB := Reservation{MAC: macB, IP: ip("172.24.213.4"), Host: "node-a-bmc", BMC: true}

	tests := map[string]struct {
		res    []Reservation
		leases []Lease
		want   []Finding
	}{
		"all in place, dynamic leases ignored": {
			res: []Reservation{resA, resB},
			leases: []Lease{
				{Expiry: future, MAC: "AA:BB:CC:DD:EE:11", IP: ip("172.24.213.3")},
				{MAC: macB, IP: ip("172.24.213.4")}, // infinite
				{Expiry: future, MAC: macX, IP: ip("172.24.213.200")},
			},
		},
		"no lease is info; expired leases do not count": {
			res:    []Reservation{resA},
			leases: []Lease{{Expiry: past, MAC: macA, IP: ip("172.24.213.3")}},
			want:   []Finding{{Kind: NoLease, MAC: macA, Host: "node-a", WantIP: ip("172.24.213.3")}},
		},
		"wrong IP: server power-cycle, BMC renew": {
			res: []Reservation{resA, resB},
			leases: []Lease{
				{Expiry: future, MAC: macA, IP: ip("172.24.213.150")},
				{Expiry: future, MAC: macB, IP: ip("172.24.213.151")},
			},
			want: []Finding{
				{Kind: WrongIP, MAC: macA, Host: "node-a", WantIP: ip("172.24.213.3"), LeaseIP: ip("172.24.213.150"),
					Lease: Lease{Expiry: future, MAC: macA, IP: ip("172.24.213.150")}, Fixes: []Fix{Release, PowerCycle}},
				{Kind: WrongIP, MAC: macB, Host: "node-a-bmc", BMC: true, WantIP: ip("172.24.213.4"), LeaseIP: ip("172.24.213.151"),
					Lease: Lease{Expiry: future, MAC: macB, IP: ip("172.24.213.151")}, Fixes: []Fix{Release, BMCRenew}},
			},
		},
		"replaced MAC: old MAC holds the IP, new MAC got a dynamic one": {
			res: []Reservation{resA2},
			leases: []Lease{
				{Expiry: future, MAC: macA, IP: ip("172.24.213.3"), ClientID: "01:aa:bb:cc:dd:ee:11"},
				{Expiry: future, MAC: macA2, IP: ip("172.24.213.140")},
			},
			want: []Finding{
				{Kind: WrongIP, MAC: macA2, Host: "node-a", WantIP: ip("172.24.213.3"), LeaseIP: ip("172.24.213.140"),
					Lease: Lease{Expiry: future, MAC: macA2, IP: ip("172.24.213.140")}, Fixes: []Fix{Release, PowerCycle}},
				{Kind: IPTaken, MAC: macA2, Host: "node-a", WantIP: ip("172.24.213.3"), LeaseIP: ip("172.24.213.3"),
					Lease: Lease{Expiry: future, MAC: macA, IP: ip("172.24.213.3"), ClientID: "01:aa:bb:cc:dd:ee:11"}, Fixes: []Fix{Release}},
			},
		},
		"replaced MAC, new one off": {
			res:    []Reservation{resA2},
			leases: []Lease{{MAC: macA, IP: ip("172.24.213.3")}},
			want: []Finding{
				{Kind: IPTaken, MAC: macA2, Host: "node-a", WantIP: ip("172.24.213.3"), LeaseIP: ip("172.24.213.3"),
					Lease: Lease{MAC: macA, IP: ip("172.24.213.3")}, Fixes: []Fix{Release}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Drift(tc.res, tc.leases, now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Drift:\n got %+v\nwant %+v", got, tc.want)
			}
			for _, f := range got {
				if f.String() == "" || f.Kind.Info() != (len(f.Fixes) == 0) {
					t.Errorf("finding %+v: info/fixes mismatch or empty message", f)
				}
			}
		})
	}
}
