package macaddr

import (
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	tests := map[string]struct {
		in, want string
		ok       bool
	}{
		"canonical":        {"02:00:5e:00:00:01", "02:00:5e:00:00:01", true},
		"upper case":       {"AA:BB:CC:DD:EE:0F", "aa:bb:cc:dd:ee:0f", true},
		"dashes":           {"aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee:ff", true},
		"cisco dots":       {"aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff", true},
		"eui-64":           {"02:00:5e:10:00:00:00:01", "", false},
		"short":            {"aa:bb:cc:dd:ee", "", false},
		"empty":            {"", "", false},
		"blank inside":     {"aa:bb:cc:dd:ee: f", "", false},
		"not hex":          {"gg:bb:cc:dd:ee:ff", "", false},
		"one-digit octets": {"a:b:c:d:e:f", "", false},
		"hwtype prefix":    {"01-aa:bb:cc:dd:ee:ff", "", false},
		"trailing colon":   {"aa:bb:cc:dd:ee:ff:", "", false},
		"wildcard":         {"aa:bb:cc:*:*:*", "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := Parse(tc.in)
			if (err == nil) != tc.ok || tc.ok && m.String() != tc.want {
				t.Errorf("Parse(%q) = %v, %v; want %q ok=%v", tc.in, m, err, tc.want, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "MAC") {
				t.Errorf("error %q does not say what was wanted", err)
			}
		})
	}
}

func TestNormalizeCanon(t *testing.T) {
	tests := map[string]struct {
		in, norm, canon string
		ok              bool
	}{
		"blanks around": {" AA:bb:CC:dd:EE:ff\t", "aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff", true},
		"not a MAC":     {"Node-1", "", "node-1", false},
		"empty":         {"", "", "", false},
		"eui-64 kept":   {"02:00:5E:10:00:00:00:01", "", "02:00:5e:10:00:00:00:01", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if n, ok := Normalize(tc.in); n != tc.norm || ok != tc.ok {
				t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tc.in, n, ok, tc.norm, tc.ok)
			}
			if c := Canon(tc.in); c != tc.canon {
				t.Errorf("Canon(%q) = %q, want %q", tc.in, c, tc.canon)
			}
		})
	}
}

func TestTextMarshaling(t *testing.T) {
	type doc struct {
		MAC MAC `json:"mac" yaml:"mac"`
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"mac": "AA-BB-CC-DD-EE-FF"}`), &d); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(d)
	if string(out) != `{"mac":"aa:bb:cc:dd:ee:ff"}` {
		t.Errorf("JSON round trip: %s", out)
	}
	var y doc
	if err := yaml.Unmarshal([]byte("mac: AA:BB:CC:DD:EE:01\n"), &y); err != nil {
		t.Fatal(err)
	}
	yo, _ := yaml.Marshal(y)
	if string(yo) != "mac: aa:bb:cc:dd:ee:01\n" {
		t.Errorf("YAML round trip: %q", yo)
	}
	for _, bad := range []string{`{"mac": "nope"}`, `{"mac": "02:00:5e:10:00:00:00:01"}`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s decoded without an error", bad)
		}
	}
	if err := yaml.Unmarshal([]byte("mac: 1:2:3\n"), &y); err == nil {
		t.Error("a bad YAML MAC decoded without an error")
	}
}

// FuzzParse: whatever Parse accepts, its canonical form parses back to the
// same MAC, is itself canonical, and Canon agrees with it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"02:00:5e:00:00:01", "AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff", "", "x", "02:00:5e:10:00:00:00:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s)
		if err != nil {
			// Canon ignores surrounding blanks, as Normalize does.
			want := strings.ToLower(s)
			if n, ok := Normalize(s); ok {
				want = n
			}
			if c := Canon(s); c != want {
				t.Fatalf("Canon(%q) = %q for a non-MAC, want %q", s, c, want)
			}
			return
		}
		c := m.String()
		back, err := Parse(c)
		if err != nil || back != m || back.String() != c {
			t.Fatalf("%q → %q → %v, %v", s, c, back, err)
		}
		if len(c) != 17 || strings.ToLower(c) != c || Canon(s) != c {
			t.Fatalf("%q: canonical form %q, Canon %q", s, c, Canon(s))
		}
	})
}
