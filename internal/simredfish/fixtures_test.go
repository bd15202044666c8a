package simredfish

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// The recorded responses of real BMCs that bmclib and gofish ship as test
// fixtures, for checking the sim's resources against them.
const (
	bmclibFixtures = "github.com/bmc-toolbox/bmclib/v2@v2.3.4/providers/redfish/fixtures/v1"
	gofishRedfish  = "github.com/stmcginnis/gofish@v0.19.0/redfish"
)

func modCache(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// fixture reads a JSON fixture: a file of bmclib's, or `var NAME = ` in
// one of gofish's test files ("file.go:NAME").
func fixture(t *testing.T, cache, src string) map[string]any {
	t.Helper()
	var data []byte
	if file, name, ok := strings.Cut(src, ":"); ok {
		code, err := os.ReadFile(filepath.Join(cache, gofishRedfish, file))
		if err != nil {
			t.Fatalf("gofish fixture (go mod download github.com/stmcginnis/gofish): %v", err)
		}
		body, err := goString(string(code), name)
		if err != nil {
			t.Fatalf("gofish fixture %s: %v", src, err)
		}
		data = []byte(body)
	} else {
		var err error
		if data, err = os.ReadFile(filepath.Join(cache, bmclibFixtures, src)); err != nil {
			t.Fatalf("bmclib fixture: %v", err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("fixture %s: %v", src, err)
	}
	return m
}

// goString evaluates `var name = ` in Go source when its value is raw
// strings and other such variables joined with +, as gofish writes them.
func goString(code, name string) (string, error) {
	_, rest, found := strings.Cut(code, "var "+name+" = ")
	if !found {
		return "", fmt.Errorf("no var %s", name)
	}
	var out strings.Builder
	for {
		rest = strings.TrimLeft(rest, " \t\n")
		if strings.HasPrefix(rest, "`") {
			lit, after, ok := strings.Cut(rest[1:], "`")
			if !ok {
				return "", fmt.Errorf("var %s: unterminated string", name)
			}
			out.WriteString(lit)
			rest = after
		} else {
			end := strings.IndexFunc(rest, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' })
			if end <= 0 {
				return "", fmt.Errorf("var %s: not strings joined with +", name)
			}
			v, err := goString(code, rest[:end])
			if err != nil {
				return "", err
			}
			out.WriteString(v)
			rest = rest[end:]
		}
		rest = strings.TrimLeft(rest, " \t\n")
		if !strings.HasPrefix(rest, "+") {
			return out.String(), nil
		}
		rest = rest[1:]
	}
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// compareShape reports properties the sim serves with another JSON type
// than the real BMC did (null stands for any type, as Redfish allows),
// recursing into objects and the first element of arrays.
func compareShape(path string, sim, real map[string]any) []string {
	var diffs []string
	for k, sv := range sim {
		rv, ok := real[k]
		if !ok || strings.HasPrefix(k, "@odata.") {
			continue
		}
		sk, rk := kind(sv), kind(rv)
		switch {
		case sk == "null" || rk == "null":
		case sk != rk:
			diffs = append(diffs, path+k+": sim "+sk+", real BMC "+rk)
		case sk == "object":
			diffs = append(diffs, compareShape(path+k+"/", sv.(map[string]any), rv.(map[string]any))...)
		case sk == "array" && len(sv.([]any)) > 0 && len(rv.([]any)) > 0:
			se, sok := sv.([]any)[0].(map[string]any)
			re, rok := rv.([]any)[0].(map[string]any)
			if sok && rok {
				diffs = append(diffs, compareShape(path+k+"[0]/", se, re)...)
			} else if kind(sv.([]any)[0]) != kind(rv.([]any)[0]) {
				diffs = append(diffs, path+k+"[]: element types differ")
			}
		}
	}
	sort.Strings(diffs)
	return diffs
}

func TestShapesMatchRecordedBMCs(t *testing.T) {
	cache := modCache(t)
	b := StartT(t, Options{})
	tok := do(t, b, "POST", sessionsURI, auth{}, `{"UserName":"admin","Password":"`+b.Password+`"}`, nil).header.Get("Location")
	tests := map[string]struct {
		uri, fixture string
		// need are properties a client reads: the real BMC has them, so
		// must the sim.
		need []string
	}{
		"service root":       {v1, "serviceroot.json", []string{"Id", "RedfishVersion", "Systems", "Managers", "Chassis", "AccountService", "SessionService", "Links/Sessions"}},
		"systems":            {systemsURI, "systems.json", []string{"Members", "Members@odata.count"}},
		"managers":           {managersURI, "dell/managers.json", []string{"Members", "Members@odata.count"}},
		"system":             {systemsURI + "/1", "computersystem_test.go:computerSystemBody", []string{"Id", "PowerState", "Model", "SerialNumber", "BiosVersion", "Status/Health", "Boot/BootSourceOverrideTarget", "Boot/BootSourceOverrideEnabled", "Boot/BootSourceOverrideMode", "Boot/BootSourceOverrideTarget@Redfish.AllowableValues", "Actions/#ComputerSystem.Reset/target", "Actions/#ComputerSystem.Reset/ResetType@Redfish.AllowableValues"}},
		"manager":            {managersURI + "/bmc", "manager_test.go:managerBody", []string{"Id", "FirmwareVersion", "ManagerType", "Status/Health", "SerialConsole/ServiceEnabled", "CommandShell/ServiceEnabled"}},
		"account":            {accountsURI + "/2", "manageraccount_test.go:managerAccountBody", []string{"UserName", "RoleId", "Enabled", "Locked", "Password", "Links/Role"}},
		"account service":    {v1 + "/AccountService", "accountservice_test.go:accountServiceBody", []string{"Accounts", "Roles", "MinPasswordLength", "MaxPasswordLength", "ServiceEnabled"}},
		"chassis":            {chassisURI + "/1", "chassis_test.go:chassisBody", []string{"ChassisType", "Model", "SerialNumber", "Status/Health"}},
		"session":            {tok, "session_test.go:sessionBody", []string{"Id", "UserName"}},
		"virtual media (CD)": {managersURI + "/bmc/VirtualMedia/CD", "virtualmedia_test.go:vmBody", []string{"MediaTypes", "Image", "Inserted", "WriteProtected", "ConnectedVia", "Actions/#VirtualMedia.InsertMedia/target", "Actions/#VirtualMedia.EjectMedia/target"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			real := fixture(t, cache, tc.fixture)
			r := do(t, b, "GET", tc.uri, b.admin(), "", nil)
			if r.status != 200 {
				t.Fatalf("GET %s: %d", tc.uri, r.status)
			}
			for _, d := range compareShape("", r.body, real) {
				t.Error(d)
			}
			st, _ := r.body["@odata.type"].(string)
			rt, _ := real["@odata.type"].(string)
			// The type name, not its version: gofish records old schemas.
			if last := func(s string) string { return s[strings.LastIndex(s, ".")+1:] }; last(st) != last(rt) {
				t.Errorf("@odata.type %q, real BMC %q", st, rt)
			}
			for _, p := range tc.need {
				if !has(real, p) {
					t.Fatalf("fixture %s lacks %s: fix the test", tc.fixture, p)
				}
				if !has(r.body, p) {
					t.Errorf("sim lacks %s, which the real BMC serves", p)
				}
			}
		})
	}
}

func has(m map[string]any, path string) bool {
	var cur any = m
	for _, k := range strings.Split(path, "/") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = obj[k]; !ok {
			return false
		}
	}
	return true
}
