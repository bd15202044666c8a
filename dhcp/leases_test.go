package dhcp

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseLeases(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []Lease
		errLine []int // lines of the expected *ParseError values, in order
	}{
		"empty": {in: ""},
		"one with all fields": {
			in: "1795624936 AA:BB:CC:DD:EE:11 172.24.213.3 node-0 01:aa:bb:cc:dd:ee:11\n",
			want: []Lease{{
				Expiry: time.Unix(1795624936, 0).UTC(), MAC: "aa:bb:cc:dd:ee:11",
				IP: netip.MustParseAddr("172.24.213.3"), Hostname: "node-0", ClientID: "01:aa:bb:cc:dd:ee:11",
			}},
		},
		"infinite, stars, blank lines": {
			in: "\n0 aa:bb:cc:dd:ee:12 172.24.213.4 * *\n\n",
			want: []Lease{{
				MAC: "aa:bb:cc:dd:ee:12", IP: netip.MustParseAddr("172.24.213.4"),
			}},
		},
		"non-ethernet hardware type kept": {
			in: "100 20-80:00:02:08 10.0.0.9 ib *\n",
			want: []Lease{{
				Expiry: time.Unix(100, 0).UTC(), MAC: "20-80:00:02:08",
				IP: netip.MustParseAddr("10.0.0.9"), Hostname: "ib",
			}},
		},
		"ipv6 section skipped": {
			in: "100 aa:bb:cc:dd:ee:11 172.24.213.3 a *\n" +
				"duid 00:01:00:01:2c:5b:7a:4e:aa:bb:cc:dd:ee:01\n" +
				"200 1234567 fd00::5 host 00:01:00:01:2c:5b\n",
			want: []Lease{{
				Expiry: time.Unix(100, 0).UTC(), MAC: "aa:bb:cc:dd:ee:11",
				IP: netip.MustParseAddr("172.24.213.3"), Hostname: "a",
			}},
		},
		"overlong line stops with its position": {
			in: "100 aa:bb:cc:dd:ee:11 172.24.213.3 a *\n" + strings.Repeat("x", maxLineLen+1) + "\n",
			want: []Lease{{
				Expiry: time.Unix(100, 0).UTC(), MAC: "aa:bb:cc:dd:ee:11",
				IP: netip.MustParseAddr("172.24.213.3"), Hostname: "a",
			}},
			errLine: []int{2},
		},
		"malformed lines positioned, good ones kept": {
			in: "100 aa:bb:cc:dd:ee:11 172.24.213.3 a *\n" +
				"x aa:bb:cc:dd:ee:11 172.24.213.3 a *\n" +
				"100 aa:bb:cc:dd:ee 172.24.213.3 a *\n" +
				"100 aa:bb:cc:dd:ee:11 172.24.213.300 a *\n" +
				"100 aa:bb:cc:dd:ee:11 fd00::1 a *\n" +
				"100 aa:bb:cc:dd:ee:11 172.24.213.3 a\n" +
				"-5 aa:bb:cc:dd:ee:11 172.24.213.3 a *\n" +
				"100 aa:bb:cc:dd:ee:11 172.24.213.3 a zz\n" +
				"200 1234567 fd00::5 host *\n",
			want: []Lease{{
				Expiry: time.Unix(100, 0).UTC(), MAC: "aa:bb:cc:dd:ee:11",
				IP: netip.MustParseAddr("172.24.213.3"), Hostname: "a",
			}},
			errLine: []int{2, 3, 4, 5, 6, 7, 8, 9},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseLeases(strings.NewReader(tc.in))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("leases:\n got %+v\nwant %+v", got, tc.want)
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

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := ParseLeases(strings.NewReader("\n\nbogus\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3:") {
		t.Fatalf("err = %v, want it to name line 3", err)
	}
}

func TestLeaseActive(t *testing.T) {
	now := time.Unix(1000, 0)
	for name, tc := range map[string]struct {
		l    Lease
		want bool
	}{
		"infinite": {Lease{}, true},
		"future":   {Lease{Expiry: time.Unix(1001, 0)}, true},
		"now":      {Lease{Expiry: now}, false},
		"past":     {Lease{Expiry: time.Unix(999, 0)}, false},
	} {
		if got := tc.l.Active(now); got != tc.want {
			t.Errorf("%s: Active = %v, want %v", name, got, tc.want)
		}
	}
}

// formatLease writes l the way dnsmasq does.
func formatLease(l Lease) string {
	exp := int64(0)
	if !l.Expiry.IsZero() {
		exp = l.Expiry.Unix()
	}
	star := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	return fmt.Sprintf("%d %s %s %s %s\n", exp, l.MAC, l.IP, star(l.Hostname), star(l.ClientID))
}

func FuzzParseLeases(f *testing.F) {
	f.Add("1795624936 aa:bb:cc:dd:ee:11 172.24.213.3 node-0 01:aa:bb:cc:dd:ee:11\n")
	f.Add("0 AA:BB:CC:DD:EE:12 172.24.213.4 * *\n")
	f.Add("100 20-80:00:02:08 10.0.0.9 ib *\nduid 00:01\n200 1234567 fd00::5 host *\n")
	f.Add("x y z\n\n\t\n")
	f.Fuzz(func(t *testing.T, in string) {
		ls, err := ParseLeases(strings.NewReader(in))
		for _, e := range flatten(err) {
			var pe *ParseError
			if !errors.As(e, &pe) || pe.Line < 1 {
				t.Fatalf("error %v: want a *ParseError with a line", e)
			}
		}
		// Every lease parsed is well-formed and survives a round trip.
		var sb strings.Builder
		for _, l := range ls {
			if !l.IP.Is4() || l.MAC == "" || strings.ContainsAny(l.Hostname+l.ClientID, " \t\n") {
				t.Fatalf("bad lease %+v", l)
			}
			sb.WriteString(formatLease(l))
		}
		again, err := ParseLeases(strings.NewReader(sb.String()))
		if err != nil {
			t.Fatalf("reparse %q: %v", sb.String(), err)
		}
		if !reflect.DeepEqual(again, ls) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, ls)
		}
	})
}
