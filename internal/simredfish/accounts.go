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
	return obj{
		"@odata.id": accountsURI + "/" + a.ID, "@odata.type": "#ManagerAccount.v1_4_0.ManagerAccount",
		"Id": a.ID, "Name": "User Account", "Description": "User Account",
		"UserName": a.UserName, "Password": nil, "RoleId": a.RoleID, "Enabled": a.Enabled,
		"Locked": false, "AccountTypes": []string{"Redfish"},
		"Links": obj{"Role": link(rolesURI + "/" + a.RoleID)},
	}
}

func (b *BMC) accountGet(q *request) (obj, *apiError) {
	a := b.st.account(q.args[0])
	if a == nil {
		return nil, errMissing(q.uri)
	}
	return accountBody(a), nil
}

// accountFields checks the account properties of a POST or PATCH body
// and returns the valid values; target is the account patched (nil on
// create) so that its own name does not count as taken.
func (b *BMC) accountFields(body obj, cur obj, target *account) (map[string]any, []message) {
	writable := map[string]bool{"UserName": true, "Password": true, "RoleId": true, "Enabled": true, "Locked": true}
	msgs := checkProps(body, "", cur, writable)
	vals := map[string]any{}
	for _, k := range []string{"UserName", "Password", "RoleId"} {
		v, ok := body[k]
		if !ok {
			continue
		}
		s, isString := v.(string)
		if !isString {
			msgs = append(msgs, msgType(fmt.Sprint(v), k))
			continue
		}
		if m := checkAccountString(k, s); m != nil {
			msgs = append(msgs, *m)
			continue
		}
		if k == "UserName" {
			if other := b.st.accountByName(s); other != nil && other != target {
				msgs = append(msgs, msg("ResourceAlreadyExists", "Do not repeat the create operation as the resource has already been created.",
					fmt.Sprintf("The requested resource of type ManagerAccount with the property UserName with the value '%s' already exists.", s),
					"ManagerAccount", "UserName", s))
				continue
			}
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
	return vals, msgs
}

func checkAccountString(k, s string) *message {
	var bad bool
	switch k {
	case "UserName":
		bad = s == "" || utf8.RuneCountInString(s) > maxUserName || strings.ContainsAny(s, ":/\\ \t\r\n")
	case "Password":
		n := utf8.RuneCountInString(s)
		bad = n < minPassword || n > maxPassword
	case "RoleId":
		if !slices.Contains(roleIDs, s) {
			m := msgNotInList(s, k)
			return &m
		}
	}
	if bad {
		// The value is not echoed: it may be a password.
		m := msgFormat("******", k)
		if k != "Password" {
			m = msgFormat(s, k)
		}
		return &m
	}
	return nil
}

// createAccount adds an account (POST to the Accounts collection).
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
	if len(msgs) > 0 {
		return reply{}, newErr(http.StatusBadRequest, msgs...)
	}
	if len(b.st.Accounts) >= maxAccounts {
		return reply{}, newErr(http.StatusBadRequest, msg("CreateLimitReachedForResource", "Either delete resources and resubmit the request if the operation failed or do not resubmit the request.",
			"The create operation failed because the resource has reached the limit of possible resources."))
	}
	a := &account{ID: strconv.Itoa(b.st.NextID), UserName: vals["UserName"].(string), RoleID: vals["RoleId"].(string), Enabled: true}
	if e, ok := vals["Enabled"].(bool); ok {
		a.Enabled = e
	}
	a.setPassword(vals["Password"].(string))
	a.RefuseLogin, b.refuseNext = b.refuseNext, false
	b.st.NextID++
	b.st.Accounts = append(b.st.Accounts, a)
	if err := b.saveOr500(); err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusCreated, header: map[string]string{"Location": accountsURI + "/" + a.ID}, body: accountBody(a)}, nil
}

// patchAccount changes an account. Anyone may change their own password
// (ConfigureSelf); everything else needs ConfigureUsers. A new password
// or a disabled account ends the account's other sessions.
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
	vals, msgs := b.accountFields(body, accountBody(a), a)
	if len(msgs) > 0 {
		return newErr(http.StatusBadRequest, msgs...)
	}
	if v, ok := vals["UserName"].(string); ok {
		a.UserName = v
	}
	if v, ok := vals["RoleId"].(string); ok {
		a.RoleID = v
	}
	if v, ok := vals["Enabled"].(bool); ok {
		a.Enabled = v
		if !v {
			b.dropSessions(a.ID, nil)
		}
	}
	if v, ok := vals["Password"].(string); ok {
		a.setPassword(v)
		a.RefuseLogin, b.refuseNext = b.refuseNext, false
		b.dropSessions(a.ID, q.sess)
	}
	return b.saveOr500()
}

func (b *BMC) deleteAccount(q *request) *apiError {
	a := b.st.account(q.args[0])
	if a == nil {
		return errMissing(q.uri)
	}
	if err := q.require("ConfigureUsers"); err != nil {
		return err
	}
	b.st.Accounts = slices.DeleteFunc(b.st.Accounts, func(x *account) bool { return x == a })
	b.dropSessions(a.ID, nil)
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
