package bmc

import "testing"

func TestParseLANAddressSource(t *testing.T) {
	tests := map[string]struct {
		out     string
		want    string
		wantErr bool
	}{
		"static":      {out: "Set in Progress         : Set Complete\nIP Address Source       : Static Address\nIP Address              : 10.0.0.9\n", want: AddrSourceStatic},
		"dhcp":        {out: "IP Address Source       : DHCP Address\n", want: AddrSourceDHCP},
		"bios":        {out: "IP Address Source       : BIOS Assigned Address\n", want: AddrSourceBIOS},
		"unspecified": {out: "IP Address Source       : Unspecified\n", want: AddrSourceUnspecified},
		"other":       {out: "IP Address Source       : Other\n", want: AddrSourceOther},
		"absent":      {out: "IP Address              : 10.0.0.9\n", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseLANAddressSource(tc.out)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
