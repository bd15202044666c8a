package simredfish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// auth says how a test request authenticates.
type auth struct {
	user, password, token string
}

func (b *BMC) admin() auth { return auth{user: b.User, password: b.Password} }

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, b *BMC, method, path string, a auth, body string, hdr map[string]string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if a.user != "" {
		req.SetBasicAuth(a.user, a.password)
	}
	if a.token != "" {
		req.Header.Set("X-Auth-Token", a.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.Client(10 * time.Second).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(data)}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &r.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, data)
		}
	}
	return r
}

// messageIDs checks the Redfish error body shape and returns its
// @Message.ExtendedInfo MessageIds.
func messageIDs(t *testing.T, r resp) []string {
	t.Helper()
	e, ok := r.body["error"].(map[string]any)
	if !ok {
		t.Fatalf("status %d: no error object in %s", r.status, r.raw)
	}
	if c, _ := e["code"].(string); !strings.HasPrefix(c, "Base.") {
		t.Errorf("error.code = %q, want a Base registry id", e["code"])
	}
	if m, _ := e["message"].(string); m == "" {
		t.Errorf("error.message empty in %s", r.raw)
	}
	infos, ok := e["@Message.ExtendedInfo"].([]any)
	if !ok || len(infos) == 0 {
		t.Fatalf("no error.@Message.ExtendedInfo in %s", r.raw)
	}
	var ids []string
	for _, i := range infos {
		m := i.(map[string]any)
		for _, k := range []string{"MessageId", "Message", "Severity", "Resolution"} {
			if s, _ := m[k].(string); s == "" {
				t.Errorf("ExtendedInfo entry without %s: %v", k, m)
			}
		}
		if _, ok := m["MessageArgs"].([]any); !ok {
			t.Errorf("ExtendedInfo entry without a MessageArgs array: %v", m)
		}
		ids = append(ids, strings.TrimPrefix(m["MessageId"].(string), registry))
	}
	return ids
}

func TestErrorReplies(t *testing.T) {
	b := StartT(t, Options{})
	admin := b.admin()
	if r := do(t, b, "POST", accountsURI, admin, `{"UserName":"viewer","Password":"viewer-pass1","RoleId":"ReadOnly"}`, nil); r.status != http.StatusCreated {
		t.Fatalf("create read-only account: %d %s", r.status, r.raw)
	}
	viewer := auth{user: "viewer", password: "viewer-pass1"}
	sys := systemsURI + "/1"
	tests := map[string]struct {
		method, path string
		auth         auth
		body         string
		hdr          map[string]string
		status       int
		ids          []string
		header       map[string]string // must be present with this value
	}{
		"no credentials":            {method: "GET", path: sys, status: 401, ids: []string{"NoValidSession"}, header: map[string]string{"WWW-Authenticate": `Basic realm="simredfish"`}},
		"wrong password":            {method: "GET", path: sys, auth: auth{user: b.User, password: "nope-nope"}, status: 401, ids: []string{"NoValidSession"}},
		"unknown user":              {method: "GET", path: sys, auth: auth{user: "ghost", password: b.Password}, status: 401, ids: []string{"NoValidSession"}},
		"unknown token":             {method: "GET", path: sys, auth: auth{token: "0123456789abcdef"}, status: 401, ids: []string{"NoValidSession"}},
		"401 before 404":            {method: "GET", path: v1 + "/Nothing", status: 401, ids: []string{"NoValidSession"}},
		"unknown resource":          {method: "GET", path: v1 + "/Nothing", auth: admin, status: 404, ids: []string{"ResourceMissingAtURI"}},
		"unknown system":            {method: "GET", path: systemsURI + "/2", auth: admin, status: 404, ids: []string{"ResourceMissingAtURI"}},
		"unknown account":           {method: "PATCH", path: accountsURI + "/99", auth: admin, body: `{"Enabled":false}`, status: 404, ids: []string{"ResourceMissingAtURI"}},
		"POST on the service root":  {method: "POST", path: v1, auth: admin, body: `{}`, status: 405, ids: []string{"OperationNotAllowed"}, header: map[string]string{"Allow": "GET, HEAD"}},
		"DELETE on a collection":    {method: "DELETE", path: systemsURI, auth: admin, status: 405, ids: []string{"OperationNotAllowed"}},
		"method not allowed":        {method: "DELETE", path: sys, auth: admin, status: 405, ids: []string{"OperationNotAllowed"}, header: map[string]string{"Allow": "GET, HEAD, PATCH"}},
		"boot target not in list":   {method: "PATCH", path: sys, auth: admin, body: `{"Boot":{"BootSourceOverrideTarget":"Tape"}}`, status: 400, ids: []string{"PropertyValueNotInList"}},
		"boot enabled wrong type":   {method: "PATCH", path: sys, auth: admin, body: `{"Boot":{"BootSourceOverrideEnabled":true}}`, status: 400, ids: []string{"PropertyValueTypeError"}},
		"two bad values, two infos": {method: "PATCH", path: sys, auth: admin, body: `{"Boot":{"BootSourceOverrideMode":"BIOS"},"PowerState":"On"}`, status: 400, ids: []string{"PropertyNotWritable", "PropertyValueNotInList"}},
		"unknown property":          {method: "PATCH", path: sys, auth: admin, body: `{"Colour":"red"}`, status: 400, ids: []string{"PropertyUnknown"}},
		"malformed JSON":            {method: "PATCH", path: sys, auth: admin, body: `{"Boot":`, status: 400, ids: []string{"MalformedJSON"}},
		"JSON not an object":        {method: "PATCH", path: sys, auth: admin, body: `["Boot"]`, status: 400, ids: []string{"MalformedJSON"}},
		"stale ETag":                {method: "PATCH", path: sys, auth: admin, body: `{"Boot":{"BootSourceOverrideTarget":"Pxe"}}`, hdr: map[string]string{"If-Match": `W/"0000000000000000"`}, status: 412, ids: []string{"PreconditionFailed"}},
		"reset without type":        {method: "POST", path: sys + "/Actions/" + resetAction, auth: admin, body: `{}`, status: 400, ids: []string{"ActionParameterMissing"}},
		"reset type not in list":    {method: "POST", path: sys + "/Actions/" + resetAction, auth: admin, body: `{"ResetType":"Nmi"}`, status: 400, ids: []string{"ActionParameterValueNotInList"}},
		"reset unknown parameter":   {method: "POST", path: sys + "/Actions/" + resetAction, auth: admin, body: `{"ResetType":"On","Force":true}`, status: 400, ids: []string{"ActionParameterNotSupported"}},
		"read-only user resets":     {method: "POST", path: sys + "/Actions/" + resetAction, auth: viewer, body: `{"ResetType":"On"}`, status: 403, ids: []string{"InsufficientPrivilege"}},
		"read-only user adds user":  {method: "POST", path: accountsURI, auth: viewer, body: `{"UserName":"x1","Password":"longenough1","RoleId":"Administrator"}`, status: 403, ids: []string{"InsufficientPrivilege"}},
		"password not a string":     {method: "POST", path: accountsURI, auth: admin, body: `{"UserName":"ops","Password":98765432101,"RoleId":"Operator"}`, status: 400, ids: []string{"PropertyValueTypeError"}},
		"login password not string": {method: "POST", path: sessionsURI, body: `{"UserName":"admin","Password":98765432101}`, status: 400, ids: []string{"PropertyValueTypeError"}},
		"reserved slot 1":           {method: "PATCH", path: accountsURI + "/1", auth: admin, body: `{"UserName":"x1"}`, status: 403, ids: []string{"InsufficientPrivilege"}},
		"enable a nameless slot":    {method: "PATCH", path: accountsURI + "/5", auth: admin, body: `{"Enabled":true}`, status: 400, ids: []string{"PropertyMissing"}},
		"name a slot, no password":  {method: "PATCH", path: accountsURI + "/5", auth: admin, body: `{"UserName":"x2","RoleId":"Operator"}`, status: 400, ids: []string{"PropertyMissing"}},
		"short password":            {method: "POST", path: accountsURI, auth: admin, body: `{"UserName":"ops","Password":"short","RoleId":"Operator"}`, status: 400, ids: []string{"PropertyValueFormatError"}},
		"account without role":      {method: "POST", path: accountsURI, auth: admin, body: `{"UserName":"ops","Password":"longenough1"}`, status: 400, ids: []string{"PropertyMissing"}},
		"unknown role":              {method: "POST", path: accountsURI, auth: admin, body: `{"UserName":"ops","Password":"longenough1","RoleId":"Root"}`, status: 400, ids: []string{"PropertyValueNotInList"}},
		"duplicate user":            {method: "POST", path: accountsURI, auth: admin, body: `{"UserName":"viewer","Password":"longenough1","RoleId":"Operator"}`, status: 400, ids: []string{"ResourceAlreadyExists"}},
		"login wrong password":      {method: "POST", path: sessionsURI, body: `{"UserName":"admin","Password":"wrong-one"}`, status: 401, ids: []string{"NoValidSession"}},
		"login without password":    {method: "POST", path: sessionsURI, body: `{"UserName":"admin"}`, status: 400, ids: []string{"PropertyMissing"}},
		"insert media not a URL":    {method: "POST", path: managersURI + "/bmc/VirtualMedia/CD/Actions/" + insertAction, auth: admin, body: `{"Image":"/tmp/x.iso"}`, status: 400, ids: []string{"PropertyValueFormatError"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := do(t, b, tc.method, tc.path, tc.auth, tc.body, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			ids := messageIDs(t, r)
			if strings.Join(ids, ",") != strings.Join(tc.ids, ",") {
				t.Errorf("MessageIds %v, want %v", ids, tc.ids)
			}
			for k, v := range tc.header {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			for _, secret := range []string{"short", "longenough1", "wrong-one", "98765432101"} {
				if strings.Contains(r.raw, secret) {
					t.Errorf("reply echoes a password: %s", r.raw)
				}
			}
		})
	}
	// A rejected request changes nothing.
	r := do(t, b, "GET", sys, admin, "", nil)
	if boot := r.body["Boot"].(map[string]any); boot["BootSourceOverrideTarget"] != "None" || boot["BootSourceOverrideMode"] != "UEFI" {
		t.Errorf("boot after rejected PATCHes: %v", boot)
	}
	if on, _ := b.Power(); on {
		t.Error("power on after rejected resets")
	}
}

func TestETagIfMatch(t *testing.T) {
	b := StartT(t, Options{})
	sys := systemsURI + "/1"
	pxe := `{"Boot":{"BootSourceOverrideTarget":"Pxe"}}`
	first := do(t, b, "GET", sys, b.admin(), "", nil).header.Get("ETag")
	if !strings.HasPrefix(first, `W/"`) {
		t.Fatalf("ETag %q, want a weak tag", first)
	}
	r := do(t, b, "PATCH", sys, b.admin(), pxe, map[string]string{"If-Match": first})
	if r.status != 200 {
		t.Fatalf("PATCH with the current ETag: %d %s", r.status, r.raw)
	}
	second := r.header.Get("ETag")
	if second == first || second != do(t, b, "GET", sys, b.admin(), "", nil).header.Get("ETag") {
		t.Fatalf("ETag after the change %q (before %q): want a new one, equal to a GET's", second, first)
	}
	if r := do(t, b, "PATCH", sys, b.admin(), pxe, map[string]string{"If-Match": first}); r.status != 412 {
		t.Errorf("PATCH with the old ETag: %d, want 412", r.status)
	}
	// sushy retries a weak tag as a strong one: the same validator.
	strong := strings.TrimPrefix(second, "W/")
	if r := do(t, b, "PATCH", sys, b.admin(), pxe, map[string]string{"If-Match": strong}); r.status != 200 {
		t.Errorf("PATCH with the tag sent strong: %d", r.status)
	}
	b.ConflictOnce()
	cur := do(t, b, "GET", sys, b.admin(), "", nil).header.Get("ETag")
	if r := do(t, b, "PATCH", sys, b.admin(), pxe, map[string]string{"If-Match": cur}); r.status != 412 {
		t.Errorf("PATCH after ConflictOnce: %d, want 412", r.status)
	}
	if r := do(t, b, "PATCH", sys, b.admin(), pxe, map[string]string{"If-Match": cur}); r.status != 200 {
		t.Errorf("retried PATCH after ConflictOnce: %d, want 200", r.status)
	}
}

func TestSessions(t *testing.T) {
	b := StartT(t, Options{})
	r := do(t, b, "POST", sessionsURI, auth{}, `{"UserName":"admin","Password":"`+b.Password+`"}`, nil)
	token, loc := r.header.Get("X-Auth-Token"), r.header.Get("Location")
	if r.status != 201 || token == "" || !strings.HasPrefix(loc, sessionsURI+"/") || r.body["UserName"] != "admin" {
		t.Fatalf("login: %d token %q location %q body %s", r.status, token, loc, r.raw)
	}
	if r := do(t, b, "GET", systemsURI+"/1", auth{token: token}, "", nil); r.status != 200 {
		t.Fatalf("GET with the session token: %d", r.status)
	}
	if r := do(t, b, "DELETE", loc, auth{token: token}, "", nil); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	if r := do(t, b, "GET", systemsURI+"/1", auth{token: token}, "", nil); r.status != 401 {
		t.Errorf("GET with the token after logout: %d, want 401", r.status)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(data)
}

func TestPowerAndBootDriveChassisFiles(t *testing.T) {
	b := StartT(t, Options{})
	reset := func(typ string) {
		t.Helper()
		if r := do(t, b, "POST", systemsURI+"/1/Actions/"+resetAction, b.admin(), `{"ResetType":"`+typ+`"}`, nil); r.status != 204 {
			t.Fatalf("reset %s: %d %s", typ, r.status, r.raw)
		}
	}
	power := func() string { return readFile(t, filepath.Join(b.ChassisDir, "power")) }
	steps := []struct {
		reset, power string
		resets       int
	}{
		{"On", "1\n", 0},
		{"ForceRestart", "1\n", 1},
		{"GracefulRestart", "1\n", 2},
		{"PowerCycle", "1\n", 3},
		{"ForceOff", "0\n", 3},
		{"ForceRestart", "1\n", 3}, // a restart of a system that is off powers it on
		{"GracefulShutdown", "0\n", 3},
	}
	for _, s := range steps {
		reset(s.reset)
		if got := power(); got != s.power {
			t.Errorf("after %s: power file %q, want %q", s.reset, got, s.power)
		}
		if got := strings.Count(readFile(t, filepath.Join(b.ChassisDir, "resets")), "\n"); got != s.resets {
			t.Errorf("after %s: %d resets, want %d", s.reset, got, s.resets)
		}
	}
	// The simulated server turning itself on is what the BMC reports.
	os.WriteFile(filepath.Join(b.ChassisDir, "power"), []byte("1\n"), 0o600)
	if r := do(t, b, "GET", chassisURI+"/1", b.admin(), "", nil); r.body["PowerState"] != "On" {
		t.Errorf("chassis PowerState %v after the power file says 1", r.body["PowerState"])
	}

	patch := func(body string) {
		t.Helper()
		if r := do(t, b, "PATCH", systemsURI+"/1", b.admin(), body, nil); r.status != 200 {
			t.Fatalf("PATCH %s: %d %s", body, r.status, r.raw)
		}
	}
	boots := []struct {
		patch, file, target string
		uefi                bool
		after               string // boot file after NextBoot
	}{
		{`{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`, "pxe once uefi\n", "Pxe", true, "default disabled uefi\n"},
		{`{"Boot":{"BootSourceOverrideTarget":"Hdd","BootSourceOverrideEnabled":"Continuous","BootSourceOverrideMode":"Legacy"}}`, "disk continuous legacy\n", "Hdd", false, "disk continuous legacy\n"},
		{`{"Boot":{"BootSourceOverrideEnabled":"Disabled"}}`, "default disabled legacy\n", "None", false, "default disabled legacy\n"},
		{`{"Boot":{"BootSourceOverrideTarget":"Cd","BootSourceOverrideMode":"UEFI"}}`, "cdrom once uefi\n", "Cd", true, "default disabled uefi\n"},
	}
	for _, c := range boots {
		patch(c.patch)
		if got := readFile(t, filepath.Join(b.ChassisDir, "boot")); got != c.file {
			t.Errorf("%s: boot file %q, want %q", c.patch, got, c.file)
		}
		target, uefi, err := b.NextBoot()
		if err != nil || target != c.target || uefi != c.uefi {
			t.Errorf("%s: NextBoot = %q, %v, %v; want %q, %v", c.patch, target, uefi, err, c.target, c.uefi)
		}
		if got := readFile(t, filepath.Join(b.ChassisDir, "boot")); got != c.after {
			t.Errorf("%s: boot file after booting %q, want %q", c.patch, got, c.after)
		}
	}
}

func TestAccountsPersistAcrossRestart(t *testing.T) {
	b := StartT(t, Options{})
	if r := do(t, b, "POST", accountsURI, b.admin(), `{"UserName":"rotated","Password":"Secret-new-1","RoleId":"Administrator"}`, nil); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	fp := b.Fingerprint
	b2, err := b.Restart(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	if b2.Addr != b.Addr || b2.Fingerprint != fp {
		t.Errorf("after restart: %s %s, want the same address and certificate (%s %s)", b2.Addr, b2.Fingerprint, b.Addr, fp)
	}
	if r := do(t, b2, "GET", systemsURI+"/1", auth{user: "rotated", password: "Secret-new-1"}, "", nil); r.status != 200 {
		t.Errorf("log in with the account made before the restart: %d", r.status)
	}
	state := readFile(t, filepath.Join(b.Dir, stateFile))
	if strings.Contains(state, "Secret-new-1") || strings.Contains(state, b.Password) {
		t.Error("the state file holds a password in clear")
	}
}

func TestRefuseNextLogin(t *testing.T) {
	b := StartT(t, Options{})
	var loc string
	tests := map[string]struct {
		setup  func(t *testing.T)
		change func(t *testing.T) auth
	}{
		"new account": {change: func(t *testing.T) auth {
			if r := do(t, b, "POST", accountsURI, b.admin(), `{"UserName":"new1","Password":"Secret-new-1","RoleId":"Administrator"}`, nil); r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.raw)
			}
			return auth{user: "new1", password: "Secret-new-1"}
		}},
		"new password": {setup: func(t *testing.T) {
			loc = do(t, b, "POST", accountsURI, b.admin(), `{"UserName":"new2","Password":"Secret-old-2","RoleId":"Operator"}`, nil).header.Get("Location")
			if r := do(t, b, "GET", systemsURI+"/1", auth{user: "new2", password: "Secret-old-2"}, "", nil); r.status != 200 {
				t.Fatalf("login before the password change: %d", r.status)
			}
		}, change: func(t *testing.T) auth {
			if r := do(t, b, "PATCH", loc, b.admin(), `{"Password":"Secret-new-2"}`, nil); r.status != 200 {
				t.Fatalf("change password: %d %s", r.status, r.raw)
			}
			return auth{user: "new2", password: "Secret-new-2"}
		}},
	}
	for _, name := range []string{"new account", "new password"} {
		t.Run(name, func(t *testing.T) {
			if tests[name].setup != nil {
				tests[name].setup(t)
			}
			b.RefuseNextLogin()
			a := tests[name].change(t)
			if r := do(t, b, "GET", systemsURI+"/1", a, "", nil); r.status != 401 {
				t.Errorf("login with the refused credentials: %d, want 401", r.status)
			}
			if r := do(t, b, "POST", sessionsURI, auth{}, `{"UserName":"`+a.user+`","Password":"`+a.password+`"}`, nil); r.status != 401 {
				t.Errorf("session with the refused credentials: %d, want 401", r.status)
			}
			if r := do(t, b, "GET", systemsURI+"/1", b.admin(), "", nil); r.status != 200 {
				t.Errorf("the old admin login: %d, want 200", r.status)
			}
		})
	}
	// The knob is spent: the next account logs in.
	do(t, b, "POST", accountsURI, b.admin(), `{"UserName":"new3","Password":"Secret-new-3","RoleId":"Operator"}`, nil)
	if r := do(t, b, "GET", systemsURI+"/1", auth{user: "new3", password: "Secret-new-3"}, "", nil); r.status != 200 {
		t.Errorf("login with the next account: %d, want 200", r.status)
	}
}

func TestPasswordChangeAndDisableEndSessions(t *testing.T) {
	b := StartT(t, Options{})
	r := do(t, b, "POST", accountsURI, b.admin(), `{"UserName":"ops","Password":"Secret-ops-1","RoleId":"Operator"}`, nil)
	loc := r.header.Get("Location")
	login := func(pw string) string {
		return do(t, b, "POST", sessionsURI, auth{}, `{"UserName":"ops","Password":"`+pw+`"}`, nil).header.Get("X-Auth-Token")
	}
	tok := login("Secret-ops-1")
	// An operator may change its own password, but not its role.
	if r := do(t, b, "PATCH", loc, auth{user: "ops", password: "Secret-ops-1"}, `{"RoleId":"Administrator"}`, nil); r.status != 403 {
		t.Errorf("operator raising its role: %d, want 403", r.status)
	}
	if r := do(t, b, "PATCH", loc, auth{user: "ops", password: "Secret-ops-1"}, `{"Password":"Secret-ops-2"}`, nil); r.status != 200 {
		t.Fatalf("operator changing its password: %d %s", r.status, r.raw)
	}
	if r := do(t, b, "GET", systemsURI+"/1", auth{token: tok}, "", nil); r.status != 401 {
		t.Errorf("old session after the password change: %d, want 401", r.status)
	}
	tok = login("Secret-ops-2")
	if r := do(t, b, "PATCH", loc, b.admin(), `{"Enabled":false}`, nil); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	if r := do(t, b, "GET", systemsURI+"/1", auth{token: tok}, "", nil); r.status != 401 {
		t.Errorf("session of a disabled account: %d, want 401", r.status)
	}
	if r := do(t, b, "GET", systemsURI+"/1", auth{user: "ops", password: "Secret-ops-2"}, "", nil); r.status != 401 {
		t.Errorf("basic auth of a disabled account: %d, want 401", r.status)
	}
	if r := do(t, b, "DELETE", loc, b.admin(), "", nil); r.status != 204 {
		t.Errorf("delete: %d", r.status)
	}
	// Deleting empties the slot, as on iDRAC: it stays, nameless and off.
	if r := do(t, b, "GET", loc, b.admin(), "", nil); r.status != 200 || r.body["UserName"] != "" || r.body["Enabled"] != false {
		t.Errorf("deleted account: %d %s, want an empty slot", r.status, r.raw)
	}
	if r := do(t, b, "DELETE", loc, b.admin(), "", nil); r.status != 400 {
		t.Errorf("deleting an empty slot: %d, want 400", r.status)
	}
}

func TestVirtualMedia(t *testing.T) {
	b := StartT(t, Options{})
	cd := managersURI + "/bmc/VirtualMedia/CD"
	if r := do(t, b, "POST", cd+"/Actions/"+insertAction, b.admin(), `{"Image":"http://127.0.0.1:8080/flatcar.iso","Inserted":true}`, nil); r.status != 204 {
		t.Fatalf("insert: %d %s", r.status, r.raw)
	}
	if r := do(t, b, "GET", cd, b.admin(), "", nil); r.body["Inserted"] != true || r.body["Image"] != "http://127.0.0.1:8080/flatcar.iso" {
		t.Errorf("after insert: %s", r.raw)
	}
	if b.Media() != "http://127.0.0.1:8080/flatcar.iso" {
		t.Errorf("Media() = %q", b.Media())
	}
	if r := do(t, b, "POST", cd+"/Actions/"+insertAction, b.admin(), `{"Image":"http://127.0.0.1:8080/other.iso"}`, nil); r.status != 409 {
		t.Errorf("second insert: %d, want 409", r.status)
	}
	if r := do(t, b, "POST", cd+"/Actions/"+ejectAction, b.admin(), `{}`, nil); r.status != 204 {
		t.Errorf("eject: %d", r.status)
	}
	if b.Media() != "" {
		t.Errorf("Media() after eject = %q", b.Media())
	}
	m := do(t, b, "GET", managersURI+"/bmc", b.admin(), "", nil).body
	if sc := m["SerialConsole"].(map[string]any); sc["ServiceEnabled"] != false || !strings.Contains(m["Description"].(string), "no serial console") {
		t.Errorf("manager does not say it has no serial console: %v", m)
	}
}

func TestTLSIdentity(t *testing.T) {
	b := StartT(t, Options{})
	other := StartT(t, Options{})
	// Each BMC has its own CA: another BMC's CA does not verify it.
	req, _ := http.NewRequest("GET", b.URL+"/redfish/v1", nil)
	if _, err := other.Client(5 * time.Second).Do(req); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("request verified with another BMC's CA: err = %v", err)
	}
	conn, err := tls.Dial("tcp", b.Addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The form rack.yaml takes and openssl x509 -fingerprint -sha256 prints.
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	hexed := strings.ToUpper(hex.EncodeToString(sum[:]))
	var pairs []string
	for i := 0; i < len(hexed); i += 2 {
		pairs = append(pairs, hexed[i:i+2])
	}
	if want := "sha256:" + strings.Join(pairs, ":"); b.Fingerprint != want {
		t.Errorf("BMC says its certificate is %s, the served one is %s", b.Fingerprint, want)
	}
	if ca := readFile(t, b.CAFile); ca != string(b.CAPEM) {
		t.Error("CAFile does not hold CAPEM")
	}
	// A shared CA signs several BMCs, so one caFile verifies a rack.
	shared, err := NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := StartT(t, Options{CA: shared}), StartT(t, Options{CA: shared})
	req, _ = http.NewRequest("GET", s2.URL+"/redfish/v1", nil)
	if res, err := s1.Client(5 * time.Second).Do(req); err != nil {
		t.Errorf("BMC of a shared CA not verified with it: %v", err)
	} else {
		res.Body.Close()
	}
}

func TestDeadAndSlow(t *testing.T) {
	b := StartT(t, Options{})
	get := func(timeout time.Duration) (time.Duration, error) {
		start := time.Now()
		res, err := b.Client(timeout).Get(b.URL + "/redfish/v1")
		if err == nil {
			res.Body.Close()
		}
		return time.Since(start), err
	}
	if _, err := get(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// A client holding a kept-alive connection from before the hang.
	kept := b.Client(400 * time.Millisecond)
	if res, err := kept.Get(b.URL + "/redfish/v1"); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if err := b.SetDead(Hang); err != nil {
		t.Fatal(err)
	}
	if took, err := get(400 * time.Millisecond); err == nil || took < 400*time.Millisecond || took > 3*time.Second {
		t.Errorf("hung BMC: err %v after %v, want a client timeout after 400ms", err, took)
	}
	// New connections hang before TLS: the port is open, nothing answers.
	d := &net.Dialer{Timeout: 400 * time.Millisecond, Deadline: time.Now().Add(400 * time.Millisecond)}
	if c, err := tls.DialWithDialer(d, "tcp", b.Addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Error("TLS handshake with a hung BMC completed")
	}
	if res, err := kept.Get(b.URL + "/redfish/v1"); err == nil {
		res.Body.Close()
		t.Error("a kept-alive connection got an answer from a hung BMC")
	}
	if err := b.SetDead(Refuse); err != nil {
		t.Fatal(err)
	}
	if _, err := get(2 * time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refusing BMC: err %v, want connection refused", err)
	}
	if err := b.SetDead(Alive); err != nil {
		t.Fatal(err)
	}
	if _, err := get(5 * time.Second); err != nil {
		t.Errorf("revived BMC: %v", err)
	}
	b.SetSlow(300 * time.Millisecond)
	if took, err := get(5 * time.Second); err != nil || took < 300*time.Millisecond {
		t.Errorf("slow BMC answered in %v (err %v), want at least 300ms", took, err)
	}
}

func TestStartRefuses(t *testing.T) {
	tests := map[string]struct {
		opts Options
		want string
	}{
		"no directory":         {Options{Password: "Passw0rd-sim"}, "no directory"},
		"not loopback":         {Options{Dir: t.TempDir(), Password: "Passw0rd-sim", Addr: "0.0.0.0:0"}, "want a loopback"},
		"not an address":       {Options{Dir: t.TempDir(), Password: "Passw0rd-sim", Addr: "localhost"}, "want a loopback"},
		"first account no pw":  {Options{Dir: t.TempDir()}, "no password"},
		"state not JSON":       {Options{Dir: writeState(t, "{"), Password: "Passw0rd-sim"}, "state in"},
		"state unknown fields": {Options{Dir: writeState(t, `{"accounts":[],"wat":1}`), Password: "Passw0rd-sim"}, "state in"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := Start(context.Background(), tc.opts)
			if err == nil {
				b.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

func writeState(t *testing.T, content string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A test's cleanup must not hang on a dead BMC, whichever way it is dead.
func TestCloseDeadBMC(t *testing.T) {
	for _, mode := range []DeadMode{Hang, Refuse} {
		b, err := Start(context.Background(), Options{Dir: t.TempDir(), Password: "Passw0rd-sim"})
		if err != nil {
			t.Fatal(err)
		}
		kept := b.Client(0)
		if res, err := kept.Get(b.URL + "/redfish/v1"); err == nil {
			res.Body.Close()
		}
		b.SetDead(mode)
		go func() {
			if res, err := kept.Get(b.URL + "/redfish/v1"); err == nil {
				res.Body.Close()
			}
		}()
		time.Sleep(100 * time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- b.Close() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Close of a BMC dead by mode %d hangs", mode)
		}
	}
}
