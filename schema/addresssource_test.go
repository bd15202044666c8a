package schema

import (
	"os"
	"strings"
	"testing"
)

func TestBMCAddressSource(t *testing.T) {
	src, err := os.ReadFile("testdata/good/flatcar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "  cipherSuite: 17\n"
	if !strings.Contains(string(src), anchor) {
		t.Fatal("testdata/good/flatcar.yaml has no bmc.cipherSuite line to extend")
	}
	tests := map[string]struct {
		line    string
		want    string
		wantErr string
	}{
		"omitted": {line: "", want: ""},
		"dhcp":    {line: "  addressSource: dhcp\n", want: AddressSourceDHCP},
		"static":  {line: "  addressSource: static\n", wantErr: `rack.yaml:18:3: bmc.addressSource: "static" is not a BMC address source rackctl can set`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := strings.Replace(string(src), anchor, anchor+tc.line, 1)
			r, err := Parse("rack.yaml", []byte(spec))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.BMC.AddressSource != tc.want {
				t.Errorf("addressSource %q, want %q", r.BMC.AddressSource, tc.want)
			}
		})
	}
}
