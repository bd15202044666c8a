package bmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stmcginnis/gofish"
)

// redfishAdminRole is the Redfish role of the accounts rackctl creates.
const redfishAdminRole = "Administrator"

// rfAccount is the part of a ManagerAccount rackctl reads.
type rfAccount struct {
	URI      string `json:"@odata.id"`
	ID       string `json:"Id"`
	UserName string `json:"UserName"`
	Enabled  bool   `json:"Enabled"`
	RoleID   string `json:"RoleId"`
}

// getJSON reads uri into v and returns the resource's ETag (the header,
// else @odata.etag).
func getJSON(gf *gofish.APIClient, uri string, v any) (string, error) {
	resp, err := gf.Get(uri)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", uri, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return "", fmt.Errorf("%w: %s is not a Redfish resource: %v", ErrCommand, uri, err)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		var e struct {
			ETag string `json:"@odata.etag"`
		}
		json.Unmarshal(b, &e)
		etag = e.ETag
	}
	return etag, nil
}

// patch writes body to uri with If-Match of the ETag just read, so a
// concurrent change is refused (412) instead of overwritten; do retries.
func patch(gf *gofish.APIClient, uri string, body map[string]any) error {
	var cur map[string]any
	etag, err := getJSON(gf, uri, &cur)
	if err != nil {
		return err
	}
	hdr := map[string]string{}
	if etag != "" {
		hdr["If-Match"] = etag
	}
	resp, err := gf.PatchWithHeaders(uri, body, hdr)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func accountsURI(gf *gofish.APIClient) (string, error) {
	var as struct {
		Accounts struct {
			URI string `json:"@odata.id"`
		}
	}
	if _, err := getJSON(gf, "/redfish/v1/AccountService", &as); err != nil {
		return "", fmt.Errorf("read AccountService: %w", err)
	}
	if as.Accounts.URI == "" {
		return "", fmt.Errorf("%w: the AccountService has no Accounts collection", ErrNotSupported)
	}
	return as.Accounts.URI, nil
}

// accounts lists the BMC's accounts with numeric IDs, the slots rotate
// works with (every BMC rackctl has met numbers them; one that names them
// is refused, not guessed at).
func accounts(gf *gofish.APIClient) (collection string, out []rfAccount, err error) {
	collection, err = accountsURI(gf)
	if err != nil {
		return "", nil, err
	}
	var coll struct {
		Members []struct {
			URI string `json:"@odata.id"`
		}
	}
	if _, err := getJSON(gf, collection, &coll); err != nil {
		return "", nil, fmt.Errorf("read accounts: %w", err)
	}
	for _, m := range coll.Members {
		var a rfAccount
		if _, err := getJSON(gf, m.URI, &a); err != nil {
			return "", nil, fmt.Errorf("read account %s: %w", m.URI, err)
		}
		if a.URI == "" {
			a.URI = m.URI
		}
		if _, err := strconv.Atoi(a.ID); err != nil {
			return "", nil, fmt.Errorf("%w: account id %q is not a number; rackctl addresses accounts by number", ErrNotSupported, a.ID)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b rfAccount) int { x, _ := strconv.Atoi(a.ID); y, _ := strconv.Atoi(b.ID); return x - y })
	return collection, out, nil
}

func findAccount(list []rfAccount, slot int) (rfAccount, bool) {
	for _, a := range list {
		if a.ID == strconv.Itoa(slot) {
			return a, true
		}
	}
	return rfAccount{}, false
}

// Users lists the named accounts of the AccountService.
func (r *Redfish) Users(ctx context.Context, t Target) ([]User, error) {
	var users []User
	err := r.do(ctx, t, "read users", func(ctx context.Context, c *rfConn) error {
		gf, err := r.gofish(ctx, c)
		if err != nil {
			return err
		}
		_, list, err := accounts(gf)
		if err != nil {
			return err
		}
		users = users[:0]
		for _, a := range list {
			if a.UserName == "" {
				continue
			}
			id, _ := strconv.Atoi(a.ID)
			users = append(users, User{ID: id, Name: a.UserName, Enabled: a.Enabled, Privilege: a.RoleID})
		}
		return nil
	})
	return users, err
}

// AccountSlots is the range of account IDs a new account may take: from
// 2 (1 is the factory account, or reserved on some BMCs) to one past the
// highest, which a POST to the collection creates.
func (r *Redfish) AccountSlots(ctx context.Context, t Target) (first, last int, err error) {
	err = r.do(ctx, t, "read account slots", func(ctx context.Context, c *rfConn) error {
		gf, err := r.gofish(ctx, c)
		if err != nil {
			return err
		}
		_, list, err := accounts(gf)
		if err != nil {
			return err
		}
		first, last = 2, 2
		for _, a := range list {
			id, _ := strconv.Atoi(a.ID)
			last = max(last, id+1)
		}
		return nil
	})
	return first, last, err
}

// WriteAccount sets the name, password and Administrator role of account
// slot, creating it (disabled) when the BMC has no such account yet; it
// returns the ID the account has (a BMC picks the ID of a new one).
func (r *Redfish) WriteAccount(ctx context.Context, t Target, slot int, creds Credentials) (int, error) {
	if err := creds.Validate(); err != nil {
		return 0, wrap(t.Node, "write account", err)
	}
	got := slot
	err := r.do(ctx, t, fmt.Sprintf("write account %d", slot), func(ctx context.Context, c *rfConn) error {
		gf, err := r.gofish(ctx, c)
		if err != nil {
			return err
		}
		coll, list, err := accounts(gf)
		if err != nil {
			return err
		}
		body := map[string]any{"UserName": creds.User, "Password": creds.Password, "RoleId": redfishAdminRole}
		if a, ok := findAccount(list, slot); ok {
			return patch(gf, a.URI, body)
		}
		body["Enabled"] = false
		resp, err := gf.Post(coll, body)
		if err != nil {
			return err
		}
		resp.Body.Close()
		_, list, err = accounts(gf)
		if err != nil {
			return fmt.Errorf("read accounts back: %w", err)
		}
		for _, a := range list {
			if a.UserName == creds.User {
				got, _ = strconv.Atoi(a.ID)
				return nil
			}
		}
		return fmt.Errorf("%w: created account %q is not in the account list", ErrCommand, creds.User)
	})
	return got, err
}

// EnableAccount enables account slot (its role was set when written).
func (r *Redfish) EnableAccount(ctx context.Context, t Target, slot int) error {
	return r.setEnabled(ctx, t, slot, true)
}

// EnableUser enables account slot.
func (r *Redfish) EnableUser(ctx context.Context, t Target, slot int) error {
	return r.setEnabled(ctx, t, slot, true)
}

// DisableUser disables account slot.
func (r *Redfish) DisableUser(ctx context.Context, t Target, slot int) error {
	return r.setEnabled(ctx, t, slot, false)
}

func (r *Redfish) setEnabled(ctx context.Context, t Target, slot int, on bool) error {
	verb := map[bool]string{true: "enable", false: "disable"}[on]
	return r.do(ctx, t, fmt.Sprintf("%s account %d", verb, slot), func(ctx context.Context, c *rfConn) error {
		gf, a, ok, err := r.lookupAccount(ctx, c, slot)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: no account %d", ErrCommand, slot)
		}
		return patch(gf, a.URI, map[string]any{"Enabled": on})
	})
}

// lookupAccount finds account slot over c's session (ok false: no such
// account).
func (r *Redfish) lookupAccount(ctx context.Context, c *rfConn, slot int) (*gofish.APIClient, rfAccount, bool, error) {
	gf, err := r.gofish(ctx, c)
	if err != nil {
		return nil, rfAccount{}, false, err
	}
	_, list, err := accounts(gf)
	if err != nil {
		return nil, rfAccount{}, false, err
	}
	a, ok := findAccount(list, slot)
	return gf, a, ok, nil
}

// DeleteAccount deletes account slot; a BMC with fixed account slots
// (which refuses DELETE) gets its name cleared instead. A refusal of
// both is ErrCommand.
func (r *Redfish) DeleteAccount(ctx context.Context, t Target, slot int) error {
	return r.do(ctx, t, fmt.Sprintf("delete account %d", slot), func(ctx context.Context, c *rfConn) error {
		gf, a, ok, err := r.lookupAccount(ctx, c, slot)
		if err != nil || !ok {
			return err
		}
		resp, derr := gf.Delete(a.URI)
		if derr == nil {
			resp.Body.Close()
			return nil
		}
		if perr := patch(gf, a.URI, map[string]any{"UserName": "", "Enabled": false}); perr != nil {
			return fmt.Errorf("delete: %v; clear name: %w", classifyRedfish(ctx, derr, 0), perr)
		}
		return nil
	})
}

// TestLogin proves creds log in: a new session (or, with BasicAuth, an
// authenticated read) that is not kept.
func (r *Redfish) TestLogin(ctx context.Context, t Target, creds Credentials) error {
	if err := creds.Validate(); err != nil {
		return wrap(t.Node, "test login", err)
	}
	e, err := ParseEndpoint(ProtocolRedfish, t.Address)
	if err != nil {
		return wrap(t.Node, "test login", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err = bounded(ctx, func() error {
		gf, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
			Endpoint: "https://" + e.Address(), Username: creds.User, Password: creds.Password,
			HTTPClient: r.httpClient(), BasicAuth: r.cfg.Redfish.BasicAuth,
		})
		if err != nil {
			return err
		}
		defer gf.Logout()
		// With Basic auth nothing was checked yet.
		resp, err := gf.Get("/redfish/v1/AccountService")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return httpError(resp.StatusCode, "")
		}
		return nil
	})
	return wrap(t.Node, "test login as "+creds.User, classifyRedfish(ctx, err, time.Since(start)))
}

// Inventory is what status --full shows of a server: its identity, the
// firmware versions and the health the BMC reports.
type Inventory struct {
	Manufacturer  string `json:"manufacturer,omitempty"`
	Model         string `json:"model,omitempty"`
	Serial        string `json:"serial,omitempty"`
	BIOSVersion   string `json:"biosVersion,omitempty"`
	BMCVersion    string `json:"bmcVersion,omitempty"`
	SystemHealth  string `json:"systemHealth,omitempty"`
	ChassisHealth string `json:"chassisHealth,omitempty"`
}

// Inventory reads the first system, manager and chassis.
func (r *Redfish) Inventory(ctx context.Context, t Target) (Inventory, error) {
	var inv Inventory
	err := r.do(ctx, t, "inventory", func(ctx context.Context, c *rfConn) error {
		gf, err := r.gofish(ctx, c)
		if err != nil {
			return err
		}
		systems, err := gf.Service.Systems()
		if err != nil {
			return fmt.Errorf("read systems: %w", err)
		}
		if len(systems) == 0 {
			return fmt.Errorf("%w: the BMC lists no system", ErrCommand)
		}
		s := systems[0]
		inv = Inventory{Manufacturer: s.Manufacturer, Model: s.Model, Serial: s.SerialNumber,
			BIOSVersion: s.BIOSVersion, SystemHealth: string(s.Status.Health)}
		if ms, err := gf.Service.Managers(); err == nil && len(ms) > 0 {
			inv.BMCVersion = ms[0].FirmwareVersion
		}
		if cs, err := gf.Service.Chassis(); err == nil && len(cs) > 0 {
			inv.ChassisHealth = string(cs[0].Status.Health)
		}
		return nil
	})
	return inv, err
}

// Lines is the inventory for humans, one field a line in the layout of
// ipmitool's chassis status; what the BMC does not report reads "n/a"
// (IPMI has no BIOS version and no health roll-up). The values are the
// BMC's words: a terminal view escapes them.
func (inv Inventory) Lines() string {
	var b strings.Builder
	for _, f := range []struct{ k, v string }{
		{"Manufacturer", inv.Manufacturer}, {"Model", inv.Model}, {"Serial", inv.Serial},
		{"BIOS version", inv.BIOSVersion}, {"BMC firmware", inv.BMCVersion},
		{"System Health", inv.SystemHealth}, {"Chassis Health", inv.ChassisHealth},
	} {
		if f.v == "" {
			f.v = "n/a"
		}
		fmt.Fprintf(&b, "%-21s: %s\n", f.k, f.v)
	}
	return b.String()
}

// Diag reads power state, the inventory with its health and the boot
// override.
func (r *Redfish) Diag(ctx context.Context, t Target) DiagReport {
	var rep DiagReport
	var errs []error
	state, err := r.PowerState(ctx, t)
	errs = append(errs, err)
	rep.Inventory, err = r.Inventory(ctx, t)
	errs = append(errs, err)
	rep.ChassisStatus = fmt.Sprintf("%-21s: %s\n", "System Power", state)
	bp, err := r.BootDevice(ctx, t)
	errs = append(errs, err)
	if err == nil {
		rep.BootParam5 = fmt.Sprintf("%-21s: %s\n", "Boot override", bp.String())
	}
	rep.Err = errors.Join(errs...)
	return rep
}
