package simredfish

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	minPassword = 8
	maxPassword = 20
	maxUserName = 16
)

func (b *BMC) accountService(q *request) (obj, *apiError) {
	return obj{
		"@odata.id": v1 + "/AccountService", "@odata.type": "#AccountService.v1_5_0.AccountService",
		"Id": "AccountService", "Name": "Account Service", "Description": "BMC User Accounts",
		"ServiceEnabled": true, "MinPasswordLength": minPassword, "MaxPasswordLength": maxPassword,
		"AccountLockoutThreshold": 0, "Status": status(),
		"Accounts": link(accountsURI), "Roles": link(rolesURI),
	}, nil
}

func (b *BMC) accounts(q *request) (obj, *apiError) {
	var ids []string
	for _, a := range b.st.Accounts {
		ids = append(ids, a.ID)
	}
	return collection(accountsURI, "ManagerAccountCollection", "Accounts Collection", ids...), nil
}

func accountBody(a *account) obj {
	body := obj{
		"@odata.id": accountsURI + "/" + a.ID, "@odata.type": "#ManagerAccount.v1_4_0.ManagerAccount",
		"Id": a.ID, "Name": "User Account", "Description": "User Account",
		"UserName": a.UserName, "Password": nil, "RoleId": a.RoleID, "Enabled": a.Enabled,
		"Locked": false, "AccountTypes": append([]string{}, a.AccountTypes...),
		"Links": obj{},
	}
	if a.RoleID != "None" {
		body["Links"] = obj{"Role": link(rolesURI + "/" + a.RoleID)}
	}
	return body
}

func (b *BMC) accountGet(q *request) (obj, *apiError) {
	a := b.st.account(q.args[0])
	if a == nil {
		return nil, errMissing(q.uri)
	}
	return accountBody(a), nil
}

var accountTypes = []string{"Redfish", "SNMP", "OEM", "HostConsole", "ManagerConsole", "IPMI", "KVMIP", "VirtualMedia", "WebUI"}

// accountFields checks the account properties of a POST or PATCH body
// and returns the valid values; target is the slot written, so that its
// own name does not count as taken.
func (b *BMC) accountFields(body obj, cur obj, target *account) (map[string]any, []message) {
	writable := map[string]bool{"UserName": true, "Password": true, "RoleId": true, "Enabled": true, "Locked": true, "AccountTypes": true}
	msgs := checkProps(body, "", cur, writable)
	vals := map[string]any{}
	for _, k := range []string{"UserName", "Password", "RoleId"} {
		v, ok := body[k]
		if !ok {
			continue
		}
		s, isString := v.(string)
		if !isString {
			msgs = append(msgs, msgType(shown(k, v), k))
			continue
		}
		if m := checkAccountString(k, s); m != nil {
			msgs = append(msgs, *m)
			continue
		}
		if other := b.st.accountByName(s); k == "UserName" && other != nil && other != target {
			msgs = append(msgs, msg("ResourceAlreadyExists", "Do not repeat the create operation as the resource has already been created.",
				fmt.Sprintf("The requested resource of type ManagerAccount with the property UserName with the value '%s' already exists.", s),
				"ManagerAccount", "UserName", s))
			continue
		}
		vals[k] = s
	}
	for _, k := range []string{"Enabled", "Locked"} {
		v, ok := body[k]
		if !ok {
			continue
		}
		bv, isBool := v.(bool)
		switch {
		case !isBool:
			msgs = append(msgs, msgType(fmt.Sprint(v), k))
		case k == "Locked" && bv:
			// Only the BMC locks an account; a client may only unlock.
			msgs = append(msgs, msgNotInList("true", "Locked"))
		default:
			vals[k] = bv
		}
	}
	if v, ok := body["AccountTypes"]; ok {
		types, m := stringList(v, "AccountTypes", accountTypes)
		msgs = append(msgs, m...)
		vals["AccountTypes"] = types
	}
	return vals, msgs
}

func stringList(v any, prop string, allowed []string) ([]string, []message) {
	list, ok := v.([]any)
	if !ok {
		return nil, []message{msgType(fmt.Sprint(v), prop)}
	}
	var out []string
	var msgs []message
	for _, e := range list {
		s, m := enumValue(e, prop, allowed)
		if m != nil {
			msgs = append(msgs, *m)
		}
		out = append(out, s)
	}
	return out, msgs
}

// checkAccountString checks a user name, password or role. An empty user
// name is allowed here: it empties the slot (checked in applyAccount).
func checkAccountString(k, s string) *message {
	var bad bool
	switch k {
	case "UserName":
		bad = utf8.RuneCountInString(s) > maxUserName || strings.ContainsAny(s, ":/\\ \t\r\n")
	case "Password":
		n := utf8.RuneCountInString(s)
		bad = n < minPassword || n > maxPassword
	case "RoleId":
		if !slices.Contains(roleIDs, s) && s != "None" {
			m := msgNotInList(s, k)
			return &m
		}
	}
	if bad {
		m := msgFormat(shown(k, s), k)
		return &m
	}
	return nil
}

// applyAccount writes valid values to slot a. The result must be an empty
// slot (no name, disabled) or an account with a name, a password and a
// role; otherwise nothing changes. New credentials use up the
// RefuseNextLogin knob, and a new password or a disabled or emptied
// account ends the account's sessions (but keep, the caller's own).
func (b *BMC) applyAccount(a *account, vals map[string]any, keep *session) *apiError {
	n := *a
	if v, ok := vals["UserName"].(string); ok {
		n.UserName = v
	}
	if v, ok := vals["RoleId"].(string); ok {
		n.RoleID = v
	}
	if v, ok := vals["Enabled"].(bool); ok {
		n.Enabled = v
	}
	if v, ok := vals["AccountTypes"].([]string); ok {
		n.AccountTypes = v
	}
	pw, newPassword := vals["Password"].(string)
	if newPassword {
		n.setPassword(pw)
	}
	if n.empty() {
		if n.Enabled {
			return newErr(http.StatusBadRequest, msgMissing("UserName"))
		}
		n.clear()
	} else {
		var msgs []message
		if n.Hash == "" {
			msgs = append(msgs, msgMissing("Password"))
		}
		if n.RoleID == "None" {
			msgs = append(msgs, msgMissing("RoleId"))
		}
		if len(msgs) > 0 {
			return newErr(http.StatusBadRequest, msgs...)
		}
	}
	if newPassword || (a.empty() && !n.empty()) {
		n.RefuseLogin, b.refuseNext = b.refuseNext, false
	}
	if newPassword || !n.Enabled || n.UserName != a.UserName {
		b.dropSessions(a.ID, keep)
	}
	*a = n
	return b.saveOr500()
}

// createAccount fills the first empty slot (POST to Accounts).
func (b *BMC) createAccount(q *request, body obj) (reply, *apiError) {
	if err := q.require("ConfigureUsers"); err != nil {
		return reply{}, err
	}
	vals, msgs := b.accountFields(body, accountBody(&account{}), nil)
	for _, k := range []string{"UserName", "Password", "RoleId"} {
		if _, ok := body[k]; !ok {
			msgs = append(msgs, msgMissing(k))
		}
	}
	if name, ok := vals["UserName"].(string); ok && name == "" {
		msgs = append(msgs, msgFormat("", "UserName"))
	}
	if len(msgs) > 0 {
		return reply{}, newErr(http.StatusBadRequest, msgs...)
	}
	var slot *account
	for _, a := range b.st.Accounts[1:] {
		if a.empty() {
			slot = a
			break
		}
	}
	if slot == nil {
		return reply{}, newErr(http.StatusBadRequest, msg("CreateLimitReachedForResource", "Either delete resources and resubmit the request if the operation failed or do not resubmit the request.",
			"The create operation failed because the resource has reached the limit of possible resources."))
	}
	if _, ok := vals["Enabled"]; !ok {
		vals["Enabled"] = true
	}
	if _, ok := vals["AccountTypes"]; !ok {
		vals["AccountTypes"] = []string{"Redfish"}
	}
	if err := b.applyAccount(slot, vals, nil); err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusCreated, header: map[string]string{"Location": accountsURI + "/" + slot.ID}, body: accountBody(slot)}, nil
}

// patchAccount changes a slot. Anyone may change their own password
// (ConfigureSelf); everything else needs ConfigureUsers. Slot 1 is
// reserved, as on iDRAC.
func (b *BMC) patchAccount(q *request, body obj) *apiError {
	a := b.st.account(q.args[0])
	self := a == q.who && len(body) == 1 && body["Password"] != nil
	priv := "ConfigureUsers"
	if self {
		priv = "ConfigureSelf"
	}
	if err := q.require(priv); err != nil {
		return err
	}
	if a.ID == "1" {
		return errForbidden()
	}
	vals, msgs := b.accountFields(body, accountBody(a), a)
	if len(msgs) > 0 {
		return newErr(http.StatusBadRequest, msgs...)
	}
	return b.applyAccount(a, vals, q.sess)
}

// deleteAccount empties the slot (DELETE on an account).
func (b *BMC) deleteAccount(q *request) *apiError {
	a := b.st.account(q.args[0])
	if a == nil {
		return errMissing(q.uri)
	}
	if err := q.require("ConfigureUsers"); err != nil {
		return err
	}
	if a.empty() || a.ID == "1" {
		return newErr(http.StatusBadRequest, msg("ResourceCannotBeDeleted", "Do not attempt to delete a non-deletable resource.",
			"The delete request failed because the resource requested cannot be deleted."))
	}
	b.dropSessions(a.ID, nil)
	a.clear()
	return b.saveOr500()
}

func (b *BMC) roles(q *request) (obj, *apiError) {
	return collection(rolesURI, "RoleCollection", "Roles Collection", roleIDs...), nil
}

func (b *BMC) role(q *request) (obj, *apiError) {
	id := q.args[0]
	if !slices.Contains(roleIDs, id) {
		return nil, errMissing(q.uri)
	}
	return obj{
		"@odata.id": rolesURI + "/" + id, "@odata.type": "#Role.v1_2_2.Role",
		"Id": id, "Name": "User Role", "RoleId": id, "IsPredefined": true,
		"AssignedPrivileges": privileges[id], "OemPrivileges": []string{},
	}, nil
}

func (b *BMC) sessionService(q *request) (obj, *apiError) {
	return obj{
		"@odata.id": v1 + "/SessionService", "@odata.type": "#SessionService.v1_1_8.SessionService",
		"Id": "SessionService", "Name": "Session Service", "ServiceEnabled": true,
		"SessionTimeout": 1800, "Status": status(), "Sessions": link(sessionsURI),
	}, nil
}

func (b *BMC) sessionList(q *request) (obj, *apiError) {
	var ids []int
	for _, s := range b.sessions {
		if n, err := strconv.Atoi(s.ID); err == nil {
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	strs := make([]string, len(ids))
	for i, n := range ids {
		strs[i] = strconv.Itoa(n)
	}
	return collection(sessionsURI, "SessionCollection", "Session Collection", strs...), nil
}

func (b *BMC) sessionByID(id string) *session {
	for _, s := range b.sessions {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func (b *BMC) sessionBody(s *session) obj {
	name := ""
	if a := b.st.account(s.AccountID); a != nil {
		name = a.UserName
	}
	return obj{
		"@odata.id": sessionsURI + "/" + s.ID, "@odata.type": "#Session.v1_3_0.Session",
		"Id": s.ID, "Name": "User Session", "Description": "Manager User Session", "UserName": name,
	}
}

func (b *BMC) sessionGet(q *request) (obj, *apiError) {
	s := b.sessionByID(q.args[0])
	if s == nil {
		return nil, errMissing(q.uri)
	}
	return b.sessionBody(s), nil
}

// logout ends a session: one's own, or anyone's with ConfigureUsers.
func (b *BMC) logout(q *request) *apiError {
	s := b.sessionByID(q.args[0])
	if s == nil {
		return errMissing(q.uri)
	}
	if s.AccountID != q.who.ID {
		if err := q.require("ConfigureUsers"); err != nil {
			return err
		}
	}
	delete(b.sessions, s.Token)
	return nil
}
